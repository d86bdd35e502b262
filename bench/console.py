#!/usr/bin/python3
"""The Connect door and the web console (bench/run-console): figures only.

1. Services.List with 50 services, the same call over Connect (JSON, keep-alive HTTP/1.1,
   http.client) and over gRPC (python3-grpcio, the unix socket), one call after the other on one
   connection: calls/s, p50 and p99, and droverd's CPU per call (its own, from schedstat: the
   client's language weighs the same on both sides, droverd's cost is what differs).
2. The console's first load in headless Chromium: bytes transferred (the page and every file,
   as the browser counts them, gzipped) and the time until the 50 services are on screen.
3. droverd's CPU while one console stays open on its overview, idle, for IDLE_S seconds:
   updates are pushed (Services.Watch, Metrics.Watch every 2 s), never polled.
   CALLS (default 3000)  IDLE_S (default 60)"""

import http.client
import json
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from results import record  # noqa: E402
from scale_common import Droverd, cpu_ns, p99, stubs, wait_for  # noqa: E402

CALLS = int(os.environ.get("CALLS", "3000"))
IDLE_S = float(os.environ.get("IDLE_S", "60"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def timed(fn, pid, n):
    """(calls/s, p50 µs, p99 µs, droverd CPU µs per call) of n calls of fn."""
    for _ in range(50):
        fn()
    lat = []
    cpu0, t0 = cpu_ns(pid), time.monotonic()
    for _ in range(n):
        t = time.perf_counter_ns()
        fn()
        lat.append((time.perf_counter_ns() - t) / 1000)
    wall, cpu = time.monotonic() - t0, cpu_ns(pid) - cpu0
    return n / wall, statistics.median(lat), p99(lat), cpu / n / 1000


def main():
    port = free_port()
    cfg = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"drover-console-bench-{os.getpid()}.yaml")
    with open(cfg, "w") as f:
        f.write("services:\n" + "".join(
            f"  - name: s{i:02d}\n    cmd: [sleep, '3600']\n" for i in range(50)))
    d = Droverd("--http", f"127.0.0.1:{port}", "--grpc-tcp-anonymous", "read", "--config", cfg)
    out = {}
    try:
        from drover.v1 import services_pb2
        svc = d.services()
        wait_for(lambda: sum(s.state == services_pb2.SERVICE_STATE_ONLINE
                             for s in svc.List(services_pb2.ListServicesRequest()).services) == 50)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def connect():
            c.request("POST", "/drover.v1.Services/List", body=b"{}",
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            body = r.read()
            assert r.status == 200 and len(json.loads(body)["services"]) == 50

        def grpc_call():
            assert len(svc.List(services_pb2.ListServicesRequest()).services) == 50

        c.request("POST", "/drover.v1.Services/List", body=b"{}",
                  headers={"Content-Type": "application/json"})
        size = len(c.getresponse().read())
        print(f"== Services.List, 50 services, {CALLS} calls each, one connection")
        for name, fn in (("connect_json", connect), ("grpc", grpc_call)):
            rate, p50, p_99, cpu = timed(fn, d.pid, CALLS)
            out[name] = {"calls_per_s": rate, "p50_us": p50, "p99_us": p_99, "cpu_us": cpu}
            print(f"{name}: calls_per_s={rate:.0f} p50_us={p50:.0f} p99_us={p_99:.0f} "
                  f"droverd_cpu_us_per_call={cpu:.1f}")
        out["json_bytes"] = size
        print(f"JSON answer: {size} bytes; droverd CPU Connect/gRPC: "
              f"x{out['connect_json']['cpu_us'] / out['grpc']['cpu_us']:.2f}")

        out.update(browser(d, port))
    finally:
        d.stop()
        os.unlink(cfg)
    record("console", out)


def browser(d, port):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,1000"):
        opts.add_argument(a)
    b = webdriver.Chrome(options=opts, service=Service("/usr/bin/chromedriver"))
    out = {}
    try:
        t0 = time.monotonic()
        b.get(f"http://127.0.0.1:{port}/")
        wait_for(lambda: len(b.find_elements(By.CSS_SELECTOR, "#services tr")) == 50, 30, 0.005)
        ready_ms = (time.monotonic() - t0) * 1000
        nav = b.execute_script("const n = performance.getEntriesByType('navigation')[0];"
                               "return [n.transferSize, n.domInteractive];")
        files = b.execute_script("return performance.getEntriesByType('resource')"
                                 ".filter(r => !r.name.includes('.v1.'))"
                                 ".map(r => [r.name, r.transferSize, r.decodedBodySize]);")
        sent = nav[0] + sum(f[1] for f in files)
        plain = sum(f[2] for f in files)
        out["first_load"] = {"bytes": sent, "files": len(files) + 1, "decoded_bytes": plain,
                             "dom_interactive_ms": nav[1], "services_shown_ms": ready_ms}
        print(f"== first load: {sent} bytes over the wire in {len(files) + 1} files "
              f"({plain} decoded); DOM interactive {nav[1]:.0f} ms; 50 services on screen "
              f"{ready_ms:.0f} ms after the request")
        time.sleep(5)  # the streams settle
        cpu0, t0 = cpu_ns(d.pid), time.monotonic()
        time.sleep(IDLE_S)
        pct = (cpu_ns(d.pid) - cpu0) / 1e9 / (time.monotonic() - t0) * 100
        out["idle_console"] = {"seconds": IDLE_S, "cpu_pct": pct}
        print(f"== one console open, idle, {IDLE_S:.0f} s: droverd CPU {pct:.3f} % of a core "
              f"(target < 0.5 %)")
    finally:
        b.quit()
    return out


if __name__ == "__main__":
    stubs()
    main()
