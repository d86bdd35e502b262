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

from results import record

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
DOCS = os.path.join(ROOT, "docs")
PLOTS = os.path.join(DOCS, "bench")
QUICK = os.environ.get("QUICK") == "1"


def run_scenarios(json_path):
    env = dict(os.environ, BENCH_JSON=json_path, BUILD=BUILD)
    if QUICK:
        env.update(LOG_LINES="200000", ROUNDS="3", SIZE_MB="50", SCRAPES="100", STREAM_S="5",
                   PROCS="300")
    for script in ("run-peers", "run-sessions", "run-metrics"):
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


# ---- plots ---------------------------------------------------------------------------------

def bar_plot(name, title, ylabel, bars, log=False, limit=None):
    """bars: [(label, value, lo, hi)] (lo/hi may be None); drover's bars are orange, the
    peers' blue, the machine's limit (if given) a dashed line. Writes docs/bench/NAME.png."""
    os.makedirs(PLOTS, exist_ok=True)
    rows = []
    for label, v, lo, hi in bars:
        color = 0xE67E22 if label.startswith("drover") else 0x3B7DD8
        rows.append(f'"{label}" {v} {v if lo is None else lo} {v if hi is None else hi} {color}')
    low = min((b[1] for b in bars if b[1] > 0), default=1) / 3
    limit_clause = (f', {limit} with lines dt 2 lw 2 lc rgb "#c0392b" title "machine limit"'
                    if limit else "")
    data = "\n".join(rows)
    script = f"""
set terminal pngcairo size 760,420 font ",10"
set output "{os.path.join(PLOTS, name + '.png')}"
set title "{title}"
set ylabel "{ylabel}"
set style fill solid 0.85 border -1
set boxwidth 0.6
set grid ytics
set key top right
set xtics rotate by -25 nomirror
set bmargin 5
set yrange [{low if log else 0}:*]
{'set logscale y' if log else ''}
$d << EOD
{data}
EOD
plot $d using 0:2:5:xtic(1) with boxes lc rgb variable notitle, \\
     $d using 0:2:3:4 with yerrorbars lc rgb "black" ps 0 notitle{limit_clause}
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=False)
    return f"bench/{name}.png"


# ---- the report ----------------------------------------------------------------------------

def fmt(v, digits=2):
    if v is None:
        return "—"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def ratio_line(values, lower_is_better=True):
    """'×1.32 ahead of s6' or '×0.90 behind runit': drover against the best peer."""
    d = values.get("drover")
    peers = {k: v for k, v in values.items() if k != "drover" and v is not None}
    if d is None or not peers:
        return "—"
    best = min(peers, key=peers.get) if lower_is_better else max(peers, key=peers.get)
    if d <= 0 or peers[best] <= 0:
        return "—" if d == peers[best] else ("ahead" if d < peers[best] else "behind") + \
            f" of {best}"
    r = peers[best] / d if lower_is_better else d / peers[best]
    return f"×{r:.2f} {'ahead of' if r >= 1 else 'behind'} {best}"


def services_section(s):
    peers = s["peers"]
    names = list(peers)
    n = s["n"]
    rows = [
        ("start", f"start {n} (ms)", lambda r: r["start"], True),
        ("stop", f"stop {n} (ms)", lambda r: r["stop"], True),
        ("restart", "restart after SIGKILL, median (ms)", lambda r: r["restart"][0], True),
        ("restart_p99", "restart after SIGKILL, p99 (ms)", lambda r: r["restart"][1], True),
        ("status", f"status listing {n} (ms)", lambda r: r["status"], True),
        ("pss", f"supervisor PSS with {n} (MB)", lambda r: r["pss"], True),
        ("log", f"{s['log_lines']:,} log lines: wall (s)", lambda r: r["log"][0], True),
        ("log_lost", "log lines lost", lambda r: r["log"][1], True),
        ("log_rss", "log: supervisor RSS growth (MB)", lambda r: r["log"][2], True),
    ]
    out = ["## Services: drover against s6, runit, supervisord and pm2", "",
           f"{n} services (`sleep 3600`); restart latency from timestamps the service writes "
           f"itself, median and p99 of {s['rounds']}; status is the peer's own status command.",
           "", "| | " + " | ".join(names) + " | drover vs best peer |",
           "|---|" + "---|" * (len(names) + 1)]
    plots = []
    for key, label, get, low in rows:
        vals = {k: get(v) for k, v in peers.items()}
        out.append(f"| {label} | " + " | ".join(fmt(vals[k]) for k in names) + " | "
                   + (ratio_line(vals, low) if key not in ("log_lost", "restart_p99") else "")
                   + " |")
        if key in ("start", "stop", "restart", "status", "pss", "log"):
            plots.append(bar_plot(f"services-{key}", label, label.split("(")[-1].rstrip(")")
                                  if "(" in label else "",
                                  [(k, vals[k], None, None) for k in names],
                                  log=key in ("start", "stop", "restart", "status")))
    out.append("")
    out += [f"![{p}]({p})" for p in plots]
    return out


def sessions_section(s, limits):
    rows = s["rows"]
    mb = s["size_mb"]

    def mbps(secs):
        return mb / secs

    out = ["## PTY and pipe sessions: drover against dtach and tmux", "",
           f"`cat` of {mb} MB through a session, MB/s, median of {s['rounds']} interleaved "
           "rounds (min–max); ratios are medians of the round-by-round ratios.", "",
           "| row | MB/s | min–max | droverd CPU s/100 MB |", "|---|---|---|---|"]
    bars = []
    for name, r in rows.items():
        v = [mbps(x) for x in r["seconds"]]
        med = statistics.median(v)
        out.append(f"| {name} | {med:.1f} | {min(v):.1f}–{max(v):.1f} | "
                   f"{fmt(r['cpu_s_per_100mb'], 3)} |")
        bars.append((name, med, min(v), max(v)))
    out.append("")

    def ratio(a, b):
        if a in rows and b in rows:
            r = [tb / ta for ta, tb in zip(rows[a]["seconds"], rows[b]["seconds"])]
            out.append(f"- {a} against {b}: ×{statistics.median(r):.2f} "
                       f"(above 1: drover faster)")
    for mode in ("detached", "attached"):
        for peer in ("dtach", "tmux"):
            ratio(f"drover {mode}", f"{peer} {mode}")
    ratio("drover detached", "raw pty")
    ratio("drover attached", "raw pty, 2 hops")
    ratio("drover pipe", "pipe limit")
    raw = rows.get("raw pty")
    limit = statistics.median(mbps(x) for x in raw["seconds"]) if raw else None
    p = bar_plot("sessions", f"{mb} MB through a session (MB/s)", "MB/s",
                 [b for b in bars if b[0] != "pipe limit" and b[0] != "drover pipe"],
                 limit=limit)
    out += ["", f"![{p}]({p})"]
    return out


def metrics_section(snap, scrape):
    out = ["## Measuring: process snapshot and /metrics against node_exporter", ""]
    if snap:
        bare = re.search(r"bare /proc/PID/stat scan\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)",
                         snap["output"])
        drv = re.search(r"drover snapshot \(stat\+statm, CPU%\)\s+([0-9.]+)\s+([0-9.]+)\s+"
                        r"([0-9.]+)", snap["output"])
        procs = re.search(r"processes: (\d+)", snap["output"])
        if bare and drv:
            b, d = [float(x) for x in bare.groups()], [float(x) for x in drv.groups()]
            out += [f"Every process ({procs.group(1) if procs else '?'}) with CPU % and RSS, CPU "
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
        run_scenarios(json_path)
    with open(json_path) as f:
        res = json.load(f)
    limits = machine_limits()
    lines = ["# drover benchmarks", "",
             "Written by `make bench` (bench/report.py); every figure comes from one run on one "
             "machine, peers side by side. Ratios are computed pair by pair within that run.", "",
             f"Machine: {machine(res.get('meta', {'quick': QUICK, 'date': '?', 'commit': '?'}))}"
             f". fork+exec+wait of /bin/true on one core: "
             f"{fmt(limits['fork_exec_wait_per_s'], 0)}/s.", ""]
    if "services" in res:
        lines += services_section(res["services"]) + [""]
    if "sessions" in res:
        lines += sessions_section(res["sessions"], limits) + [""]
    if "snapshot" in res or "scrape" in res:
        lines += metrics_section(res.get("snapshot"), res.get("scrape")) + [""]
    with open(os.path.join(DOCS, "BENCHMARKS.md"), "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    print(f"wrote docs/BENCHMARKS.md and docs/bench/*.png (figures: {json_path})")


if __name__ == "__main__":
    sys.exit(main())
