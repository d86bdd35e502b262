#!/usr/bin/python3
"""`make bench`: runs the scenarios against droverd and its peers, side by side, and writes
docs/BENCHMARKS.md with a table per scenario (medians, min-max, the ratio to the best peer, the
machine's limit where there is one) and a PNG plot per scenario (gnuplot) in docs/bench/.

Scenarios come from the scripts beside this one, which leave their figures in $BENCH_JSON
(bench/results.py): peers.py (services: start, stop, restart, status, PSS, logs against s6,
runit, supervisord and pm2), sessions.py (PTY and pipe throughput against dtach and tmux, with
the raw PTY and pipe limits), metrics.py (process snapshot against a bare /proc scan, /metrics
against prometheus-node-exporter). The machine's fork+exec+wait rate is measured here.

QUICK=1 shrinks every scenario (fewer lines, smaller files, fewer rounds) for a first look.
Benchmarks print figures; they never fail a build. .ci/run does not run them."""

import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile

from plots import PLOTS, bar_plot, line_plots
from results import record
from scale_report import scale_section

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
DOCS = os.path.join(ROOT, "docs")
QUICK = os.environ.get("QUICK") == "1"


def run_scenarios(json_path):
    env = dict(os.environ, BENCH_JSON=json_path, BUILD=BUILD)
    if QUICK:
        env.update(LOG_LINES="200000", ROUNDS="3", SIZE_MB="50", SCRAPES="100", STREAM_S="5",
                   PROCS="300", IDLE_S="5", REPEATS="2", LOG_ROUNDS="2", TREE_ROUNDS="2",
                   EVENTS="1000", MESSAGES="4000", EXEC_RUNS="50",
                   HOSTILE_CALLS="500", SOAK_SECONDS="60")
    for script in ("run-peers", "run-sessions", "run-metrics", "run-stratavore",
                   "run-containers", "run-baaaht", "run-hostile", "run-scale", "run-console",
                   "run-soak"):
        print(f"== bench/{script}", flush=True)
        r = subprocess.run([os.path.join(ROOT, "bench", script)], env=env)
        if r.returncode != 0:
            print(f"(bench/{script} exited {r.returncode}; its figures are left out)")


def machine_limits():
    """fork+exec+wait of /bin/true, pinned to one core: the ceiling for starting anything."""
    out = subprocess.run(["taskset", "-c", "0", os.path.join(BUILD, "bench", "spawn-bench"),
                          "bare", "2000"], capture_output=True, text=True).stdout
    m = re.search(r"per_second=([0-9.]+)", out)
    return {"fork_exec_wait_per_s": float(m.group(1)) if m else None}


# ---- the report ----------------------------------------------------------------------------

def fmt(v, digits=2):
    if v is None:
        return "—"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def spread(v, digits=2):
    """'median (min–max)' of a list, or the one value."""
    if not v:
        return "—"
    m = statistics.median(v)
    if len(v) == 1 or min(v) == max(v):
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ({min(v):.{digits}f}–{max(v):.{digits}f})"


def paired_ratio(lists, drover="drover"):
    """Drover against the best peer (lowest median), pair by pair: the median over rounds of
    peer_i / drover_i. '×1.32 ahead of s6' or '×0.90 behind runit'."""
    d = lists.get(drover)
    peers = {k: v for k, v in lists.items() if k != drover and v}
    if not d or not peers:
        return "—"
    best = min(peers, key=lambda k: statistics.median(peers[k]))
    pairs = [p / x for p, x in zip(peers[best], d) if x > 0]
    if not pairs:
        return "—"
    r = statistics.median(pairs)
    return f"×{r:.2f} {'ahead of' if r >= 1 else 'behind'} {best}"


def services_section(s, limits):
    peers = {k: v for k, v in s["peers"].items() if "start" in v}
    names = list(peers)
    n = s["n"]
    log_lines = s["log_lines"]
    rows = [  # key, label, values per round, plot (None: none), log scale
        ("start", f"start {n} (ms)", lambda r: r["start"], True),
        ("stop", f"stop {n} (ms)", lambda r: r["stop"], True),
        ("restart", "restart after SIGKILL, median (ms)", lambda r: r["restart"], True),
        ("restart_p99", "restart after SIGKILL, p99 (ms)", lambda r: [p99(r["restart"])], None),
        ("status_cli", f"status listing {n}, CLI (ms)", lambda r: r["status_cli"], True),
        ("status_api", f"status listing {n}, API (ms)", lambda r: r["status_api"], True),
        ("pss", f"supervisor PSS with {n} running (MB)", lambda r: r["pss"], False),
        ("log", f"{log_lines:,} log lines: wall (s)", lambda r: [x["wall_s"] for x in r["log"]],
         False),
        ("log_lost", "log lines lost (most in a round)",
         lambda r: [max((x["lost"] for x in r["log"]), default=0)], None),
        ("log_rss", "log: supervisor RSS growth (MB)",
         lambda r: [x["rss_growth_mb"] for x in r["log"]], None),
    ]
    out = ["## Services: drover against s6, runit, supervisord and pm2", "",
           f"Every supervisor runs at the same time with {n} services (`sleep 3600`) defined; "
           f"{s['repeats']} rounds take turns between them (the order rotates). Cells are "
           f"median (min–max) over the rounds; the last column compares drover with the best "
           f"peer round by round. Restart latency comes from timestamps the service writes "
           f"itself, {s['rounds']} kills per peer, interleaved; the log rows are "
           f"{s['log_rounds']} rounds of {log_lines:,} lines of 97 bytes, counted in the "
           f"peer's log files.", "",
           "- status, CLI: the peer's own status command (`drover ls`, `s6-svstat` once per "
           "service, `sv status`, `supervisorctl status`, `pm2 ls`).",
           "- status, API: " + "; ".join(f"{k}: {v.get('api_how', '?')}"
                                          for k, v in peers.items()) + ".", "",
           "| | " + " | ".join(names) + " | drover vs best peer |",
           "|---|" + "---|" * (len(names) + 1)]
    plots = []
    limit_start = (n / limits["fork_exec_wait_per_s"] * 1000
                   if limits.get("fork_exec_wait_per_s") else None)
    for key, label, get, log in rows:
        vals = {k: get(v) for k, v in peers.items()}
        digits = 0 if key == "log_lost" else 2
        out.append(f"| {label} | " + " | ".join(spread(vals[k], digits) for k in names) + " | "
                   + (paired_ratio(vals) if log is not None else "") + " |")
        if log is not None:
            unit = label.split("(")[-1].rstrip(")") if "(" in label else ""
            plots.append(bar_plot(
                f"services-{key}", label, unit,
                [(k, statistics.median(v), min(v), max(v)) for k, v in vals.items() if v],
                log=log, limit=limit_start if key == "start" else None))
    out.append("")
    if limit_start:
        out.append(f"Machine limit for the start row: {n} fork+exec+wait of /bin/true one after "
                   f"the other take {limit_start:.1f} ms here (dashed line in its plot).")
        out.append("")
    out += [f"![{p}]({p})" for p in plots]
    return out


def idle_section(s):
    peers = {k: v["idle"] for k, v in s["peers"].items() if "idle" in v}
    if not peers:
        return []
    names = list(peers)
    secs = s["idle_s"]
    counts = sorted({int(c) for v in peers.values() for c in v})
    out = ["## Idle cost: the supervision tree with 0 and with " f"{s['n']} services", "",
           f"A fresh supervisor, left alone for {secs:.0f} s once its services run. The tree is "
           "every process of the supervisor's (s6-supervise and runsv per service for s6 and "
           "runit; supervisord; pm2's God daemon), none of the services'. Wake-ups are the "
           "context switches of all their threads over the window.", "",
           "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for c in counts:
        for key, label, digits in (("procs", "processes", 0), ("rss_mb", "RSS (MB)", 2),
                                   ("pss_mb", "PSS (MB)", 2),
                                   ("wakeups", f"wake-ups in {secs:.0f} s", 0),
                                   ("cpu_ms", f"CPU in {secs:.0f} s (ms)", 0)):
            cells = [fmt(float(peers[k][str(c)][key]), digits) if str(c) in peers[k] else "—"
                     for k in names]
            out.append(f"| {c} services: {label} | " + " | ".join(cells) + " |")
    out.append("")
    for key, title in (("pss_mb", "PSS of the supervision tree (MB)"),
                       ("wakeups", f"wake-ups in {secs:.0f} s idle")):
        bars = [(f"{k}, {c}", float(peers[k][str(c)][key]), None, None)
                for k in names for c in counts if str(c) in peers[k]]
        p = bar_plot(f"idle-{key.split('_')[0]}", title, title.split("(")[-1].rstrip(")")
                     if "(" in title else "", bars)
        out.append(f"![{p}]({p})")
    return out


def killtree_section(s):
    peers = {k: v["tree"] for k, v in s["peers"].items() if v.get("tree")}
    if not peers:
        return []
    size = s["tree_size"]
    out = ["## Kill-tree: stopping a service whose tree has double-forked orphans", "",
           f"The service's tree has {size} processes: its main process, a child, a child with a "
           "child of its own, and two double-forked orphans (one in the service's session, one "
           "in a session of its own). Each peer stops it with its own stop command (supervisord "
           "with `stopasgroup` and `killasgroup`, its documented settings for trees, which miss "
           "the orphan in its own session; pm2 with its default tree kill, whose SIGINT the "
           "shell's background jobs ignore, and no SIGKILL follows once the main process is "
           "gone). Survivors are the tree's processes still alive 1 s after the command "
           f"returned, most over {s['tree_rounds']} rounds; the benchmark kills them afterwards, "
           "by pid. drover kills what is left of the tree when its main process ends: the "
           "service's cgroup, or its session without cgroups.", "",
           "| | stop (ms) | survivors (of " f"{size}) |", "|---|---|---|"]
    for k, v in peers.items():
        out.append(f"| {k} | {spread([x['stop_ms'] for x in v], 1)} | "
                   f"{max(x['survivors'] for x in v)} |")
    p = bar_plot("killtree", f"processes left of a {size}-process tree after stop", "processes",
                 [(k, float(max(x["survivors"] for x in v)), None, None)
                  for k, v in peers.items()], ymax=size + 0.5)
    out += ["", f"![{p}]({p})"]
    return out


def p99(v):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * 0.99))] if v else 0.0


def snapshot_figures(snap):
    """(drover, bare scan, processes) from metrics-bench's output: [median, min, max] ms each."""
    if not snap:
        return None
    bare = re.search(r"bare /proc/PID/stat scan\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)",
                     snap["output"])
    drv = re.search(r"drover snapshot \(stat\+statm, CPU%\)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)",
                    snap["output"])
    procs = re.search(r"processes: (\d+)", snap["output"])
    if not (bare and drv):
        return None
    return ([float(x) for x in drv.groups()], [float(x) for x in bare.groups()],
            procs.group(1) if procs else "?")


def limits_section(res, limits):
    """Every machine limit measured in this run, beside drover's figure of the same kind."""
    rows = []
    rate = limits.get("fork_exec_wait_per_s")
    svc = res.get("services", {}).get("peers", {}).get("drover", {})
    if rate:
        n = res.get("services", {}).get("n", 50)
        lim = n / rate * 1000
        d = statistics.median(svc["start"]) if svc.get("start") else None
        rows.append((f"fork+exec+wait of /bin/true, one core: {rate:.0f}/s", f"{n} in "
                     f"{lim:.1f} ms", f"start {n} services: {fmt(d, 1)} ms", lim / d if d else None))
    sess = res.get("sessions")
    if sess:
        r, mb = sess["rows"], sess["size_mb"]

        def mbps(name):
            return mb / statistics.median(r[name]["seconds"]) if name in r else None
        for lim_row, drv_row, what in (("raw pty", "drover detached", "PTY session, detached"),
                                       ("pipe limit", "drover pipe", "pipe session")):
            lim, d = mbps(lim_row), mbps(drv_row)
            if lim:
                rows.append((f"{lim_row} throughput (`cat` of {mb} MB)", f"{lim:.1f} MB/s",
                             f"{what}: {fmt(d, 1)} MB/s", d / lim if d else None))
    snap = snapshot_figures(res.get("snapshot"))
    if snap:
        d, b, procs = snap
        rows.append((f"bare scan of /proc/PID/stat, {procs} processes", f"{b[0]:.2f} ms",
                     f"snapshot with CPU % and RSS: {d[0]:.2f} ms", b[0] / d[0]))
    if not rows:
        return []
    out = ["## Machine limits, measured in the same run", "",
           "What this machine can do at best, beside drover's figure of the same kind; the last "
           "column is drover's speed as a share of the limit (above 100 %: drover does less "
           "work than the plain loop, as the snapshot reads fewer bytes per process).", "",
           "| limit | measured | drover | share |", "|---|---|---|---|"]
    for what, lim, d, share in rows:
        out.append(f"| {what} | {lim} | {d} | {'—' if share is None else f'{share * 100:.0f} %'} |")
    return out


def containers_section(c):
    """Containers against podman on the same image and OCI runtime (bench/containers.py)."""
    d, p = c.get("drover", {}), c.get("podman", {})
    out = ["## Containers: drover against podman", "",
           f"The same busybox image (built with umoci), the same OCI runtime "
           f"({d.get('runtime') or '?'}), network none on both. drover: {c['containers']} "
           f"containers through drover.v1.Containers on the unix socket; podman: "
           f"{c['podman_n']} with Debian's podman (private storage, cgroupfs). Latencies in ms; "
           "the ratio is podman / drover (above 1: drover is faster or smaller). Memory is the "
           "monitor's: droverd's growth per running container against one conmon per "
           "container.", ""]
    if "skipped" in p:
        out += [f"podman was skipped: {p['skipped']}", ""]
    out += ["| row | drover | podman | ratio |", "|---|---|---|---|"]

    def row(name, key, sub, unit):
        a = (d.get(key) or {}).get(sub) if sub else d.get(key)
        b = (p.get(key) or {}).get(sub) if sub else p.get(key)
        r = f"×{b / a:.2f}" if a and b else "—"
        out.append(f"| {name} | {fmt(a, 1)} {unit} | {fmt(b, 1)} {unit} | {r} |")

    if "run_to_exit_ms" in p:  # podman's figure is its CLI's: the CLI row is the pair
        p = dict(p, run_to_exit_cli_ms=p["run_to_exit_ms"])
    for key, name in (("run_to_exit_ms", "run to exit (`run --rm true`), gRPC client"),
                      ("run_to_exit_cli_ms", "run to exit, `drover container run --rm` CLI"),
                      ("create_running_ms", "create → running"),
                      ("stop_removed_ms", "stop → removed (SIGKILL)")):
        row(f"{name} p50", key, "p50", "ms")
        row(f"{name} p99", key, "p99", "ms")
    row("monitor RSS per running container", "rss_kb_per_container", None, "kB")
    row("monitor PSS per running container", "pss_kb_per_container", None, "kB")
    return out


def baaaht_section(b):
    """baaaht's API on droverd (bench/baaaht.py): messages through a scripted assistant with 1
    and SESSIONS sessions, ExecuteTask to its first output, droverd's RSS per session."""
    n = b.get("sessions", 100)
    one, many = b.get("messages_1") or {}, b.get(f"messages_{n}") or {}
    x, idle = b.get("execute_task") or {}, b.get("idle") or {}
    out = ["## baaaht's API: conversations and tasks", "",
           "baaaht's `orchestrator.v1` and `agent.v1` as one droverd serves them on its "
           "`--baaaht-socket`. Messages: a scripted assistant (Register, then StreamAgent, a "
           "DATA reply to each DATA message by correlation id) and clients like baaaht's TUI "
           "(a connection and a StreamMessages stream per session, the next USER message "
           f"written when the previous reply arrived; {b.get('client_procs', '?')} client "
           f"processes for {n} sessions), all Python with grpc.aio; {b.get('messages', 0):,} "
           f"messages per run after {b.get('warmup', '?')} per session not counted. The round "
           "trip is a message's write to its reply's arrival, in the client; CPU is droverd's "
           "(utime + stime) over the run per message; a side is saturated when its busiest "
           "thread was on a CPU, waiting for one (or, for droverd, blocked on I/O) 85 % of the "
           f"run or more. ExecuteTask: {b.get('exec_runs', '?')} tasks (`sh -c \"echo out\"`) "
           "one after the other, from writing ExecuteTask to StreamTask's first output; CPU is "
           "droverd's own per task, its children's left out. Memory: droverd's RSS growth per "
           f"session with {b.get('idle_sessions', '?')} sessions created over one connection, "
           "then each bound by a StreamMessages stream on a connection of its own, over one "
           "such session already open. There is no peer: baaaht's own server is a Go "
           "program, and neither it nor a Go toolchain is on this machine.", ""]

    def msgs(r, key, digits):
        return fmt(r.get(key), digits) if r else "—"

    out += [f"| messages | 1 session | {n} sessions |", "|---|---|---|"]
    for label, key, digits in (("messages/s", "msgs_per_s", 0),
                               ("round trip p50 (ms)", "latency_p50_ms", 2),
                               ("round trip p99 (ms)", "latency_p99_ms", 2),
                               ("droverd CPU per message (µs)", "droverd_cpu_us_per_msg", 0)):
        out.append(f"| {label} | {msgs(one, key, digits)} | {msgs(many, key, digits)} |")
    out.append(f"| saturated | {one.get('saturated', '—')} | {many.get('saturated', '—')} |")
    notes = []
    for r in (one, many):
        if not r:
            continue
        lost = r["messages_asked"] - r["messages"]
        if lost or r.get("failed_routes") or r.get("streams_ended"):
            notes.append(f"{r['sessions']} session(s): {lost} messages without a reply, "
                         f"{r.get('failed_routes', 0)} failed routes, "
                         f"{r.get('streams_ended', 0)} streams ended"
                         + (f" ({'; '.join(r['errors'])})" if r.get("errors") else ""))
    out += ["", "| tasks and memory | |", "|---|---|"]
    if x.get("available") is False:
        out.append(f"| ExecuteTask | not available ({x.get('why', '?')}) |")
    elif "error" in x or not x:
        out.append(f"| ExecuteTask | not measured ({x.get('error', 'no figures')}) |")
    else:
        out += [f"| ExecuteTask → first output p50 | {fmt(x.get('first_output_p50_ms'))} ms |",
                f"| ExecuteTask → first output p99 | {fmt(x.get('first_output_p99_ms'))} ms |",
                f"| droverd CPU per task | {fmt(x.get('droverd_cpu_ms_per_task'))} ms |"]
        if x.get("no_output") or x.get("errors"):
            notes.append(f"ExecuteTask: {x.get('no_output', 0)} of {x.get('runs', '?')} tasks "
                         "without output" + (f" ({'; '.join(x['errors'])})"
                                             if x.get("errors") else ""))
    if "error" in idle or not idle:
        out.append(f"| droverd RSS per session | not measured ({idle.get('error', '?')}) |")
    else:
        out += [f"| droverd RSS per idle session | {fmt(idle.get('rss_per_session_kb'), 1)} kB |",
                f"| droverd RSS per bound stream (and its connection) | "
                f"{fmt(idle.get('rss_per_stream_and_connection_kb'), 1)} kB |"]
    if b.get("rss_start_kb") and b.get("hwm_kb"):
        out.append(f"| droverd RSS at start, peak over the run | {b['rss_start_kb']:,} kB, "
                   f"{b['hwm_kb']:,} kB |")
    if notes:
        out += [""] + [f"- {t}" for t in notes]
    return out


def hostile_section(h):
    """A well-behaved client's latency on three doors while hostile clients load droverd
    (bench/hostile.py)."""
    sc = h.get("scenarios") or []
    noise = h.get("noise_bytes_per_s")
    who = ("as `nobody` on the unix socket" if h.get("root")
           else "on a plaintext TCP door on loopback")
    out = ["## Hostile clients: what one client's misbehaviour costs another", "",
           "One droverd (`--http`, `--rp-socket`, `--max-connections "
           f"{h.get('max_connections', '?')}`) with a noisy service writing "
           f"{fmt(noise / 1e6 if noise else None, 1)} MB/s of log lines. A well-behaved client, "
           "a process of its own connected once for the whole run, does "
           f"{h.get('calls', '?'):,} rounds, {fmt(h.get('gap_ms'), 0)} ms apart, of a gRPC "
           "unary `Admin.Ping` over the unix socket, a `GET /healthz` on a keep-alive "
           "connection to the HTTP door and a running-process PING on its socket, each timed "
           "from its write to the whole answer. First alone, then during each load in turn, "
           "started with the rounds and kept up until they are done (droverd back to idle "
           "between two): "
           f"{h.get('http_clients', '?')} connections pipelining `GET /metrics` 200 at a time "
           "and never reading (4 KiB receive buffers); "
           f"{h.get('rp_clients', '?')} running-process connections pipelining 64 KiB of "
           "PINGs at a time, never reading; "
           f"{h.get('ws_clients', '?')} WebSocket connections to socktop's `/ws` pipelining "
           "`get_processes` 200 at a time, never reading (4 KiB receive buffers); "
           f"{h.get('streams', '?')} raw HTTP/2 connections granting 2^31-1 bytes of window, "
           "each with a `Services.Logs` follow of the noisy service, never reading; strangers "
           f"({who}) holding every ordinary slot while {h.get('flood_procs', '?')} processes "
           "connect and close as fast as they can, each connect refused at accept. Latencies "
           "in ms; CPU is droverd's over the window (% of one core); RSS peak is droverd's "
           f"VmHWM over the window (reset before it). {h.get('cores', '?')} cores: droverd, "
           "the noisy service, the hostile clients and the measuring client share them; the "
           f"hostile clients run at nice {h.get('nice', '?')}, so that what is measured is "
           "droverd's scheduling of its clients rather than the kernel's of the processes. "
           "The notes give each load's slowest call per door, when it came (seconds into the "
           "load) and how much of it passed before droverd answered (its clock in the answer "
           "against the client's at the write).", "",
           "| scenario | Ping p50 | Ping p99 | Ping max | /healthz p99 | rp PING p99 | "
           "droverd CPU | RSS peak |", "|---|---|---|---|---|---|---|---|"]
    notes = []
    for r in sc:
        if "error" in r:
            out.append(f"| {r.get('label', r['name'])} | not measured ({r['error']}) "
                       "| | | | | | |")
            continue
        rss = r.get("rss_peak_kb")
        out.append(f"| {r.get('label', r['name'])} | {fmt(r['ping']['p50_ms'], 3)} | "
                   f"{fmt(r['ping']['p99_ms'], 3)} | {fmt(r['ping']['max_ms'], 2)} | "
                   f"{fmt(r['healthz']['p99_ms'], 3)} | {fmt(r['rp']['p99_ms'], 3)} | "
                   f"{fmt(r.get('droverd_cpu_pct'), 0)} % | "
                   f"{'—' if rss is None else f'{rss / 1024:.1f} MB'} |")
        ld, bits = r.get("load") or {}, []
        if "sent" in ld:
            bits.append(f"the clients sent {ld['sent'] / 1e6:.1f} MB; droverd closed "
                        f"{ld.get('closed', 0)} of them")
        if "queued_peak_bytes" in ld:
            bits.append(f"gRPC answers held for clients at most "
                        f"{ld['queued_peak_bytes'] / 2**20:.1f} MiB")
        if "connects" in ld:
            bits.append(f"{ld.get('strangers_held', '?')} strangers held the ordinary slots; "
                        f"{ld['connects']:,} connects refused ({ld['connects_per_s']:,.0f}/s), "
                        f"{ld.get('refusal_log_lines', '?')} log lines about refusing"
                        + (f" (the rate limit reported {ld['refusals_not_logged']:,} more not "
                           "logged)" if "refusals_not_logged" in ld else ""))
        worst = []
        for door, label in (("ping", "Ping"), ("healthz", "/healthz"), ("rp", "rp PING")):
            sl = (r.get(door) or {}).get("slowest") or []
            if sl:
                o, x, w = sl[0]
                worst.append(f"{label} {x:.1f} ms at {o:.2f} s"
                             + ("" if w is None else f" ({max(w, 0):.1f} ms before droverd "
                                                     "answered)"))
        if worst and r["name"] != "baseline":
            bits.append("slowest calls: " + ", ".join(worst))
        errs = {k: v for k, v in (r.get("errors") or {}).items() if v}
        if errs:
            bits.append("calls that failed: " + ", ".join(f"{k} {v}" for k, v in errs.items()))
        if r["name"] != "baseline" and rss is not None:
            bits.append(f"RSS {r['rss_before_kb'] / 1024:.1f} MB before, "
                        f"{r['rss_after_kb'] / 1024:.1f} MB 2 s after the load went")
        if bits:
            notes.append(f"{r.get('label', r['name'])}: " + "; ".join(bits) + ".")
    if notes:
        out += [""] + [f"- {t}" for t in notes]
    return out


def console_section(c):
    """The Connect door against gRPC, and the web console in headless Chromium
    (bench/console.py)."""
    j, g = c.get("connect_json") or {}, c.get("grpc") or {}
    out = ["## The Connect door and the web console", "",
           "`Services.List` with 50 services (one keep-alive connection each, one call after the "
           "other, Python clients on both sides: http.client for Connect's JSON, python3-grpcio "
           "on the unix socket for gRPC). droverd's CPU per call is its own, from schedstat: the "
           f"client's cost is the same language on both sides. The JSON answer is "
           f"{fmt(c.get('json_bytes'))} bytes.", "",
           "| | calls/s | p50 µs | p99 µs | droverd CPU µs per call |", "|---|---|---|---|---|"]
    for name, r in (("Connect, JSON", j), ("gRPC, protobuf", g)):
        out.append(f"| {name} | {fmt(r.get('calls_per_s'), 0)} | {fmt(r.get('p50_us'), 0)} | "
                   f"{fmt(r.get('p99_us'), 0)} | {fmt(r.get('cpu_us'), 1)} |")
    if j.get("cpu_us") and g.get("cpu_us"):
        out += ["", f"- droverd's CPU per call, Connect JSON / gRPC: ×{j['cpu_us'] / g['cpu_us']:.2f}"]
    f = c.get("first_load") or {}
    i = c.get("idle_console") or {}
    if f:
        out += ["", "The console's first load in headless Chromium (Debian's, through "
                "chromedriver), as the browser counts it: "
                f"**{fmt(f.get('bytes', 0) / 1000, 1)} kB on the wire in {f.get('files')} files** "
                f"({fmt(f.get('decoded_bytes', 0) / 1000, 1)} kB decoded: gzip), DOM interactive "
                f"{fmt(f.get('dom_interactive_ms'), 0)} ms, the 50 services on screen "
                f"{fmt(f.get('services_shown_ms'), 0)} ms after the request."]
    if i:
        out += ["", f"One console open on its overview and left alone for {fmt(i.get('seconds'), 0)} s "
                "(Services.Watch, Metrics.Watch every 2 s with disks and network, pushed, never "
                f"polled): **droverd {fmt(i.get('cpu_pct'), 3)} % of a core** (target < 0.5 %)."]
    return out


def soak_section(s):
    """The soak (bench/soak.py): droverd's RSS, fds and CPU over a long run under a mixed load,
    the verdict (flat after the warm-up or not), the calls per kind, the hostile clients.
    Plots docs/bench/soak.png."""
    sm = s.get("summary") or {}
    samples = s.get("samples") or []
    plan = s.get("plan") or {}
    secs = s.get("seconds", 0)
    length = f"{secs / 60:.0f} min" if secs >= 120 else f"{secs:.0f} s"
    kinds = {"unary": "unary gRPC calls (Admin.Ping and Status, Services.Get and List, "
                      "Sessions.ListPty and GetBacklog, Metrics.Get)",
             "watch": "Services.Watch streams (of one service; every 20th of all) held 10–30 s, "
                      "cancelled and opened again",
             "logs": "Services.Logs -f of a crash-looping service, held 10–30 s",
             "rp": "running-process clients (PING, STATUS, SERVICE_LIST, LIST_PTY_SESSIONS)",
             "baaaht": "baaaht conversations (a StreamMessages stream, a message per think time "
                       "answered by a scripted assistant, a new session every 20–40 messages)",
             "socktop": "socktop clients on /ws (get_metrics, every 4th get_processes)",
             "attach": "session attachers (AttachPty or AttachPipe for 5–15 s, detached, again)"}
    mix = "; ".join(f"{plan[k]} {v}" for k, v in kinds.items() if plan.get(k))
    out = ["## Soak: a long run under a mixed load", "",
           f"One droverd for {length} with {s.get('clients', 0):,} concurrent clients, each on "
           "a connection of its own, calling again after a think time of "
           f"{s.get('think_ms', 1000):.0f} ms (×0.5–1.5), from {s.get('client_procs', '?')} "
           f"Python process(es) (grpc.aio, one event loop each): {mix}. Meanwhile {s.get('services', 0)} services "
           "crash-loop (`sleep 0.5; exit 1`, restart always, backoff 200 ms doubling up to "
           f"{s.get('crash_backoff_max_ms', 0) / 1000:.0f} s), {s.get('sessions', 0)} sessions "
           "write about 20 kB/s each (half PTY, half pipe), a scraper fetches /metrics every "
           "second (gzip, keep-alive), and each door (drover's gRPC socket, baaaht's socket, the "
           "running-process socket, HTTP) has three hostile clients, each again every "
           f"{s.get('hostile_period_s', 5):.0f} s: one opens a stream and never reads it, one "
           "sends 2 kB of random bytes, one pipelines requests without reading a byte. What the "
           "hostile clients get is deliberate and counted apart; every other call that fails "
           "is counted.", "",
           f"droverd is sampled every {s.get('sample_s', 10):.0f} s: VmRSS, open fds, CPU "
           "(utime + stime over the interval, % of one core), the time it was runnable but "
           "waiting for a CPU, its gRPC connections (Admin.Status); calls per second and the "
           "unary latency are the clients', per interval. The first "
           f"{s.get('warmup_share', 0.2):.0%} of the run is warm-up (grey in the plot); the "
           "verdict compares the first sample after it with the last: flat when RSS grew less "
           "than 10 % and fds less than 5 %. Slopes are least squares over those samples. "
           f"{s.get('cores', '?')} cores: droverd, its services and the clients share them.", ""]
    if sm.get("rss_kb_from"):
        out += ["| after the warm-up | first | last | change | slope per minute |",
                "|---|---|---|---|---|",
                f"| RSS | {sm['rss_kb_from'] / 1024:.1f} MB (t = {sm['from_t']:.0f} s) | "
                f"{sm['rss_kb_to'] / 1024:.1f} MB (t = {sm['to_t']:.0f} s) | "
                f"{sm['rss_growth']:+.1%} | {(sm.get('rss_kb_per_min') or 0) / 1024:+.2f} MB |",
                f"| open fds | {sm['fds_from']} | {sm['fds_to']} | {sm['fds_growth']:+.1%} | "
                f"{sm.get('fds_per_min') or 0:+.1f} |",
                f"| droverd CPU (% of one core) | mean {fmt(sm.get('cpu_pct_mean'), 1)} | "
                f"max {fmt(sm.get('cpu_pct_max'), 1)} | | |"]
        if sm.get("half_from_t") is not None:
            out += [f"| second half (from t = {sm['half_from_t']:.0f} s): RSS | | | "
                    f"{sm['half_rss_growth']:+.1%} | "
                    f"{(sm.get('half_rss_kb_per_min') or 0) / 1024:+.2f} MB |",
                    f"| second half: open fds (from {sm.get('fds_min')} to {sm.get('fds_max')} "
                    f"after the warm-up) | | | {sm['half_fds_growth']:+.1%} | "
                    f"{sm.get('half_fds_per_min') or 0:+.1f} |"]
        out.append("")
    failed = s.get("failed_calls")
    out += [f"**Verdict: {sm.get('verdict', '?')}.** Calls: {s.get('ok_calls', 0):,} ok, "
            f"**{'?' if failed is None else failed} failed** (the hostile clients' left out). "
            f"droverd exited {s.get('droverd_exit', '?')} after SIGTERM "
            f"({fmt(s.get('droverd_stop_s'), 2)} s). RSS at READY "
            f"{(s.get('rss_ready_kb') or 0) / 1024:.1f} MB, peak (VmHWM) "
            f"{(s.get('hwm_kb') or 0) / 1024:.1f} MB; crash-loop restarts: "
            f"{s.get('restarts_total') or 0:,}, services given up on: "
            f"{s.get('services_errored', '?')}; /metrics scrape p50 "
            f"{fmt(s.get('scrape_p50_ms'), 1)} ms, p99 {fmt(s.get('scrape_p99_ms'), 1)} ms.", ""]
    if samples:
        t = [x["t"] for x in samples]
        p = line_plots("soak", f"droverd over the soak ({s.get('clients', 0):,} clients)", t, [
            ("MB", [("RSS", [x["rss_kb"] / 1024 for x in samples], False),
                    ("anonymous RSS", [x.get("rss_anon_kb", 0) / 1024 for x in samples], True)]),
            ("open fds", [("fds", [x["fds"] for x in samples], False)]),
            ("% of one core", [("CPU", [x["cpu_pct"] if x["t"] > 0 else None
                                        for x in samples], False),
                               ("runnable, waiting for a CPU",
                                [x.get("cpu_wait_pct") if x["t"] > 0 else None
                                 for x in samples], True)])],
            shade_to=sm.get("warmup_s"))
        out += ([f"![{p}]({p})", ""] if p else []) + [
                "<details><summary>Every sample</summary>", "",
                "| t (s) | RSS (MB) | fds | CPU % | waiting for a CPU % | gRPC connections | "
                "calls/s | unary p50 (ms) | unary p99 (ms) | machine busy % |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for x in samples:
            out.append(f"| {x['t']:.0f} | {x['rss_kb'] / 1024:.1f} | {x['fds']} | "
                       f"{fmt(x['cpu_pct'], 1)} | {fmt(x.get('cpu_wait_pct'), 1)} | "
                       f"{fmt(x.get('grpc_connections'))} | "
                       f"{fmt(x.get('client_calls_per_s'), 0)} | "
                       f"{fmt(x.get('unary_p50_ms'), 1)} | {fmt(x.get('unary_p99_ms'), 1)} | "
                       f"{fmt(x.get('machine_busy_pct'), 0)} |")
        out += ["", "</details>", ""]
    calls = s.get("calls") or {}
    if calls:
        out += ["| calls | ok | failed | stream messages |", "|---|---|---|---|"]
        for kind in sorted(calls):
            v = calls[kind]
            msgs = f"{v['msgs']:,}" if v.get("msgs") else ""
            out.append(f"| {kind} | {v['ok']:,} | {v['failed']} | {msgs} |")
        errs = [f"{kind}: {n}× {why}" for kind, v in sorted(calls.items())
                for why, n in v.get("errors", {}).items()]
        if errs:
            out += [""] + [f"- {e}" for e in errs[:10]]
        out.append("")
    hostile = {k: v for k, v in (s.get("hostile") or {}).items() if isinstance(v, dict)}
    if hostile:
        out += ["| hostile client | times | what it got (besides being hung up on) |",
                "|---|---|---|"]
        for name in sorted(hostile):
            v = hostile[name]
            what = "; ".join(f"{k} ({n})" for k, n in sorted(v.items()) if k != "cycles")
            out.append(f"| {name} | {v.get('cycles', 0)} | {what or '—'} |")
        out.append("")
    if s.get("error"):
        out.append(f"The run stopped early: {s['error']}")
    return out


def sessions_section(s, limits):
    rows = s["rows"]
    mb = s["size_mb"]

    def mbps(secs):
        return mb / secs

    out = ["## PTY and pipe sessions: drover against dtach and tmux", "",
           f"`cat` of {mb} MB through a session, MB/s, median of {s['rounds']} interleaved "
           "rounds (min–max); ratios are medians of the round-by-round ratios. CPU is "
           "droverd's, and dtach's master process's when detached.", "",
           "The rows marked *1 core* pin the reader (the supervisor; this script for the raw "
           "PTY), the attaching client and `cat` to one core (`taskset -c 0`). Unpinned, a "
           "PTY's throughput depends on where the scheduler puts the writer, the kernel's tty "
           "flush worker and the reader, which hand the bytes on through a 4 KB buffer, and it "
           "swings by ±20 % from run to run for every reader alike. Pinned, it is steady within "
           "a few per cent, and what is left is the work each reader does per byte.", "",
           "| row | MB/s | min–max | CPU s/100 MB |", "|---|---|---|---|"]
    bars, pinned = [], []
    for name, r in rows.items():
        v = [mbps(x) for x in r["seconds"]]
        med = statistics.median(v)
        out.append(f"| {name} | {med:.1f} | {min(v):.1f}–{max(v):.1f} | "
                   f"{fmt(r['cpu_s_per_100mb'], 3)} |")
        if "pipe" not in name:
            (pinned if name.endswith(", 1 core") else bars).append(
                (name.replace(", 1 core", ""), med, min(v), max(v)))
    out.append("")

    def ratio(a, b):
        if a in rows and b in rows:
            r = [tb / ta for ta, tb in zip(rows[a]["seconds"], rows[b]["seconds"])]
            out.append(f"- {a} against {b}: ×{statistics.median(r):.2f} "
                       f"(above 1: drover faster)")
    for suffix in ("", ", 1 core"):
        for mode in ("detached", "attached"):
            for peer in ("dtach", "tmux"):
                ratio(f"drover {mode}{suffix}", f"{peer} {mode}{suffix}")
        ratio(f"drover detached{suffix}", f"raw pty{suffix}")
    ratio("drover attached", "raw pty, 2 hops")
    ratio("drover pipe", "pipe limit")

    def limit(name):
        raw = rows.get(name)
        return statistics.median(mbps(x) for x in raw["seconds"]) if raw else None
    p = bar_plot("sessions", f"{mb} MB through a session (MB/s)", "MB/s",
                 [b for b in bars if not b[0].startswith("raw")], limit=limit("raw pty"))
    out += ["", f"![{p}]({p})"]
    if pinned:
        p = bar_plot("sessions-1core", f"{mb} MB through a session, one core (MB/s)", "MB/s",
                     [b for b in pinned if not b[0].startswith("raw")],
                     limit=limit("raw pty, 1 core"))
        out.append(f"![{p}]({p})")
    return out


def metrics_section(snap, scrape):
    out = ["## Measuring: process snapshot and /metrics against node_exporter", ""]
    figures = snapshot_figures(snap)
    if figures:
        d, b, procs = figures
        out += [f"Every process ({procs}) with CPU % and RSS, CPU "
                "ms per snapshot, median (min–max), in one binary:", "",
                "| | ms | min–max |", "|---|---|---|",
                f"| drover snapshot (stat + statm, CPU %) | {d[0]:.3f} | {d[1]:.3f}–{d[2]:.3f} |",
                f"| machine limit: bare scan of /proc/PID/stat | {b[0]:.3f} | "
                f"{b[1]:.3f}–{b[2]:.3f} |", "",
                f"- drover / bare scan: ×{d[0] / b[0]:.2f} (below 1: faster than reading "
                "each stat file once)", ""]
        p = bar_plot("snapshot", "one snapshot of every process (CPU ms)", "ms",
                     [("drover", d[0], d[1], d[2]), ("bare scan", b[0], b[1], b[2])])
        out += [f"![{p}]({p})", ""]
    if scrape:
        p50 = scrape["p50_ms"]
        out += [f"`GET /metrics` with gzip on one keep-alive connection, {scrape['scrapes']} "
                f"scrapes × {scrape['rounds']} interleaved rounds; p50 ms per round, median "
                "(min–max):", "", "| | p50 ms | min–max | bytes |", "|---|---|---|---|"]
        bars = []
        for name, v in p50.items():
            out.append(f"| {name} | {statistics.median(v):.2f} | {min(v):.2f}–{max(v):.2f} | "
                       f"{scrape['bytes'].get(name, '')} |")
            bars.append((name, statistics.median(v), min(v), max(v)))
        if p50.get("node_exporter") and p50.get("droverd"):
            r = [n / d for d, n in zip(p50["droverd"], p50["node_exporter"])]
            out += ["", f"- node_exporter / droverd, p50: ×{statistics.median(r):.1f} "
                    "(above 1: droverd faster)"]
        p = bar_plot("scrape", "GET /metrics, p50 (ms)", "ms", bars, log=True)
        out += ["", f"![{p}]({p})"]
    return out


def machine(meta):
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (f"{os.cpu_count()} × {cpu}, Linux {platform.release()}, drover {meta['commit']}, "
            f"{meta['date']}{' (QUICK=1: shortened scenarios)' if meta['quick'] else ''}")


def main():
    json_path = os.environ.get("BENCH_RESULTS")
    if not json_path:
        json_path = os.path.join(tempfile.mkdtemp(prefix="drover-bench-"), "results.json")
        os.environ["BENCH_JSON"] = json_path
        record("meta", {"quick": QUICK, "date": datetime.date.today().isoformat(),
                        "commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short",
                                                  "HEAD"], capture_output=True,
                                                 text=True).stdout.strip()})
        record("limits", machine_limits())
        run_scenarios(json_path)
    with open(json_path) as f:
        res = json.load(f)
    limits = res.get("limits") or machine_limits()
    if os.path.isdir(PLOTS):  # plots of rows that are gone must not linger
        for f in os.listdir(PLOTS):
            if f.endswith(".png"):
                os.remove(os.path.join(PLOTS, f))
    lines = ["# drover benchmarks", "",
             "Written by `make bench` (bench/report.py); every figure comes from one run on one "
             "machine, peers side by side. Ratios are computed pair by pair within that run.", "",
             f"Machine: {machine(res.get('meta', {'quick': QUICK, 'date': '?', 'commit': '?'}))}"
             f". fork+exec+wait of /bin/true on one core: "
             f"{fmt(limits['fork_exec_wait_per_s'], 0)}/s.", ""]
    if "services" in res:
        lines += idle_section(res["services"]) + [""]
        lines += services_section(res["services"], limits) + [""]
        lines += killtree_section(res["services"]) + [""]
    if "sessions" in res:
        lines += sessions_section(res["sessions"], limits) + [""]
    if "snapshot" in res or "scrape" in res:
        lines += metrics_section(res.get("snapshot"), res.get("scrape")) + [""]
    if "containers" in res:
        lines += containers_section(res["containers"]) + [""]
    if "baaaht" in res:
        lines += baaaht_section(res["baaaht"]) + [""]
    if "hostile" in res:
        lines += hostile_section(res["hostile"]) + [""]
    if "scale" in res:
        lines += scale_section(res["scale"]) + [""]
    if "console" in res:
        lines += console_section(res["console"]) + [""]
    if "soak" in res:
        lines += soak_section(res["soak"]) + [""]
    lines += limits_section(res, limits)
    with open(os.path.join(DOCS, "BENCHMARKS.md"), "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    print(f"wrote docs/BENCHMARKS.md and docs/bench/*.png (figures: {json_path})")


if __name__ == "__main__":
    sys.exit(main())
