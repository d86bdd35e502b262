#!/usr/bin/python3
"""Soak: one droverd under a steady mixed load for a long time, sampled, to show that what it
holds (memory, file descriptors) stays flat once warmed up and that no call fails but the
deliberate ones. Prints `key=value` lines; never fails (a benchmark), but says what went wrong.

One droverd is started in a temporary directory with every door this needs: its gRPC unix
socket, the running-process socket (--rp-socket), baaaht's socket (--baaaht-socket) and the HTTP
door (--http 127.0.0.1:PORT, /metrics and socktop's /ws); READY=1 is waited for on
NOTIFY_SOCKET. It is stopped by pid at the end (SIGTERM; its exit code is reported: an ASan
build exits non-zero on a leak), and anything it started and left alive is SIGKILLed by pid.

The load, for SOAK_SECONDS (default 600):
  services         SERVICES (default 100) services that crash-loop: `sh -c 'echo up; sleep 0.5;
                   echo down >&2; exit 1'`, restart always, backoff 200 ms doubling up to
                   CRASH_BACKOFF_MAX_MS (default 5000), never given up on.
  sessions         SOAK_SESSIONS (default 4) sessions streaming output (half PTY, half pipe with
                   stderr merged): `while :; do yes soak | head -n 2000; sleep 0.5; done`, about
                   20 kB/s each; and one more PTY session that only the hostile client attaches.
  clients          CLIENTS (default 1000) concurrent clients, each with a connection of its own,
                   spread over CLIENT_PROCS (default CLIENTS/250, at least 1) Python processes
                   (grpc.aio, one event loop each). Each waits THINK_MS (default 1000, times a
                   random 0.5-1.5) between calls. Kinds, by share of CLIENTS:
                     unary   (the rest) Admin.Ping, Admin.Status, Services.Get, Services.List,
                             Sessions.ListPty, Sessions.GetBacklog, Metrics.Get on the gRPC socket
                     watch   10 %  Services.Watch of one service (every 20th: of all), held
                             10-30 s, cancelled, opened again
                     logs    10 %  Services.Logs -f of a crash-looping service, held 10-30 s
                     rp       5 %  running-process PING, STATUS, SERVICE_LIST, LIST_PTY_SESSIONS
                     baaaht   5 %  orchestrator.v1 sessions with a StreamMessages stream, a
                             message per think time answered by a scripted assistant (the one
                             of bench/baaaht.py), the session closed and a new one made every
                             20-40 messages
                     socktop  0.5 % (at least 1) socktop's /ws: get_metrics, every 4th
                             get_processes
                     attach  one per streaming session: AttachPty or AttachPipe, read 5-15 s,
                             detached (PTY: a detach input frame; pipe: DetachPipe), again
  scraper          GET /metrics (gzip, keep-alive) every second, as Prometheus would.
  hostile          one process, three clients per door (gRPC socket, baaaht's socket, running-
                   process socket, HTTP), each again every HOSTILE_PERIOD_S (default 5):
                     stream    opens a stream and never reads it (gRPC: Admin.PingStream with
                               a huge window; baaaht: SubscribeEvents; rp: an attach to its own
                               PTY session; HTTP: a /ws upgrade and 500 get_processes), held
                               HOSTILE_HOLD_S (default 4), then hung up
                     garbage   connects and sends 2 kB of random bytes, then reads until droverd
                               closes (a connection kept 15 s is an anomaly)
                     pipeline  sends requests without reading a byte (1000 gRPC Pings on as many
                               streams; 400 kB of rp PINGs; 200 pipelined GET /metrics), held,
                               hung up
                   What they get is deliberate and counted apart (`deliberate[...]`).
                   HOSTILE=none (or a comma-separated list of their names) leaves them out;
                   KINDS=unary,watch,... keeps only those kinds of client: for finding out what
                   a figure comes from.

Every SAMPLE_S (default 10) seconds, droverd's VmRSS, RssAnon, VmHWM, open fds (/proc/PID/fd),
threads, CPU (utime+stime over the interval, % of one core), the time it was runnable but
waiting for a CPU (/proc/PID/task/*/schedstat) and in state D (sampled every 20 ms: mostly
clone3 waiting for a spawned child to exec), the machine's CPUs busy (/proc/stat) and its load,
its gRPC connections and calls in flight (Admin.Status), the processes and zombies below it;
afterwards, the calls the clients made in each interval, with the p50 and p99 of their unary
calls. The first WARMUP_SHARE (default 0.2) of the run is warm-up; the verdict compares the
first sample after it with the last: `flat` when RSS grew less than 10 % and fds less than 5 %;
the slopes per minute are least squares over those samples (and over the second half of the
run, apart). Every call that failed and was not a hostile client's is counted per kind:
failed_calls must be 0.

Figures go to $BENCH_JSON under "soak" (bench/results.py) for bench/report.py.
"""

import asyncio
import json
import math
import os
import random
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
SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
CLIENTS = int(os.environ.get("CLIENTS", "1000"))
SERVICES = int(os.environ.get("SERVICES", "100"))
SAMPLE_S = float(os.environ.get("SAMPLE_S", "10"))
CLIENT_PROCS = int(os.environ.get("CLIENT_PROCS", str(max(1, math.ceil(CLIENTS / 250)))))
THINK_MS = float(os.environ.get("THINK_MS", "1000"))
SOAK_SESSIONS = int(os.environ.get("SOAK_SESSIONS", "4"))
CRASH_BACKOFF_MAX_MS = int(os.environ.get("CRASH_BACKOFF_MAX_MS", "5000"))
HOSTILE_PERIOD_S = float(os.environ.get("HOSTILE_PERIOD_S", "5"))
HOSTILE_HOLD_S = float(os.environ.get("HOSTILE_HOLD_S", "4"))
WARMUP_SHARE = float(os.environ.get("WARMUP_SHARE", "0.2"))
# HOSTILE: "all" (default), "none", or the hostile clients to run, comma-separated
# ("grpc stream,rp garbage"): for finding which one does what.
# KINDS: "all" (default), or the kinds of client to run, comma-separated ("unary,watch"): the
# others are left out (not replaced), to find out what a figure comes from.
KINDS = (None if os.environ.get("KINDS", "all") == "all"
         else [x.strip() for x in os.environ["KINDS"].split(",")])
HOSTILE = (None if os.environ.get("HOSTILE", "all") == "all"
           else [x.strip() for x in os.environ["HOSTILE"].split(",") if x.strip() != "none"])
HZ = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
CALL_TIMEOUT = 30
SESSION_CMD = "while :; do yes soak | head -n 2000; sleep 0.5; done"
CRASH_CMD = "echo up; sleep 0.5; echo down >&2; exit 1"


# ---- stubs, /proc -------------------------------------------------------------------------

def generate_stubs(out):
    """protoc-generated modules, as tests/integration/conftest.py makes them: drover.v1.*,
    running_process.daemon.v1.*, and baaaht's top-level agent_pb2, orchestrator_pb2, ..."""
    from grpc_tools import protoc
    wkt = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    proto = os.path.join(ROOT, "proto")
    jobs = [(proto, f"drover/v1/{n}.proto") for n in ("admin", "services", "sessions",
                                                       "metrics")]
    jobs += [(proto, "running_process/daemon/v1/daemon.proto")]
    jobs += [(os.path.join(proto, "baaaht"), f"{n}.proto")
             for n in ("common", "orchestrator", "agent")]
    for include, name in jobs:
        if protoc.main(["protoc", f"-I{include}", f"-I{wkt}", "-I/usr/include",
                        f"--python_out={out}", f"--grpc_python_out={out}", name]) != 0:
            raise RuntimeError(f"protoc failed for {name}")


def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_ticks(pid):
    f = stat_fields(pid)
    return int(f[11]) + int(f[12])


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()[0] if v.split() else ""
    return out


def schedstat_ns(pid):
    """(time on a CPU, time runnable waiting for one) of every thread of pid, in ns."""
    run = wait = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                a, b = f.read().split()[:2]
            run, wait = run + int(a), wait + int(b)
        except (OSError, ValueError):
            pass
    return run, wait


def machine_ticks():
    """(busy, total) jiffies of every CPU, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


class StateSampler(threading.Thread):
    """How often droverd's main thread is in state D (blocked in the kernel: disk writes,
    fsync), sampled every 20 ms; take() gives the share since the last take()."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.n, self.d = pid, 0, 0
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.wait(0.02):
            try:
                st = stat_fields(self.pid)[0]
            except OSError:
                return
            self.n += 1
            self.d += st == "D"

    def take(self):
        n, d = self.n, self.d
        self.n = self.d = 0
        return d / n if n else None


def alive(pid):
    try:
        return stat_fields(pid)[0] != "Z"
    except OSError:
        return False


def pct(values, q):
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Kinds:
    """Calls per kind: ok, failed, the first distinct errors; stream messages and bytes."""

    def __init__(self):
        self.k = {}

    def get(self, kind):
        return self.k.setdefault(kind, {"ok": 0, "failed": 0, "errors": {}, "msgs": 0,
                                        "bytes": 0})

    def ok(self, kind, n=1):
        self.get(kind)["ok"] += n

    def fail(self, kind, why):
        e = self.get(kind)
        e["failed"] += 1
        why = str(why)[:160]
        if why in e["errors"] or len(e["errors"]) < 5:
            e["errors"][why] = e["errors"].get(why, 0) + 1

    @staticmethod
    def merge(into, other):
        for kind, v in other.items():
            e = into.setdefault(kind, {"ok": 0, "failed": 0, "errors": {}, "msgs": 0,
                                       "bytes": 0})
            for f in ("ok", "failed", "msgs", "bytes"):
                e[f] += v.get(f, 0)
            for why, n in v.get("errors", {}).items():
                if why in e["errors"] or len(e["errors"]) < 5:
                    e["errors"][why] = e["errors"].get(why, 0) + n


# ---- droverd ------------------------------------------------------------------------------

class Droverd:
    def __init__(self, tmp):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "drover.sock")
        self.bsock = os.path.join(tmp, "baaaht.sock")
        self.rpsock = os.path.join(tmp, "rp", "daemon.sock")
        self.port = free_port()
        self.log_path = os.path.join(tmp, "droverd.log")
        env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(tmp, "xdg-run"),
                   XDG_STATE_HOME=os.path.join(tmp, "xdg-state"),
                   XDG_CONFIG_HOME=os.path.join(tmp, "xdg-config"))
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        notify_path = os.path.join(tmp, "notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.settimeout(30)
        self.log = open(self.log_path, "ab")
        # Room for every client's connection on each door, and for baaaht's sessions; an agent
        # TTL longer than the run (the assistant sends no heartbeat).
        room = str(max(1024, 2 * CLIENTS + 256))
        self.proc = subprocess.Popen(
            [DROVERD, "--socket", self.sock, "--state-dir", os.path.join(tmp, "state"),
             "--rp-socket", self.rpsock, "--http", f"127.0.0.1:{self.port}",
             "--baaaht-socket", self.bsock, "--log-level", "warning",
             "--emergency-reserve-bytes", "65536", "--max-connections", room,
             "--rp-max-connections", room, "--http-max-connections", room,
             "--agents-max-sessions", "100000", "--agents-agent-ttl-ms", "86400000"],
            env=dict(env, NOTIFY_SOCKET=notify_path), stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self.kids = {}
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

    def note_children(self):
        for p in descendants(self.pid):
            if p not in self.kids:
                self.kids[p] = start_time(p)

    def stop(self):
        """SIGTERM by pid and wait; then SIGKILL, by pid, what it started and left alive.
        Returns (exit code, how many were left, seconds SIGTERM took)."""
        self.note_children()
        t = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        took = time.monotonic() - t
        self.log.close()
        left = 0
        for p, st in self.kids.items():
            if st is not None and alive(p) and start_time(p) == st:
                left += 1
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        return self.proc.returncode, left, took


# ---- helper processes ---------------------------------------------------------------------

class Helper:
    """A helper process talked to by lines on its stdin and stdout."""

    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1, env=env)
        self.pid = self.proc.pid

    def line(self):
        s = self.proc.stdout.readline()
        if not s:
            raise RuntimeError(f"helper {self.pid} ended (exit {self.proc.wait()})")
        return s.strip()

    def say(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def stop(self, wait=30):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def me(mode, spec):
    return [sys.executable, os.path.abspath(__file__), mode, json.dumps(spec)]


# ---- client workers (one asyncio loop per process) ----------------------------------------

def worker(spec):
    """spec: sockets, the clients (index, kind), services, sessions. Prints "ready" once every
    client is connected, starts on "go T0" (T0: the main process's monotonic clock, which is
    the machine's), stops on "stop", prints a JSON summary."""
    import grpc
    from drover.v1 import admin_pb2, admin_pb2_grpc, services_pb2, services_pb2_grpc
    from drover.v1 import sessions_pb2, sessions_pb2_grpc, metrics_pb2, metrics_pb2_grpc
    from running_process.daemon.v1 import daemon_pb2 as rp
    import orchestrator_pb2 as o
    import orchestrator_pb2_grpc as og

    think = spec["think_ms"] / 1000
    sample_s = spec["sample_s"]
    services = spec["services"]
    sessions = spec["sessions"]
    kinds = Kinds()
    buckets = {}  # index -> {"ok", "failed", "lat": reservoir of unary latencies (s)}
    t0 = [None]
    lag = []

    def note(ok, latency=None):
        if t0[0] is None:
            return
        b = buckets.setdefault(int((time.monotonic() - t0[0]) // sample_s),
                               {"ok": 0, "failed": 0, "n": 0, "lat": []})
        b["ok" if ok else "failed"] += 1
        if latency is not None:
            b["n"] += 1
            if len(b["lat"]) < 400:
                b["lat"].append(latency)
            else:
                j = random.randrange(b["n"])
                if j < 400:
                    b["lat"][j] = latency

    def err(e):
        if isinstance(e, grpc.aio.AioRpcError):
            return f"{e.code().name}: {e.details()}"
        return f"{type(e).__name__}: {e}"

    def chan(path):
        return grpc.aio.insecure_channel("unix:" + path,
                                         options=[("grpc.use_local_subchannel_pool", 1)])

    async def run():
        stop = asyncio.Event()
        go = asyncio.Event()

        async def nap(s):
            """Sleeps s seconds; True if told to stop meanwhile."""
            try:
                await asyncio.wait_for(stop.wait(), timeout=s)
                return True
            except asyncio.TimeoutError:
                return stop.is_set()

        def jitter(s):
            return s * random.uniform(0.5, 1.5)

        async def unary(kind, coro, latency=True):
            t = time.perf_counter()
            try:
                r = await coro
            except Exception as e:  # noqa: BLE001 (every failure is counted)
                kinds.fail(kind, err(e))
                note(False)
                return None
            kinds.ok(kind)
            note(True, time.perf_counter() - t if latency else None)
            return r

        async def read_until_cancelled(call, kind, hold, check=None):
            """Reads a server stream for `hold` seconds (or until stop), then cancels it. A
            stream that ends by itself before, or with an error, is a failure."""
            st = kinds.get(kind)
            ended = {}

            async def consume():
                try:
                    while True:
                        m = await call.read()
                        if m is grpc.aio.EOF:
                            ended["why"] = "the stream ended (OK) while it was being read"
                            return
                        st["msgs"] += 1
                        if check:
                            why = check(m)
                            if why:
                                ended["why"] = why
                                return
                except asyncio.CancelledError:
                    return
                except grpc.aio.AioRpcError as e:
                    if e.code() != grpc.StatusCode.CANCELLED or not ended.get("ours"):
                        ended["why"] = err(e)

            task = asyncio.ensure_future(consume())
            waiter = asyncio.ensure_future(stop.wait())
            await asyncio.wait({task, waiter}, timeout=hold,
                               return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if not task.done():
                ended["ours"] = True
                call.cancel()
                await asyncio.wait({task}, timeout=10)
                if not task.done():
                    task.cancel()
                    ended.setdefault("why", "the stream did not end 10 s after its cancel")
            if ended.get("why"):
                kinds.fail(kind, ended["why"])
                note(False)
            else:
                kinds.ok(kind)
                note(True)

        # -- kinds of client ------------------------------------------------------------
        async def c_unary(ch):
            admin = admin_pb2_grpc.AdminStub(ch)
            svc = services_pb2_grpc.ServicesStub(ch)
            sess = sessions_pb2_grpc.SessionsStub(ch)
            met = metrics_pb2_grpc.MetricsStub(ch)
            ops = [(30, "Admin.Ping", lambda: admin.Ping(admin_pb2.PingRequest(payload=b"x" * 32),
                                                         timeout=CALL_TIMEOUT)),
                   (15, "Admin.Status", lambda: admin.Status(admin_pb2.StatusRequest(),
                                                             timeout=CALL_TIMEOUT)),
                   (25, "Services.Get", lambda: svc.Get(services_pb2.ServiceTarget(
                       target=random.choice(services)), timeout=CALL_TIMEOUT)),
                   (8, "Services.List", lambda: svc.List(services_pb2.ListServicesRequest(),
                                                         timeout=CALL_TIMEOUT)),
                   (8, "Sessions.ListPty", lambda: sess.ListPty(rp.ListPtySessionsRequest(),
                                                                timeout=CALL_TIMEOUT)),
                   (10, "Sessions.GetBacklog", lambda: sess.GetBacklog(
                       rp.GetSessionBacklogRequest(session_id=random.choice(sessions)["id"]),
                       timeout=CALL_TIMEOUT)),
                   (4, "Metrics.Get", lambda: met.Get(metrics_pb2.MetricsRequest(),
                                                      timeout=CALL_TIMEOUT))]
            weights = [w for w, _, _ in ops]
            await go.wait()
            if await nap(random.uniform(0, think)):
                return
            while True:
                _, kind, make = random.choices(ops, weights)[0]
                await unary(kind, make())
                if await nap(jitter(think)):
                    return

        async def c_watch(ch, every):
            svc = services_pb2_grpc.ServicesStub(ch)
            kind = "Services.Watch (all)" if every else "Services.Watch"
            await go.wait()
            if await nap(random.uniform(0, think)):
                return
            while not stop.is_set():
                target = "" if every else random.choice(services)
                call = svc.Watch(services_pb2.WatchServicesRequest(target=target))
                await read_until_cancelled(call, kind, random.uniform(10, 30))
                if await nap(jitter(think)):
                    return

        async def c_logs(ch):
            svc = services_pb2_grpc.ServicesStub(ch)
            await go.wait()
            if await nap(random.uniform(0, think)):
                return
            while not stop.is_set():
                call = svc.Logs(services_pb2.LogsRequest(target=random.choice(services),
                                                         lines=10, follow=True))
                await read_until_cancelled(call, "Services.Logs -f", random.uniform(10, 30))
                if await nap(jitter(think)):
                    return

        async def c_attach(ch, s):
            sess = sessions_pb2_grpc.SessionsStub(ch)
            pty = s["kind"] == "pty"
            kind = "Sessions.AttachPty" if pty else "Sessions.AttachPipe"
            st = kinds.get(kind)
            await go.wait()
            while not stop.is_set():
                if pty:
                    call = sess.AttachPty()
                    await call.write(sessions_pb2.AttachPtyRequest(
                        attach=rp.AttachPtySessionRequest(session_id=s["id"], rows=24, cols=80)))
                else:
                    call = sess.AttachPipe(rp.AttachPipeStreamRequest(
                        session_id=s["id"], stream=rp.PIPE_STREAM_KIND_STDOUT))
                out = {"terminal": None}

                async def consume():
                    while True:
                        m = await call.read()
                        if m is grpc.aio.EOF:
                            return
                        if m.WhichOneof("msg") == "attached":
                            st["bytes"] += len(m.attached.backlog)
                            continue
                        f = m.frame
                        which = f.WhichOneof("frame")
                        if which in ("output", "bytes"):
                            st["msgs"] += 1
                            st["bytes"] += len(getattr(f, which))
                        elif which == "missed_bytes":
                            pass
                        else:
                            out["terminal"] = f"{which}={getattr(f, which)}"

                task = asyncio.ensure_future(consume())
                waiter = asyncio.ensure_future(stop.wait())
                await asyncio.wait({task, waiter}, timeout=random.uniform(5, 15),
                                   return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                why = None
                if task.done():
                    why = (f"the attach ended by itself ({out['terminal']})"
                           if task.exception() is None else err(task.exception()))
                else:
                    try:
                        if pty:
                            await call.write(sessions_pb2.AttachPtyRequest(
                                input=rp.PtyInputFrame(detach=True)))
                        else:
                            await sess.DetachPipe(rp.DetachPipeStreamRequest(
                                session_id=s["id"], stream=rp.PIPE_STREAM_KIND_STDOUT),
                                timeout=CALL_TIMEOUT)
                    except Exception as e:  # noqa: BLE001
                        why = f"detach: {err(e)}"
                    await asyncio.wait({task}, timeout=10)
                    if not task.done():
                        task.cancel()
                        call.cancel()
                        why = why or "the attach did not end 10 s after the detach"
                    elif task.exception() is not None:
                        why = why or err(task.exception())
                    elif out["terminal"] not in ((None, "error=detached") if pty
                                                 else ("eof=True",)):
                        # a detach input frame ends the call OK without a terminal frame
                        why = why or f"detached, then ended with {out['terminal']}"
                if why:
                    kinds.fail(kind, why)
                    note(False)
                else:
                    kinds.ok(kind)
                    note(True)
                if pty:
                    call.cancel()
                if await nap(random.uniform(0.2, 1.0)):
                    return

        async def c_baaaht(ch):
            stub = og.OrchestratorServiceStub(ch)
            USER, ASSISTANT = o.MESSAGE_ROLE_USER, o.MESSAGE_ROLE_ASSISTANT
            st = kinds.get("baaaht StreamMessages")
            await go.wait()
            if await nap(random.uniform(0, think)):
                return
            while not stop.is_set():
                r = await unary("baaaht CreateSession", stub.CreateSession(
                    o.CreateSessionRequest(metadata=o.SessionMetadata(name="soak")),
                    timeout=CALL_TIMEOUT), latency=False)
                if r is None:
                    if await nap(think):
                        return
                    continue
                sid = r.session_id
                call = stub.StreamMessages()
                why = None
                try:
                    await call.write(o.StreamMessageRequest(session_id=sid))
                    for k in range(random.randint(20, 40)):
                        await call.write(o.StreamMessageRequest(session_id=sid, message=o.Message(
                            role=USER, content=f"m{k}")))
                        while True:
                            m = await call.read()
                            if m is grpc.aio.EOF:
                                raise RuntimeError("StreamMessages ended (OK) while a reply "
                                                   "was awaited")
                            p = m.WhichOneof("payload")
                            if p == "message" and m.message.role == ASSISTANT:
                                kinds.ok("baaaht message round trip")
                                note(True, None)
                                st["msgs"] += 1
                                break
                            if p == "event":
                                why = f"event: {dict(m.event.data).get('error', m.event.type)}"
                                break
                        if why:
                            kinds.fail("baaaht message round trip", why)
                            note(False)
                            why = None
                        if await nap(jitter(think)):
                            break
                except Exception as e:  # noqa: BLE001
                    why = err(e)
                call.cancel()
                if why:
                    kinds.fail("baaaht StreamMessages", why)
                    note(False)
                else:
                    kinds.ok("baaaht StreamMessages")
                await unary("baaaht CloseSession", stub.CloseSession(
                    o.CloseSessionRequest(session_id=sid), timeout=CALL_TIMEOUT), latency=False)

        async def c_rp(rd, wr):
            ops = [(40, "rp PING", rp.REQUEST_TYPE_PING, "ping", rp.PingRequest()),
                   (20, "rp STATUS", rp.REQUEST_TYPE_STATUS, "status", rp.StatusRequest()),
                   (20, "rp SERVICE_LIST", rp.REQUEST_TYPE_SERVICE_LIST, "service_list",
                    rp.ServiceListRequest()),
                   (20, "rp LIST_PTY_SESSIONS", rp.REQUEST_TYPE_LIST_PTY_SESSIONS,
                    "list_pty_sessions", rp.ListPtySessionsRequest())]
            weights = [x[0] for x in ops]
            await go.wait()
            if await nap(random.uniform(0, think)):
                return
            n = 0
            while True:
                _, kind, typ, field, payload = random.choices(ops, weights)[0]
                n += 1
                req = rp.DaemonRequest(id=n, type=typ, protocol_version=1, client_name="soak")
                getattr(req, field).CopyFrom(payload)
                body = req.SerializeToString()
                t = time.perf_counter()
                try:
                    wr.write(struct.pack(">I", len(body)) + body)
                    await wr.drain()
                    size = struct.unpack(">I", await asyncio.wait_for(rd.readexactly(4),
                                                                      CALL_TIMEOUT))[0]
                    resp = rp.DaemonResponse()
                    resp.ParseFromString(await asyncio.wait_for(rd.readexactly(size),
                                                                CALL_TIMEOUT))
                    if resp.code != rp.STATUS_CODE_OK:
                        raise RuntimeError(f"{rp.StatusCode.Name(resp.code)}: {resp.message}")
                    if resp.request_id != n:
                        raise RuntimeError(f"answer to request {resp.request_id}, not {n}")
                    kinds.ok(kind)
                    note(True, time.perf_counter() - t)
                except Exception as e:  # noqa: BLE001
                    kinds.fail(kind, err(e))
                    note(False)
                    wr.close()
                    try:
                        rd, wr = await asyncio.open_unix_connection(spec["rpsock"])
                    except OSError as e2:
                        kinds.fail("rp connect", err(e2))
                if await nap(jitter(think)):
                    wr.close()
                    return

        async def c_socktop():
            import websockets
            url = f"ws://127.0.0.1:{spec['http_port']}/ws"
            await go.wait()
            if await nap(random.uniform(0, think)):
                return
            ws, n = None, 0
            while True:
                cmd = "get_processes" if n % 4 == 3 else "get_metrics"
                kind = f"socktop {cmd}"
                n += 1
                t = time.perf_counter()
                try:
                    if ws is None:
                        ws = await websockets.connect(url, max_size=None)
                    await ws.send(cmd)
                    r = await asyncio.wait_for(ws.recv(), CALL_TIMEOUT)
                    if not r:
                        raise RuntimeError("empty reply")
                    kinds.ok(kind)
                    kinds.get(kind)["bytes"] += len(r)
                    note(True, time.perf_counter() - t)
                except Exception as e:  # noqa: BLE001
                    kinds.fail(kind, err(e))
                    note(False)
                    ws = None
                if await nap(jitter(think)):
                    if ws is not None:
                        await ws.close()
                    return

        async def loop_lag():
            await go.wait()
            while not stop.is_set():
                t = time.monotonic()
                await asyncio.sleep(0.1)
                lag.append(time.monotonic() - t - 0.1)

        # -- connect everyone, then run -------------------------------------------------
        chans, tasks, writers = [], [], []

        async def connect(i, kind):
            try:
                if kind == "rp":
                    rd, wr = await asyncio.open_unix_connection(spec["rpsock"])
                    writers.append(wr)
                    return c_rp(rd, wr)
                if kind == "socktop":
                    return c_socktop()
                ch = chan(spec["bsock"] if kind == "baaaht" else spec["socket"])
                chans.append(ch)
                await asyncio.wait_for(ch.channel_ready(), 30)
                if kind == "unary":
                    return c_unary(ch)
                if kind == "watch":
                    return c_watch(ch, i % 20 == 0)
                if kind == "logs":
                    return c_logs(ch)
                if kind == "baaaht":
                    return c_baaaht(ch)
                if kind.startswith("attach:"):
                    return c_attach(ch, sessions[int(kind.split(":")[1])])
                raise ValueError(kind)
            except Exception as e:  # noqa: BLE001
                kinds.fail("connect", err(e))
                return None

        coros = []
        mine = spec["clients"]
        for k in range(0, len(mine), 50):
            coros += await asyncio.gather(*(connect(i, kind) for i, kind in mine[k:k + 50]))
        tasks = [asyncio.ensure_future(c) for c in coros if c is not None]
        tasks.append(asyncio.ensure_future(loop_lag()))
        print("ready", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        t0[0] = float(line.split()[1])
        c0 = time.process_time()
        go.set()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        stop.set()
        done, pending = await asyncio.wait(tasks, timeout=60)
        for t in done:
            if t.exception() is not None:
                kinds.fail("client task", err(t.exception()))
        for t in pending:
            kinds.fail("client task", "did not stop within 60 s")
            t.cancel()
        cpu = time.process_time() - c0
        for ch in chans:
            await ch.close()
        print(json.dumps({"kinds": kinds.k, "buckets": buckets, "cpu_s": cpu,
                          "lag_p99_ms": (pct(lag, 99) or 0) * 1e3,
                          "lag_max_ms": (max(lag) if lag else 0) * 1e3}), flush=True)

    asyncio.run(run())


# ---- hostile clients ----------------------------------------------------------------------

def hostile(spec):
    """Three misbehaving clients per door, each on a thread of its own, again and again until a
    line on stdin; prints a JSON summary: per client, cycles and what droverd did."""
    import h2.config
    import h2.connection
    import h2.exceptions
    import h2.settings
    from drover.v1 import admin_pb2
    from running_process.daemon.v1 import daemon_pb2 as rp
    import orchestrator_pb2 as o

    stop = threading.Event()
    out = {}
    lock = threading.Lock()
    period, hold = spec["period_s"], spec["hold_s"]

    def count(name, what, n=1):
        with lock:
            e = out.setdefault(name, {"cycles": 0})
            e[what] = e.get(what, 0) + n

    def unix(path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(path)
        return s

    def tcp():
        return socket.create_connection(("127.0.0.1", spec["http_port"]), timeout=5)

    def gframe(msg):
        return struct.pack(">BI", 0, len(msg)) + msg

    def h2conn(sock):
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                 header_encoding="utf-8"))
        c.initiate_connection()
        return c

    def headers(path):
        return [(":method", "POST"), (":scheme", "http"), (":path", path),
                (":authority", "localhost"), ("content-type", "application/grpc"),
                ("te", "trailers")]

    def send_all(sock, data):
        """Sends what the socket takes within 1 s; returns whether it took all of it (a full
        socket is droverd not reading us: deliberate)."""
        sock.settimeout(1)
        try:
            sock.sendall(data)
            return True
        except socket.timeout:
            return False

    def held(s):
        stop.wait(hold)
        s.close()

    def to_eof(s, limit=15):
        s.settimeout(0.2)
        t = time.monotonic()
        got = 0
        while time.monotonic() - t < limit and not stop.is_set():
            try:
                c = s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return got, True
            if not c:
                return got, True
            got += len(c)
        return got, stop.is_set()

    # -- gRPC doors (drover's socket, baaaht's socket) -----------------------------------
    def g_stream(name, path, method, body):
        s = unix(path)
        c = h2conn(s)
        c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
        c.increment_flow_control_window(2**31 - 1 - 65535)
        sid = c.get_next_available_stream_id()
        c.send_headers(sid, headers(method))
        c.send_data(sid, gframe(body), end_stream=True)
        s.sendall(c.data_to_send())
        held(s)

    def g_pipeline(name, path, method, body):
        s = unix(path)
        c = h2conn(s)
        try:
            for _ in range(1000):
                sid = c.get_next_available_stream_id()
                c.send_headers(sid, headers(method))
                c.send_data(sid, gframe(body), end_stream=True)
        except h2.exceptions.H2Error as e:
            count(name, f"h2 stopped us: {type(e).__name__}")
        if not send_all(s, c.data_to_send()):
            count(name, "socket full (droverd stopped reading)")
        held(s)

    def garbage(name, connect, data):
        s = connect()
        try:
            s.sendall(data)
        except OSError:
            count(name, "closed while we wrote")
            s.close()
            return
        got, closed = to_eof(s)
        s.close()
        if closed:
            count(name, "closed by droverd")
            if got:
                count(name, "answered before closing")
        else:
            count(name, "anomaly: kept open 15 s after garbage")

    # -- the running-process door ------------------------------------------------------
    def rp_req(typ, field, payload, n=1):
        req = rp.DaemonRequest(id=n, type=typ, protocol_version=1, client_name="hostile")
        getattr(req, field).CopyFrom(payload)
        b = req.SerializeToString()
        return struct.pack(">I", len(b)) + b

    def rp_stream(name):
        s = unix(spec["rpsock"])
        s.sendall(rp_req(rp.REQUEST_TYPE_ATTACH_PTY_SESSION, "attach_pty_session",
                         rp.AttachPtySessionRequest(session_id=spec["hostile_session"],
                                                    steal=True)))
        held(s)

    def rp_pipeline(name):
        s = unix(spec["rpsock"])
        ping = rp_req(rp.REQUEST_TYPE_PING, "ping", rp.PingRequest())
        if not send_all(s, ping * (400000 // len(ping))):
            count(name, "socket full (droverd stopped reading)")
        held(s)

    # -- the HTTP door -------------------------------------------------------------------
    def ws_frame(text):
        b = text.encode()
        mask = os.urandom(4)
        return (bytes([0x81, 0x80 | len(b)]) + mask
                + bytes(x ^ mask[i % 4] for i, x in enumerate(b)))

    def http_stream(name):
        s = tcp()
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  b"Sec-WebSocket-Version: 13\r\n\r\n")
        if not send_all(s, ws_frame("get_processes") * 500):
            count(name, "socket full (droverd stopped reading)")
        held(s)

    def http_pipeline(name):
        s = tcp()
        if not send_all(s, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 200):
            count(name, "socket full (droverd stopped reading)")
        held(s)

    junk = lambda: bytes([0xFF]) + os.urandom(2047)  # noqa: E731 (rp: a length over 4 MiB)
    ping = admin_pb2.PingRequest().SerializeToString()
    clients = {
        "grpc stream": lambda n: g_stream(n, spec["socket"], "/drover.v1.Admin/PingStream",
                                          admin_pb2.PingStreamRequest(
                                              payload_size=16384).SerializeToString()),
        "grpc garbage": lambda n: garbage(n, lambda: unix(spec["socket"]), junk()),
        "grpc pipeline": lambda n: g_pipeline(n, spec["socket"], "/drover.v1.Admin/Ping", ping),
        "baaaht stream": lambda n: g_stream(
            n, spec["bsock"], "/orchestrator.v1.OrchestratorService/SubscribeEvents",
            o.SubscribeEventsRequest().SerializeToString()),
        "baaaht garbage": lambda n: garbage(n, lambda: unix(spec["bsock"]), junk()),
        "baaaht pipeline": lambda n: g_pipeline(
            n, spec["bsock"], "/orchestrator.v1.OrchestratorService/HealthCheck", b""),
        "rp stream": rp_stream,
        "rp garbage": lambda n: garbage(n, lambda: unix(spec["rpsock"]), junk()),
        "rp pipeline": rp_pipeline,
        "http stream": http_stream,
        "http garbage": lambda n: garbage(n, tcp, junk() + b"\r\n\r\n"),
        "http pipeline": http_pipeline,
    }

    def run(name, fn):
        stop.wait(random.uniform(0, period))
        while not stop.is_set():
            count(name, "cycles")
            try:
                fn(name)
            except Exception as e:  # noqa: BLE001 (what droverd does to them is deliberate)
                count(name, f"{type(e).__name__}: {str(e)[:60]}")
            stop.wait(period)

    only = spec.get("only")
    if only is not None:
        clients = {n: f for n, f in clients.items() if n in only}
    threads = [threading.Thread(target=run, args=(n, f), daemon=True) for n, f in clients.items()]
    for t in threads:
        t.start()
    print("ready", flush=True)
    sys.stdin.readline()
    stop.set()
    for t in threads:
        t.join(30)
    print(json.dumps(out), flush=True)


# ---- the main process: set-up, scraper, sampler -------------------------------------------

class Scraper(threading.Thread):
    """GET /metrics every second on one keep-alive connection, gzip, as Prometheus does."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.kinds = Kinds()
        self.stopping = threading.Event()
        self.last = {}
        self.lat = []

    def run(self):
        import gzip
        import http.client
        conn = None
        while not self.stopping.wait(1.0):
            t = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip",
                                                         "User-Agent": "Prometheus/soak"})
                r = conn.getresponse()
                body = r.read()
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}")
                if r.getheader("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                text = body.decode()
                if "drover_grpc_connections" not in text:
                    raise RuntimeError("no drover_grpc_connections in /metrics")
                self.lat.append((time.monotonic(), time.perf_counter() - t))
                self.kinds.ok("http GET /metrics (scraper)")
                last = {}
                for line in text.splitlines():
                    if line.startswith(("drover_", "process_")) and " " in line:
                        k, _, v = line.rpartition(" ")
                        try:
                            last[k] = float(v)
                        except ValueError:
                            pass
                self.last = last
            except Exception as e:  # noqa: BLE001
                self.kinds.fail("http GET /metrics (scraper)", f"{type(e).__name__}: {e}")
                conn = None
        if conn is not None:
            conn.close()


def client_plan():
    """(index, kind) for every client: shares of CLIENTS, an attacher per streaming session."""
    n = CLIENTS
    attach = min(SOAK_SESSIONS, max(0, n // 10))
    share = {"watch": round(n * 0.10), "logs": round(n * 0.10), "rp": round(n * 0.05),
             "baaaht": round(n * 0.05), "socktop": max(1, round(n * 0.005)) if n >= 20 else 0}
    kinds = [f"attach:{i}" for i in range(attach)]
    for k, c in share.items():
        kinds += [k] * c
    kinds += ["unary"] * max(0, n - len(kinds))
    kinds = kinds[:n]
    if KINDS is not None:  # the others are left out, not replaced
        return [(i, k) for i, k in enumerate(kinds) if k.split(":")[0] in KINDS]
    return list(enumerate(kinds))


def least_squares_slope(xs, ys):
    if len(xs) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else None


def summarize(samples, seconds):
    """First sample after warm-up against the last; slopes per minute; the verdict."""
    warm = seconds * WARMUP_SHARE
    after = [s for s in samples if s["t"] >= warm - 1e-6]
    if len(after) < 2:
        return {"verdict": "too short to tell", "warmup_s": warm}
    a, z = after[0], after[-1]
    xs = [s["t"] / 60 for s in after]
    r = {"warmup_s": warm, "from_t": a["t"], "to_t": z["t"],
         "rss_kb_from": a["rss_kb"], "rss_kb_to": z["rss_kb"],
         "rss_growth": (z["rss_kb"] - a["rss_kb"]) / a["rss_kb"],
         "rss_kb_per_min": least_squares_slope(xs, [s["rss_kb"] for s in after]),
         "rss_kb_max": max(s["rss_kb"] for s in after),
         "fds_from": a["fds"], "fds_to": z["fds"],
         "fds_growth": (z["fds"] - a["fds"]) / a["fds"],
         "fds_per_min": least_squares_slope(xs, [s["fds"] for s in after]),
         "fds_max": max(s["fds"] for s in after),
         "cpu_pct_mean": sum(s["cpu_pct"] for s in after[1:]) / max(1, len(after) - 1),
         "cpu_pct_max": max(s["cpu_pct"] for s in after[1:]) if len(after) > 1 else None}
    # The same over the second half of the run: whether what grew after the warm-up levelled off.
    half = [s for s in samples if s["t"] >= seconds / 2 - 1e-6]
    if len(half) >= 2:
        h0, h1 = half[0], half[-1]
        hx = [s["t"] / 60 for s in half]
        r.update({"half_from_t": h0["t"],
                  "half_rss_growth": (h1["rss_kb"] - h0["rss_kb"]) / h0["rss_kb"],
                  "half_rss_kb_per_min": least_squares_slope(hx, [s["rss_kb"] for s in half]),
                  "half_fds_growth": (h1["fds"] - h0["fds"]) / h0["fds"],
                  "half_fds_per_min": least_squares_slope(hx, [s["fds"] for s in half]),
                  "fds_min": min(s["fds"] for s in after)})
    growing = []
    if r["rss_growth"] >= 0.10:
        growing.append(f"RSS +{r['rss_growth']:.0%}")
    if r["fds_growth"] >= 0.05:
        growing.append(f"fds +{r['fds_growth']:.0%}")
    r["verdict"] = "flat" if not growing else "growing: " + ", ".join(growing)
    return r


def fmt(v):
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def main():
    if len(sys.argv) > 2 and sys.argv[1] in ("--worker", "--hostile"):
        sys.path.insert(0, os.environ["SOAK_PB"])
        spec = json.loads(sys.argv[2])
        return {"--worker": worker, "--hostile": hostile}[sys.argv[1]](spec) or 0
    from results import record
    tmp = tempfile.mkdtemp(prefix="drover-soak-")
    gen = os.path.join(tmp, "pb")
    os.makedirs(gen)
    plan = client_plan()
    res = {"seconds": SOAK_SECONDS, "clients": CLIENTS, "services": SERVICES,
           "sample_s": SAMPLE_S, "client_procs": CLIENT_PROCS, "think_ms": THINK_MS,
           "sessions": SOAK_SESSIONS, "crash_backoff_max_ms": CRASH_BACKOFF_MAX_MS,
           "hostile_period_s": HOSTILE_PERIOD_S, "warmup_share": WARMUP_SHARE, "cores": NCPU,
           "build": BUILD, "plan": {}, "samples": []}
    for _, k in plan:
        k = k.split(":")[0]
        res["plan"][k] = res["plan"].get(k, 0) + 1
    print("== soak: setup")
    print(f"build={BUILD}")
    print(f"cores={NCPU}")
    print("clients=" + " ".join(f"{k}:{v}" for k, v in res["plan"].items()))
    try:
        generate_stubs(gen)
    except Exception as e:  # noqa: BLE001
        print(f"error=cannot generate the stubs ({e}): nothing measured")
        shutil.rmtree(tmp, ignore_errors=True)
        return 0
    os.environ["SOAK_PB"] = gen
    sys.path.insert(0, gen)
    import grpc
    from drover.v1 import admin_pb2, admin_pb2_grpc, services_pb2, services_pb2_grpc
    from drover.v1 import sessions_pb2_grpc
    from google.protobuf import wrappers_pb2
    from running_process.daemon.v1 import daemon_pb2 as rp

    d = None
    helpers = []
    scraper = None
    setup_kinds = Kinds()
    t_start = time.monotonic()
    try:
        d = Droverd(tmp)
        print(f"droverd_pid={d.pid}")
        res["rss_ready_kb"] = int(status(d.pid)["VmRSS"])
        ch = grpc.insecure_channel("unix:" + d.sock)
        admin = admin_pb2_grpc.AdminStub(ch)
        svc = services_pb2_grpc.ServicesStub(ch)
        sess = sessions_pb2_grpc.SessionsStub(ch)

        names = [f"crash{i:03d}" for i in range(SERVICES)]
        for n in names:
            svc.Start(services_pb2.StartServiceRequest(spec=services_pb2.ServiceSpec(
                name=n, cmd=["sh", "-c", CRASH_CMD], restart=services_pb2.RESTART_POLICY_ALWAYS,
                restart_delay_ms=wrappers_pb2.UInt32Value(value=200),
                restart_delay_max_ms=wrappers_pb2.UInt32Value(value=CRASH_BACKOFF_MAX_MS),
                kill_timeout_ms=wrappers_pb2.UInt32Value(value=1000))), timeout=30)
        sessions = []
        for i in range(SOAK_SESSIONS):
            if i % 2 == 0:
                r = sess.SpawnPty(rp.SpawnPtySessionRequest(
                    argv=["sh", "-c", SESSION_CMD], rows=24, cols=80, originator="soak"),
                    timeout=30)
                sessions.append({"id": r.session_id, "kind": "pty"})
            else:
                r = sess.SpawnPipe(rp.SpawnPipeSessionRequest(
                    argv=["sh", "-c", SESSION_CMD], originator="soak",
                    merge_stderr_into_stdout=True), timeout=30)
                sessions.append({"id": r.session_id, "kind": "pipe"})
        hostile_session = sess.SpawnPty(rp.SpawnPtySessionRequest(
            argv=["sh", "-c", SESSION_CMD], rows=24, cols=80, originator="soak-hostile"),
            timeout=30).session_id
        print(f"services={SERVICES} sessions={len(sessions)}+1 (hostile's)")

        env = dict(os.environ, SOAK_PB=gen, BAAAHT_PB=gen)
        common = {"socket": d.sock, "bsock": d.bsock, "rpsock": d.rpsock, "http_port": d.port}
        if res["plan"].get("baaaht"):
            a = Helper([sys.executable, os.path.join(ROOT, "bench", "baaaht.py"), "--assistant",
                        json.dumps({"socket": d.bsock})], env=env)
            helpers.append(("assistant", a))
            if a.line() != "ready":
                raise RuntimeError("the assistant did not start")
        procs = max(1, min(CLIENT_PROCS, len(plan)))
        workers = []
        for w in range(procs):
            spec = dict(common, clients=plan[w::procs], services=names, sessions=sessions,
                        think_ms=THINK_MS, sample_s=SAMPLE_S)
            h = Helper(me("--worker", spec), env=env)
            workers.append(h)
            helpers.append(("worker", h))
        hs = Helper(me("--hostile", dict(common, period_s=HOSTILE_PERIOD_S, hold_s=HOSTILE_HOLD_S,
                                         hostile_session=hostile_session, only=HOSTILE)),
                    env=env)
        helpers.append(("hostile", hs))
        t_connect = time.monotonic()
        for h in workers + [hs]:
            got = h.line()
            if got != "ready":
                raise RuntimeError(f"helper {h.pid} said {got!r}")
        res["connect_s"] = time.monotonic() - t_connect
        print(f"clients_connected_in_s={res['connect_s']:.1f}")

        scraper = Scraper(d.port)
        scraper.start()
        t0 = time.monotonic()
        for h in workers:
            h.say(f"go {t0}")
        sample_kinds = Kinds()
        last_cpu, last_t, last_calls = cpu_ticks(d.pid), t0, None
        last_sched, last_machine = schedstat_ns(d.pid), machine_ticks()
        states = StateSampler(d.pid)
        states.start()
        print(f"== soak: {SOAK_SECONDS:.0f} s, a sample every {SAMPLE_S:.0f} s", flush=True)
        k = 0
        while True:
            target = t0 + k * SAMPLE_S
            if target > t0 + SOAK_SECONDS + 1e-6:
                break
            time.sleep(max(0.0, target - time.monotonic()))
            if d.proc.poll() is not None:
                res["droverd_died_at_s"] = time.monotonic() - t0
                print(f"error=droverd exited ({d.proc.returncode}) "
                      f"{res['droverd_died_at_s']:.0f} s into the run")
                break
            now = time.monotonic()
            st = status(d.pid)
            cpu = cpu_ticks(d.pid)
            sched, mach = schedstat_ns(d.pid), machine_ticks()
            blocked = states.take()
            try:
                fds = len(os.listdir(f"/proc/{d.pid}/fd"))
            except OSError:
                fds = None
            kids = descendants(d.pid)
            d.note_children()
            zombies = 0
            for p in kids:
                try:
                    zombies += stat_fields(p)[0] == "Z"
                except OSError:
                    pass
            conns = calls = calls_total = None
            try:
                r = admin.Status(admin_pb2.StatusRequest(), timeout=CALL_TIMEOUT)
                conns, calls, calls_total = r.open_connections, r.active_calls, r.calls_total
                sample_kinds.ok("Admin.Status (sampler)")
            except grpc.RpcError as e:
                sample_kinds.fail("Admin.Status (sampler)", f"{e.code().name}: {e.details()}")
            m = scraper.last
            s = {"t": round(now - t0, 1), "rss_kb": int(st["VmRSS"]),
                 "rss_anon_kb": int(st.get("RssAnon", 0)), "hwm_kb": int(st["VmHWM"]),
                 "fds": fds, "threads": int(st["Threads"]),
                 "cpu_pct": (cpu - last_cpu) / HZ / (now - last_t) * 100 if k else 0.0,
                 # droverd runnable but waiting for a CPU, and blocked in the kernel, as shares
                 # of the interval; the whole machine's CPUs busy (everyone's, not only ours)
                 "cpu_wait_pct": ((sched[1] - last_sched[1]) / 1e9 / (now - last_t) * 100
                                  if k else 0.0),
                 "blocked_pct": blocked * 100 if k and blocked is not None else 0.0,
                 "machine_busy_pct": ((mach[0] - last_machine[0])
                                      / max(1, mach[1] - last_machine[1]) * 100 if k else 0.0),
                 "load1": float(open("/proc/loadavg").read().split()[0]),
                 "grpc_connections": conns, "active_calls": calls,
                 "grpc_calls_per_s": ((calls_total - last_calls) / (now - last_t)
                                      if k and calls_total is not None and last_calls is not None
                                      else None),
                 "http_connections": m.get("drover_http_connections"),
                 "processes": len(kids), "zombies": zombies}
            last_cpu, last_t, last_calls = cpu, now, calls_total
            last_sched, last_machine = sched, mach
            res["samples"].append(s)
            print("sample " + " ".join(f"{key}={fmt(v)}" for key, v in s.items()
                                       if v is not None), flush=True)
            k += 1

        # -- the end: clients first, then droverd --------------------------------------
        res["run_s"] = time.monotonic() - t0
        states.stopping.set()
        scraper.stopping.set()
        hs.say("stop")
        for h in workers:
            h.say("stop")
        merged, buckets, wcpu, lags = {}, {}, 0.0, []
        for h in workers:
            try:
                w = json.loads(h.line())
            except (RuntimeError, ValueError) as e:
                setup_kinds.fail("worker", str(e))
                continue
            Kinds.merge(merged, w["kinds"])
            wcpu += w["cpu_s"]
            lags.append(w["lag_p99_ms"])
            for b, v in w["buckets"].items():
                e = buckets.setdefault(int(b), {"ok": 0, "failed": 0, "lat": []})
                e["ok"] += v["ok"]
                e["failed"] += v["failed"]
                e["lat"] += v["lat"]
        try:
            res["hostile"] = json.loads(hs.line())
        except (RuntimeError, ValueError) as e:
            res["hostile"] = {"error": str(e)}
        scraper.join(5)
        Kinds.merge(merged, scraper.kinds.k)
        Kinds.merge(merged, sample_kinds.k)
        Kinds.merge(merged, setup_kinds.k)
        res["calls"] = merged
        res["clients_cpu_s"] = wcpu
        res["client_loop_lag_p99_ms"] = max(lags) if lags else None
        lat = [x for _, x in scraper.lat]
        res["scrape_p50_ms"] = (pct(lat, 50) or 0) * 1e3
        res["scrape_p99_ms"] = (pct(lat, 99) or 0) * 1e3
        res["scrape_max_ms"] = (max(lat) if lat else 0) * 1e3
        # the clients' figures per sample interval: bucket b is (b*S, (b+1)*S], sample b+1's
        for s in res["samples"]:
            inside = [x for at, x in scraper.lat if s["t"] - SAMPLE_S < at - t0 <= s["t"]]
            if inside and s["t"] > 0:
                s["scrape_max_ms"] = max(inside) * 1e3
            b = buckets.get(int(round(s["t"] / SAMPLE_S)) - 1)
            if b and s["t"] > 0:
                s["client_calls_per_s"] = (b["ok"] + b["failed"]) / SAMPLE_S
                s["client_failed"] = b["failed"]
                s["unary_p99_ms"] = (pct(b["lat"], 99) or 0) * 1e3
                s["unary_p50_ms"] = (pct(b["lat"], 50) or 0) * 1e3

        if d.proc.poll() is None:
            try:
                lst = svc.List(services_pb2.ListServicesRequest(), timeout=CALL_TIMEOUT)
                res["restarts_total"] = sum(x.restarts_total for x in lst.services)
                res["services_errored"] = sum(x.state == services_pb2.SERVICE_STATE_ERRORED
                                              for x in lst.services)
                pty = sess.ListPty(rp.ListPtySessionsRequest(), timeout=CALL_TIMEOUT).sessions
                pipe = sess.ListPipe(rp.ListPipeSessionsRequest(), timeout=CALL_TIMEOUT).sessions
                res["sessions_exited"] = sum(x.exited for x in list(pty) + list(pipe))
                st = admin.Status(admin_pb2.StatusRequest(), timeout=CALL_TIMEOUT)
                res["after_clients"] = {"grpc_connections": st.open_connections,
                                        "active_calls": st.active_calls,
                                        "rss_kb": int(status(d.pid)["VmRSS"]),
                                        "fds": len(os.listdir(f"/proc/{d.pid}/fd"))}
                svc.Delete(services_pb2.ServiceTarget(target="all"), timeout=60)
            except grpc.RpcError as e:
                res["end_error"] = f"{e.code().name}: {e.details()}"
        ch.close()
    except Exception as e:  # noqa: BLE001
        res["error"] = f"{type(e).__name__}: {e}"
        print(f"error={res['error']}")
    finally:
        if scraper:
            scraper.stopping.set()
        for _, h in helpers:
            h.stop(wait=10)
        if d:
            res["hwm_kb"] = None
            try:
                res["hwm_kb"] = int(status(d.pid)["VmHWM"])
            except OSError:
                pass
            code, left, took = d.stop()
            res["droverd_exit"] = code
            res["droverd_stop_s"] = took
            res["droverd_left_processes"] = left
            log = d.read_log().splitlines()
            res["droverd_log_lines"] = len(log)
            res["droverd_log"] = [line for line in log
                                  if any(w in line.lower() for w in ("error", "warn", "leak",
                                                                     "sanitizer"))][:20]
        shutil.rmtree(tmp, ignore_errors=True)
    res["bench_seconds"] = time.monotonic() - t_start

    # -- the report --------------------------------------------------------------------
    res["summary"] = summarize(res["samples"], SOAK_SECONDS)
    calls = res.get("calls", {})
    res["failed_calls"] = sum(v["failed"] for v in calls.values())
    res["ok_calls"] = sum(v["ok"] for v in calls.values())
    dl = {}
    for name, v in (res.get("hostile") or {}).items():
        if isinstance(v, dict):
            for what, n in v.items():
                if what != "cycles":
                    dl[f"{name}: {what}"] = n
    res["deliberate"] = dl
    res["hostile_cycles"] = sum(v.get("cycles", 0) for v in (res.get("hostile") or {}).values()
                                if isinstance(v, dict))
    res["hostile_anomalies"] = sum(n for k, n in dl.items() if "anomaly" in k)
    print("== soak: calls per kind (ok, failed)")
    for kind in sorted(calls):
        v = calls[kind]
        extra = f" msgs={v['msgs']}" if v["msgs"] else ""
        extra += f" bytes={v['bytes']}" if v["bytes"] else ""
        print(f"calls[{kind}]=ok:{v['ok']} failed:{v['failed']}{extra}")
        for why, n in v["errors"].items():
            print(f"failed[{kind}]={n}x {why}")
    print("== soak: clients per sample interval")
    for s in res["samples"]:
        if "client_calls_per_s" in s:
            print(f"interval t={s['t']:.0f} calls_per_s={s['client_calls_per_s']:.1f} "
                  f"failed={s['client_failed']} unary_p50_ms={s['unary_p50_ms']:.2f} "
                  f"unary_p99_ms={s['unary_p99_ms']:.2f} "
                  f"scrape_max_ms={s.get('scrape_max_ms', 0):.1f}")
    print("== soak: hostile clients (deliberate)")
    print(f"hostile_cycles={res['hostile_cycles']}")
    for name, v in sorted((res.get("hostile") or {}).items()):
        if isinstance(v, dict):
            print(f"hostile[{name}]=cycles:{v.get('cycles', 0)}")
    for k2, n in sorted(dl.items()):
        print(f"deliberate[{k2}]={n}")
    print("== soak: summary")
    sm = res["summary"]
    for key in ("warmup_s", "from_t", "to_t", "rss_kb_from", "rss_kb_to", "rss_growth",
                "rss_kb_per_min", "rss_kb_max", "fds_from", "fds_to", "fds_growth",
                "fds_per_min", "fds_min", "fds_max", "cpu_pct_mean", "cpu_pct_max",
                "half_from_t", "half_rss_growth", "half_rss_kb_per_min", "half_fds_growth",
                "half_fds_per_min"):
        if sm.get(key) is not None:
            print(f"{key}={fmt(sm[key])}")
    for key in ("rss_ready_kb", "hwm_kb", "restarts_total", "services_errored",
                "sessions_exited", "clients_cpu_s", "client_loop_lag_p99_ms", "scrape_p50_ms",
                "scrape_p99_ms", "scrape_max_ms", "run_s", "droverd_stop_s", "droverd_left_processes",
                "droverd_log_lines", "bench_seconds", "end_error", "error"):
        if res.get(key) is not None:
            print(f"{key}={fmt(res[key])}")
    if res.get("after_clients"):
        print("after_clients=" + " ".join(f"{k2}:{v}" for k2, v in res["after_clients"].items()))
    for line in res.get("droverd_log", [])[:5]:
        print(f"droverd_log={line}")
    print(f"hostile_anomalies={res['hostile_anomalies']}")
    print(f"ok_calls={res['ok_calls']}")
    print(f"failed_calls={res['failed_calls']}")
    print(f"droverd_exit={res.get('droverd_exit')}")
    print(f"verdict={sm['verdict']}")
    record("soak", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
