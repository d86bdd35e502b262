#!/usr/bin/python3
"""The metrics engine's costs, with node_exporter side by side. Prints figures; never fails (a
peer that is not installed is skipped: `bench/run-metrics` installs it).

1. Process snapshot: CPU time of one pass over every process (stat + statm, CPU % from deltas)
   against a bare scan reading each /proc/PID/stat, in one binary (bench/metrics-bench), with
   the machine topped up to PROCS processes (default 500) by sleeping children.
2. Scrape: GET /metrics over one keep-alive connection, as Prometheus does it (Accept-Encoding:
   gzip), SCRAPES (default 200) per round, ROUNDS rounds (default 5) interleaved between droverd
   and prometheus-node-exporter. p50 and p99 latency; droverd's CPU time per scrape. droverd runs
   twice: with its default metrics_ttl_ms (scrapes closer than 500 ms share a sample, as they do
   when several Prometheus servers scrape one host) and with 0 (every scrape reads every file,
   as one Prometheus at its usual 15 s interval sees it).
3. Streams: 100 StreamSystemMetrics clients at 1 s for STREAM_S seconds (default 30): droverd's
   CPU time as a share of one core.
Every process started here is stopped by pid.
"""

import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from results import record

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
PROCS = int(os.environ.get("PROCS", "500"))
SCRAPES = int(os.environ.get("SCRAPES", "200"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
STREAM_S = int(os.environ.get("STREAM_S", "30"))
DROVERD = os.path.join(BUILD, "src", "droverd")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_http(port, path, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            c.getresponse().read()
            c.close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def snapshot_bench():
    have = len([d for d in os.listdir("/proc") if d.isdigit()])
    extra = []
    for _ in range(max(0, PROCS - have)):
        extra.append(subprocess.Popen(["sleep", "600"]))
    try:
        out = subprocess.run([os.path.join(BUILD, "bench", "metrics-bench"), "7", "50"],
                             capture_output=True, text=True, timeout=600).stdout
    finally:
        for p in extra:
            p.kill()
        for p in extra:
            p.wait()
    print("== 1. process snapshot ==")
    print(out.rstrip())
    record("snapshot", {"output": out.strip()})


def scrape_round(port, n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    lat = []
    size = 0
    for _ in range(n):
        t0 = time.perf_counter()
        c.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
        body = c.getresponse().read()
        lat.append(time.perf_counter() - t0)
        size = len(body)
    c.close()
    return lat, size


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def scrape_bench(targets, ne_port):
    rows = {name: [] for name in targets}
    rows["node_exporter"] = []
    sizes = {}
    cpu = {name: [] for name in targets}
    hz = os.sysconf("SC_CLK_TCK")
    for _ in range(ROUNDS):
        for name, (port, pid) in targets.items():
            t0 = cpu_ticks(pid)
            lat, sizes[name] = scrape_round(port, SCRAPES)
            cpu[name].append((cpu_ticks(pid) - t0) / hz / SCRAPES * 1e3)
            rows[name].append(lat)
        if ne_port:
            lat, sizes["node_exporter"] = scrape_round(ne_port, SCRAPES)
            rows["node_exporter"].append(lat)
    print("\n== 2. GET /metrics (gzip, keep-alive), ms ==")
    print(f"{'':16}{'p50':>8}{'p99':>8}{'bytes':>9}")
    p50 = {}
    for name, rounds in rows.items():
        if not rounds:
            print(f"{name:16}  (not installed)")
            continue
        flat = [x for r in rounds for x in r]
        p50[name] = [pct(r, 0.5) for r in rounds]
        print(f"{name:16}{pct(flat, 0.5) * 1e3:8.2f}{pct(flat, 0.99) * 1e3:8.2f}"
              f"{sizes[name]:9d}")
    for name in targets:
        print(f"{name} CPU per scrape: {statistics.median(cpu[name]):.2f} ms")
    record("scrape", {"scrapes": SCRAPES, "rounds": ROUNDS,
                      "p50_ms": {n: [x * 1e3 for x in v] for n, v in p50.items()},
                      "cpu_ms": {n: cpu[n] for n in targets}, "bytes": sizes})
    for name in targets:
        if p50.get("node_exporter"):
            ratios = [n / d for d, n in zip(p50[name], p50["node_exporter"])]
            print(f"p50 ratio node_exporter / {name}, median of rounds: "
                  f"{statistics.median(ratios):.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f};"
                  f" above 1: droverd is faster)")


def streams_bench(sock, d_pid):
    import grpc
    from google.protobuf import duration_pb2
    from conftest import drain_streams  # (importing it generates the stubs)
    from daemon.v1 import daemon_pb2 as pb, daemon_pb2_grpc

    ch = grpc.insecure_channel(f"unix:{sock}")
    stub = daemon_pb2_grpc.MetricsServiceStub(ch)
    calls = [stub.StreamSystemMetrics(pb.StreamMetricsRequest(interval=duration_pb2.Duration(seconds=1)))
             for _ in range(100)]
    got, _ = drain_streams(calls, daemon=True)
    time.sleep(2)
    hz = os.sysconf("SC_CLK_TCK")
    t0, c0, g0 = time.monotonic(), cpu_ticks(d_pid), sum(got)
    time.sleep(STREAM_S)
    t1, c1, g1 = time.monotonic(), cpu_ticks(d_pid), sum(got)
    for c in calls:
        c.cancel()
    ch.close()
    share = (c1 - c0) / hz / (t1 - t0) * 100
    print(f"\n== 3. 100 StreamSystemMetrics clients at 1 s, {STREAM_S} s ==")
    print(f"messages: {g1 - g0} ({(g1 - g0) / (t1 - t0):.0f}/s); droverd CPU: {share:.2f} % of a core")


def main():
    snapshot_bench()
    tmp = tempfile.mkdtemp(prefix="drover-bench-")
    d_port, d0_port = free_port(), free_port()
    sock = os.path.join(tmp, "drover.sock")
    d = subprocess.Popen([DROVERD, "--socket", sock, "--state-dir", os.path.join(tmp, "state"),
                          "--http", f"127.0.0.1:{d_port}", "--log-level", "warning"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d0 = subprocess.Popen([DROVERD, "--socket", os.path.join(tmp, "d0.sock"),
                           "--state-dir", os.path.join(tmp, "state0"), "--metrics-ttl-ms", "0",
                           "--http", f"127.0.0.1:{d0_port}", "--log-level", "warning"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ne = None
    ne_port = None
    try:
        if shutil.which("prometheus-node-exporter"):
            ne_port = free_port()
            ne = subprocess.Popen(["prometheus-node-exporter",
                                   f"--web.listen-address=127.0.0.1:{ne_port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if not wait_http(ne_port, "/metrics"):
                ne_port = None
        wait_http(d_port, "/healthz")
        wait_http(d0_port, "/healthz")
        scrape_bench({"droverd": (d_port, d.pid), "droverd ttl 0": (d0_port, d0.pid)}, ne_port)
        streams_bench(sock, d.pid)
    finally:
        if ne:
            stop(ne)
        stop(d)
        stop(d0)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
