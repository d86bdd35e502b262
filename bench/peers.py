#!/usr/bin/python3
"""Services side by side: droverd against s6, runit, supervisord and pm2, each run here, now, on
the same machine, with the same services. Prints one table; never fails (a peer that is not
installed, or that misbehaves, is left out: `bench/run-peers` installs them).

N = SERVICES (default 50); every service is `sleep 3600`. The scenarios, in this order:

  idle       a fresh supervisor with 0, then with N running services, left alone for IDLE_S
             (default 30) seconds: RSS and PSS of the whole supervision tree (every process of
             the supervisor's, none of the services'), its wake-ups (context switches of all
             their threads) and CPU time over the window
  start/stop every supervisor runs at once with N services defined; REPEATS (default 5) rounds,
             each peer in turn (the order rotates every round): start N until every one runs,
             the status listing (the peer's CLI, median of STATUS_CALLS; its API, median of
             API_CALLS), the tree's PSS, stop N until every one has exited
  restart    SIGKILL of the service's process with restart delay 0: until the new one runs (it
             writes its own start time), ROUNDS (default 20) per peer, interleaved
  log        LOG_LINES (default 2,000,000) lines of 97 bytes as fast as the service writes them,
             LOG_ROUNDS (default 3) interleaved: wall time until all are in the log (byte
             count), lines lost, supervisor RSS growth
  kill-tree  a service whose tree has a child, a grandchild and two double-forked orphans (one
             in a session of its own): the peer's stop command's time and the tree's processes
             still alive 1 s after it returned, TREE_ROUNDS (default 3); survivors are then
             killed by pid

Each supervisor runs in a private directory under a temporary root and is stopped by pid
(its whole process tree) at the end.
"""

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import xmlrpc.client

from metrics import cpu_ticks as stat_ticks
from results import record

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
N = int(os.environ.get("SERVICES", "50"))
ROUNDS = int(os.environ.get("ROUNDS", "20"))
REPEATS = int(os.environ.get("REPEATS", "5"))
STATUS_CALLS = int(os.environ.get("STATUS_CALLS", "10"))
API_CALLS = int(os.environ.get("API_CALLS", "50"))
LOG_LINES = int(os.environ.get("LOG_LINES", "2000000"))
LOG_ROUNDS = int(os.environ.get("LOG_ROUNDS", "3"))
IDLE_S = float(os.environ.get("IDLE_S", "30"))
TREE_ROUNDS = int(os.environ.get("TREE_ROUNDS", "3"))
PM2 = os.environ.get("PM2", os.path.expanduser("~/.cache/drover-bench/pm2/node_modules/.bin/pm2"))
HZ = os.sysconf("SC_CLK_TCK")
LINE = "x" * 96  # + "\n": 97 bytes
# Each helper service ends in a sleep of its own length, so that its process can be told apart.
CRASHY = "date +%s%N >> {0}; exec sleep 3601"
WRITER = f"yes {LINE} | head -n {LOG_LINES}; exec sleep 3602"
TREE_SIZE = 6
TREE = """#!/bin/sh
# the main process (a sleep, after exec), a child, a child with a child of its own, and two
# double-forked orphans: one in the service's session, one in a session of its own
sleep {0} &
sh -c 'sleep {0} & wait' &
( sleep {0} & )
( setsid sleep {0} & )
exec sleep {0}
"""


def run(*argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def wait_for(pred, timeout=60, step=0.0005):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(step)


def read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return b"" if "b" in mode else ""


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(read(f"/proc/{d}/stat").rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except IndexError:
                pass
    return kids


def tree(pid):
    kids, out, todo = children_map(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def comm(pid):
    return read(f"/proc/{pid}/comm").strip()


def with_mark(mark):
    """The pids whose command line has `mark` in it."""
    m = mark.encode()
    return [int(d) for d in os.listdir("/proc")
            if d.isdigit() and m in read(f"/proc/{d}/cmdline", "rb")]


def proc_field_kb(pids, file, field):
    """The sum of one "Field: N kB" line of /proc/PID/FILE over pids (gone ones count 0)."""
    total = 0
    for p in pids:
        for line in read(f"/proc/{p}/{file}").splitlines():
            if line.startswith(field):
                total += int(line.split()[1])
                break
    return total


def pss_kb(pids):
    return proc_field_kb(pids, "smaps_rollup", "Pss:")


def rss_kb(pids):
    return proc_field_kb(pids, "status", "VmRSS:")


def cpu_ticks(pid):
    """utime + stime of pid, 0 once it is gone."""
    try:
        return stat_ticks(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0


def switches(pid):
    """Context switches of every thread of pid: each one is a wake-up."""
    n = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return 0
    for t in tids:
        for line in read(f"/proc/{pid}/task/{t}/status").splitlines():
            if "ctxt_switches" in line:
                n += int(line.split()[1])
    return n


def kill_pids(pids):
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_tree(pid):
    kill_pids(reversed(tree(pid)))


def terminate(proc):
    """SIGTERM (a graceful stop of every service), SIGKILL of the tree if it takes too long."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        proc.wait()


def timed_ms(fn):
    t = time.monotonic()
    fn()
    return (time.monotonic() - t) * 1000


def median_ms(fn, times):
    return statistics.median(timed_ms(fn) for _ in range(times))


def count_lines(paths):
    n = 0
    for p in paths:
        try:
            with open(p, "rb") as f:
                while b := f.read(1 << 20):
                    n += b.count(b"\n")
        except FileNotFoundError:
            pass
    return n


def total_bytes(paths):
    n = 0
    for p in paths:
        try:
            n += os.stat(p).st_size
        except FileNotFoundError:
            pass
    return n


def stamps(path):
    return [int(x) for x in read(path).split()]


def write_script(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


class Peer:
    """One supervisor with `n` services s0..s(n-1) and, with `extras`, three more defined down:
    crashy (restart latency), writer (log capture) and tree (kill-tree)."""
    name = "?"
    pid = None
    api_how = ""

    def __init__(self, root, n=N, extras=True):
        self.n, self.extras = n, extras
        self.dir = os.path.join(root, f"{self.name}-{n}{'-x' if extras else ''}")
        os.makedirs(self.dir)
        self.stamps = os.path.join(self.dir, "starts")
        self.tree_sh = os.path.join(self.dir, "tree.sh")
        write_script(self.tree_sh, TREE.format("3608"))
        self.cmds = {"crashy": CRASHY.format(self.stamps), "writer": WRITER,
                     "tree": f"exec sh {self.tree_sh}"}

    def names(self):
        return [f"s{i}" for i in range(self.n)]

    def own_pids(self):
        """The supervisor's processes, not the services'."""
        return [p for p in tree(self.pid) if comm(p) not in ("sleep", "sh", "yes", "head")]

    def service_pid(self, arg):
        """The pid of the service's process: the sleep it execs into, told apart by `arg`."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for p in tree(self.pid):
                if comm(p) == "sleep" and read(f"/proc/{p}/cmdline", "rb").split(b"\0")[1:2] \
                        == [arg.encode()]:
                    return p
            time.sleep(0.001)
        raise TimeoutError

    def start_none(self):
        pass


class Drover(Peer):
    name = "drover"
    api_how = "gRPC Services.List (python3-grpcio, one channel)"

    def setup(self):
        self.sock = os.path.join(self.dir, "d.sock")
        self.cli = [os.path.join(BUILD, "src", "drover"), "--socket", self.sock]
        lines = ["services:"]
        for n in self.names():
            lines += [f"  - name: {n}", "    cmd: [sleep, \"3600\"]"]
        with open(os.path.join(self.dir, "eco.yaml"), "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = subprocess.Popen(
            [os.path.join(BUILD, "src", "droverd"), "--socket", self.sock, "--state-dir",
             os.path.join(self.dir, "state"), "--log-level", "warning"], start_new_session=True)
        self.pid = self.proc.pid
        self.defined = set()
        wait_for(lambda: run(*self.cli, "ping").returncode == 0, timeout=10, step=0.01)

    def start_all(self):
        run(*self.cli, "start", os.path.join(self.dir, "eco.yaml"), check=True)
        wait_for(lambda: sum(s["state"] == "online" for s in self.ls()) >= self.n)

    def ls(self):
        return json.loads(run(*self.cli, "ls", "--json", check=True).stdout)

    def stop_all(self):
        run(*self.cli, "stop", "all", check=True)  # answers once every one has exited

    def status(self):
        run(*self.cli, "ls", check=True)

    def api(self):
        sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
        import conftest  # noqa: F401  (generates the Python stubs)
        import grpc
        from drover.v1 import services_pb2 as pb, services_pb2_grpc
        stub = services_pb2_grpc.ServicesStub(grpc.insecure_channel(f"unix:{self.sock}"))
        return lambda: stub.List(pb.ListServicesRequest())

    def up(self, name):
        if name in self.defined:
            run(*self.cli, "start", name, check=True)
            return
        run(*self.cli, "start", "--name", name, "--restart-delay", "0",
            *(["--no-autorestart"] if name != "crashy" else []), "sh", "-c", self.cmds[name],
            check=True)
        self.defined.add(name)

    def down(self, name):
        run(*self.cli, "stop", name, check=True)

    def log_files(self):
        return [os.path.join(self.dir, "state", "logs", "writer-out.log")]

    def stop(self):
        terminate(self.proc)


class ScanDir(Peer):
    """s6 and runit: a scan directory of service directories, each with a run script and a
    down file (so that nothing starts before it is asked to); the writer has a logger."""

    def service(self, name, script, log=False):
        d = os.path.join(self.scan, name)
        os.makedirs(d)
        write_script(os.path.join(d, "run"), f"#!/bin/sh\nexec {script}\n")
        open(os.path.join(d, "down"), "w").close()
        if log:
            self.logs = os.path.join(self.dir, "logs")
            os.makedirs(self.logs)
            os.makedirs(os.path.join(d, "log"))
            write_script(os.path.join(d, "log", "run"), f"#!/bin/sh\nexec {self.logger()}\n")

    def setup(self):
        self.scan = os.path.join(self.dir, "scan")
        os.makedirs(self.scan)
        all_ = self.names()
        for n in self.names():
            self.service(n, "sleep 3600")
        if self.extras:
            for name, cmd in self.cmds.items():
                self.service(name, f"sh -c '{cmd}'", log=name == "writer")
            all_ += list(self.cmds)
        self.proc = subprocess.Popen(self.daemon_argv(), start_new_session=True)
        self.pid = self.proc.pid
        for n in all_:
            wait_for(lambda: self.ready(os.path.join(self.scan, n)), step=0.005)
        time.sleep(0.2)

    def dirs(self, names):
        return [os.path.join(self.scan, n) for n in names]

    def log_files(self):
        return [os.path.join(self.logs, f) for f in os.listdir(self.logs)
                if f == "current" or f.startswith("@")]

    def stop(self):
        self.shutdown()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        kill_tree(self.pid)
        self.proc.wait()


class S6(ScanDir):
    name = "s6"
    api_how = "reading the 50 supervise/status files s6-svstat reads"

    def logger(self):
        return f"s6-log n1000 s100000000 {self.logs}"

    def daemon_argv(self):
        return ["s6-svscan", self.scan]

    def ready(self, d):
        return run("s6-svok", d).returncode == 0

    def start_all(self):
        for d in self.dirs(self.names()):
            run("s6-svc", "-u", d, check=True)
        run("s6-svwait", "-u", "-a", *self.dirs(self.names()), check=True)

    def stop_all(self):
        for d in self.dirs(self.names()):
            run("s6-svc", "-d", d, check=True)
        run("s6-svwait", "-D", "-a", *self.dirs(self.names()), check=True)

    def status(self):
        for d in self.dirs(self.names()):  # s6-svstat takes one service directory
            run("s6-svstat", d, check=True)

    def api(self):
        files = [os.path.join(d, "supervise", "status") for d in self.dirs(self.names())]
        return lambda: [read(f, "rb") for f in files]

    def up(self, name):
        run("s6-svc", "-u", *self.dirs([name]), check=True)

    def down(self, name):
        run("s6-svc", "-wD", "-d", *self.dirs([name]), check=True)

    def shutdown(self):
        run("s6-svscanctl", "-t", self.scan)


class Runit(ScanDir):
    name = "runit"
    api_how = "reading the 50 supervise/stat and pid files sv reads"

    def logger(self):
        with open(os.path.join(self.logs, "config"), "w") as f:
            f.write("s100000000\nn1000\n")
        return f"svlogd {self.logs}"

    def daemon_argv(self):
        return ["runsvdir", "-P", self.scan]

    def ready(self, d):
        return os.path.exists(os.path.join(d, "supervise", "ok"))

    def start_all(self):
        run("sv", "-w", "30", "start", *self.dirs(self.names()), check=True)

    def stop_all(self):
        run("sv", "-w", "30", "stop", *self.dirs(self.names()), check=True)

    def status(self):
        run("sv", "status", *self.dirs(self.names()), check=True)

    def api(self):
        files = [os.path.join(d, "supervise", f) for d in self.dirs(self.names())
                 for f in ("stat", "pid")]
        return lambda: [read(f) for f in files]

    def up(self, name):
        run("sv", "up", *self.dirs([name]), check=True)

    def down(self, name):
        run("sv", "-w", "30", "stop", *self.dirs([name]))

    def shutdown(self):
        names = self.names() + (list(self.cmds) if self.extras else [])
        run("sv", "-w", "10", "stop", *self.dirs(names))
        self.proc.send_signal(signal.SIGHUP)  # runsvdir: HUP stops the runsv processes


class Supervisord(Peer):
    name = "supervisord"
    api_how = "XML-RPC getAllProcessInfo on its unix socket (one connection)"

    def setup(self):
        conf = os.path.join(self.dir, "supervisord.conf")
        self.sock = os.path.join(self.dir, "s.sock")
        parts = [f"""[unix_http_server]
file={self.sock}
[supervisord]
logfile={self.dir}/supervisord.log
pidfile={self.dir}/supervisord.pid
childlogdir={self.dir}
nodaemon=true
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://{self.sock}
"""]
        for n in self.names():
            parts.append(f"[program:{n}]\ncommand=sleep 3600\nautostart=false\nstartsecs=0\n")
        if self.extras:
            for name, cmd in self.cmds.items():
                cmd = cmd.replace("%", "%%")  # supervisord %-formats commands
                parts.append(f"[program:{name}]\ncommand=sh -c '{cmd}'\nautostart=false\n"
                             "startsecs=0\n")
            # Its documented settings for a tree: signal the process group, not the process.
            parts[-1] += "stopasgroup=true\nkillasgroup=true\n"
            parts[-2] += f"stdout_logfile={self.dir}/writer.log\nstdout_logfile_maxbytes=0\n"
        with open(conf, "w") as f:
            f.write("\n".join(parts))
        self.ctl = ["supervisorctl", "-c", conf]
        self.proc = subprocess.Popen(["supervisord", "-c", conf], start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid
        wait_for(lambda: run(*self.ctl, "pid").stdout.strip().isdigit(), timeout=20, step=0.01)

    def start_all(self):
        run(*self.ctl, "start", *self.names())  # answers once they run (startsecs=0)

    def stop_all(self):
        run(*self.ctl, "stop", *self.names())

    def status(self):
        run(*self.ctl, "status")

    def api(self):
        from supervisor.xmlrpc import SupervisorTransport
        proxy = xmlrpc.client.ServerProxy(
            "http://localhost", transport=SupervisorTransport(None, None, f"unix://{self.sock}"))
        return proxy.supervisor.getAllProcessInfo

    def up(self, name):
        run(*self.ctl, "start", name)

    def down(self, name):
        run(*self.ctl, "stop", name)

    def log_files(self):
        return [os.path.join(self.dir, "writer.log")]

    def stop(self):
        terminate(self.proc)


PM2_API = """
const pm2 = require(process.argv[1]);
const n = +process.argv[2];
pm2.connect(function (err) {
  if (err) throw err;
  const v = [];
  (function one() {
    const t = process.hrtime.bigint();
    pm2.list(function (err) {
      if (err) throw err;
      v.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (v.length < n) return one();
      v.sort((a, b) => a - b);
      console.log(JSON.stringify(v));
      pm2.disconnect();
    });
  })();
});
"""


class Pm2(Peer):
    name = "pm2"
    api_how = "pm2.list() from node through pm2's own module (one connection)"

    def setup(self):
        self.env = dict(os.environ, PM2_HOME=os.path.join(self.dir, "home"))
        apps = [{"name": n, "script": "sleep", "args": "3600", "interpreter": "none",
                 "autorestart": True} for n in self.names()]
        with open(os.path.join(self.dir, "eco.config.js"), "w") as f:
            f.write("module.exports = " + json.dumps({"apps": apps}) + ";\n")
        self.pm2("ping")  # starts the daemon
        self.pid = int(read(os.path.join(self.dir, "home", "pm2.pid")))
        self.defined = set()
        self.out = os.path.join(self.dir, "writer.log")

    def pm2(self, *args, check=True):
        return run(PM2, *args, env=self.env, check=check)

    def jlist(self):
        return json.loads(self.pm2("jlist").stdout)

    def start_all(self):
        self.pm2("start", os.path.join(self.dir, "eco.config.js"))
        names = set(self.names())
        wait_for(lambda: sum(a["name"] in names and a["pm2_env"]["status"] == "online" and
                             a["pid"] > 0 for a in self.jlist()) == self.n)

    def stop_all(self):
        names = set(self.names())
        pids = [a["pid"] for a in self.jlist() if a["name"] in names]
        self.pm2("stop", *self.names())
        wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids if p))

    def status(self):
        self.pm2("ls")

    def api(self):
        module = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(PM2))))

        def measure(calls):
            out = run("node", "-e", PM2_API, module, str(calls), env=self.env)
            if out.returncode != 0:
                raise RuntimeError(f"node: {out.stderr.strip()[-300:]}")
            return json.loads(out.stdout)
        return measure

    def up(self, name):
        if name in self.defined:
            self.pm2("start", name)
            return
        extra = {"crashy": ["--restart-delay", "0"],
                 "writer": ["--no-autorestart", "-o", self.out, "-e", self.out + ".err"],
                 "tree": ["--no-autorestart"]}[name]
        self.pm2("start", "sh", "--name", name, *extra, "--", "-c", self.cmds[name])
        self.defined.add(name)

    def down(self, name):
        self.pm2("stop", name)

    def log_files(self):
        return [self.out]

    def stop(self):
        self.pm2("kill", check=False)
        kill_tree(self.pid)


PEERS = (Drover, S6, Runit, Supervisord, Pm2)


def have(cls):
    need = {"drover": os.path.join(BUILD, "src", "droverd"), "s6": "s6-svscan",
            "runit": "runsvdir", "supervisord": "supervisord", "pm2": PM2}[cls.name]
    return shutil.which(need) is not None or os.access(need, os.X_OK)


# ---- the scenarios -------------------------------------------------------------------------

def idle(root, cls):
    """A fresh supervisor with 0 and then N running services, left alone for IDLE_S."""
    out = {}
    for n in (0, N):
        peer = cls(root, n, extras=False)
        peer.setup()
        try:
            if n:
                peer.start_all()
            time.sleep(2)  # past the start-up work
            pids = peer.own_pids()
            c0 = {p: cpu_ticks(p) for p in pids}
            w0 = {p: switches(p) for p in pids}
            time.sleep(IDLE_S)
            pids = peer.own_pids()
            out[str(n)] = {
                "procs": len(pids), "rss_mb": rss_kb(pids) / 1024, "pss_mb": pss_kb(pids) / 1024,
                "wakeups": sum(switches(p) - w0.get(p, 0) for p in pids),
                "cpu_ms": sum(cpu_ticks(p) - c0.get(p, 0) for p in pids) * 1000 / HZ}
            if n:
                peer.stop_all()
        finally:
            peer.stop()
    return out


def start_stop_round(peer, r):
    r["start"].append(timed_ms(peer.start_all))
    r["status_cli"].append(median_ms(peer.status, STATUS_CALLS))
    api = peer.api()
    if isinstance(peer, Pm2):  # timed inside node, one process for all the calls
        r["status_api"].append(statistics.median(api(API_CALLS)))
    else:
        api()  # connects
        r["status_api"].append(median_ms(api, API_CALLS))
    r["pss"].append(pss_kb(peer.own_pids()) / 1024)
    r["stop"].append(timed_ms(peer.stop_all))


def restart_round(peer, r, last):
    """SIGKILL the crashy service's process once it has run 1.1 s (past every peer's "died too
    soon" throttle); the latency is from the kill to the start time the new one writes."""
    time.sleep(max(0.0, last.get(peer.name, 0) + 1.1 - time.monotonic()))
    n = len(stamps(peer.stamps))
    pid = peer.service_pid("3601")
    killed = time.time_ns()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: len(stamps(peer.stamps)) > n, timeout=30)
    last[peer.name] = time.monotonic()
    r["restart"].append((stamps(peer.stamps)[-1] - killed) / 1e6)


def log_round(peer, r):
    files = peer.log_files
    lines0, bytes0 = count_lines(files()), total_bytes(files())
    base = peak = rss_kb(peer.own_pids())
    target = bytes0 + LOG_LINES * (len(LINE) + 1)
    t = time.monotonic()
    peer.up("writer")
    last, last_change, done = bytes0, t, None
    while time.monotonic() < t + 120:
        peak = max(peak, rss_kb(peer.own_pids()))
        b = total_bytes(files())
        if b >= target:
            done = time.monotonic()
            break
        if b != last:
            last, last_change = b, time.monotonic()
        elif time.monotonic() - last_change > 5:
            break  # nothing more is coming
        time.sleep(0.005)
    wall = (done or last_change) - t
    peer.service_pid("3602")  # the writer is done writing once its shell execs the sleep
    lost = LOG_LINES - (count_lines(files()) - lines0)
    peer.down("writer")
    r["log"].append({"wall_s": wall, "lost": lost, "rss_growth_mb": (peak - base) / 1024})


def tree_round(peer, r, i):
    mark = f"3608.{os.getpid()}{i}"
    write_script(peer.tree_sh, TREE.format(mark))
    peer.up("tree")
    wait_for(lambda: len(with_mark(mark)) == TREE_SIZE, timeout=10)
    ms = timed_ms(lambda: peer.down("tree"))
    time.sleep(1)
    left = with_mark(mark)
    kill_pids(left)
    r["tree"].append({"stop_ms": ms, "survivors": len(left)})


def main():
    root = tempfile.mkdtemp(prefix="drover-peers-")
    only = os.environ.get("PEERS", ",".join(c.name for c in PEERS)).split(",")
    classes = []
    for cls in PEERS:
        if cls.name not in only:
            continue
        if not have(cls):
            print(f"({cls.name} is not installed: skipped; bench/run-peers installs it)")
            continue
        classes.append(cls)
    results = {c.name: {"start": [], "stop": [], "status_cli": [], "status_api": [], "pss": [],
                        "restart": [], "log": [], "tree": [], "api_how": c.api_how}
               for c in classes}
    peers = []

    def each(label, fn, order=None):
        """fn(peer) for every peer still in the run; one that fails is reported and dropped."""
        for p in order or list(peers):
            try:
                fn(p)
            except Exception as e:  # a peer that misbehaves is reported, not fatal
                print(f"({p.name} failed in {label}: {type(e).__name__} {e}; left out)")
                results[p.name]["failed"] = f"{label}: {type(e).__name__}"
                peers.remove(p)
                p.stop()

    try:
        for cls in classes:
            print(f"== idle: {cls.name}, 0 and {N} services, {IDLE_S:.0f} s each", flush=True)
            try:
                results[cls.name]["idle"] = idle(root, cls)
            except Exception as e:
                print(f"({cls.name} failed in idle: {type(e).__name__} {e})")
        for cls in classes:
            peers.append(cls(root))
        each("setup", lambda p: p.setup())
        print(f"== start/stop {N}, status: {REPEATS} rounds", flush=True)
        for i in range(REPEATS):
            k = i % max(len(peers), 1)
            each("start/stop", lambda p: start_stop_round(p, results[p.name]),
                 peers[k:] + peers[:k])
        print(f"== restart after SIGKILL: {ROUNDS} rounds", flush=True)
        each("restart", lambda p: p.up("crashy"))
        each("restart", lambda p: wait_for(lambda: stamps(p.stamps), timeout=10))
        last = {p.name: time.monotonic() for p in peers}
        for _ in range(ROUNDS):
            each("restart", lambda p: restart_round(p, results[p.name], last))
        each("restart", lambda p: p.down("crashy"))
        print(f"== log: {LOG_LINES} lines, {LOG_ROUNDS} rounds", flush=True)
        for _ in range(LOG_ROUNDS):
            each("log", lambda p: log_round(p, results[p.name]))
        print(f"== kill-tree: {TREE_ROUNDS} rounds", flush=True)
        for i in range(TREE_ROUNDS):
            each("kill-tree", lambda p: tree_round(p, results[p.name], i))
    finally:
        for p in peers:
            p.stop()
        shutil.rmtree(root, ignore_errors=True)

    record("services", {"n": N, "log_lines": LOG_LINES, "rounds": ROUNDS, "repeats": REPEATS,
                        "log_rounds": LOG_ROUNDS, "idle_s": IDLE_S, "tree_rounds": TREE_ROUNDS,
                        "tree_size": TREE_SIZE, "peers": results})
    print_table(results)


def print_table(results):
    names = list(results)
    med = statistics.median
    print(f"\n{'(medians)':38}" + "".join(f"{n:>13}" for n in names))

    def row(label, fn):
        cells = []
        for n in names:
            try:
                cells.append(fn(results[n]))
            except (KeyError, ValueError, statistics.StatisticsError):
                cells.append("—")
        print(f"{label:38}" + "".join(f"{c:>13}" for c in cells))

    for n in ("0", str(N)):
        row(f"idle, {n} services: PSS (MB)", lambda r: f"{r['idle'][n]['pss_mb']:.2f}")
        row(f"idle, {n} services: wake-ups/{IDLE_S:.0f} s",
            lambda r: f"{r['idle'][n]['wakeups']}")
        row(f"idle, {n} services: CPU ms/{IDLE_S:.0f} s",
            lambda r: f"{r['idle'][n]['cpu_ms']:.0f}")
    row(f"start {N} (ms)", lambda r: f"{med(r['start']):.1f}")
    row(f"stop {N} (ms)", lambda r: f"{med(r['stop']):.1f}")
    row("status, CLI (ms)", lambda r: f"{med(r['status_cli']):.2f}")
    row("status, API (ms)", lambda r: f"{med(r['status_api']):.3f}")
    row(f"PSS with {N} (MB)", lambda r: f"{med(r['pss']):.2f}")
    row("restart after SIGKILL, median (ms)", lambda r: f"{med(r['restart']):.2f}")
    row("restart after SIGKILL, p99 (ms)", lambda r: f"{p99(r['restart']):.2f}")
    row(f"log {LOG_LINES} lines: wall (s)", lambda r: f"{med(x['wall_s'] for x in r['log']):.2f}")
    row("log: lines lost (most)", lambda r: f"{max(x['lost'] for x in r['log'])}")
    row("log: RSS growth (MB)", lambda r: f"{med(x['rss_growth_mb'] for x in r['log']):.2f}")
    row("kill-tree: stop (ms)", lambda r: f"{med(x['stop_ms'] for x in r['tree']):.1f}")
    row(f"kill-tree: survivors of {TREE_SIZE}", lambda r: f"{max(x['survivors'] for x in r['tree'])}")


def p99(v):
    v = sorted(v)
    if not v:
        raise ValueError
    return v[min(len(v) - 1, int(len(v) * 0.99))]


if __name__ == "__main__":
    main()
