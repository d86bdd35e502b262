#!/usr/bin/python3
"""droverd as socktop's agent: its CPU while one client polls like the socktop TUI (get_metrics
every 500 ms, get_processes every 2 s, get_disks every 5 s) for SECONDS (default 60), and the
latency of each request, p50 and p99 (a second run asks each command back to back, N times,
default 300), against a droverd whose TTLs are all 0 as well. Prints figures; never fails.
The droverds started here are stopped by pid."""

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time

import websockets

from metrics import cpu_ticks, free_port, wait_http  # bench/metrics.py: the same helpers

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
SECONDS = int(os.environ.get("SECONDS_", os.environ.get("POLL_SECONDS", "60")))
N = int(os.environ.get("N", "300"))


async def tui(url, seconds):
    async with websockets.connect(url, max_size=None) as ws:
        t0 = time.monotonic()
        last_p = last_d = -1e9
        n = 0
        while time.monotonic() - t0 < seconds:
            now = time.monotonic()
            await ws.send("get_metrics")
            await ws.recv()
            n += 1
            if now - last_p >= 2:
                await ws.send("get_processes")
                await ws.recv()
                last_p = now
                n += 1
            if now - last_d >= 5:
                await ws.send("get_disks")
                await ws.recv()
                last_d = now
                n += 1
            await asyncio.sleep(max(0, 0.5 - (time.monotonic() - now)))
        return n


async def latency(url, cmd, n):
    async with websockets.connect(url, max_size=None) as ws:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            await ws.send(cmd)
            await ws.recv()
            out.append(time.perf_counter() - t0)
        return sorted(out)


def main():
    tmp = tempfile.mkdtemp(prefix="drover-bench-")
    port = free_port()
    d = subprocess.Popen([os.path.join(BUILD, "src", "droverd"), "--socket",
                          os.path.join(tmp, "s.sock"), "--state-dir", os.path.join(tmp, "st"),
                          "--http", f"127.0.0.1:{port}", "--log-level", "warning"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"ws://127.0.0.1:{port}/ws"
    port0 = free_port()
    ttl0 = [f"--socktop-{k}-ttl-ms=0" for k in ("metrics", "disks", "processes", "details",
                                                 "journal")]
    d0 = subprocess.Popen([os.path.join(BUILD, "src", "droverd"), "--socket",
                           os.path.join(tmp, "s0.sock"), "--state-dir", os.path.join(tmp, "st0"),
                           "--http", f"127.0.0.1:{port0}", "--log-level", "warning",
                           "--metrics-ttl-ms=0", *ttl0],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url0 = f"ws://127.0.0.1:{port0}/ws"
    try:
        for p in (port, port0):
            wait_http(p, "/healthz")
        hz = os.sysconf("SC_CLK_TCK")
        c0, t0 = cpu_ticks(d.pid), time.monotonic()
        n = asyncio.run(tui(url, SECONDS))
        c1, t1 = cpu_ticks(d.pid), time.monotonic()
        share = (c1 - c0) / hz / (t1 - t0) * 100
        print(f"== a socktop TUI's polling for {SECONDS} s: {n} requests ==")
        print(f"droverd CPU: {share:.3f} % of a core (target <= 0.3 %; "
              f"{(c1 - c0) / hz * 1000 / max(n, 1):.3f} ms per request)")
        print(f"\n== latency, {N} requests each, back to back (ms) ==")
        print(f"{'':28}{'p50':>8}{'p99':>8}{'p50 uncached':>14}{'p99 uncached':>14}")
        for cmd in ("get_metrics", "get_disks", "get_processes", f"get_process_metrics:{d.pid}",
                    f"get_journal_entries:{d.pid}"):
            lat = asyncio.run(latency(url, cmd, N))
            raw = asyncio.run(latency(url0, cmd.replace(str(d.pid), str(d0.pid)), N))
            name = cmd.split(":")[0]
            print(f"{name:28}{lat[len(lat) // 2] * 1e3:8.3f}{lat[int(len(lat) * 0.99)] * 1e3:8.3f}"
                  f"{raw[len(raw) // 2] * 1e3:14.3f}{raw[int(len(raw) * 0.99)] * 1e3:14.3f}")
        print("(uncached: a droverd with every TTL at 0: requests in the same millisecond still "
              "share a reading)")
    finally:
        for p in (d, d0):
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    sys.exit(main())
