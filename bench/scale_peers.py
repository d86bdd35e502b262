"""The scale benchmark's peers (issue 25, item 3): drover, s6, runit, supervisord and pm2 with
10, 100 and 1000 `sleep 3600` services each, one supervisor at a time, through bench/peers.py's
classes (the same commands as the services scenario there): start all until every one runs,
stop all until every one exited, and the PSS of the whole supervision tree once they run, with
its processes (s6 and runit run one supervise process per service: their sum is the tree's).
A fresh supervisor per scale; each is stopped by pid. A peer that is not installed is left out
(bench/run-scale installs them); a peer whose previous scale took more than a tenth of
SCALE_PEER_BUDGET_S is not run at ten times that scale, and why is printed. s6-svscan is given
-c (the most services it watches) of twice the scale when its default could be too few: at 1000
services, without it, some service directories never get their s6-supervise."""

import os
import shutil
import tempfile
import time

import peers as P
from scale_common import FLAT_LIMIT, PEER_BUDGET_S, PEER_NS


class S6(P.S6):
    def daemon_argv(self):
        return ["s6-svscan", *(["-c", str(2 * self.n + 16)] if self.n > 400 else []), self.scan]


def one(cls, root, n):
    p = cls(root, n, extras=False)
    t0 = time.monotonic()
    try:
        p.setup()
        setup_s = time.monotonic() - t0
        start = P.timed_ms(p.start_all)
        time.sleep(1)
        pids = p.own_pids()
        pss = P.pss_kb(pids)
        stop = P.timed_ms(p.stop_all)
    finally:
        p.stop()
    return {"start_ms": start, "stop_ms": stop, "pss_kb": pss, "procs": len(pids),
            "setup_s": setup_s, "total_s": time.monotonic() - t0}


def peers():
    only = os.environ.get("SCALE_PEERS", ",".join(c.name for c in P.PEERS)).split(",")
    out = {"ns": PEER_NS, "budget_s": PEER_BUDGET_S, "peers": {}, "skipped": {}}
    root = tempfile.mkdtemp(prefix="drover-scale-peers-")
    try:
        for cls in (S6 if c is P.S6 else c for c in P.PEERS):
            if cls.name not in only:
                continue
            if not P.have(cls):
                why = "not installed (bench/run-scale installs it)"
                print(f"peers.{cls.name}: skipped, {why}", flush=True)
                out["skipped"][cls.name] = {"all": why}
                continue
            res = out["peers"].setdefault(cls.name, {})
            last = None
            for n in PEER_NS:
                if last and last["total_s"] * 10 > PEER_BUDGET_S:
                    why = (f"{last['n']} services took {last['total_s']:.0f} s in all (set up, "
                           f"start, stop); {n} would take about "
                           f"{last['total_s'] * n / last['n']:.0f} s, past the budget of "
                           f"{PEER_BUDGET_S:.0f} s")
                    print(f"peers.{cls.name} n={n}: skipped, {why}", flush=True)
                    out["skipped"].setdefault(cls.name, {})[str(n)] = why
                    continue
                print(f"== peers: {cls.name}, {n} services", flush=True)
                try:
                    r = one(cls, root, n)
                except Exception as e:  # a peer that misbehaves is reported, not fatal
                    why = f"failed: {type(e).__name__} {e}"
                    print(f"peers.{cls.name} n={n}: {why}", flush=True)
                    out["skipped"].setdefault(cls.name, {})[str(n)] = why
                    break
                r["n"] = n
                res[str(n)] = last = r
                prev = res.get(str(n // 10))
                line = (f"peers.{cls.name} n={n} start_ms={r['start_ms']:.1f} "
                        f"stop_ms={r['stop_ms']:.1f} pss_kb={r['pss_kb']} procs={r['procs']} "
                        f"start_ms_per_service={r['start_ms'] / n:.3f}")
                if prev:
                    x = (r["start_ms"] / n) / (prev["start_ms"] / (n // 10))
                    line += f" start_ratio_vs_n{n // 10}={x:.2f}"
                    line += "  NOT FLAT" if x > FLAT_LIMIT else ""
                print(line, flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def table(p):
    ns = p["ns"]
    out = ["\nPeers at scale: start, stop (ms), PSS of the supervision tree (MB, processes)",
           f"{'':14}" + "".join(f"{'N=' + str(n):>34}" for n in ns)]
    for name, res in p["peers"].items():
        cells = []
        for n in ns:
            r = res.get(str(n))
            cells.append("—" if not r else
                         f"{r['start_ms']:.0f} / {r['stop_ms']:.0f} / "
                         f"{r['pss_kb'] / 1024:.1f} ({r['procs']})")
        out.append(f"{name:14}" + "".join(f"{c:>34}" for c in cells))
    for name, why in p["skipped"].items():
        for n, w in why.items():
            out.append(f"  {name} at {n}: {w}")
    return "\n".join(out)
