"""drover metrics (one snapshot, text and JSON) and drover top driven in tmux like a person would:
numbers on screen, services listed, sort keys, resize, clean exit."""

import json
import os

from conftest import DROVER, screen, tmux, wait_until  # noqa: F401 (tmux: a fixture)


def test_metrics_snapshot(droverd):
    droverd.cli("start", "--name", "spin", "--", "sh", "-c", "while :; do :; done", check=0)
    droverd.cli("start", "--name", "nap", "--", "sleep", "300", check=0)
    # The first snapshot may be averages since boot; the second covers the time between.
    droverd.cli("metrics", check=0)

    def busy():
        j = json.loads(droverd.cli("--json", "metrics", "--top", "3", check=0).stdout)
        spin = next(s for s in j["services"] if s["name"] == "spin")
        return j if j["window_ms"] > 0 and spin["cpu_percent"] > 50 else None
    j = wait_until(busy, what="the busy service at about one core")
    assert j["num_cpus"] == os.cpu_count() and len(j["cores"]) == os.cpu_count()
    with open("/proc/meminfo") as f:
        assert j["memory"]["total_bytes"] == int(f.readline().split()[1]) * 1024
    assert len(j["processes"]) == 3 and j["process_count"] > 10
    assert j["processes"][0]["cpu_percent"] >= j["processes"][1]["cpu_percent"]
    names = [s["name"] for s in j["services"]]
    assert names == ["spin", "nap"]
    nap = j["services"][1]
    assert nap["state"] == "online" and nap["cpu_percent"] < 5 and nap["rss_bytes"] > 0

    out = droverd.cli("metrics", check=0).stdout
    assert "CPUs, up" in out and "memory" in out
    assert any(line.startswith("spin ") and "online" in line for line in out.splitlines())
    r = droverd.cli("metrics", "--top", "x")
    assert r.returncode == 2 and "expected a number" in r.stderr
    droverd.cli("delete", "all", check=0)


def test_top_in_tmux(droverd, tmux):
    droverd.cli("start", "--name", "spin", "--", "sh", "-c", "while :; do :; done", check=0)
    droverd.cli("start", "--name", "fat", "--", "/usr/bin/python3", "-c",
                "import time; b = b'x' * (48 << 20); time.sleep(300)", check=0)
    tmux("new-session", "-d", "-s", "t", "-x", "100", "-y", "40",
         f"env DROVER_SOCKET={droverd.socket} TERM=xterm {DROVER} top --interval 200; "
         "echo RC=$?; sleep 60")
    try:
        # A capture may catch a redraw half done: wait for a whole screen.
        whole = ("drover top - ", "cpu0", "mem", "SERVICE", "(by CPU)", "q quit")
        wait_until(lambda: all(x in screen(tmux) for x in whole), what="a whole screen")

        def spin_busy():
            for line in screen(tmux).splitlines():
                f = line.split()
                if f and f[0] == "spin" and f[1] == "online" and float(f[3]) > 50:
                    return True
            return False
        wait_until(spin_busy, what="spin at about one core on screen")

        # Sorted by memory: largest first, the 48 MB service among the first rows.
        tmux("send-keys", "-t", "t", "m")
        fat = json.loads(droverd.cli("--json", "ls", check=0).stdout)[1]["pid"]

        def by_memory():
            lines = screen(tmux).splitlines()
            start = next((i for i, x in enumerate(lines)
                          if x.lstrip().startswith("PID") and "(by memory)" in x), None)
            if start is None:
                return None
            rows = [x.split() for x in lines[start + 1:start + 6] if x.strip()]
            sizes = [to_bytes(r[4], r[5]) for r in rows]
            return rows if sizes == sorted(sizes, reverse=True) else None
        rows = wait_until(by_memory, what="the list sorted by memory")
        # Among the first rows, unless the machine runs larger processes enough to fill them
        # (fuzzers, say): then every row shown is at least as large.
        assert (str(fat) in [r[0] for r in rows]
                or all(to_bytes(r[4], r[5]) >= 0.9 * rss_of(fat) for r in rows)), rows

        tmux("resize-window", "-t", "t", "-x", "60", "-y", "20")
        wait_until(lambda: all(len(x) <= 60 for x in screen(tmux).splitlines())
                   and "q quit" in screen(tmux), what="a redraw at 60 columns")
        tmux("send-keys", "-t", "t", "q")
        wait_until(lambda: "RC=0" in screen(tmux), what="a clean exit")
    except AssertionError:
        print(screen(tmux))
        raise
    droverd.cli("delete", "all", check=0)


def rss_of(pid):
    """Resident bytes of pid, 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def to_bytes(value, unit):
    scale = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
    return float(value) * scale[unit]


def test_top_needs_a_terminal(droverd):
    r = droverd.cli("top")
    assert r.returncode == 1 and "needs a terminal" in r.stderr
