"""The Scale section of docs/BENCHMARKS.md (bench/report.py calls scale_section with what
bench/scale.py recorded): a table per scenario with each figure, its cost per unit and the ratio
of that cost to the scale before, the peers at scale, and plots of the per-unit cost against N."""

from plots import xy_plot


def num(v):
    if v is None:
        return "—"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def cell(row, n, unit, flat):
    v = row["values"].get(str(n))
    if v is None:
        return "—"
    out = num(v)
    u = row["per_unit"].get(str(n))
    if row["kind"] in ("total", "growth") and u is not None:
        out += f"<br>{num(u)} {row['per_label']}/{row.get('per', unit)}"
    x = row.get("ratio", {}).get(str(n))
    if x is not None:
        out += f"<br>{'**' if x > flat else ''}×{x:.2f}{'**' if x > flat else ''}"
    return out


def group_section(g, flat):
    ns = [n for n in g["ns"] if any(str(n) in r["values"] for r in g["rows"])]
    out = [f"### {g['title']}", "", f"{g['how']}.", "",
           "| | " + " | ".join(f"N = {n:,}" for n in ns) + " |", "|---|" + "---|" * len(ns)]
    for r in g["rows"]:
        out.append(f"| {r['label']} | " + " | ".join(cell(r, n, g["unit"], flat) for n in ns)
                   + " |")
    out.append("")
    out += [f"- {t}" for t in g.get("notes", [])]
    series = []
    for r in g["rows"]:
        pts = [(int(n), u) for n, u in r["per_unit"].items() if u and u > 0]
        if r["kind"] == "plain" or r["key"] == "fork_limit_ms" or len(pts) < 2:
            continue
        pts.sort()
        series.append((r["label"].split(" (")[0], [(x, y / pts[0][1]) for x, y in pts]))
    p = xy_plot(f"scale-{g['key']}", f"{g['title']}: cost per {g['unit']}, relative to the "
                f"smallest N", "N", "relative cost per unit", series,
                hlines=[(1, "flat"), (flat, f"×{flat}")])
    if p:
        out += ["", f"![{p}]({p})"]
    return out + [""]


def peers_section(p, flat):
    ns = p["ns"]
    names = list(p["peers"])
    if not names:
        return []
    out = ["### Peers at scale", "",
           "One supervisor at a time, a fresh one per scale, with N `sleep 3600` services, "
           "through the same commands as the services scenario above (bench/peers.py). Cells: "
           "start all until every one runs, stop all until every one exited (ms), the PSS of the "
           "whole supervision tree with N running (every process of the supervisor's, none of "
           "the services': s6 and runit run one supervise process per service) and its "
           "processes; then the start's cost per service and its ratio to the scale before.", "",
           "| | " + " | ".join(f"N = {n:,}" for n in ns) + " |", "|---|" + "---|" * len(ns)]
    for name in names:
        cells = []
        for n in ns:
            r = p["peers"][name].get(str(n))
            if not r:
                cells.append("—")
                continue
            procs = f"{r['procs']:,} process{'es' if r['procs'] > 1 else ''}"
            c = (f"start {num(r['start_ms'])} ms, stop {num(r['stop_ms'])} ms<br>PSS "
                 f"{r['pss_kb'] / 1024:.1f} MB ({procs})<br>"
                 f"{num(r['start_ms'] / n)} ms/service")
            prev = p["peers"][name].get(str(n // 10))
            if prev:
                x = (r["start_ms"] / n) / (prev["start_ms"] / (n // 10))
                c += f" {'**' if x > flat else ''}×{x:.2f}{'**' if x > flat else ''}"
            cells.append(c)
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out.append("")
    for name, why in p.get("skipped", {}).items():
        for n, w in why.items():
            out.append(f"- {name}{'' if n == 'all' else f' at {n} services'}: {w}")
    for key, title, ylabel, scale in (
            ("pss", "PSS of the supervision tree with N services", "MB", 1024),
            ("start", "start all: ms per service", "ms per service", None)):
        series = []
        for name in names:
            pts = sorted((int(n), r["pss_kb"] / scale if scale else r["start_ms"] / int(n))
                         for n, r in p["peers"][name].items())
            if len(pts) > 1:
                series.append((name, pts))
        f = xy_plot(f"scale-peers-{key}", title, "N services", ylabel, series)
        if f:
            out += ["", f"![{f}]({f})"]
    return out + [""]


def scale_section(s):
    flat = s.get("flat_limit", 1.5)
    rate = s.get("fork_exec_per_s")
    out = ["## Scale: the cost per unit as the work grows", "",
           f"`bench/run-scale`{' (QUICK=1)' if s.get('quick') else ''}"
           + (f" at {s['commit']}" if s.get("commit") else "") + ": each scenario at N "
           "growing tenfold (services also at 5,000, five times 1,000). Each cell is the figure, "
           "its cost per unit where the figure is a total (per service, per process, per MB, "
           "per client: the figure over N; memory: the growth over the same droverd before any "
           "service, over N), and the ratio of the cost per unit at N to that at the scale "
           "before: ×1.00 is flat, above 1 the cost per unit grows with N, **bold** above "
           f"×{flat}. For rates (MB/s, calls/s) the cost per unit is the time per unit. "
           f"{s.get('cores', '?')} cores"
           + (f"; fork+exec+wait of /bin/true here: {rate:,.0f}/s" if rate else "")
           + f"; the run took {s.get('seconds', 0) / 60:.0f} min.", ""]
    for g in s.get("groups", []):
        out += group_section(g, flat)
    if s.get("peers"):
        out += peers_section(s["peers"], flat)
    return out
