#!/usr/bin/python3
"""Stratavore's gRPC API as droverd serves it (stratavore.v1 on the unix socket): what a runner
costs to launch, to watch and to keep, with tmux side by side where there is a peer (upstream
Stratavore launches its runners with `tmux new-session -d`). Prints one table; never fails (tmux
is skipped when it is not installed: `bench/run-stratavore` installs it).

Each round starts a fresh droverd (temporary --socket and --state-dir, waited for with
NOTIFY_SOCKET READY=1) and a fresh private tmux server (its own socket in the temporary
directory, `exit-empty off` so that it can be measured with no session), and does every row
once; ROUNDS rounds (default 3) are interleaved that way, and each figure is the median over the
rounds of that round's figure.

Rows (N = RUNNERS, default 100):
  launch              the CreateRunner round trip (python3-grpcio over the unix socket) of N
                      runners created one after the other in one project (config command
                      ["sleep","1000"], quota max_concurrent_runners 1000: an all-zero quota
                      would mean the default 5): the reply comes once the program is exec'd,
                      with status RUNNING. p50, p99 and max of the N calls, and the first alone
                      (it starts droverd's fd holder). Against `tmux -S SOCK new-session -d sleep
                      1000`, N times against a running server: the wall time of the command, a
                      tmux client process each, as upstream pays it.
  drover run          the CLI's `drover run --detach -- sleep 1000` (a pipe session) and with
                      --pty: a process each too, so the like-for-like pairing with tmux's figure
  GetProject          a cheap unary call on the same channel: the floor under CreateRunner
  droverd CPU         droverd's own CPU time per CreateRunner, from /proc
  events              SUBSCRIBERS (default 100) StreamRunnerEvents streams, each on its own
                      connection, read by SUB_PROCS (default 4) subscriber processes with
                      grpc.aio; each stream's response headers are awaited (droverd sends them
                      once the subscription is registered). Then EVENTS (default 2000) events
                      are produced, WINDOW (default 16) calls in flight: UpdateRunner metadata
                      changes on one runner (RUNNER_UPDATED, whose payload is the whole Runner)
                      or SendHeartbeat (RUNNER_HEARTBEAT, a small payload, to streams that ask
                      for every type). Timed from the first request until every subscriber has
                      all EVENTS: deliveries/s = SUBSCRIBERS x EVENTS / seconds; events/s
                      produced = EVENTS / (first request to last reply), and again with nobody
                      subscribed. Every stream's sequences must be consecutive; a stream that
                      droverd ended (RESOURCE_EXHAUSTED: it fell a whole event ring behind) is
                      counted, not timed. On a small machine the Python subscribers are the
                      bottleneck, so droverd's CPU time per delivery (what the subscribers add
                      to producing the same events unwatched) is given too: the figure the
                      client's speed does not decide.
  memory              VmRSS (/proc/PID/status) and PSS (smaps_rollup) with 0 runners (the
                      project created), 1 and N idle runners (`sleep 1000` in PTYs): drover is
                      droverd plus its fd holder (`droverd-holder`, started with the first
                      session: it keeps copies of the runners' PTY masters, so that they outlive
                      a droverd that dies); tmux is its server with 0, 1 and N sessions. Per
                      runner = (at N - at 1) / (N - 1): what one more costs once the one-time
                      helper runs. The runners' own
                      processes (sleep) are counted on neither side: the same program under
                      both, and not the supervisor's cost.
Ratios are peer / drover per round, median over rounds (above 1: drover is faster, or smaller).
Every process started here is stopped by pid: droverd with SIGTERM then wait (which stops its
runners; any left alive are then SIGKILLed by pid), tmux with `tmux -S SOCK kill-server` (then
its server and panes by pid if they are still there).
"""

import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procs import descendants, start_time  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
RUNNERS = int(os.environ.get("RUNNERS", "100"))
SUBSCRIBERS = int(os.environ.get("SUBSCRIBERS", "100"))
SUB_PROCS = int(os.environ.get("SUB_PROCS", "4"))
EVENTS = int(os.environ.get("EVENTS", "2000"))
WINDOW = int(os.environ.get("WINDOW", "16"))
DROVERD = os.path.join(BUILD, "src", "droverd")
DROVER = os.path.join(BUILD, "src", "drover")
SLEEPER = ["sleep", "1000"]
HZ = os.sysconf("SC_CLK_TCK")


# ---- stubs, /proc -------------------------------------------------------------------------

def generate_stubs(out):
    """protoc-generated Python messages and stubs of stratavore.v1 (as the integration suite's
    conftest.py makes them, this one file only)."""
    from grpc_tools import protoc
    wkt = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    args = ["protoc", f"-I{os.path.join(ROOT, 'proto')}", f"-I{wkt}", "-I/usr/include",
            f"--python_out={out}", f"--grpc_python_out={out}", "stratavore/v1/stratavore.proto"]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed for stratavore/v1/stratavore.proto")
    # Regular packages: a namespace package would lose to this very file, stratavore.py.
    for d in ("stratavore", "stratavore/v1"):
        open(os.path.join(out, d, "__init__.py"), "w").close()


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def memory_kb(pid):
    """(VmRSS, Pss) of pid in kB."""
    rss = pss = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def identities(pids):
    """[(pid, start time)] of those of pids that run now."""
    return [(p, t) for p in pids if (t := start_time(p)) is not None]


def kill_left(procs):
    """SIGKILLs, by pid, whichever of procs [(pid, start time)] still runs (the same process:
    its start time unchanged); returns how many did."""
    n = 0
    for p, t in procs:
        if alive(p) and start_time(p) == t:
            n += 1
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
    return n


def pct(values, q):
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def lat(values):
    return {"p50": pct(values, 50), "p99": pct(values, 99), "max": max(values)}


# ---- droverd ------------------------------------------------------------------------------

class Droverd:
    def __init__(self, tmp):
        import grpc
        self.tmp = tmp
        os.makedirs(tmp)
        self.sock = os.path.join(tmp, "drover.sock")
        self.log_path = os.path.join(tmp, "droverd.log")
        env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(tmp, "xdg-run"),
                   XDG_STATE_HOME=os.path.join(tmp, "xdg-state"),
                   XDG_CONFIG_HOME=os.path.join(tmp, "xdg-config"))
        conf = os.path.join(tmp, "drover.yaml")
        with open(conf, "w") as f:  # no reconcile pass in the middle of a measurement
            f.write("stratavore_reconcile_ms: 600000\n")
        notify_path = os.path.join(tmp, "notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.settimeout(20)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [DROVERD, "--socket", self.sock, "--state-dir", os.path.join(tmp, "state"),
             "--config", conf, "--log-level", "warning", "--emergency-reserve-bytes", "65536"],
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
        self.ch = grpc.insecure_channel("unix:" + self.sock)
        from stratavore.v1 import stratavore_pb2_grpc as pbg
        self.runners = pbg.RunnerServiceStub(self.ch)
        self.projects = pbg.ProjectServiceStub(self.ch)

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def note_children(self):
        self.kids = sorted(set(self.kids) | set(identities(descendants(self.pid))))

    def stop(self):
        """SIGTERM by pid and wait (droverd stops its runners); then SIGKILL, by pid, anything
        it started that is still alive. Returns (exit code, how many were left)."""
        if getattr(self, "ch", None):
            self.ch.close()
        self.note_children()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode, kill_left(self.kids)


def drover_round(tmp, r, pb, results):
    """One round of droverd's rows; fills results[name] with this round's figures."""
    d = Droverd(os.path.join(tmp, f"droverd-{r}"))
    try:
        proj = os.path.join(tmp, f"project-{r}")
        os.makedirs(proj)
        d.projects.CreateProject(pb.CreateProjectRequest(
            name="bench", path=proj, quota=pb.ResourceQuota(max_concurrent_runners=1000),
            config=pb.ProjectConfig(command=SLEEPER)), timeout=10)
        floor = []
        for _ in range(RUNNERS):
            t0 = time.perf_counter()
            d.projects.GetProject(pb.GetProjectRequest(name="bench"), timeout=10)
            floor.append(time.perf_counter() - t0)
        results["GetProject"].append(lat(floor))
        time.sleep(0.2)
        mems = [drover_memory(d.pid)]
        c0 = cpu_s(d.pid)
        times, runner_ids, not_running = [], [], 0
        for i in range(RUNNERS):
            t0 = time.perf_counter()
            rep = d.runners.CreateRunner(pb.CreateRunnerRequest(project_name="bench"),
                                         timeout=30)
            times.append(time.perf_counter() - t0)
            runner_ids.append(rep.runner.id)
            not_running += rep.runner.status != pb.RUNNER_STATUS_RUNNING
            if i == 0:  # one runner: the fd holder has started
                time.sleep(0.2)
                mems.append(drover_memory(d.pid))
        cpu = cpu_s(d.pid) - c0
        d.note_children()
        results["CreateRunner"].append(dict(lat(times), first=times[0], slowest=times.index(
            max(times)), not_running=not_running, droverd_cpu_ms=cpu * 1000 / RUNNERS))
        time.sleep(0.5)
        mems.append(drover_memory(d.pid))
        results["droverd memory"].append(memory_figures(*mems))
        for kind in ("updated", "heartbeat"):
            results[f"events {kind}"].append(events_round(d, pb, runner_ids[0], kind))
        for pty in (False, True):
            name = f"drover run --detach{' --pty' if pty else ''}"
            results[name].append(lat(cli_runs(d, pty)))
            d.note_children()
    finally:
        code, left = d.stop()
        if code != 0 or left:
            print(f"(round {r}: droverd exited {code}; {left} of its processes were left "
                  f"running and were killed)", flush=True)
        results["droverd log"].append([line for line in d.read_log().splitlines()
                                       if " warning: " in line or " error: " in line or
                                       " critical: " in line])


def helper_processes(pid):
    """droverd's children that are not runner programs: [(pid, argv)]. The one expected is the
    fd holder (`droverd-holder`, started with the first session), a cost of drover's own."""
    out = []
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        if argv and argv != SLEEPER:
            out.append((p, argv))
    return out


def drover_memory(pid):
    """kB of droverd and of its helper processes (the fd holder), RSS and PSS."""
    own = memory_kb(pid)
    helpers = helper_processes(pid)
    hold = [memory_kb(p) for p, _ in helpers]
    return {"rss_kb": own[0] + sum(m[0] for m in hold), "pss_kb": own[1] + sum(m[1] for m in hold),
            "helper_rss_kb": sum(m[0] for m in hold), "helper_pss_kb": sum(m[1] for m in hold),
            "helpers": [" ".join(a[:2]) for _, a in helpers]}


def memory_figures(m0, m1, mn):
    """A round's memory figures from readings with 0, 1 and RUNNERS runners (or sessions). Per
    runner is measured from 1 to RUNNERS: what one more costs, once the one-time helpers (drover's
    fd holder) are running; their cost is kept apart."""
    out = {}
    for k in ("rss", "pss"):
        out[f"{k}_kb_0"], out[f"{k}_kb_1"], out[f"{k}_kb_n"] = (m0[f"{k}_kb"], m1[f"{k}_kb"],
                                                                 mn[f"{k}_kb"])
        out[f"{k}_kb_per_runner"] = (mn[f"{k}_kb"] - m1[f"{k}_kb"]) / max(1, RUNNERS - 1)
        if f"helper_{k}_kb" in mn:
            out[f"helper_{k}_kb_1"] = m1[f"helper_{k}_kb"]
            out[f"helper_{k}_kb_n"] = mn[f"helper_{k}_kb"]
    out["helpers"] = mn.get("helpers", [])
    return out


def cli_runs(d, pty):
    times = []
    argv = [DROVER, "--socket", d.sock, "run", "--detach", *(["--pty"] if pty else []), "--",
            *SLEEPER]
    for _ in range(RUNNERS):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return times


# ---- events -------------------------------------------------------------------------------

def produce(d, pb, runner_id, kind):
    """EVENTS events of one kind, WINDOW calls in flight: (t0, seconds, failed calls)."""
    import grpc
    from google.protobuf import field_mask_pb2
    pending, failed = [], 0

    def settle(f):
        try:
            f.result()
            return 0
        except grpc.RpcError:
            return 1
    t0 = time.monotonic()
    for i in range(EVENTS):
        if kind == "updated":
            f = d.runners.UpdateRunner.future(pb.UpdateRunnerRequest(
                runner_id=runner_id, update_mask=field_mask_pb2.FieldMask(paths=["metadata"]),
                metadata={"i": str(i)}), timeout=30)
        else:
            f = d.runners.SendHeartbeat.future(pb.HeartbeatRequest(
                runner_id=runner_id, status="running", tokens_used=i), timeout=30)
        pending.append(f)
        if len(pending) >= WINDOW:
            failed += settle(pending.pop(0))
    while pending:
        failed += settle(pending.pop(0))
    return t0, time.monotonic() - t0, failed


def events_round(d, pb, runner_id, kind):
    """EVENTS events of one kind with no subscriber, then with SUBSCRIBERS streams in SUB_PROCS
    processes; their figures."""
    c0 = cpu_s(d.pid)
    _, alone_s, alone_failed = produce(d, pb, runner_id, kind)
    alone_cpu = cpu_s(d.pid) - c0
    procs, ready, subs = [], 0, []
    per = [SUBSCRIBERS // SUB_PROCS + (i < SUBSCRIBERS % SUB_PROCS) for i in range(SUB_PROCS)]
    spec = {"socket": d.sock, "runner_id": runner_id, "events": EVENTS,
            "type": pb.EVENT_TYPE_RUNNER_UPDATED if kind == "updated"
            else pb.EVENT_TYPE_RUNNER_HEARTBEAT,
            # heartbeats are sent only to streams that ask for them: these ask for every type,
            # so that their sequences too must be consecutive
            "types": [] if kind == "updated" else list(pb.EventType.values())[1:]}
    try:
        for n in per:
            if n:
                procs.append(subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), "--subscribe",
                     json.dumps(dict(spec, streams=n))],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ))
        for p in procs:
            ready += p.stdout.readline().strip() == "ready"
        if ready != len(procs):
            return {"error": "subscribers did not all subscribe"}
        c0 = cpu_s(d.pid)
        t0, produced_s, failed = produce(d, pb, runner_id, kind)
        for p in procs:
            p.stdin.write("go\n")  # the last event is out: a stream now waits at most 30 s
            p.stdin.flush()
        for p in procs:
            out, _ = p.communicate(timeout=120)
            subs += json.loads(out)
        cpu = cpu_s(d.pid) - c0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    done = [s for s in subs if s["got"] == EVENTS and not s["ended"]]
    ended = [s for s in subs if s["ended"]]
    last = max((s["done_t"] for s in done), default=None)
    seconds = last - t0 if last is not None and len(done) == len(subs) else None
    delivered = sum(s["got"] for s in subs)
    return {"subscribers": len(subs), "complete": len(done), "ended": len(ended),
            "ended_codes": sorted({s["ended"] for s in ended}),
            "short": len(subs) - len(done) - len(ended), "gaps": sum(s["gaps"] for s in subs),
            "failed_calls": failed + alone_failed, "seconds": seconds,
            "produced_s": produced_s, "events_per_s": EVENTS / produced_s,
            "events_per_s_alone": EVENTS / alone_s,
            "droverd_us_per_event_alone": alone_cpu * 1e6 / EVENTS,
            "deliveries_per_s": len(subs) * EVENTS / seconds if seconds else None,
            "droverd_cpu_s": cpu,
            # what the deliveries add to producing the same events with nobody listening
            "droverd_us_per_delivery": (cpu - alone_cpu) * 1e6 / delivered if delivered else None,
            "subscriber_cpu_s": sum(s["cpu_s"] for s in subs if "cpu_s" in s)}


def subscriber(spec):
    """A subscriber process: spec["streams"] streams, each on a connection of its own, read by
    one asyncio loop (grpc.aio: far less per message than a thread per stream). Prints "ready"
    once every stream's response headers came, then reads until each stream has spec["events"]
    events of spec["type"] for spec["runner_id"] (or ends, or is 30 s late after "go" on
    stdin); prints a JSON list, one object per stream."""
    import asyncio
    import grpc
    from stratavore.v1 import stratavore_pb2 as pb
    from stratavore.v1 import stratavore_pb2_grpc as pbg
    n, want, rid, typ = spec["streams"], spec["events"], spec["runner_id"], spec["type"]
    stats = [{"got": 0, "done_t": None, "gaps": 0, "ended": None} for _ in range(n)]

    async def read(i, call):
        s, last = stats[i], None
        try:
            async for e in call:
                if last is not None and e.sequence != last + 1:
                    s["gaps"] += 1
                last = e.sequence
                if e.event_type == typ and e.runner_id == rid:
                    s["got"] += 1
                    if s["got"] == want:
                        s["done_t"] = time.monotonic()
                        call.cancel()
                        return
        except asyncio.CancelledError:
            pass
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                s["ended"] = e.code().name

    async def run():
        chans = [grpc.aio.insecure_channel("unix:" + spec["socket"],
                                           options=[("grpc.use_local_subchannel_pool", 1)])
                 for _ in range(n)]
        req = pb.StreamRunnerEventsRequest(event_types=spec["types"])
        calls = [pbg.RunnerServiceStub(ch).StreamRunnerEvents(req, timeout=300)
                 for ch in chans]
        for c in calls:
            await c.initial_metadata()
        tasks = [asyncio.ensure_future(read(i, c)) for i, c in enumerate(calls)]
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.readline)
        await asyncio.wait(tasks, timeout=30)
        for c in calls:
            c.cancel()
        for ch in chans:
            await ch.close()

    asyncio.run(run())
    cpu = time.process_time()
    for s in stats:
        s["cpu_s"] = cpu / n
    print(json.dumps(stats), flush=True)


# ---- tmux ---------------------------------------------------------------------------------

def tmux_round(tmp, r, results):
    sock = os.path.join(tmp, f"tmux-{r}.sock")  # a private server (the socket goes with tmp)
    conf = os.path.join(tmp, "tmux.conf")
    with open(conf, "w") as f:
        f.write("set -g exit-empty off\n")  # a server with no session, to measure it
    tmux = ["tmux", "-S", sock, "-f", conf]
    env = dict(os.environ, TERM="xterm")
    env.pop("TMUX", None)
    subprocess.run([*tmux, "start-server"], check=True, env=env)
    pid = None
    try:
        pid = int(subprocess.run([*tmux, "display-message", "-p", "#{pid}"], check=True,
                                 capture_output=True, text=True, env=env).stdout)
        time.sleep(0.2)

        def reading():
            rss, pss = memory_kb(pid)
            return {"rss_kb": rss, "pss_kb": pss}
        mems = [reading()]
        times = []
        for i in range(RUNNERS):
            t0 = time.perf_counter()
            subprocess.run(["tmux", "-S", sock, "new-session", "-d", *SLEEPER], check=True,
                           env=env)
            times.append(time.perf_counter() - t0)
            if i == 0:
                time.sleep(0.2)
                mems.append(reading())
        panes = [int(x) for x in subprocess.run(
            [*tmux, "list-panes", "-a", "-F", "#{pane_pid}"], capture_output=True, text=True,
            env=env).stdout.split()]
        results["tmux new-session"].append(dict(lat(times), first=times[0], slowest=times.index(
            max(times)), sessions=len(panes)))
        time.sleep(0.5)
        mems.append(reading())
        results["tmux memory"].append(memory_figures(*mems))
    finally:
        procs = identities([pid, *descendants(pid)]) if pid else []  # the server, its panes
        subprocess.run([*tmux, "kill-server"], stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 10
        while pid and alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        kill_left(procs)


# ---- the table ----------------------------------------------------------------------------

def med(rounds, key):
    v = [x[key] for x in rounds if x.get(key) is not None]
    return statistics.median(v) if v else None


def ratio(a, b, key):
    """Median over rounds of b[key] / a[key] (peer over drover)."""
    r = [y[key] / x[key] for x, y in zip(a, b)
         if x.get(key) and y.get(key) is not None]
    return statistics.median(r) if r else None


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--subscribe":
        sys.path.insert(0, os.environ["STRATAVORE_PB"])
        return subscriber(json.loads(sys.argv[2]))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from results import record
    tmp = tempfile.mkdtemp(prefix="drover-svbench-")
    gen = os.path.join(tmp, "pb")
    os.makedirs(gen)
    try:
        generate_stubs(gen)
    except Exception as e:  # noqa: BLE001 (a benchmark never fails)
        print(f"cannot generate the stratavore.v1 stubs ({e}): nothing measured")
        shutil.rmtree(tmp, ignore_errors=True)
        return 0
    os.environ["STRATAVORE_PB"] = gen
    sys.path.insert(0, gen)
    from stratavore.v1 import stratavore_pb2 as pb
    have_tmux = shutil.which("tmux") is not None
    names = ["CreateRunner", "GetProject", "droverd memory", "events updated",
             "events heartbeat", "drover run --detach", "drover run --detach --pty",
             "tmux new-session", "tmux memory", "droverd log"]
    res = {n: [] for n in names}
    t_start = time.monotonic()
    try:
        for r in range(ROUNDS):
            # the order alternates: neither side always runs on a machine the other warmed
            parts = [lambda: drover_round(tmp, r, pb, res)]
            if have_tmux:
                parts.append(lambda: tmux_round(tmp, r, res))
            for part in parts if r % 2 == 0 else parts[::-1]:
                try:
                    part()
                except Exception as e:  # noqa: BLE001 (a benchmark never fails)
                    print(f"(round {r}: {type(e).__name__}: {e})", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    record("stratavore", {"rounds": ROUNDS, "runners": RUNNERS, "subscribers": SUBSCRIBERS,
                          "events": EVENTS, "window": WINDOW, "rows": res})

    ms = 1000
    W = 52
    print(f"stratavore.v1 on droverd: {RUNNERS} runners, {SUBSCRIBERS} subscribers x {EVENTS} "
          f"events; median of {ROUNDS} rounds ({os.cpu_count()} cores, "
          f"{time.monotonic() - t_start:.0f} s)")
    print(f"{'row':<{W}} {'drover':>10} {'tmux':>10} {'ratio':>7}")

    def row(label, dv, pv=None, rt=None, digits=2):
        f = (lambda v: "—" if v is None else f"{v:,.{digits}f}")
        print(f"{label:<{W}} {f(dv):>10} {'' if pv is None else f(pv):>10} "
              f"{'' if rt is None else f'x{rt:.2f}':>7}")

    def m(rounds, key, scale=1):
        v = med(rounds, key)
        return None if v is None else v * scale

    cr, tx = res["CreateRunner"], res["tmux new-session"]
    print(f"launch, {RUNNERS} one after the other (ms)")
    for q in ("p50", "p99", "max"):
        row(f"  {q}: CreateRunner → RUNNING | tmux new-session -d", m(cr, q, ms), m(tx, q, ms),
            ratio(cr, tx, q) if tx else None)
    row("  the first (drover: starts the fd holder) | tmux", m(cr, "first", ms), m(tx, "first", ms),
        ratio(cr, tx, "first") if tx else None)
    print(f"  (the slowest call, by round: drover #{', #'.join(str(x['slowest'] + 1) for x in cr)}"
          f"; tmux #{', #'.join(str(x['slowest'] + 1) for x in tx) or '—'})")
    for name in ("drover run --detach", "drover run --detach --pty"):
        rr = res[name]
        for q in ("p50", "p99"):
            row(f"  {q}: {name} | tmux", m(rr, q, ms), m(tx, q, ms),
                ratio(rr, tx, q) if tx else None)
    row("  p50: GetProject round trip (the RPC floor)", m(res["GetProject"], "p50", ms), digits=3)
    row("  droverd CPU per CreateRunner", m(cr, "droverd_cpu_ms"))
    nr = sum(x["not_running"] for x in cr)
    if nr:
        print(f"  ({nr} CreateRunner replies were not RUNNING)")
    for kind, label in (("updated", "UpdateRunner → RUNNER_UPDATED"),
                        ("heartbeat", "SendHeartbeat → RUNNER_HEARTBEAT")):
        ev = [x for x in res[f"events {kind}"] if "error" not in x]
        print(f"events to {SUBSCRIBERS} subscribers: {label}")
        if not ev:
            print("  (no figures)")
            continue
        row("  deliveries/s, until every subscriber has all", m(ev, "deliveries_per_s"), digits=0)
        row("  seconds, first request to last delivery", m(ev, "seconds"))
        row(f"  events/s produced ({WINDOW} calls in flight)", m(ev, "events_per_s"), digits=0)
        row("  events/s produced with no subscriber", m(ev, "events_per_s_alone"), digits=0)
        row("  droverd CPU per event, no subscriber (µs)", m(ev, "droverd_us_per_event_alone"),
            digits=1)
        us = med(ev, "droverd_us_per_delivery")
        row("  droverd CPU per delivery (µs)", us)
        row("  = deliveries/s one core of droverd could make", 1e6 / us if us else None, digits=0)
        row("  subscriber processes' CPU (s): the bottleneck here", m(ev, "subscriber_cpu_s"),
            digits=1)
        ended = sum(x["ended"] for x in ev)
        codes = sorted({c for x in ev for c in x["ended_codes"]})
        print(f"  all rounds: streams ended by droverd {ended} ({', '.join(codes) or 'none'}), "
              f"incomplete {sum(x['short'] for x in ev)}, sequence gaps "
              f"{sum(x['gaps'] for x in ev)}, failed calls {sum(x['failed_calls'] for x in ev)}")
    dm, tm = res["droverd memory"], res["tmux memory"]
    kb = 1 / 1024
    print("memory, idle runners | tmux sessions (MB; per runner kB); drover = droverd + its "
          "fd holder")
    for k in ("rss", "pss"):
        K = k.upper()
        for n in ("0", "1", "n"):
            row(f"  {K}, {RUNNERS if n == 'n' else n} runner{'' if n == '1' else 's'}: drover | "
                f"tmux server", m(dm, f"{k}_kb_{n}", kb), m(tm, f"{k}_kb_{n}", kb),
                ratio(dm, tm, f"{k}_kb_{n}") if tm else None)
        row(f"  {K}, {RUNNERS} runners: of which the fd holder", m(dm, f"helper_{k}_kb_n", kb))
        row(f"  {K} per runner, 1 → {RUNNERS} (kB): drover | tmux", m(dm, f"{k}_kb_per_runner"),
            m(tm, f"{k}_kb_per_runner"), ratio(dm, tm, f"{k}_kb_per_runner") if tm else None,
            digits=1)
    print("  (the runners' own processes, `sleep 1000` each, are left out on both sides: the "
          "same program under either, not the supervisor's cost)")
    helpers = sorted({h for x in dm for h in x["helpers"]})
    if helpers:
        print(f"  (droverd's children other than runners: {'; '.join(helpers)})")
    if not have_tmux:
        print("(tmux is not installed: no peer; bench/run-stratavore installs it)")
    logged = [line.split("] ", 1)[-1] for lines in res["droverd log"] for line in lines]
    if logged:
        print(f"droverd logged {len(logged)} warnings or errors; the first: "
              f"{'; '.join(sorted(set(logged))[:3])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
