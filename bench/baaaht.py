#!/usr/bin/python3
"""baaaht's gRPC API as droverd serves it (orchestrator.v1, agent.v1 on --baaaht-socket): what a
conversation's message costs, what ExecuteTask takes to its first output, and what an open
session weighs. Prints `key=value` lines under `== section` headers; never fails.

One droverd is started for the whole run, in a temporary directory (--socket, --state-dir,
--baaaht-socket there; waited for with NOTIFY_SOCKET READY=1), and stopped by pid at the end
(SIGTERM, then wait; anything it started and left alive is SIGKILLed by pid).

Sections:
  messages, 1 session and SESSIONS (default 100) sessions
                   A scripted assistant (one process: Register, StreamAgent bound with its id,
                   then a DATA reply to each DATA message by correlation id, as
                   tests/integration/test_baaaht_routing.py's Assistant does) and TUI-like clients
                   in other processes (CLIENT_PROCS, default 2, for the SESSIONS run; 1 for the
                   single session), each session with a connection and a StreamMessages stream of
                   its own, sending its next USER message when the previous reply arrived. All
                   Python sides use grpc.aio (one event loop per process). MESSAGES (default
                   20000) messages per run in all, after WARMUP (default 20) per session that are
                   not counted. msgs_per_s = MESSAGES / (first send to last reply); latency is
                   each message's write to its reply's arrival, in the client. CPU time per
                   message of droverd (/proc/PID/stat utime+stime), of the assistant and of the
                   clients (time.process_time). How busy each side's loop was, as shares of the
                   run's wall time (0 to 1) of its busiest thread, from /proc/PID/task/*/schedstat:
                   on a CPU, runnable but waiting for a CPU, and for droverd also blocked in
                   the kernel (state D: its SQLite writes and checkpoints' fdatasync; sampled
                   every 5 ms); cores_used is everyone's CPU time over the wall time.
                   `saturated=` names each side that was busy 85% of the time or more, or says
                   that the machine's cores were all in use, or that nothing was full.
  execute_task     EXEC_RUNS (default 200) times, one after the other, all in one orchestrator
                   session: agent.v1 ExecuteTask {session_id, type CODE_EXECUTION, command sh -c
                   "echo out"} then StreamTask bound with {task_id}; the latency from sending
                   ExecuteTask to the first `output` message (p50/p99), to the task id, and to
                   `complete`; droverd's own CPU time per task (its children's not counted).
                   Prints `execute_task: not available (UNIMPLEMENTED)` when droverd does not
                   have the RPC.
  memory           droverd's VmRSS right after READY and at the end (VmHWM: its peak), and per
                   open session: IDLE_SESSIONS (default 100) sessions created (one connection), then
                   each bound by a StreamMessages stream on a connection of its own, measured
                   against one such session already open (so that one-time costs stay out):
                   (RSS with N+1 - RSS with 1) / N. Measured first, on the fresh droverd.
"""

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procs import descendants, start_time  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
MESSAGES = int(os.environ.get("MESSAGES", "20000"))
SESSIONS = int(os.environ.get("SESSIONS", "100"))
CLIENT_PROCS = int(os.environ.get("CLIENT_PROCS", "2"))
WARMUP = int(os.environ.get("WARMUP", "20"))
EXEC_RUNS = int(os.environ.get("EXEC_RUNS", "200"))
IDLE_SESSIONS = int(os.environ.get("IDLE_SESSIONS", "100"))
DROVERD = os.path.join(BUILD, "src", "droverd")
HZ = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
BUSY = 0.85  # a side busy this share of a core (or more) is saturated


# ---- stubs, /proc -------------------------------------------------------------------------

def generate_stubs(out):
    """protoc-generated Python messages and stubs of baaaht's protos (as the integration suite's
    conftest.py makes them): top-level modules agent_pb2, orchestrator_pb2, common_pb2."""
    from grpc_tools import protoc
    wkt = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    for name in ("common", "orchestrator", "agent"):
        args = ["protoc", f"-I{os.path.join(ROOT, 'proto', 'baaaht')}", f"-I{wkt}",
                "-I/usr/include", f"--python_out={out}", f"--grpc_python_out={out}",
                f"{name}.proto"]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed for proto/baaaht/{name}.proto")


def stat_fields(path):
    with open(path) as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_s(pid):
    """utime + stime of pid (every thread), in seconds."""
    f = stat_fields(f"/proc/{pid}/stat")
    return (int(f[11]) + int(f[12])) / HZ


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def alive(pid):
    try:
        return stat_fields(f"/proc/{pid}/stat")[0] != "Z"
    except OSError:
        return False


def pct(values, q):
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


# ---- droverd ------------------------------------------------------------------------------

class Droverd:
    def __init__(self, tmp):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "drover.sock")
        self.bsock = os.path.join(tmp, "baaaht.sock")
        self.log_path = os.path.join(tmp, "droverd.log")
        env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(tmp, "xdg-run"),
                   XDG_STATE_HOME=os.path.join(tmp, "xdg-state"),
                   XDG_CONFIG_HOME=os.path.join(tmp, "xdg-config"))
        notify_path = os.path.join(tmp, "notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.settimeout(20)
        self.log = open(self.log_path, "ab")
        # Room for every session made here; an agent TTL longer than the run (the assistant
        # sends no heartbeat); the default route timeout (30 s).
        self.proc = subprocess.Popen(
            [DROVERD, "--socket", self.sock, "--state-dir", os.path.join(tmp, "state"),
             "--baaaht-socket", self.bsock, "--log-level", "warning",
             "--emergency-reserve-bytes", "65536", "--agents-max-sessions", "10000",
             "--agents-agent-ttl-ms", "86400000"],
            env=dict(env, NOTIFY_SOCKET=notify_path), stdout=self.log, stderr=subprocess.STDOUT)
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

    def note_children(self):
        self.kids = sorted(set(self.kids) | {(p, start_time(p)) for p in descendants(self.pid)})

    def stop(self):
        """SIGTERM by pid and wait; then SIGKILL, by pid, what it started and left alive.
        Returns (exit code, how many were left)."""
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
    """This file run as another process (--assistant, --clients, --idle SPEC), talked to by
    lines on its stdin and stdout."""

    def __init__(self, mode, spec):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), mode,
                                      json.dumps(spec)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.pid = self.proc.pid

    def line(self):
        s = self.proc.stdout.readline()
        if not s:
            raise RuntimeError(f"helper {self.pid} ended (exit {self.proc.wait()})")
        return s.strip()

    def expect(self, want):
        got = self.line()
        if got != want:
            raise RuntimeError(f"helper {self.pid} said {got!r}, not {want!r}")

    def say(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def stop(self):
        """Closes its stdin, waits a little, then SIGKILLs it by pid."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def stdin_line_async():
    import asyncio
    return asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


def aio_channel(path):
    import grpc
    # A connection of its own (no sharing of subchannels between channels).
    return grpc.aio.insecure_channel("unix:" + path,
                                     options=[("grpc.use_local_subchannel_pool", 1)])


def assistant(spec):
    """The scripted assistant: prints "ready" once bound; answers every DATA message until a
    line (or EOF) on stdin; prints a JSON summary."""
    import asyncio
    import grpc
    import agent_pb2 as ag
    import agent_pb2_grpc as agg

    async def run():
        ch = aio_channel(spec["socket"])
        stub = agg.AgentServiceStub(ch)
        aid = (await stub.Register(ag.RegisterRequest(
            name="assistant", type=ag.AGENT_TYPE_WORKER,
            metadata=ag.AgentMetadata(labels={"role": "assistant"})), timeout=10)).agent_id
        call = stub.StreamAgent()
        await call.write(ag.StreamAgentRequest(agent_id=aid))
        await call.initial_metadata()
        print("ready", flush=True)
        st = {"answered": 0, "other": 0, "ended": None}
        DATA = ag.MESSAGE_TYPE_DATA

        async def serve():
            try:
                while True:
                    r = await call.read()
                    if r is grpc.aio.EOF:
                        st["ended"] = "OK"
                        return
                    m = r.message
                    if r.WhichOneof("payload") != "message" or m.type != DATA:
                        st["other"] += 1
                        continue
                    corr = m.metadata.correlation_id
                    await call.write(ag.StreamAgentRequest(agent_id=aid, message=ag.AgentMessage(
                        id="r-" + corr, type=DATA, source_id=aid, target_id="orchestrator",
                        data_message=ag.DataMessage(content_type="text/plain",
                                                    data=b"echo: " + m.data_message.data),
                        metadata=ag.AgentMessageMetadata(correlation_id=corr,
                                                         session_id=m.metadata.session_id))))
                    st["answered"] += 1
            except grpc.aio.AioRpcError as e:
                if e.code() != grpc.StatusCode.CANCELLED:
                    st["ended"] = f"{e.code().name}: {e.details()}"
            except asyncio.CancelledError:
                pass

        task = asyncio.ensure_future(serve())
        await stdin_line_async()
        task.cancel()
        call.cancel()
        await ch.close()
        print(json.dumps(st), flush=True)

    asyncio.run(run())


def clients(spec):
    """spec["sessions"] sessions, each with a connection and a StreamMessages stream of its own:
    WARMUP messages each, "ready", then (after a line on stdin) spec["messages"] each, one after
    the other per session; prints a JSON summary."""
    import asyncio
    import grpc
    import orchestrator_pb2 as o
    import orchestrator_pb2_grpc as og
    n, per, warm = spec["sessions"], spec["messages"], spec["warmup"]
    USER, ASSISTANT = o.MESSAGE_ROLE_USER, o.MESSAGE_ROLE_ASSISTANT

    async def run():
        chans = [aio_channel(spec["socket"]) for _ in range(n)]
        stubs = [og.OrchestratorServiceStub(ch) for ch in chans]
        sids = await asyncio.gather(*(s.CreateSession(o.CreateSessionRequest(
            metadata=o.SessionMetadata(name="bench", labels={"client": "bench"})), timeout=30)
            for s in stubs))
        sids = [r.session_id for r in sids]
        calls = [s.StreamMessages() for s in stubs]
        for c, sid in zip(calls, sids):
            await c.write(o.StreamMessageRequest(session_id=sid))
        for c in calls:
            await c.initial_metadata()
        lat = []
        fail = {"events": 0, "ended": 0, "errors": []}

        async def converse(i, count, keep):
            call, sid = calls[i], sids[i]
            for k in range(count):
                t0 = time.perf_counter()
                await call.write(o.StreamMessageRequest(session_id=sid, message=o.Message(
                    role=USER, content=f"m{k}")))
                while True:
                    r = await call.read()
                    if r is grpc.aio.EOF:
                        fail["ended"] += 1
                        return
                    p = r.WhichOneof("payload")
                    if p == "message" and r.message.role == ASSISTANT:
                        if keep:
                            lat.append(time.perf_counter() - t0)
                        break
                    if p == "event":  # a routing failure (TASK_FAILED)
                        fail["events"] += 1
                        if len(fail["errors"]) < 3:
                            fail["errors"].append(dict(r.event.data).get("error", "?"))
                        break

        async def guarded(i, count, keep):
            try:
                await converse(i, count, keep)
            except grpc.aio.AioRpcError as e:
                fail["ended"] += 1
                if len(fail["errors"]) < 3:
                    fail["errors"].append(f"{e.code().name}: {e.details()}")

        await asyncio.gather(*(guarded(i, warm, False) for i in range(n)))
        print("ready", flush=True)
        await stdin_line_async()
        c0, t0 = time.process_time(), time.monotonic()
        await asyncio.gather(*(guarded(i, per, True) for i in range(n)))
        c1, t1 = time.process_time(), time.monotonic()
        print(json.dumps({"start": t0, "end": t1, "cpu_s": c1 - c0, "lat": lat, **fail}),
              flush=True)
        for c in calls:
            c.cancel()
        await asyncio.gather(*(s.CloseSession(o.CloseSessionRequest(session_id=sid), timeout=30)
                               for s, sid in zip(stubs, sids)), return_exceptions=True)
        for ch in chans:
            await ch.close()

    asyncio.run(run())


def idle(spec):
    """Idle sessions, driven by lines on stdin: "create K" (K sessions over one connection),
    "bind" (a StreamMessages stream on a connection of its own for each unbound one), "close"
    (streams cancelled, sessions closed); each answered "ok". EOF ends it."""
    import asyncio
    import orchestrator_pb2 as o
    import orchestrator_pb2_grpc as og

    async def run():
        ch = aio_channel(spec["socket"])
        stub = og.OrchestratorServiceStub(ch)
        sids, bound = [], []  # bound: (channel, call)
        while True:
            cmd = (await stdin_line_async()).split()
            if not cmd:
                break
            if cmd[0] == "create":
                rs = await asyncio.gather(*(stub.CreateSession(o.CreateSessionRequest(
                    metadata=o.SessionMetadata(name="idle")), timeout=30)
                    for _ in range(int(cmd[1]))))
                sids += [r.session_id for r in rs]
            elif cmd[0] == "bind":
                for sid in sids[len(bound):]:
                    c = aio_channel(spec["socket"])
                    call = og.OrchestratorServiceStub(c).StreamMessages()
                    await call.write(o.StreamMessageRequest(session_id=sid))
                    bound.append((c, call))
                for _, call in bound:
                    await call.initial_metadata()
            elif cmd[0] == "close":
                for c, call in bound:
                    call.cancel()
                    await c.close()
                await asyncio.gather(*(stub.CloseSession(o.CloseSessionRequest(session_id=s),
                                                         timeout=30) for s in sids))
                sids, bound = [], []
            print("ok", flush=True)
        await ch.close()

    asyncio.run(run())


# ---- the measurements ---------------------------------------------------------------------

def idle_memory(d):
    """RSS with 1 session open and bound, then with IDLE_SESSIONS more created, then bound."""
    h = Helper("--idle", {"socket": d.bsock})
    try:
        def step(cmd):
            h.say(cmd)
            h.expect("ok")
            time.sleep(0.5)
            return status_kb(d.pid, "VmRSS")
        step("create 1")
        base = step("bind")
        created = step(f"create {IDLE_SESSIONS}")
        bound = step("bind")
        step("close")
        n = IDLE_SESSIONS
        return {"rss_1_session_kb": base, "rss_sessions_created_kb": created,
                "rss_sessions_bound_kb": bound,
                "rss_per_session_kb": (created - base) / n,
                "rss_per_bound_session_kb": (bound - base) / n,
                "rss_per_stream_and_connection_kb": (bound - created) / n}
    finally:
        h.stop()


class Watch:
    """What a process's threads did over a window, from /proc/PID/task/*/schedstat (time on a
    CPU, time runnable but waiting for one) and, with sample=True, how often its state was D
    (blocked in the kernel: disk writes, fsync), sampled every 5 ms by a thread of ours."""

    def __init__(self, pid, sample=False):
        import threading
        self.pid, self.t0 = pid, time.monotonic()
        self.s0, self.c0 = self.sched(), cpu_s(pid)
        self.samples, self.d = 0, 0
        self.stopping = False
        self.thread = threading.Thread(target=self.sample, daemon=True) if sample else None
        if self.thread:
            self.thread.start()

    def sched(self):
        out = {}
        try:
            tids = os.listdir(f"/proc/{self.pid}/task")
        except OSError:
            return out
        for t in tids:
            try:
                with open(f"/proc/{self.pid}/task/{t}/schedstat") as f:
                    run, wait = (int(x) for x in f.read().split()[:2])
            except (OSError, ValueError):
                continue
            out[t] = (run, wait)
        return out

    def sample(self):
        while not self.stopping:
            try:
                st = stat_fields(f"/proc/{self.pid}/stat")[0]
            except OSError:
                return
            self.samples += 1
            self.d += st == "D"
            time.sleep(0.005)

    def stop(self, wall=None):
        """{cpu_s, threads, on_cpu, waiting_for_cpu[, blocked]}: shares of the wall time, of its
        busiest thread (the one that ran most)."""
        s1, c1 = self.sched(), cpu_s(self.pid)
        self.stopping = True
        if self.thread:
            self.thread.join()
        wall = wall or time.monotonic() - self.t0
        best = (0, 0)
        for t, (run, wait) in s1.items():
            r0, w0 = self.s0.get(t, (0, 0))
            if run - r0 > best[0]:
                best = (run - r0, wait - w0)
        r = {"cpu_s": c1 - self.c0, "threads": len(s1), "on_cpu": best[0] / 1e9 / wall,
             "waiting_for_cpu": best[1] / 1e9 / wall}
        if self.thread:
            r["blocked"] = self.d / self.samples if self.samples else 0.0
        return r


def messages_run(d, assistant_pid, sessions, procs):
    """MESSAGES messages over `sessions` sessions in `procs` client processes."""
    procs = max(1, min(procs, sessions))
    per = max(1, MESSAGES // sessions)
    split = [sessions // procs + (1 if i < sessions % procs else 0) for i in range(procs)]
    hs = [Helper("--clients", {"socket": d.bsock, "sessions": k, "messages": per,
                               "warmup": WARMUP}) for k in split]
    try:
        for h in hs:
            h.expect("ready")
        wd, wa = Watch(d.pid, sample=True), Watch(assistant_pid)
        wc = [Watch(h.pid) for h in hs]
        w0 = time.monotonic()
        for h in hs:
            h.say("go")
        outs, cs = [], []
        for h, w in zip(hs, wc):
            outs.append(json.loads(h.line()))
            cs.append(w.stop())
        win = time.monotonic() - w0
        dd, da = wd.stop(win), wa.stop(win)
    finally:
        for h in hs:
            h.stop()
    lat = [x for o in outs for x in o["lat"]]
    start, end = min(o["start"] for o in outs), max(o["end"] for o in outs)
    wall = end - start
    n = len(lat)
    busiest = max(cs, key=lambda c: c["on_cpu"] + c["waiting_for_cpu"])
    r = {"sessions": sessions, "client_procs": procs, "messages": n,
         "messages_asked": per * sessions, "seconds": wall,
         "msgs_per_s": n / wall if wall > 0 else None,
         "latency_p50_ms": pct(lat, 50) * 1e3 if lat else None,
         "latency_p99_ms": pct(lat, 99) * 1e3 if lat else None,
         "latency_max_ms": max(lat) * 1e3 if lat else None,
         "failed_routes": sum(o["events"] for o in outs),
         "streams_ended": sum(o["ended"] for o in outs),
         "errors": sorted({e for o in outs for e in o["errors"]})[:3],
         "droverd_cpu_s": dd["cpu_s"], "assistant_cpu_s": da["cpu_s"],
         "clients_cpu_s": sum(o["cpu_s"] for o in outs), "window_s": win,
         "droverd_threads": dd["threads"],
         # shares of the window, of each side's busiest thread (droverd: its event loop; the
         # Python processes: their asyncio loop); clients: the busiest client process
         "droverd_on_cpu": dd["on_cpu"], "droverd_waiting_for_cpu": dd["waiting_for_cpu"],
         "droverd_blocked_on_io": dd["blocked"],
         "assistant_on_cpu": da["on_cpu"], "assistant_waiting_for_cpu": da["waiting_for_cpu"],
         "client_on_cpu": busiest["on_cpu"], "client_waiting_for_cpu": busiest["waiting_for_cpu"]}
    # (capped at 1: the blocked share is sampled, the others measured, so the sum can pass 1)
    r["droverd_busy"] = min(1.0, dd["on_cpu"] + dd["waiting_for_cpu"] + dd["blocked"])
    r["assistant_busy"] = min(1.0, da["on_cpu"] + da["waiting_for_cpu"])
    r["client_busy"] = min(1.0, busiest["on_cpu"] + busiest["waiting_for_cpu"])
    r["cores_used"] = (dd["cpu_s"] + da["cpu_s"] + sum(c["cpu_s"] for c in cs)) / win
    for side in ("droverd", "assistant", "clients"):
        r[f"{side}_cpu_us_per_msg"] = r[f"{side}_cpu_s"] * 1e6 / n if n else None
    r["saturated"] = verdict(r)
    return r


def verdict(r):
    """Which side's loop was busy all the time (on a CPU, waiting for one, or for droverd also
    blocked on the disk), and whether the machine's cores were all in use."""
    full = []
    if r["droverd_busy"] >= BUSY:
        full.append((r["droverd_busy"],
                     f"droverd (its event loop busy {r['droverd_busy']:.0%}: "
                     f"{r['droverd_on_cpu']:.0%} on a CPU, {r['droverd_waiting_for_cpu']:.0%} "
                     f"waiting for one, {r['droverd_blocked_on_io']:.0%} blocked on I/O)"))
    for side, label in (("assistant", "the assistant"), ("client", "the clients")):
        if r[f"{side}_busy"] >= BUSY:
            full.append((r[f"{side}_busy"],
                         f"{label} (Python, busy {r[side + '_busy']:.0%}: "
                         f"{r[side + '_on_cpu']:.0%} on a CPU, "
                         f"{r[side + '_waiting_for_cpu']:.0%} waiting for one)"))
    machine = r["cores_used"] >= BUSY * NCPU
    cores = f"{r['cores_used']:.2f} of {NCPU} cores in use"
    if full:
        full.sort(key=lambda x: -x[0])
        s = "; ".join(x[1] for x in full)
        return s + (f"; the machine too ({cores})" if machine else f" ({cores})")
    if machine:
        return f"the machine ({cores}), no single side's loop at a full core"
    if r["sessions"] == 1:
        return (f"none: one message in flight, each round trip waits on every side in turn "
                f"({cores})")
    return f"none ({cores})"


def execute_task(d):
    """EXEC_RUNS ExecuteTask + StreamTask, one after the other."""
    import queue
    import grpc
    import agent_pb2 as ag
    import agent_pb2_grpc as agg
    import orchestrator_pb2 as o
    import orchestrator_pb2_grpc as og
    ch = grpc.insecure_channel("unix:" + d.bsock)
    try:
        sid = og.OrchestratorServiceStub(ch).CreateSession(o.CreateSessionRequest(
            metadata=o.SessionMetadata(name="exec-bench")), timeout=10).session_id
        stub = agg.AgentServiceStub(ch)
        req = ag.ExecuteTaskRequest(agent_id="", session_id=sid,
                                    type=ag.TASK_TYPE_CODE_EXECUTION,
                                    config=ag.TaskConfig(command="sh",
                                                         arguments=["-c", "echo out"]))
        first, to_id, to_done = [], [], []
        no_output, errors, outputs_ok = 0, [], 0
        c0 = cpu_s(d.pid)
        for i in range(EXEC_RUNS):
            t0 = time.perf_counter()
            try:
                tid = stub.ExecuteTask(req, timeout=30).task_id
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.UNIMPLEMENTED:
                    return {"available": False, "why": "UNIMPLEMENTED"}
                errors.append(f"ExecuteTask {e.code().name}: {e.details()}")
                if len(errors) >= 5:
                    break
                continue
            t1 = time.perf_counter()
            to_id.append(t1 - t0)
            q = queue.Queue()
            q.put(ag.StreamTaskRequest(task_id=tid))
            call = stub.StreamTask(iter(q.get, None), timeout=30)
            got_out = False
            try:
                for r in call:
                    p = r.WhichOneof("payload")
                    if p == "output" and not got_out:
                        first.append(time.perf_counter() - t0)
                        got_out = True
                        if r.output.data == b"out\n" or r.output.text == "out\n":
                            outputs_ok += 1
                    elif p in ("complete", "error"):
                        to_done.append(time.perf_counter() - t0)
                        if p == "error":
                            errors.append(f"task error: {r.error}")
                        break
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.UNIMPLEMENTED:
                    return {"available": False, "why": "StreamTask UNIMPLEMENTED"}
                errors.append(f"StreamTask {e.code().name}: {e.details()}")
            finally:
                q.put(None)
                call.cancel()
            if not got_out:
                no_output += 1
            if len(errors) >= 5:
                break
        cpu = cpu_s(d.pid) - c0  # droverd's own: its children's CPU time is not in it
        r = {"available": True, "runs": len(to_id), "with_output": len(first),
             "droverd_cpu_ms_per_task": cpu * 1e3 / len(to_id) if to_id else None,
             "no_output": no_output, "output_is_out_newline": outputs_ok,
             "errors": errors[:5]}
        for key, v in (("first_output", first), ("task_id", to_id), ("complete", to_done)):
            if v:
                r[f"{key}_p50_ms"] = pct(v, 50) * 1e3
                r[f"{key}_p99_ms"] = pct(v, 99) * 1e3
        return r
    finally:
        ch.close()


# ---- output -------------------------------------------------------------------------------

def fmt(v):
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def kv(d, keys):
    for k in keys:
        if k in d and d[k] is not None:
            print(f"{k}={fmt(d[k])}")


def print_messages(r):
    kv(r, ["sessions", "client_procs", "messages", "seconds", "msgs_per_s", "latency_p50_ms",
           "latency_p99_ms", "latency_max_ms", "droverd_cpu_us_per_msg",
           "assistant_cpu_us_per_msg", "clients_cpu_us_per_msg", "droverd_threads",
           "droverd_busy", "droverd_on_cpu", "droverd_waiting_for_cpu", "droverd_blocked_on_io",
           "assistant_busy", "assistant_on_cpu", "assistant_waiting_for_cpu", "client_busy",
           "client_on_cpu", "client_waiting_for_cpu", "cores_used", "failed_routes",
           "streams_ended"])
    if r["messages"] != r["messages_asked"]:
        print(f"incomplete={r['messages_asked'] - r['messages']} messages got no reply")
    if r["errors"]:
        print(f"errors={'; '.join(r['errors'])}")
    print(f"saturated={r['saturated']}")


def main():
    if len(sys.argv) > 2 and sys.argv[1] in ("--assistant", "--clients", "--idle"):
        sys.path.insert(0, os.environ["BAAAHT_PB"])
        spec = json.loads(sys.argv[2])
        return {"--assistant": assistant, "--clients": clients, "--idle": idle}[sys.argv[1]](
            spec) or 0
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from results import record
    tmp = tempfile.mkdtemp(prefix="drover-baaaht-bench-")
    gen = os.path.join(tmp, "pb")
    os.makedirs(gen)
    res = {"messages": MESSAGES, "sessions": SESSIONS, "client_procs": CLIENT_PROCS,
           "warmup": WARMUP, "exec_runs": EXEC_RUNS, "idle_sessions": IDLE_SESSIONS,
           "cores": NCPU}
    print("== baaaht: setup")
    print(f"build={BUILD}")
    print(f"cores={NCPU}")
    try:
        generate_stubs(gen)
    except Exception as e:  # noqa: BLE001 (a benchmark never fails)
        print(f"error=cannot generate the baaaht stubs ({e}): nothing measured")
        shutil.rmtree(tmp, ignore_errors=True)
        return 0
    os.environ["BAAAHT_PB"] = gen
    sys.path.insert(0, gen)
    d = assistant_h = None
    t_start = time.monotonic()
    try:
        d = Droverd(tmp)
        print(f"droverd_pid={d.pid}")
        res["rss_start_kb"] = status_kb(d.pid, "VmRSS")
        try:
            res["idle"] = idle_memory(d)
        except Exception as e:  # noqa: BLE001
            res["idle"] = {"error": f"{type(e).__name__}: {e}"}
        assistant_h = Helper("--assistant", {"socket": d.bsock})
        assistant_h.expect("ready")
        for label, sessions, procs in (("1 session", 1, 1),
                                       (f"{SESSIONS} sessions", SESSIONS, CLIENT_PROCS)):
            print(f"== baaaht messages: {label} (StreamMessages -> assistant -> reply)",
                  flush=True)
            try:
                r = messages_run(d, assistant_h.pid, sessions, procs)
                res[f"messages_{sessions}"] = r
                print_messages(r)
            except Exception as e:  # noqa: BLE001
                print(f"error={type(e).__name__}: {e}")
            sys.stdout.flush()
        assistant_h.say("stop")
        res["assistant"] = json.loads(assistant_h.line())
        assistant_h.stop()
        assistant_h = None
        if res["assistant"].get("ended"):
            print(f"assistant_stream_ended={res['assistant']['ended']}")
        print("== baaaht execute_task: ExecuteTask -> first StreamTask output", flush=True)
        try:
            x = execute_task(d)
        except Exception as e:  # noqa: BLE001
            x = {"available": True, "error": f"{type(e).__name__}: {e}"}
        res["execute_task"] = x
        if not x["available"]:
            print(f"execute_task: not available ({x['why']})")
        elif "error" in x:
            print(f"error={x['error']}")
        else:
            kv(x, ["runs", "first_output_p50_ms", "first_output_p99_ms", "task_id_p50_ms",
                   "task_id_p99_ms", "complete_p50_ms", "complete_p99_ms", "droverd_cpu_ms_per_task", "with_output",
                   "no_output", "output_is_out_newline"])
            if x["errors"]:
                print(f"errors={'; '.join(x['errors'])}")
        res["rss_end_kb"] = status_kb(d.pid, "VmRSS")
        res["hwm_kb"] = status_kb(d.pid, "VmHWM")
        print("== baaaht memory: droverd", flush=True)
        kv(res, ["rss_start_kb", "rss_end_kb", "hwm_kb"])
        if "error" in res["idle"]:
            print(f"error={res['idle']['error']}")
        else:
            print(f"idle_sessions={IDLE_SESSIONS}")
            kv(res["idle"], ["rss_1_session_kb", "rss_sessions_created_kb",
                             "rss_sessions_bound_kb", "rss_per_session_kb",
                             "rss_per_bound_session_kb", "rss_per_stream_and_connection_kb"])
    except Exception as e:  # noqa: BLE001
        print(f"error={type(e).__name__}: {e}")
    finally:
        if assistant_h:
            assistant_h.stop()
        if d:
            code, left = d.stop()
            res["droverd_exit"] = code
            log = [line for line in d.read_log().splitlines()
                   if "warn" in line.lower() or "error" in line.lower()]
            print("== baaaht: droverd")
            print(f"droverd_exit={code}")
            if left:
                print(f"droverd_left_processes={left} (SIGKILLed by pid)")
            print(f"droverd_log_warnings={len(log)}")
            for line in log[:3]:
                print(f"droverd_log={line}")
        print(f"bench_seconds={time.monotonic() - t_start:.0f}")
        shutil.rmtree(tmp, ignore_errors=True)
    record("baaaht", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
