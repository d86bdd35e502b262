#!/usr/bin/python3
"""One slow or hostile client never delays another by more than one loop turn's work: a
well-behaved client's latency on three doors of one droverd, with nothing else going on and then
during each hostile load in turn. Prints `key=value` lines under `== hostile: SCENARIO` headers
and records them under "hostile" (bench/results.py); never fails.

One droverd for the whole run, in a temporary directory (--socket, --state-dir there, --http on a
free loopback port, --rp-socket, --max-connections HOSTILE_MAX_CONNECTIONS, a 10-minute HTTP/2
preface timeout so that silent strangers keep their slots; READY=1 waited for through
NOTIFY_SOCKET), running one noisy service (`seq` bursts into its log file, HOSTILE_NOISE_LINES
lines every 50 ms, several MB/s; the rate is printed). It is stopped by pid at the end (SIGTERM,
then wait; what it started and left alive is SIGKILLed by pid).

The well-behaved client is a process of its own (so that the hostile ones do not share its
interpreter), connected once for the whole run, which does HOSTILE_CALLS (default 2000) rounds,
HOSTILE_GAP_MS (default 2) apart, of: a gRPC unary Admin.Ping over the unix socket (grpcio, one
channel), `GET /healthz` on a keep-alive HTTP/1.1 connection to the HTTP door, and a
running-process PING (4-byte length + DaemonRequest) on its socket. Each is timed from the
request's write to the whole answer; p50, p99 and max per door, and the 3 slowest calls with
when they came (seconds into the window) and, for Ping and the running-process PING, how much of
the delay came before droverd answered (the server's clock in the answer less the client's at
the write: droverd's side, not the client's). A call that fails is counted and the connection
made again.

The hostile clients run at nice HOSTILE_NICE (19), so that on a machine with few cores what is
measured is droverd's scheduling of its clients rather than the kernel's of the processes (set
0 to give them the measuring client's priority); how long droverd's main thread and the
measuring client were runnable but waiting for a CPU is printed per scenario.

Scenarios, each started at the moment the well-behaved client starts its rounds and kept up until
it is done; between two of them the load is gone and droverd back to its idle connection counts:
  baseline        nothing else.
  http_pipeline   HOSTILE_HTTP_CLIENTS (200) connections to the HTTP door (SO_RCVBUF 4 KiB), each
                  sent `GET /metrics` 200 times per write, again and again every 20 ms as far as
                  the socket takes them, never reading.
  rp_pipeline     HOSTILE_RP_CLIENTS (50) connections to the running-process socket, each sent
                  64 KiB of PINGs per write, the same way.
  ws_pipeline     HOSTILE_WS_CLIENTS (20) WebSocket connections to socktop's /ws on the HTTP
                  door (SO_RCVBUF 4 KiB), each sent 200 masked `get_processes` text frames per
                  write, the same way.
  grpc_streams    HOSTILE_STREAMS (32) raw HTTP/2 connections (python3-h2) that grant droverd
                  2^31-1 bytes of window on the connection and the stream, each with one
                  Services.Logs {target noisy, follow, lines 1}, never reading.
  connect_flood   strangers (as `nobody` through setpriv when root, else on a plaintext TCP door
                  on loopback, which never gives the admin lane) hold every ordinary slot of
                  max_connections (even ones sent the HTTP/2 preface, odd ones silent), and
                  HOSTILE_FLOOD_PROCS (4) processes connect and close as fast as they can; each
                  of those connects droverd refuses at accept.
Per scenario also droverd's CPU (utime+stime over the window, % of one core), its RSS before, at
its peak (VmHWM after resetting it through /proc/PID/clear_refs; sampled every 20 ms where that
is not allowed) and a few seconds after the load went, and what the load did.
"""

import json
import math
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procs import descendants, start_time  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
DROVERD = os.path.join(BUILD, "src", "droverd")
DROVER = os.path.join(BUILD, "src", "drover")
PY = "/usr/bin/python3"
CALLS = int(os.environ.get("HOSTILE_CALLS", "2000"))
GAP_MS = float(os.environ.get("HOSTILE_GAP_MS", "2"))
HTTP_CLIENTS = int(os.environ.get("HOSTILE_HTTP_CLIENTS", "200"))
RP_CLIENTS = int(os.environ.get("HOSTILE_RP_CLIENTS", "50"))
WS_CLIENTS = int(os.environ.get("HOSTILE_WS_CLIENTS", "20"))
STREAMS = int(os.environ.get("HOSTILE_STREAMS", "32"))
FLOOD_PROCS = int(os.environ.get("HOSTILE_FLOOD_PROCS", "4"))
MAX_CONNECTIONS = int(os.environ.get("HOSTILE_MAX_CONNECTIONS", "64"))
NOISE_LINES = int(os.environ.get("HOSTILE_NOISE_LINES", "60000"))
NICE = int(os.environ.get("HOSTILE_NICE", "19"))
HZ = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
SCENARIOS = [
    ("baseline", "nothing else going on"),
    ("http_pipeline", f"{HTTP_CLIENTS} clients pipelining unread GET /metrics on the HTTP door"),
    ("rp_pipeline", f"{RP_CLIENTS} clients pipelining unread running-process PINGs"),
    ("ws_pipeline", f"{WS_CLIENTS} socktop clients pipelining unread get_processes on /ws"),
    ("grpc_streams", f"{STREAMS} gRPC Logs -f streams on the noisy service that never read"),
    ("connect_flood", f"{FLOOD_PROCS} processes connecting and closing at the connection limit"),
]


# ---- stubs, /proc -------------------------------------------------------------------------

def generate_stubs(out):
    """protoc-generated modules as tests/integration/conftest.py makes them: drover.v1.admin,
    drover.v1.services, running_process.daemon.v1.daemon."""
    from grpc_tools import protoc
    wkt = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    for name in ("drover/v1/admin.proto", "drover/v1/services.proto",
                 "running_process/daemon/v1/daemon.proto"):
        if protoc.main(["protoc", f"-I{os.path.join(ROOT, 'proto')}", f"-I{wkt}",
                        "-I/usr/include", f"--python_out={out}", f"--grpc_python_out={out}",
                        name]) != 0:
            raise RuntimeError(f"protoc failed for proto/{name}")


def stat_fields(path):
    with open(path) as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_s(pid):
    f = stat_fields(f"/proc/{pid}/stat")
    return (int(f[11]) + int(f[12])) / HZ


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def sched(pid):
    """(ns on a CPU, ns runnable but waiting for one) of pid's main thread."""
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
            run, wait = (int(x) for x in f.read().split()[:2])
            return run, wait
    except (OSError, ValueError):
        return 0, 0


def reset_hwm(pid):
    """Resets VmHWM to the current RSS (Linux >= 4.0, root or the owner); False if refused."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def alive(pid):
    try:
        return stat_fields(f"/proc/{pid}/stat")[0] != "Z"
    except OSError:
        return False


def pct(values, q):
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)] if s else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rp_frame(rp, id_):
    req = rp.DaemonRequest(id=id_, type=rp.REQUEST_TYPE_PING, protocol_version=1,
                           client_name="bench-hostile")
    req.ping.CopyFrom(rp.PingRequest())
    payload = req.SerializeToString()
    return struct.pack(">I", len(payload)) + payload


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


# ---- droverd ------------------------------------------------------------------------------

class Droverd:
    def __init__(self, tmp, http_port, tcp_port):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "run", "drover.sock")
        self.rpsock = os.path.join(tmp, "rp", "daemon.sock")
        self.http_port = http_port
        self.tcp_port = tcp_port
        self.log_path = os.path.join(tmp, "droverd.log")
        self.env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(tmp, "xdg-run"),
                        XDG_STATE_HOME=os.path.join(tmp, "xdg-state"),
                        XDG_CONFIG_HOME=os.path.join(tmp, "xdg-config"))
        notify_path = os.path.join(tmp, "notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.settimeout(20)
        self.log = open(self.log_path, "ab")
        args = [DROVERD, "--socket", self.sock, "--state-dir", os.path.join(tmp, "state"),
                "--log-level", "warning", "--emergency-reserve-bytes", "65536",
                "--http", f"127.0.0.1:{http_port}", "--rp-socket", self.rpsock,
                "--max-connections", str(MAX_CONNECTIONS),
                "--grpc-preface-timeout-ms", "600000"]
        if os.geteuid() != 0:
            args += ["--grpc-tcp", f"127.0.0.1:{tcp_port}", "--grpc-tcp-plaintext"]
        self.proc = subprocess.Popen(args, env=dict(self.env, NOTIFY_SOCKET=notify_path),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self.kids = []
        try:
            while "READY=1" not in notify.recv(4096).decode():
                pass
        except socket.timeout:
            self.stop()
            raise RuntimeError("droverd never reported READY=1:\n" + self.read_log())
        finally:
            notify.close()

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def cli(self, *args):
        return subprocess.run([DROVER, "--socket", self.sock, *args], env=self.env,
                              capture_output=True, text=True, timeout=60)

    def note_children(self):
        self.kids = sorted(set(self.kids) | {(p, start_time(p)) for p in descendants(self.pid)})

    def stop(self):
        self.note_children()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        left = 0
        for p, t in self.kids:
            if t is not None and alive(p) and start_time(p) == t:
                left += 1
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        return self.proc.returncode, left


# ---- helper processes ---------------------------------------------------------------------

class Helper:
    """A process talked to by lines on its stdin and stdout: this file with a mode, or the
    strangers' client as nobody."""

    def __init__(self, argv, cwd=None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1, cwd=cwd)
        self.pid = self.proc.pid

    @classmethod
    def mode(cls, mode, spec, nice=0):
        return cls([*(["nice", "-n", str(nice)] if nice else []), PY, os.path.abspath(__file__),
                    mode, json.dumps(spec)])

    def line(self, timeout=None):
        if timeout is not None:
            r, _, _ = select.select([self.proc.stdout], [], [], timeout)
            if not r:
                raise RuntimeError(f"helper {self.pid} said nothing in {timeout} s")
        s = self.proc.stdout.readline()
        if not s:
            raise RuntimeError(f"helper {self.pid} ended (exit {self.proc.wait()})")
        return s.strip()

    def say(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def stop(self, wait=10):
        """Closes its stdin, waits, then SIGKILLs it by pid."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        try:
            self.proc.stdout.close()
        except OSError:
            pass


def stdin_said(timeout):
    """A line waits on stdin (or EOF) within timeout."""
    r, _, _ = select.select([sys.stdin], [], [], timeout)
    return bool(r)


def measure(spec):
    """The well-behaved client: connects to the three doors, prints "ready"; for every "go"
    line does CALLS rounds and prints a JSON of latencies (ms); exits at EOF."""
    import grpc
    from drover.v1 import admin_pb2, admin_pb2_grpc
    from running_process.daemon.v1 import daemon_pb2 as rp

    ch = grpc.insecure_channel("unix:" + spec["socket"])
    admin = admin_pb2_grpc.AdminStub(ch)
    admin.Ping(admin_pb2.PingRequest(), timeout=10)
    conns = {}

    def http():
        s = conns.get("http")
        if s is None:
            s = conns["http"] = socket.create_connection(("127.0.0.1", spec["http_port"]),
                                                         timeout=30)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def rps():
        s = conns.get("rp")
        if s is None:
            s = conns["rp"] = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(30)
            s.connect(spec["rpsock"])
        return s

    req = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"
    ids = [0]

    def healthz():
        s = http()
        s.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                raise EOFError("the HTTP door closed the connection")
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.split(b"\r\n")[0].decode(errors="replace"))
        n = 0
        for ln in head.split(b"\r\n")[1:]:
            k, _, v = ln.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v)
        if len(body) < n:
            recv_exact(s, n - len(body))

    def rping():
        """The server's clock when it answered (ms since the epoch)."""
        s = rps()
        ids[0] += 1
        s.sendall(rp_frame(rp, ids[0]))
        n = struct.unpack(">I", recv_exact(s, 4))[0]
        r = rp.DaemonResponse()
        r.ParseFromString(recv_exact(s, n))
        if r.code != rp.STATUS_CODE_OK:
            raise RuntimeError(f"rp PING answered {r.code}")
        return r.ping.server_time_ms if r.HasField("ping") else None

    def ping():
        t = admin.Ping(admin_pb2.PingRequest(), timeout=10).server_time
        return t.seconds * 1000 + t.nanos / 1e6

    healthz()
    rping()
    print("ready", flush=True)
    for cmd in sys.stdin:
        if cmd.strip() != "go":
            continue
        # Per call: [seconds into the window, latency ms, ms from the write to the server's
        # clock in its answer (droverd's side of the delay and the way there) or None].
        lat = {"ping": [], "healthz": [], "rp": []}
        errors = {"ping": [], "healthz": [], "rp": []}
        t_start = time.perf_counter()
        for _ in range(spec["calls"]):
            for name, fn, key in (("ping", ping, None), ("healthz", healthz, "http"),
                                  ("rp", rping, "rp")):
                t0, w0 = time.perf_counter(), time.time() * 1000
                try:
                    srv = fn()
                    t1 = time.perf_counter()
                    lat[name].append([round(t0 - t_start, 4), (t1 - t0) * 1000,
                                      None if srv is None else srv - w0])
                except Exception as e:  # noqa: BLE001 (counted; the connection made again)
                    errors[name].append(f"{type(e).__name__}: {e}"[:200])
                    if key and conns.get(key) is not None:
                        conns.pop(key).close()
            time.sleep(spec["gap_ms"] / 1000)
        print(json.dumps({"lat": lat, "errors": errors,
                          "wall_s": time.perf_counter() - t_start}), flush=True)
    ch.close()


def pipeline(spec):
    """Pipelining clients that never read: connects spec["n"], prints "ready"; after "go",
    sends the burst on every socket that takes bytes every 20 ms until a line or EOF; prints
    {"sent", "closed"} and exits."""
    if spec["kind"] == "http":
        burst = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 200
    elif spec["kind"] == "ws":
        text, key = b"get_processes", b"\x01\x02\x03\x04"
        masked = bytes(b ^ key[i % 4] for i, b in enumerate(text))
        burst = (bytes([0x81, 0x80 | len(text)]) + key + masked) * 200
    else:
        from running_process.daemon.v1 import daemon_pb2 as rp
        one = rp_frame(rp, 1)
        burst = one * (65536 // len(one))
    socks = []
    for _ in range(spec["n"]):
        if spec["kind"] in ("http", "ws"):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # takes next to nothing
            s.connect(("127.0.0.1", spec["http_port"]))
            if spec["kind"] == "ws":
                s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
                head = b""
                while b"\r\n\r\n" not in head:
                    head += s.recv(1)
                if not head.startswith(b"HTTP/1.1 101"):
                    raise RuntimeError(head.split(b"\r\n")[0].decode(errors="replace"))
        else:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(spec["rpsock"])
        s.setblocking(False)
        socks.append(s)
    offset = [0] * len(socks)
    sent = closed = 0
    print("ready", flush=True)
    sys.stdin.readline()  # "go"
    while not stdin_said(0.02):
        for i, s in enumerate(socks):
            if s is None:
                continue
            try:
                k = s.send(burst[offset[i]:])
            except BlockingIOError:
                continue
            except OSError:  # droverd closed it
                socks[i] = None
                closed += 1
                s.close()
                continue
            offset[i] = (offset[i] + k) % len(burst)
            sent += k
    for s in socks:
        if s is not None:
            s.close()
    print(json.dumps({"sent": sent, "closed": closed}), flush=True)


def streams(spec):
    """spec["n"] raw HTTP/2 connections, each granting droverd 2^31-1 bytes of window and with a
    Services.Logs follow call on spec["target"]; never read. Prints "ready", holds them until a
    line or EOF, prints {"opened"}."""
    import h2.config
    import h2.connection
    import h2.settings
    from drover.v1 import services_pb2
    body = services_pb2.LogsRequest(target=spec["target"], follow=True,
                                    lines=1).SerializeToString()
    msg = struct.pack(">BI", 0, len(body)) + body
    held = []
    for _ in range(spec["n"]):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(spec["socket"])
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                 header_encoding="utf-8"))
        c.initiate_connection()
        c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
        c.increment_flow_control_window(2**31 - 1 - 65535)
        sid = c.get_next_available_stream_id()
        c.send_headers(sid, [(":method", "POST"), (":scheme", "http"),
                             (":path", "/drover.v1.Services/Logs"), (":authority", "localhost"),
                             ("content-type", "application/grpc"), ("te", "trailers")])
        c.send_data(sid, msg, end_stream=True)
        s.sendall(c.data_to_send())
        held.append((s, c))
    print("ready", flush=True)
    sys.stdin.readline()
    for s, _ in held:
        s.close()
    print(json.dumps({"opened": len(held)}), flush=True)


# The strangers' client, stdlib only, run with `python3 -c` as nobody (from /): a file of ours
# may not be readable by nobody.
#   hold TARGET MAX   connects until droverd refuses one or MAX are held; even-numbered ones
#                     then send the HTTP/2 client preface and an empty SETTINGS, odd-numbered
#                     ones never send a byte. Prints "held N refused|full"; drops them at EOF.
#   flood TARGET      prints "ready"; after a line, connects and closes until another line or
#                     EOF; prints the number of connects.
STRANGER = r"""
import select, socket, sys

def target(t):
    kind, rest = t.split(":", 1)
    if kind == "unix":
        return socket.AF_UNIX, rest
    host, port = rest.rsplit(":", 1)
    return socket.AF_INET, (host, int(port))

def taken(s):
    try:
        return s.recv(65536) != b""
    except (ConnectionResetError, socket.timeout):
        return False

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
mode, (fam, addr) = sys.argv[1], target(sys.argv[2])
if mode == "flood":
    print("ready", flush=True)
    sys.stdin.readline()
    n = 0
    while True:
        for _ in range(64):
            s = socket.socket(fam, socket.SOCK_STREAM)
            try:
                s.connect(addr)
            except OSError:
                pass
            s.close()
            n += 1
        if select.select([sys.stdin], [], [], 0)[0]:
            break
    print(n, flush=True)
    sys.exit(0)
held, refused = [], False
while len(held) < int(sys.argv[3]):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.connect(addr)
    s.settimeout(60)
    if not taken(s):
        s.close()
        refused = True
        break
    if len(held) % 2 == 0:
        s.sendall(PREFACE)
    held.append(s)
print("held", len(held), "refused" if refused else "full", flush=True)
sys.stdin.read()
"""


def stranger(d, *args):
    nice = ["nice", "-n", str(NICE)] if NICE else []
    if os.geteuid() == 0:
        prefix = [*nice, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        tgt = f"unix:{d.sock}"
    else:
        prefix = nice
        tgt = f"tcp:127.0.0.1:{d.tcp_port}"
    return Helper([*prefix, PY, "-c", STRANGER, args[0], tgt, *map(str, args[1:])], cwd="/")


# ---- the run ------------------------------------------------------------------------------

class Sampler:
    """droverd's RSS every 20 ms, and (every 0.5 s, when asked) gRPC queued bytes."""

    def __init__(self, pid, status=None):
        self.pid, self.status = pid, status
        self.peak, self.queued_peak = 0, 0
        self.done = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        last = 0.0
        while not self.done.wait(0.02):
            self.peak = max(self.peak, status_kb(self.pid, "VmRSS") or 0)
            if self.status and time.monotonic() - last > 0.5:
                last = time.monotonic()
                try:
                    self.queued_peak = max(self.queued_peak, self.status().grpc_queued_bytes)
                except Exception:  # noqa: BLE001
                    pass

    def stop(self):
        self.done.set()
        self.t.join()


def summary(calls):
    """p50/p99/max of [offset s, latency ms, ms to the server's clock] calls, and the 3 slowest
    as [offset, latency, server side]."""
    v = [c[1] for c in calls]
    slow = sorted(calls, key=lambda c: -c[1])[:3]
    return {"n": len(v), "p50_ms": pct(v, 50), "p99_ms": pct(v, 99),
            "max_ms": max(v) if v else None,
            "slowest": [[round(o, 3), round(x, 2), None if w is None else round(w, 2)]
                        for o, x, w in slow]}


def http_metric(port, name):
    """A gauge or counter of /metrics, from a connection of its own."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def settle(d, status, base_conns, guard=60):
    """Until droverd is back to its idle state: the gRPC connections of before, nothing queued
    for gRPC clients, one HTTP connection (ours, asking). Seconds it took, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < guard:
        try:
            st = status()
            ok = (st.open_connections <= base_conns and st.grpc_queued_bytes < 65536
                  and (http_metric(d.http_port, "drover_http_connections") or 0) <= 2)
        except Exception:  # noqa: BLE001
            ok = False
        if ok:
            return time.monotonic() - t0
        time.sleep(0.2)
    return None


def run_scenario(d, name, meas, status, base_conns):
    """Starts the load, measures, stops the load; the scenario's figures."""
    res = {"name": name}
    load, starters = [], []
    log_before = len(d.read_log().splitlines())
    if name in ("http_pipeline", "rp_pipeline", "ws_pipeline"):
        kind = name.split("_")[0]
        n = {"http": HTTP_CLIENTS, "rp": RP_CLIENTS, "ws": WS_CLIENTS}[kind]
        h = Helper.mode("--pipeline", {"kind": kind, "n": n, "http_port": d.http_port,
                                       "rpsock": d.rpsock}, NICE)
        load.append(h)
        h.line(60)
        starters.append(h)
    elif name == "grpc_streams":
        h = Helper.mode("--streams", {"n": STREAMS, "socket": d.sock, "target": "noisy"},
                        NICE)
        load.append(h)
        h.line(60)
    elif name == "connect_flood":
        holder = stranger(d, "hold", MAX_CONNECTIONS * 2)
        load.append(holder)
        words = holder.line(120).split()
        res["load"] = {"strangers_held": int(words[1]), "next_refused": words[2] == "refused"}
        for _ in range(FLOOD_PROCS):
            f = stranger(d, "flood")
            load.append(f)
            f.line(30)
            starters.append(f)
    rss_before = status_kb(d.pid, "VmRSS")
    hwm_ok = reset_hwm(d.pid)
    sampler = Sampler(d.pid, status if name == "grpc_streams" else None)
    cpu0, t0 = cpu_s(d.pid), time.monotonic()
    s0, m0 = sched(d.pid), sched(meas.pid)
    for h in starters:
        h.say("go")
    meas.say("go")
    out = json.loads(meas.line(3600))
    wall = time.monotonic() - t0
    cpu = cpu_s(d.pid) - cpu0
    s1, m1 = sched(d.pid), sched(meas.pid)
    sampler.stop()
    peak = max(sampler.peak, status_kb(d.pid, "VmHWM") if hwm_ok else 0)
    load_out = res.setdefault("load", {})
    if name in ("http_pipeline", "rp_pipeline", "ws_pipeline"):
        h = load[0]
        h.say("stop")
        load_out.update(json.loads(h.line(60)))
    elif name == "grpc_streams":
        load_out["queued_peak_bytes"] = sampler.queued_peak
        load[0].say("stop")
        load_out.update(json.loads(load[0].line(60)))
    elif name == "connect_flood":
        n = 0
        for f in load[1:]:
            f.say("stop")
            n += int(f.line(60))
        load_out["connects"] = n
        load_out["connects_per_s"] = n / wall
    for h in load:
        h.stop()
    lines = d.read_log().splitlines()[log_before:]
    if name == "connect_flood":
        import re
        dropped = [re.search(r"\((\d+) more like \".*\" were not logged", ln) for ln in lines]
        load_out["refusal_log_lines"] = sum("refus" in ln or m is not None
                                            for ln, m in zip(lines, dropped))
        load_out["refusals_not_logged"] = sum(int(m.group(1)) for m in dropped if m)
    res["log_lines"] = len(lines)
    res["log_sample"] = [ln[:200] for ln in lines[:3]]
    res.update({k: summary(out["lat"][k]) for k in ("ping", "healthz", "rp")})
    res["errors"] = {k: len(v) for k, v in out["errors"].items()}
    res["error_sample"] = {k: v[:3] for k, v in out["errors"].items() if v}
    res.update(droverd_waited_for_cpu_pct=100 * (s1[1] - s0[1]) / 1e9 / wall,
               client_waited_for_cpu_pct=100 * (m1[1] - m0[1]) / 1e9 / wall)
    res.update(wall_s=wall, droverd_cpu_pct=100 * cpu / wall, rss_before_kb=rss_before,
               rss_peak_kb=peak, rss_peak_from="VmHWM" if hwm_ok else "sampled every 20 ms")
    res["settle_s"] = settle(d, status, base_conns)
    time.sleep(2)
    res["rss_after_kb"] = status_kb(d.pid, "VmRSS")
    return res


def fmt(v, digits=3):
    if v is None:
        return "-"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def print_scenario(r):
    for door in ("ping", "healthz", "rp"):
        s = r[door]
        print(f"{door}_p50_ms={fmt(s['p50_ms'])} {door}_p99_ms={fmt(s['p99_ms'])} "
              f"{door}_max_ms={fmt(s['max_ms'])} {door}_n={s['n']} "
              f"{door}_errors={r['errors'][door]}")
    for door in ("ping", "healthz", "rp"):
        print(f"{door}_slowest=" + ", ".join(
            f"{x}ms@{o}s" + ("" if w is None else f"(to server {w}ms)")
            for o, x, w in r[door]["slowest"]))
    for k, v in r["error_sample"].items():
        print(f"{k}_error_sample={'; '.join(v)}")
    print(f"wall_s={fmt(r['wall_s'], 2)}")
    print(f"droverd_cpu_pct={fmt(r['droverd_cpu_pct'], 1)}")
    print(f"droverd_waited_for_cpu_pct={fmt(r['droverd_waited_for_cpu_pct'], 1)} "
          f"client_waited_for_cpu_pct={fmt(r['client_waited_for_cpu_pct'], 1)}")
    print(f"rss_before_kb={r['rss_before_kb']} rss_peak_kb={r['rss_peak_kb']} "
          f"rss_after_kb={r['rss_after_kb']} ({r['rss_peak_from']})")
    for k, v in r.get("load", {}).items():
        print(f"load_{k}={fmt(v, 1) if isinstance(v, float) else v}")
    print(f"droverd_log_lines={r['log_lines']}")
    for ln in r["log_sample"]:
        print(f"droverd_log: {ln}")
    print(f"settle_s={fmt(r['settle_s'], 2)}")
    sys.stdout.flush()


def main():
    if len(sys.argv) > 2 and sys.argv[1] in ("--measure", "--pipeline", "--streams"):
        sys.path.insert(0, os.environ["HOSTILE_PB"])
        spec = json.loads(sys.argv[2])
        return {"--measure": measure, "--pipeline": pipeline, "--streams": streams}[
            sys.argv[1]](spec) or 0
    from results import record
    tmp = tempfile.mkdtemp(prefix="drover-hostile-bench-")
    os.chmod(tmp, 0o755)  # the strangers (nobody) reach the socket in it
    gen = os.path.join(tmp, "pb")
    os.makedirs(gen)
    res = {"calls": CALLS, "gap_ms": GAP_MS, "http_clients": HTTP_CLIENTS,
           "rp_clients": RP_CLIENTS, "ws_clients": WS_CLIENTS, "streams": STREAMS,
           "flood_procs": FLOOD_PROCS,
           "max_connections": MAX_CONNECTIONS, "cores": NCPU, "nice": NICE,
           "root": os.geteuid() == 0, "scenarios": []}
    print("== hostile: setup")
    print(f"build={BUILD}")
    print(f"cores={NCPU}")
    try:
        generate_stubs(gen)
    except Exception as e:  # noqa: BLE001 (a benchmark never fails)
        print(f"error=cannot generate the stubs ({e}): nothing measured")
        shutil.rmtree(tmp, ignore_errors=True)
        return 0
    os.environ["HOSTILE_PB"] = gen
    sys.path.insert(0, gen)
    import grpc
    from drover.v1 import admin_pb2, admin_pb2_grpc
    d = meas = ch = None
    try:
        d = Droverd(tmp, free_port(), free_port())
        os.chmod(os.path.dirname(d.sock), 0o755)
        os.chmod(d.sock, 0o666)
        print(f"droverd_pid={d.pid}")
        r = d.cli("start", "--name", "noisy", "--", "sh", "-c",
                  f"while :; do seq 100000 {100000 + NOISE_LINES}; sleep 0.05; done")
        if r.returncode != 0:
            raise RuntimeError(f"drover start noisy: {r.stdout} {r.stderr}")
        log = os.path.join(tmp, "state", "logs", "noisy-out.log")
        t = time.monotonic()
        while not (os.path.exists(log) and os.path.getsize(log) > 0):
            if time.monotonic() - t > 20:
                raise RuntimeError("the noisy service wrote nothing")
            time.sleep(0.05)
        s0, t0 = os.path.getsize(log), time.monotonic()
        time.sleep(2)
        res["noise_bytes_per_s"] = (os.path.getsize(log) - s0) / (time.monotonic() - t0)
        print(f"noise_mb_per_s={res['noise_bytes_per_s'] / 1e6:.2f}")
        ch = grpc.insecure_channel("unix:" + d.sock)
        admin = admin_pb2_grpc.AdminStub(ch)

        def status():
            return admin.Status(admin_pb2.StatusRequest(), timeout=10)
        meas = Helper.mode("--measure", {"socket": d.sock, "rpsock": d.rpsock,
                                         "http_port": d.http_port, "calls": CALLS,
                                         "gap_ms": GAP_MS})
        if meas.line(60) != "ready":
            raise RuntimeError("the measuring client did not start")
        base_conns = status().open_connections
        res["idle_connections"] = base_conns
        res["rss_idle_kb"] = status_kb(d.pid, "VmRSS")
        print(f"grpc_connections_idle={base_conns}")
        print(f"rss_idle_kb={res['rss_idle_kb']}")
        only = [w for w in os.environ.get("HOSTILE_ONLY", "").split(",") if w]
        for name, label in SCENARIOS:
            if only and name not in only and name != "baseline":
                continue
            print(f"== hostile: {name} ({label})", flush=True)
            try:
                r = run_scenario(d, name, meas, status, base_conns)
                r["label"] = label
                res["scenarios"].append(r)
                print_scenario(r)
            except Exception as e:  # noqa: BLE001
                print(f"error={type(e).__name__}: {e}", flush=True)
                res["scenarios"].append({"name": name, "label": label,
                                         "error": f"{type(e).__name__}: {e}"})
                settle(d, status, base_conns)
        res["hwm_kb"] = status_kb(d.pid, "VmHWM")
    except Exception as e:  # noqa: BLE001
        print(f"error={type(e).__name__}: {e}")
        res["error"] = f"{type(e).__name__}: {e}"
    finally:
        if meas:
            meas.stop()
        if ch:
            ch.close()
        if d:
            d.cli("stop", "noisy")
            code, left = d.stop()
            print("== hostile: teardown")
            print(f"droverd_exit={code}")
            print(f"leftover_processes_killed={left}")
            res["droverd_exit"] = code
        shutil.rmtree(tmp, ignore_errors=True)
    record("hostile", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
