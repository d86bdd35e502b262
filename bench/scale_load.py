"""The scale benchmark's tracked processes, sessions and clients (bench/scale.py says what each
measures; bench/scale_common.py how the per-unit costs and ratios are made). Each builds a Group
of figures against a droverd of its own, and stops everything it started by pid."""

import os
import signal
import subprocess
import time

from scale_common import (CALLS, CLIENT_NS, PING_BENCH, REPEATS, SESSION_MB, SESSION_NS,
                          SESSION_ROUNDS, TRACKED_NS, Droverd, Group, cpu_ns, median)

LINE = "x" * 99  # + "\n": lines of 100 bytes


# ---- tracked processes ---------------------------------------------------------------------

def tracked_at(g, d, n, rp):
    pr = d.processes()
    kids = [subprocess.Popen(["sleep", "3600"]) for _ in range(n)]
    try:
        now = time.time()
        c0 = cpu_ns(d.pid)
        t0 = time.monotonic()
        for k in kids:
            pr.Register(rp.RegisterRequest(pid=k.pid, created_at=now, kind="scale",
                                           command="sleep 3600", cwd="/",
                                           originator="bench:scale"))
        g.add(n, "register_ms", "Register, each after the other (ms)",
              (time.monotonic() - t0) * 1000, unit="ms", per_label="ms")
        g.add(n, "register_cpu_ms", "droverd CPU for the Registers (ms)",
              (cpu_ns(d.pid) - c0) / 1e6, unit="ms", per_label="ms")

        def timed(call, check):
            c0 = cpu_ns(d.pid)
            ms = []
            for _ in range(REPEATS):
                t = time.monotonic()
                r = call()
                ms.append((time.monotonic() - t) * 1000)
                check(r)
            return median(ms), (cpu_ns(d.pid) - c0) / 1e6 / REPEATS

        seen = []
        ms, cpu = timed(lambda: pr.ListActive(rp.ListActiveRequest()),
                        lambda r: seen.append(len(r.processes)))
        if min(seen) != n:
            g.note(f"N={n}: ListActive listed {min(seen)} processes, not {n}")
        g.add(n, "list_ms", "ListActive, median (ms)", ms, unit="ms", per_label="ms")
        g.add(n, "list_cpu_ms", "droverd CPU per ListActive (ms)", cpu, unit="ms",
              per_label="ms")
        dead = kids[:max(1, n // 10)]
        for k in dead:  # killed, not reaped: defunct, as a zombie pass finds them
            os.kill(k.pid, signal.SIGKILL)
        time.sleep(0.2)
        found = []
        ms, cpu = timed(lambda: pr.KillZombies(rp.KillZombiesRequest(dry_run=True)),
                        lambda r: found.append(len(r.zombies)))
        if min(found) != len(dead):
            g.note(f"N={n}: the zombie pass found {min(found)}, not the {len(dead)} killed")
        g.add(n, "zombies_ms", f"KillZombies dry run, {len(dead)} defunct, median (ms)", ms,
              unit="ms", per_label="ms")
        g.add(n, "zombies_cpu_ms", "droverd CPU per zombie pass (ms)", cpu, unit="ms",
              per_label="ms")
        t0 = time.monotonic()
        for k in kids:
            pr.Unregister(rp.UnregisterRequest(pid=k.pid))
        g.add(n, "unregister_ms", "Unregister, each after the other (ms)",
              (time.monotonic() - t0) * 1000, unit="ms", per_label="ms")
    finally:
        for k in kids:
            k.kill()
            k.wait()


def tracked():
    from running_process.daemon.v1 import daemon_pb2 as rp
    g = Group("tracked", "Tracked processes (drover.v1.Processes)", "process", TRACKED_NS,
              "`sleep 3600` children of the benchmark, registered one call after the other "
              "over one gRPC channel (python3-grpcio): its time per call is in the wall figures; "
              "droverd's CPU is its own")
    d = Droverd()
    try:
        for n in TRACKED_NS:
            print(f"== tracked processes: {n}", flush=True)
            tracked_at(g, d, n, rp)
    finally:
        d.stop()
    return g


# ---- sessions ------------------------------------------------------------------------------

def sessions_round(d, n, per_bytes):
    """n attached pipe sessions at once, each writing per_bytes (none: `true`); seconds and
    droverd's CPU ms, and the errors of CLIs that failed."""
    cmd = ["sh", "-c", f"yes {LINE} | head -c {per_bytes}"] if per_bytes else ["true"]
    c0 = cpu_ns(d.pid)
    t0 = time.monotonic()
    clis = [subprocess.Popen([*d.cli, "run", "--", *cmd], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE) for _ in range(n)]
    errors = []
    for p in clis:  # a CLI that says something on stderr met an error, even if it exits 0
        err = p.communicate()[1].decode(errors="replace").strip()
        if p.returncode != 0 or err:
            errors.append(f"exit {p.returncode}: {err[-200:]}")
    secs = time.monotonic() - t0
    cpu = (cpu_ns(d.pid) - c0) / 1e6
    subprocess.run([*d.cli, "purge"], stdout=subprocess.DEVNULL, check=False)
    return secs, cpu, errors


def sessions():
    g = Group("sessions", "Sessions streaming output, attached", "MB", SESSION_NS,
              f"N pipe sessions at once, each `drover run -- sh -c 'yes LINE | head -c B'` with "
              f"its CLI attached (stdout to /dev/null), {SESSION_MB} MB each (100-byte lines, "
              f"written 8 KiB at a time by head): the work grows with N; median of "
              f"{SESSION_ROUNDS} rounds. The session's own cost (spawn, attach, exit, purge) is "
              f"measured apart with `drover run -- true`")
    d = Droverd()
    try:
        for n in SESSION_NS:
            per = SESSION_MB * 1000000
            mb = per * n / 1e6
            print(f"== sessions: {n} at once, {SESSION_MB} MB each", flush=True)
            rounds = [sessions_round(d, n, per) for _ in range(SESSION_ROUNDS)]
            empty = [sessions_round(d, n, 0) for _ in range(SESSION_ROUNDS)]
            errors = [e for r in rounds + empty for e in r[2]]
            if errors:
                g.note(f"N={n}: {len(errors)} of {n * SESSION_ROUNDS * 2} CLIs failed or "
                       f"reported an error, e.g. {errors[0]}")
            secs = median([r[0] for r in rounds])
            g.add(n, "mb_per_s", "aggregate MB/s", mb / secs, kind="rate", unit="MB/s",
                  per_label="s/MB")
            g.add(n, "cpu_ms_per_mb", "droverd CPU per MB (ms)",
                  median([r[1] / mb for r in rounds]), kind="per_unit", unit="ms")
            g.add(n, "session_cpu_ms", "droverd CPU for N sessions without output (ms)",
                  median([r[1] for r in empty]), unit="ms", per_label="ms", per="session")
            g.add(n, "wall_s", "wall, all N sessions (s)", secs, kind="plain", unit="s")
    finally:
        d.stop()
    return g


# ---- clients -------------------------------------------------------------------------------

def fields(line):
    return {k: float(v) for k, v in (w.split("=", 1) for w in line.split() if "=" in w)}


def clients_at(g, d, n):
    calls = max(CALLS, n * 20)
    p = subprocess.Popen([PING_BENCH, "--conns", d.sock, str(n), str(calls), "--sync"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    ready = p.stdout.readline()
    if not ready.startswith("connected"):
        p.kill()
        g.note(f"N={n}: ping-bench did not connect: {p.communicate()[1].strip()[-300:]}")
        return
    c0 = cpu_ns(d.pid)
    p.stdin.write("go\n")
    p.stdin.flush()
    result = p.stdout.readline()
    cpu = (cpu_ns(d.pid) - c0) / 1e3
    err = p.communicate()[1]
    f = fields(result)
    if "calls_per_s" not in f:
        g.note(f"N={n}: ping-bench failed: {err.strip()[-300:]}")
        return
    if f.get("failed"):
        g.note(f"N={n}: {f['failed']:.0f} calls failed")
    g.add(n, "calls_per_s", "calls/s", f["calls_per_s"], kind="rate", unit="calls/s",
          per_label="s/call")
    g.add(n, "cpu_us_per_call", "droverd CPU per call (µs)", cpu / f["calls"], kind="per_unit",
          unit="µs")
    g.add(n, "p50_us", "p50 (µs; per client: p50 / N)", f["p50_us"], unit="µs",
          per_label="µs")
    g.add(n, "p99_us", "p99 (µs; per client: p99 / N)", f["p99_us"], unit="µs",
          per_label="µs")


def clients():
    g = Group("clients", "Concurrent gRPC clients, unary Admin.Ping", "client", CLIENT_NS,
              f"N connections at once from one process (bench/ping-bench --conns, one epoll "
              f"loop), one call in flight on each, {CALLS} calls (at least 20 per connection); "
              f"each connection's first call is a warm-up, not counted. With one call in "
              f"flight per client, p50 grows as N / (calls/s) (Little's law): its per-client "
              f"cost is p50 / N")
    d = Droverd()
    try:
        for n in CLIENT_NS:
            print(f"== clients: {n} connections", flush=True)
            clients_at(g, d, n)
            time.sleep(0.5)  # the connections are closed
    finally:
        d.stop()
    return g

