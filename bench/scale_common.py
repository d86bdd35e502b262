"""What the scale benchmark's parts share (bench/scale.py runs them): the settings, a droverd of
their own in a temporary directory, /proc readers, and the figures with their per-unit cost and
its ratio to the 10× smaller sibling.

A figure is a value at a scale N (services, tracked processes, sessions, clients). Its cost per
unit is the value over N for totals (a start of all N, a listing of N rows), the value itself for
what is already per unit (a restart, droverd's CPU per call or per MB), and the seconds per unit
for rates (MB/s, calls/s). The ratio is that per-unit cost at N over the one at the scale before
(N/10, or N/5 from 1000 to 5000): 1.00 is flat; above FLAT_LIMIT (1.5) it is flagged."""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import peers

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
DROVERD = os.path.join(BUILD, "src", "droverd")
DROVER = os.path.join(BUILD, "src", "drover")
PING_BENCH = os.path.join(BUILD, "bench", "ping-bench")
QUICK = os.environ.get("QUICK") == "1"
FLAT_LIMIT = 1.5
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def setting(name, full, quick):
    return os.environ.get(name, quick if QUICK else full)


def scales(name, full, quick):
    return [int(x) for x in setting(name, full, quick).split(",") if x.strip()]


SERVICE_NS = scales("SCALE_SERVICES", "10,100,1000,5000", "10,100,1000")
TRACKED_NS = scales("SCALE_TRACKED", "10,100,1000", "10,100,1000")
SESSION_NS = scales("SCALE_SESSIONS", "1,10,100", "1,10,100")
CLIENT_NS = scales("SCALE_CLIENTS", "1,10,100,1000", "1,10,100,1000")
PEER_NS = scales("SCALE_PEER_SERVICES", "10,100,1000", "10,100")
IDLE_S = float(setting("SCALE_IDLE_S", "10", "3"))
# The idle window opens this long after the last call: past min_uptime (2 s) and past the 10 s
# after which droverd lets go of the process snapshot a listing took (metrics release timer).
SETTLE_S = float(setting("SCALE_SETTLE_S", "11", "11"))
RESTARTS = int(setting("SCALE_RESTARTS", "15", "5"))
REPEATS = int(setting("SCALE_REPEATS", "7", "3"))
CALLS = int(setting("SCALE_CALLS", "100000", "30000"))
SESSION_MB = int(setting("SCALE_SESSION_MB", "20", "5"))  # per session
SESSION_ROUNDS = int(setting("SCALE_SESSION_ROUNDS", "3", "2"))
PEER_BUDGET_S = float(setting("SCALE_PEER_BUDGET_S", "150", "60"))


def stubs():
    """Generates the Python stubs (as the integration tests do) and returns grpc."""
    import conftest  # noqa: F401  (generates the stubs)
    import grpc
    return grpc


# ---- /proc ---------------------------------------------------------------------------------

def read(path):
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


def rss_kb(pid):
    return peers.rss_kb([pid])


def pss_kb(pid):
    return peers.pss_kb([pid])


def tasks(pid):
    try:
        return os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return []


def switches(pid):
    """Voluntary and involuntary context switches of every thread of pid: its wake-ups."""
    n = 0
    for t in tasks(pid):
        for line in read(f"/proc/{pid}/task/{t}/status").splitlines():
            if "ctxt_switches" in line:
                n += int(line.split()[1])
    return n


def cpu_ns(pid):
    """CPU time of every thread of pid, ns (schedstat: finer than the clock ticks of stat)."""
    total = 0
    for t in tasks(pid):
        s = read(f"/proc/{pid}/task/{t}/schedstat").split()
        total += int(s[0]) if s else 0
    return total


def wait_for(pred, timeout=60.0, step=0.001):
    return peers.wait_for(pred, timeout, step)


def timed_ms(fn):
    t = time.monotonic()
    fn()
    return (time.monotonic() - t) * 1000


def p99(v):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * 0.99))]


def fork_exec_per_s():
    """The machine's fork+exec+wait rate of /bin/true (spawn-bench bare), one after the other."""
    out = subprocess.run([os.path.join(BUILD, "bench", "spawn-bench"), "bare", "1000"],
                         capture_output=True, text=True).stdout
    for word in out.split():
        if word.startswith("per_second="):
            return float(word.split("=")[1])
    return None


# ---- droverd -------------------------------------------------------------------------------

class Droverd:
    """A fresh droverd with a temporary state directory and socket, stopped by pid."""

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="drover-scale-")
        self.sock = os.path.join(self.dir, "d.sock")
        self.proc = subprocess.Popen([DROVERD, "--socket", self.sock, "--state-dir",
                                      os.path.join(self.dir, "state"), "--log-level", "warning",
                                      *args])
        self.pid = self.proc.pid
        grpc = stubs()
        self.channel = grpc.insecure_channel(f"unix:{self.sock}")
        try:
            grpc.channel_ready_future(self.channel).result(timeout=15)
        except Exception:
            self.stop()
            raise
        self.cli = [DROVER, "--socket", self.sock]

    def services(self):
        from drover.v1 import services_pb2_grpc
        return services_pb2_grpc.ServicesStub(self.channel)

    def processes(self):
        from drover.v1 import processes_pb2_grpc
        return processes_pb2_grpc.ProcessesStub(self.channel)

    def stop(self):
        self.channel.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- figures -------------------------------------------------------------------------------

class Group:
    """The figures of one scenario over its scales: rows of values per N, their cost per unit
    and its ratio to the scale before. Prints each figure as it comes."""

    def __init__(self, key, title, unit, ns, how):
        self.key, self.title, self.unit, self.ns, self.how = key, title, unit, ns, how
        self.rows = {}
        self.notes = []

    def before(self, n):
        """The scale measured before n in this group, or None."""
        done = [m for m in self.ns if m < n]
        return max(done) if done else None

    def add(self, n, key, label, value, kind="total", unit="", per_unit=None, per_label="",
            per=None):
        """kind: total (per unit: value / n), per_unit (the value is a unit's cost), rate (per
        unit: 1 / value), growth (per unit given as per_unit), plain (no per-unit cost). per
        names the unit when it is not the group's (a session in a group counted in MB)."""
        row = self.rows.setdefault(key, {"key": key, "label": label, "kind": kind, "unit": unit,
                                         "per_label": per_label, "per": per or self.unit,
                                         "values": {}, "per_unit": {}})
        if value is None:  # the row keeps its place
            return
        if per_unit is None:
            per_unit = {"total": value / n, "per_unit": value,
                        "rate": 1 / value if value else None}.get(kind)
        row["values"][str(n)] = value
        if per_unit is not None:
            row["per_unit"][str(n)] = per_unit
        r = self.ratio(row, n)
        line = f"{self.key}.{key} n={n} value={value:.6g}{unit and ' ' + unit}"
        if per_unit is not None and kind not in ("per_unit", "plain"):
            line += f" per_{row['per']}={per_unit:.6g}{per_label and ' ' + per_label}"
        if r is not None:
            line += f" ratio_vs_n{self.before(n)}={r:.2f}{'  NOT FLAT' if r > FLAT_LIMIT else ''}"
        print(line, flush=True)

    def ratio(self, row, n):
        b = self.before(n)
        a, z = row["per_unit"].get(str(b)), row["per_unit"].get(str(n))
        if b is None or not a or z is None:
            return None
        return z / a

    def note(self, text):
        print(f"{self.key}: {text}", flush=True)
        self.notes.append(text)

    def data(self):
        return {"key": self.key, "title": self.title, "unit": self.unit, "ns": self.ns,
                "how": self.how, "notes": self.notes,
                "rows": [dict(r, ratio={str(n): self.ratio(r, n) for n in self.ns
                                        if self.ratio(r, n) is not None})
                         for r in self.rows.values()]}

    def table(self):
        """The group as text: value, and the per-unit ratio in brackets."""
        ns = [n for n in self.ns if any(str(n) in r["values"] for r in self.rows.values())]
        out = [f"\n{self.title}", f"{'':58}" + "".join(f"{'N=' + str(n):>20}" for n in ns)]
        for r in self.rows.values():
            cells = []
            for n in ns:
                v = r["values"].get(str(n))
                x = self.ratio(r, n)
                cells.append("—" if v is None else f"{v:.4g}" + (f" (×{x:.2f})" if x else ""))
            out.append(f"{r['label'][:58]:58}" + "".join(f"{c:>20}" for c in cells))
        return "\n".join(out)


def median(v):
    return statistics.median(v) if v else None
