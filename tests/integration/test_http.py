"""The HTTP door (--http): /healthz and /metrics through raw sockets, urllib, promtool and a real
Prometheus server; limits (header size, body size, connections, slow and idle clients, a client
that pipelines without reading) each costing only the offending connection."""

import gzip
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import free_port, rss_kb, sanitized, wait_until


def http_droverd(make_droverd, *extra):
    port = free_port()
    d = make_droverd(extra_args=["--http", f"127.0.0.1:{port}", *extra])
    d.port = port
    return d


class Conn:
    """A raw HTTP/1.1 client connection that keeps what it read past one response."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def sendall(self, data):
        self.s.sendall(data)

    def _more(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {self.buf!r}")
        self.buf += chunk

    def response(self, head_only=False):
        """(status, headers with lowercase names, body)."""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
        n = 0 if head_only else int(headers.get("content-length", 0))
        while len(self.buf) < n:
            self._more()
        body, self.buf = self.buf[:n], self.buf[n:]
        return int(lines[0].split()[1]), headers, body

    def closed(self, timeout=10):
        """Whether the server closes the connection (EOF or reset) within timeout."""
        self.s.settimeout(timeout)
        try:
            while self.s.recv(65536):
                pass
            return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


def connect(d):
    return Conn(d.port)


def get(d, path, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{d.port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_routes_and_keepalive(make_droverd):
    d = http_droverd(make_droverd)
    assert get(d, "/healthz")[0] == 200
    st, h, body = get(d, "/nope")
    assert st == 404
    s = connect(d)
    s.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
    st, h, _ = s.response()
    assert st == 405 and h["allow"] == "GET, HEAD"
    s.close()

    # Keep-alive and pipelining: three requests in one write, three answers in order.
    s = connect(d)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
              b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n")
    st, h, body = s.response()
    assert (st, body, h["connection"]) == (200, b"ok\n", "keep-alive")
    st, h, body = s.response(head_only=True)
    assert st == 200 and int(h["content-length"]) > 1000 and body == b""
    st, h, _ = s.response()
    assert st == 404 and h["connection"] == "close"
    assert s.closed()

    # HTTP/1.0 without keep-alive: answered, then closed.
    s = connect(d)
    s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
    st, h, body = s.response()
    assert st == 200 and h["connection"] == "close" and s.closed()


def test_bad_requests_cost_only_their_connection(make_droverd):
    d = http_droverd(make_droverd, "--http-max-header-bytes", "1024")
    s = connect(d)
    s.sendall(b"\x16\x03\x01 garbage\r\n\r\n")
    st, h, body = s.response()
    assert st == 400 and s.closed()

    s = connect(d)
    s.sendall(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 4000 + b"\r\n\r\n")
    st, _, _ = s.response()
    assert st == 431 and s.closed()

    s = connect(d)
    s.sendall(b"POST /metrics HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n")
    st, _, _ = s.response()
    assert st == 413 and s.closed()

    # Trailers after a chunked body are not the request's headers (an Accept-Encoding there
    # was read past the head's end: found by fuzz-http1), and count against the head's limit.
    s = connect(d)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"2\r\nab\r\n0\r\nAccept-Encoding: gzip\r\n\r\n")
    st, h, body = s.response()
    assert st == 200 and "content-encoding" not in h and b"drover_" in body
    s = connect(d)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"0\r\nX-Big: " + b"a" * 4000 + b"\r\n\r\n")
    st, _, _ = s.response()
    assert st == 431 and s.closed()
    assert get(d, "/healthz")[0] == 200


def test_slow_and_idle_clients_are_dropped(make_droverd):
    d = http_droverd(make_droverd, "--http-header-timeout-ms", "600",
                     "--http-idle-timeout-ms", "800")
    # Slowloris: a byte every 100 ms never finishes a head; it is dropped with a 408 in time,
    # and another client is served meanwhile.
    slow = connect(d)
    t0 = time.monotonic()
    slow.sendall(b"GET /metrics HTTP/1.1\r\n")
    got = b""
    slow.s.settimeout(0.1)
    while time.monotonic() - t0 < 5:
        try:
            slow.sendall(b"X")
        except (BrokenPipeError, ConnectionResetError):
            break
        try:
            chunk = slow.s.recv(4096)
            if not chunk:
                break
            got += chunk
        except socket.timeout:
            pass
        assert get(d, "/healthz")[0] == 200
    assert b" 408 " in got.split(b"\r\n")[0]
    assert 0.5 < time.monotonic() - t0 < 3

    idle = connect(d)
    t0 = time.monotonic()
    assert idle.closed(timeout=5)
    assert 0.6 < time.monotonic() - t0 < 3


def test_connection_limit(make_droverd):
    d = http_droverd(make_droverd, "--http-max-connections", "3")
    held = [connect(d) for _ in range(3)]
    for s in held:
        s.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
        assert s.response()[0] == 200
    extra = connect(d)
    assert extra.closed(timeout=5)
    held[0].close()

    def healthy():
        try:
            return get(d, "/healthz")[0] == 200
        except (ConnectionError, http.client.HTTPException, urllib.error.URLError):
            return False  # the server has not seen the close yet: still refused at accept
    wait_until(healthy, what="a free slot")


def test_pipelining_client_that_never_reads(make_droverd):
    d = http_droverd(make_droverd)
    s = connect(d).s
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(0.2)
    req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 100
    sent = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3:
        try:
            sent += s.send(req)
        except socket.timeout:
            break
    rss = rss_kb(d.proc.pid)
    assert sanitized(d.proc.pid) or rss < 64 * 1024, f"{rss} kB after {sent} bytes of requests"
    assert get(d, "/healthz")[0] == 200
    s.close()


def metrics_text(d, **headers):
    st, h, body = get(d, "/metrics", headers)
    assert st == 200
    assert h["Content-Type"].startswith("text/plain; version=0.0.4")
    if h.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return body.decode()


def samples(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_metrics_page(make_droverd):
    d = http_droverd(make_droverd)
    d.cli("start", "--name", "web", "--", "sleep", "300", check=0)
    d.cli("start", "--name", "we\"ird", "--", "sleep", "301", check=0)
    d.cli("stop", "we\"ird", check=0)
    text = metrics_text(d)
    s = samples(text)
    ncpu = os.cpu_count()
    for cpu in range(ncpu):
        assert f'node_cpu_seconds_total{{cpu="{cpu}",mode="idle"}}' in s
    with open("/proc/meminfo") as f:
        total = int(f.readline().split()[1]) * 1024
    assert s["node_memory_MemTotal_bytes"] == total
    assert abs(s["node_load15"] - os.getloadavg()[2]) < 0.5
    assert 'node_network_receive_bytes_total{device="lo"}' in s
    assert any(k.startswith("node_filesystem_size_bytes{") for k in s)
    assert s['drover_service_up{service="web"}'] == 1
    assert s['drover_service_up{service="we\\"ird"}'] == 0
    assert s['drover_service_state{service="web",state="online"}'] == 1
    assert s['drover_service_resident_memory_bytes{service="web"}'] > 0
    assert s['drover_service_processes{service="web"}'] == 1
    assert s["drover_services"] == 2
    assert s["process_resident_memory_bytes"] > 1_000_000

    # gzip when asked, the same families.
    zipped = metrics_text(d, **{"Accept-Encoding": "gzip"})
    fam = lambda t: sorted(re.findall(r"^# TYPE (\S+)", t, re.M))  # noqa: E731
    assert fam(zipped) == fam(text)
    st, h, _ = get(d, "/metrics", {"Accept-Encoding": "gzip"})
    assert h["Content-Encoding"] == "gzip"

    # promtool: the format is valid; its only complaint is node_exporter's own camelCase names.
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    problems = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    assert r.returncode in (0, 3), r.stderr
    assert problems and all(re.match(r"node_memory_\w+_bytes metric names should be written in "
                                     r"'snake_case' not 'camelCase'", p) for p in problems), problems
    d.cli("delete", "all", check=0)


def test_prometheus_scrapes_droverd(make_droverd, tmp_path):
    if not shutil.which("prometheus"):
        pytest.fail("prometheus is not installed (scripts/install-deps installs it)")
    d = http_droverd(make_droverd)
    d.cli("start", "--name", "web", "--", "sleep", "300", check=0)
    port = free_port()
    conf = tmp_path / "prometheus.yml"
    conf.write_text(f"""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: drover
    static_configs:
      - targets: ["127.0.0.1:{d.port}"]
""")
    log = open(tmp_path / "prometheus.log", "wb")
    p = subprocess.Popen(["prometheus", f"--config.file={conf}",
                          f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                          f"--web.listen-address=127.0.0.1:{port}"],
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def query(q):
            url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(q)}"
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    return json.load(r)["data"]["result"]
            except (urllib.error.URLError, ConnectionError, KeyError):
                return None
        up = wait_until(lambda: query('up{job="drover"} == 1'), timeout=60, what="a scrape")
        assert up[0]["metric"]["instance"] == f"127.0.0.1:{d.port}"
        r = wait_until(lambda: query('drover_service_up{service="web"}'), timeout=30,
                       what="the service series")
        assert r[0]["value"][1] == "1"
        r = query("rate(node_cpu_seconds_total[10s])")
        assert r is not None
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets"))
        t = targets["data"]["activeTargets"][0]
        assert t["health"] == "up" and t["lastError"] == "", t
    finally:
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
    d.cli("delete", "all", check=0)


def test_demo_config_runs(make_droverd):
    """docs/examples/demo.yaml (make demo) loads and runs; its ports are moved out of the way."""
    from conftest import ROOT
    port, gport = free_port(), free_port()
    d = make_droverd(extra_args=["--config", os.path.join(ROOT, "docs/examples/demo.yaml"),
                                 "--http", f"127.0.0.1:{port}", "--grpc-tcp", f"127.0.0.1:{gport}"])
    d.port = port
    wait_until(lambda: samples(metrics_text(d)).get('drover_service_up{service="ticker"}') == 1,
               what="the demo's services up")
    with socket.create_connection(("127.0.0.1", gport), timeout=5):
        pass
    d.cli("delete", "all", check=0)
