#!/usr/bin/python3
"""Scale benchmark (issue 25): whether drover's cost per unit of work stays flat as the work
grows tenfold and a hundredfold. Prints one `key=value` line per figure and a table at the end;
records them for bench/report.py (bench/results.py). Figures only: it never fails and asserts no
timing. Every droverd and every process started here is stopped by pid.

Each figure comes with its cost per unit (per service, per call, per MB...) and the ratio of that
cost at N to the cost at the scale before (bench/scale_common.py says how):

  services   N = 10, 100, 1000, 5000 `sleep 3600` services, a fresh droverd for each N, started
             by StartFile (one YAML text of N services; above 4096, droverd's limit per file, in
             equal files of at most 4096): start until all are ONLINE (the file calls answer once
             they run; Services.List confirms); droverd's wake-ups and CPU over SCALE_IDLE_S once
             all run, SCALE_SETTLE_S after the last call (past min_uptime and past the 10 s after
             which droverd drops the process snapshot a listing took); its RSS and PSS against
             the same droverd before (per service: the growth over N); `drover ls` and
             Services.List 0.6 s apart (each measures every service's tree anew: a measurement
             is kept 500 ms) and Services.List back to back, medians of SCALE_REPEATS, with
             droverd's CPU per call; one crash-restart while all run (SIGKILL of a service
             `sh -c 'date +%s%N >> STAMPS; exec sleep'` with restart delay 0: kill to its new
             stamp, median and p99 of SCALE_RESTARTS; includes sh and date); Stop of all until
             every one exited
  tracked    N = 10, 100, 1000 `sleep` children of this script: Processes.Register of each (one
             call after the other), ListActive, KillZombies dry-run with a tenth of them killed
             (unreaped: defunct), Unregister of each; medians, droverd's CPU per call
  sessions   1, 10, 100 pipe sessions at once, each `drover run -- sh -c 'yes LINE | head -c B'`
             with the CLI attached (its stdout to /dev/null), SCALE_SESSION_MB each: aggregate
             MB/s and droverd's CPU per MB (median of SCALE_SESSION_ROUNDS); and droverd's CPU
             for as many sessions of `true` (spawn, attach, exit, purge: a session's own cost)
  clients    1, 10, 100, 1000 connections at once (bench/ping-bench --conns: one epoll loop, one
             Admin.Ping in flight per connection), SCALE_CALLS calls: calls/s, p50, p99, droverd's
             CPU per call (the connections and a warm-up call each are made before)
  peers      drover, s6, runit, supervisord and pm2 at 10, 100, 1000 services (bench/peers.py's
             classes): start all, stop all, PSS of the whole supervision tree and its processes
             (bench/scale_peers.py); a peer whose previous scale, times ten, would pass
             SCALE_PEER_BUDGET_S is skipped, and why is printed

QUICK=1: services up to 1000, peers up to 100, fewer rounds and calls. SCALE_ONLY=services,peers
runs some of the scenarios.
"""

import os
import signal
import subprocess
import time

from results import record
from scale_common import (FLAT_LIMIT, IDLE_S, QUICK, REPEATS, RESTARTS, SERVICE_NS, SETTLE_S,
                          Droverd, Group, cpu_ns, fork_exec_per_s, median, p99, pss_kb, rss_kb,
                          switches, timed_ms, wait_for)

MAX_PER_FILE = 4096  # src/supervise/conf.c: MAX_SERVICES in one services: list
USAGE_TTL_S = 0.6  # past src/supervise/usage.c's USAGE_TTL_MS (500)


def service_files(n):
    """YAML texts defining s0..s(n-1), `sleep 3600` each, in as few equal files as the limit
    per file allows."""
    files = -(-n // MAX_PER_FILE)
    per = -(-n // files)
    texts = []
    for k in range(0, n, per):
        texts.append("services:\n" + "".join(f"  - name: s{i}\n    cmd: [sleep, \"3600\"]\n"
                                              for i in range(k, min(n, k + per))))
    return texts


def online(st, pb):
    listed = st.List(pb.ListServicesRequest()).services
    return sum(s.state == pb.SERVICE_STATE_ONLINE for s in listed)


def start_pace(st, pb):
    """How much slower the last tenth of the services started than the first, by their start
    times (droverd's clock): above 1, a start costs more the more services already run."""
    ts = sorted(x.started_at.seconds + x.started_at.nanos / 1e9
                for x in st.List(pb.ListServicesRequest()).services)
    k = len(ts) // 10
    if k < 2 or ts[k - 1] <= ts[0]:
        return None
    return (ts[-1] - ts[-k]) / (ts[k - 1] - ts[0])


def restarts(d, st, pb):
    """Crash-restart latency while everything else runs: kill to the new process's own stamp."""
    stamps = os.path.join(d.dir, "starts")

    def lines():
        try:
            with open(stamps) as f:
                return f.read().split()
        except FileNotFoundError:
            return []
    st.Start(pb.StartServiceRequest(spec=pb.ServiceSpec(
        name="crashy", restart_delay_ms={"value": 0}, min_uptime_ms={"value": 0},
        cmd=["sh", "-c", f"date +%s%N >> {stamps}; exec sleep 3601"])))
    wait_for(lambda: lines(), timeout=30)
    lat = []
    for _ in range(RESTARTS):
        time.sleep(0.05)  # the previous start's sh and date are done
        n = len(lines())
        pid = st.Get(pb.ServiceTarget(target="crashy")).pid
        killed = time.time_ns()
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: len(lines()) > n, timeout=30, step=0.0002)
        lat.append((int(lines()[-1]) - killed) / 1e6)
    return lat


def services_at(g, n, pb):
    d = Droverd()
    try:
        st = d.services()
        time.sleep(1)
        idle_rss, idle_pss = rss_kb(d.pid), pss_kb(d.pid)
        texts = service_files(n)
        c0 = cpu_ns(d.pid)
        t0 = time.monotonic()
        for i, text in enumerate(texts):
            st.StartFile(pb.StartFileRequest(yaml=text, name=f"scale-{n}-{i}.yaml"), timeout=1800)
        wait_for(lambda: online(st, pb) >= n, timeout=600, step=0.005)
        g.add(n, "start_ms", "start all until ONLINE (ms)", (time.monotonic() - t0) * 1000,
              unit="ms", per_label="ms")
        g.add(n, "start_cpu_ms", "droverd CPU for the start (ms)", (cpu_ns(d.pid) - c0) / 1e6,
              unit="ms", per_label="ms")
        g.add(n, "start_pace", "start: ms per service in the last tenth over the first",
              start_pace(st, pb), kind="plain")
        g.add(n, "fds", "droverd's open descriptors", len(os.listdir(f"/proc/{d.pid}/fd")),
              per_label="")
        time.sleep(SETTLE_S)
        w0, c0 = switches(d.pid), cpu_ns(d.pid)
        time.sleep(IDLE_S)
        wakeups, idle_cpu = switches(d.pid) - w0, (cpu_ns(d.pid) - c0) / 1e6
        g.add(n, "wakeups", f"idle wake-ups in {IDLE_S:.0f} s, all running", wakeups,
              kind="plain")
        g.add(n, "idle_cpu_ms", f"idle droverd CPU in {IDLE_S:.0f} s (ms)", idle_cpu,
              kind="plain", unit="ms")
        if wakeups and n >= 1000:
            g.note(f"{wakeups} wake-ups in {IDLE_S:.0f} s with {n} services running (want 0)")
        rss, pss = rss_kb(d.pid), pss_kb(d.pid)
        g.add(n, "rss_kb", "droverd RSS (kB; per service: growth / N)", rss, kind="growth",
              unit="kB", per_unit=(rss - idle_rss) / n, per_label="kB")
        g.add(n, "pss_kb", "droverd PSS (kB; per service: growth / N)", pss, kind="growth",
              unit="kB", per_unit=(pss - idle_pss) / n, per_label="kB")
        # A listing measures each service's tree (cgroup, /proc) at most every 500 ms
        # (supervise/usage.c): spaced calls pay for that every time, back-to-back ones share it.
        ls, fresh, cpu = [], [], 0
        for _ in range(REPEATS):
            time.sleep(USAGE_TTL_S)
            ls.append(timed_ms(lambda: subprocess.run([*d.cli, "ls"], stdout=subprocess.DEVNULL,
                                                      check=True)))
        for _ in range(REPEATS):
            time.sleep(USAGE_TTL_S)
            c0 = cpu_ns(d.pid)
            fresh.append(timed_ms(lambda: st.List(pb.ListServicesRequest())))
            cpu += cpu_ns(d.pid) - c0
        g.add(n, "ls_ms", "`drover ls` wall, median (ms)", median(ls), unit="ms",
              per_label="ms")
        g.add(n, "list_ms", "Services.List, usage measured anew, median (ms)", median(fresh),
              unit="ms", per_label="ms")
        g.add(n, "list_cpu_ms", "droverd CPU per Services.List, usage measured anew (ms)",
              cpu / 1e6 / REPEATS, unit="ms", per_label="ms")
        c0 = cpu_ns(d.pid)
        cached = [timed_ms(lambda: st.List(pb.ListServicesRequest())) for _ in range(REPEATS)]
        g.add(n, "list_cached_ms", "Services.List back to back, median (ms)", median(cached),
              unit="ms", per_label="ms")
        g.add(n, "list_cached_cpu_ms", "droverd CPU per back-to-back Services.List (ms)",
              (cpu_ns(d.pid) - c0) / 1e6 / REPEATS, unit="ms", per_label="ms")
        lat = restarts(d, st, pb)
        g.add(n, "restart_ms", "crash-restart, median (ms)", median(lat), kind="per_unit",
              unit="ms")
        g.add(n, "restart_p99_ms", "crash-restart, p99 (ms)", p99(lat), kind="per_unit",
              unit="ms")
        st.Delete(pb.ServiceTarget(target="crashy"), timeout=60)
        c0 = cpu_ns(d.pid)
        ms = timed_ms(lambda: st.Stop(pb.ServiceTarget(target="all"), timeout=1800))
        g.add(n, "stop_ms", "stop all until exited (ms)", ms, unit="ms", per_label="ms")
        g.add(n, "stop_cpu_ms", "droverd CPU for the stop (ms)", (cpu_ns(d.pid) - c0) / 1e6,
              unit="ms", per_label="ms")
        st.Delete(pb.ServiceTarget(target="all"), timeout=600)
    finally:
        d.stop()


def room_for(n):
    """Whether n more processes fit under pid_max and this user's process limit."""
    import resource
    procs = len([p for p in os.listdir("/proc") if p.isdigit()])
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    limit = min(pid_max, nproc if nproc != resource.RLIM_INFINITY else pid_max)
    return procs + n + 500 < limit, f"pid_max {pid_max}, RLIMIT_NPROC {nproc}, {procs} running"


def services(fork_rate):
    from drover.v1 import services_pb2 as pb
    g = Group("services", "Services (`sleep 3600`)", "service", SERVICE_NS,
              f"StartFile (one YAML text of N services; above {MAX_PER_FILE} in equal files "
              f"of at most {MAX_PER_FILE}, droverd's limit per file); a fresh droverd per N")
    for n in SERVICE_NS:
        ok, why = room_for(n)
        if not ok:
            g.note(f"N={n} skipped: not enough room for processes ({why})")
            continue
        print(f"== services: {n} ({why})", flush=True)
        try:
            services_at(g, n, pb)
        except Exception as e:  # a benchmark reports, never fails
            g.note(f"N={n} stopped early: {type(e).__name__} {e}")
        if fork_rate:
            g.add(n, "fork_limit_ms", "machine: N fork+exec+wait of /bin/true (ms)",
                  n / fork_rate * 1000, unit="ms", per_label="ms")
    return g


def commit():
    """The commit measured, with "+" when src/ has changes not committed."""
    from scale_common import ROOT
    git = ["git", "-C", ROOT]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", "src"]).returncode != 0
    return head + ("+" if dirty else "")


def main():
    from scale_common import stubs
    stubs()
    import scale_load
    import scale_peers
    only = os.environ.get("SCALE_ONLY", "services,tracked,sessions,clients,peers").split(",")
    fork_rate = fork_exec_per_s()
    at = commit()
    print(f"== scale benchmark{' (QUICK=1)' if QUICK else ''} at {at}: {os.cpu_count()} cores, "
          f"fork+exec+wait of /bin/true {fork_rate:.0f}/s", flush=True)
    groups, peers = [], None
    t0 = time.monotonic()

    def save():
        record("scale", {"quick": QUICK, "commit": at, "fork_exec_per_s": fork_rate,
                         "cores": os.cpu_count(),
                         "flat_limit": FLAT_LIMIT, "idle_s": IDLE_S,
                         "groups": [g.data() for g in groups], "peers": peers,
                         "seconds": time.monotonic() - t0})

    for name, fn in (("services", lambda: services(fork_rate)),
                     ("tracked", scale_load.tracked), ("sessions", scale_load.sessions),
                     ("clients", scale_load.clients)):
        if name in only:
            try:
                groups.append(fn())
            except Exception as e:
                print(f"({name} stopped: {type(e).__name__} {e})", flush=True)
            save()
    if "peers" in only:
        peers = scale_peers.peers()
        save()
    for g in groups:
        print(g.table())
    if peers:
        print(scale_peers.table(peers))
    steep = [f"{g.key}.{r['key']} N={n}: ×{x:.2f}" for g in groups for r in g.data()["rows"]
             for n, x in r["ratio"].items() if x > FLAT_LIMIT]
    print(f"\nper-unit cost not flat (ratio above {FLAT_LIMIT}): "
          + ("".join(f"\n  {s}" for s in steep) if steep else "none"))
    print(f"(scale benchmark: {time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
