"""No client can hurt another (issue 22): the acceptance tests at the doors' limits.

- 2,000 idle connections at `max_connections` (half of them silent, half sent the HTTP/2
  preface and then nothing): one more stranger is refused, and droverd's own user still gets
  `drover ping` answered through the admin lane.
- 100,000 refused connects, as fast as a few processes can make them, cost fewer than 100 log
  lines, and the lines account for every refusal; droverd's own user is answered throughout.
- 200 clients pipelining `GET /metrics` on the HTTP door and never reading, and 50 clients
  pipelining PINGs on the running-process door and never reading: droverd's RSS stays under
  64 MB while they are connected and comes back under 16 MB once they go, and other clients
  are answered meanwhile.

Strangers are what the limits are for, so the hostile clients here must not be droverd's own
user (whose connections the admin lane lets past the limit): as root they run as `nobody`
(setpriv) on the unix socket, opened up for them the way test_auth.py does it; otherwise they
use the plaintext TCP door on loopback, which never gives the admin lane. They are separate
processes running CLIENT below.

No timing thresholds: every wait is for a state droverd reaches, with a generous timeout only as
a failure guard. RSS figures say nothing under ASan (its quarantine keeps freed memory), so
there the memory bounds are not asserted but everything else is. The figures are printed (run
with -s to see them)."""

import os
import re
import resource
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import free_port, rss_kb, sanitized, wait_until
from drover.v1 import admin_pb2, admin_pb2_grpc

PY = "/usr/bin/python3"
MB = 1024  # rss_kb's unit is kB

# The hostile client, run as a process of its own (as nobody when we are root):
#   hold TARGET MAX   connects until droverd refuses one or MAX are held; even-numbered ones
#                     then send the HTTP/2 client preface and an empty SETTINGS, odd-numbered
#                     ones never send a byte. Prints "held N refused|full", then answers each
#                     "probe" line on stdin with "refused" or "accepted" (one more connect) and
#                     exits, dropping them all, at EOF.
#   flood TARGET N    connect and close N times in a tight loop; prints N.
# TARGET is unix:PATH or tcp:HOST:PORT. A connection droverd takes is sent its SETTINGS at once;
# one it refuses is closed at once: the first read tells which, without waiting for anything.
CLIENT = r"""
import socket, sys

def target(t):
    kind, rest = t.split(":", 1)
    if kind == "unix":
        return socket.AF_UNIX, rest
    host, port = rest.rsplit(":", 1)
    return socket.AF_INET, (host, int(port))

def connect(fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.connect(addr)  # blocking: a full backlog is waited out (with a timeout, EAGAIN)
    s.settimeout(60)
    return s

def taken(s):
    try:
        return s.recv(65536) != b""
    except ConnectionResetError:
        return False

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
mode, (fam, addr), n = sys.argv[1], target(sys.argv[2]), int(sys.argv[3])
if mode == "flood":
    for _ in range(n):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.connect(addr)
        s.close()
    print(n, flush=True)
    sys.exit(0)
held, refused = [], False
while len(held) < n:
    s = connect(fam, addr)
    if not taken(s):
        s.close()
        refused = True
        break
    if len(held) % 2 == 0:
        s.sendall(PREFACE)
    held.append(s)
print("held", len(held), "refused" if refused else "full", flush=True)
for line in sys.stdin:
    s = connect(fam, addr)
    print("accepted" if taken(s) else "refused", flush=True)
    s.close()
"""


def raise_nofile():
    """Our soft RLIMIT_NOFILE up to the hard limit (the clients and droverd inherit it); the
    hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


@pytest.fixture
def open_dir():
    """A directory other users can reach (pytest's own are 0700), for droverd's socket. Asked
    for before make_droverd, so that it goes after droverd has stopped."""
    d = tempfile.mkdtemp(prefix="drover-hostile-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Holder:
    """A running `hold` client."""

    def __init__(self, proc):
        self.proc = proc
        words = proc.stdout.readline().split()
        assert words[:1] == ["held"], (words, proc.stderr.read() if proc.poll() is not None
                                       else "")
        self.held, self.refused = int(words[1]), words[2] == "refused"

    def probe(self):
        """One more connect: "refused" or "accepted"."""
        self.proc.stdin.write("probe\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def release(self):
        """Its connections dropped; it exits."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        assert self.proc.returncode == 0, self.proc.stderr.read()


class Strangers:
    """Clients droverd gives no admin lane: nobody on the unix socket when we are root, else
    loopback TCP."""

    def __init__(self, d, tcp_port):
        if os.geteuid() == 0:
            os.chmod(os.path.dirname(d.socket), 0o755)
            os.chmod(d.socket, 0o666)
            self.prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
            self.target = f"unix:{d.socket}"
        else:
            self.prefix = []
            self.target = f"tcp:127.0.0.1:{tcp_port}"
        self.procs = []

    def _run(self, *args, stdin=None):
        p = subprocess.Popen([*self.prefix, PY, "-c", CLIENT, args[0], self.target,
                              *map(str, args[1:])], stdin=stdin, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd="/")
        self.procs.append(p)
        return p

    def hold(self, n):
        return Holder(self._run("hold", n, stdin=subprocess.PIPE))

    def flood(self, n):
        return self._run("flood", n)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            for f in (p.stdin, p.stdout, p.stderr):
                if f:
                    f.close()


@pytest.fixture
def strangers_droverd(open_dir, make_droverd):
    """strangers_droverd(*flags) -> (droverd, Strangers); the strangers' processes are killed
    by pid at the end if a test left them running."""
    made = []

    def make(*flags):
        port = free_port()
        sock = os.path.join(open_dir, "run", "drover.sock")
        args = ["--socket", sock, *flags]
        if os.geteuid() != 0:
            args += ["--grpc-tcp", f"127.0.0.1:{port}", "--grpc-tcp-plaintext"]
        d = make_droverd(extra_args=args, env={"DROVER_SOCKET": sock}, start=False)
        d.socket = sock
        d.start()
        s = Strangers(d, port)
        made.append(s)
        return d, s
    yield make
    for s in made:
        s.stop()


def status(d):
    return admin_pb2_grpc.AdminStub(d.channel()).Status(admin_pb2.StatusRequest(), timeout=30)


def pong(d):
    r = d.cli("ping")
    return r.returncode == 0 and "pong" in r.stdout, r


# ---- 2,000 idle connections ------------------------------------------------------------------

def test_idle_connections_at_the_limit_leave_the_admin_lane(strangers_droverd):
    """2,000 idle strangers hold every ordinary slot; one more is refused and `drover ping`
    (droverd's own user: the admin lane) is answered. Fewer than 2,000 only where the hard
    RLIMIT_NOFILE cannot hold them (each connection costs a descriptor in droverd and one in the
    client, beside droverd's reserve of 64): then as many as it allows."""
    n = min(2000, raise_nofile() - 256)
    assert n > 16, "RLIMIT_NOFILE too small for this test"
    # Silent connections are not closed for want of a preface while the test runs.
    d, who = strangers_droverd("--max-connections", str(n), "--grpc-preface-timeout-ms", "600000")
    h = who.hold(n + 1)
    print(f"\nidle strangers held: {h.held} of max_connections {n}; the next refused: {h.refused}")
    assert (h.held, h.refused) == (n, True), "droverd did not take exactly max_connections"
    assert h.probe() == "refused", "a stranger got in past the limit"
    ok, r = pong(d)
    assert ok, f"drover ping at the limit: {r.returncode} {r.stdout!r} {r.stderr!r}"
    assert d.cli("status").returncode == 0
    wait_until(lambda: status(d).open_connections == n + 1, timeout=30,
               what="the strangers and the Status call's own connection, nothing else")
    assert h.probe() == "refused", "a stranger got in past the limit after the admin calls"
    assert "grpc: refusing a connection: connection limit reached" in d.read_log()
    h.release()
    wait_until(lambda: status(d).open_connections == 1, timeout=30,
               what="the strangers' connections gone")
    again = who.hold(1)  # a slot is a slot again
    assert (again.held, again.refused) == (1, False)
    again.release()
    assert pong(d)[0]


# ---- 100,000 refused connects -----------------------------------------------------------------

REFUSING = "grpc: refusing a connection"
DROPPED = re.compile(r'\((\d+) more like "grpc: refusing a connection[^"]*" were not logged '
                     r'in \d+ s\)')
FD_RESERVE = "file descriptors are free"  # the descriptor reserve's "refusing" / "again"


def test_a_flood_of_refused_connects_costs_a_few_log_lines(strangers_droverd):
    """At the connection limit, 100,000 connect-and-close from 4 processes: fewer than 100 lines
    about refusing connections, and they account for every refusal (the lines printed plus the
    counts of the ones dropped); droverd, which has thousands of descriptors free, never takes
    itself for short of them; and `drover ping` is answered all along."""
    raise_nofile()
    d, who = strangers_droverd("--max-connections", "4", "--grpc-preface-timeout-ms", "600000")
    h = who.hold(100)
    assert (h.held, h.refused) == (4, True)
    start = len(d.read_log().splitlines())

    attempts, procs = 100_000, 4
    floods = [who.flood(attempts // procs) for _ in range(procs)]
    pings, failed = 0, []
    while any(p.poll() is None for p in floods):  # droverd's own user, meanwhile
        ok, r = pong(d)
        pings += 1
        if not ok:
            failed.append((r.returncode, r.stdout.strip(), r.stderr.strip()))
    for p in floods:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0 and int(out) == attempts // procs, (p.returncode, out, err)
    # Connections are accepted in order: once this one is refused, every flood connect was seen.
    assert h.probe() == "refused"
    # The rate limit's window is 5 s: once it is over, droverd says how many it dropped, though
    # no refusal follows to carry the count.
    expected = attempts + 1

    def accounted():
        lines = d.read_log().splitlines()[start:]
        return (sum(REFUSING in ln and not DROPPED.search(ln) for ln in lines),
                sum(int(m.group(1)) for m in map(DROPPED.search, lines) if m), lines)

    wait_until(lambda: sum(accounted()[:2]) == expected, timeout=30,
               what="every refusal logged or counted among those dropped")
    printed, dropped, lines = accounted()
    about = [ln for ln in lines if "refus" in ln]
    fd_low = [ln for ln in lines if FD_RESERVE in ln]
    st = status(d)
    figures = (f"{attempts} refused connects + 1 probe; {len(lines)} log lines in all, "
               f"{len(about)} about refusing; {printed} refusals printed + {dropped} reported "
               f"dropped = {printed + dropped}; drover ping {pings - len(failed)}/{pings} "
               f"answered; fd-reserve lines: {fd_low}")
    print("\n" + figures)
    assert len(about) < 100, figures + "\n" + "\n".join(about)
    # While droverd believes it is short of descriptors, every door closes every new connection
    # at accept, droverd's own user's included, and without counting it in the lines above.
    assert not fd_low, (f"droverd took itself for short of descriptors (limit "
                        f"{resource.getrlimit(resource.RLIMIT_NOFILE)[0]}, "
                        f"{st.open_connections} gRPC connections open): " + figures)
    assert not failed, f"drover ping refused during the flood: {failed[:3]}; " + figures
    assert printed + dropped == expected, figures
    assert pong(d)[0]
    h.release()


# ---- clients that pipeline and never read -----------------------------------------------------

class Pipeliner:
    """Clients that send a stream of whole requests (burst, again and again) and never read.
    Each socket's stream stays whole across partial sends."""

    def __init__(self, socks, burst):
        self.socks, self.burst = socks, burst
        self.offset = [0] * len(socks)
        self.sent, self.closed = 0, 0

    def round(self):
        """One send on every socket that will take bytes; the bytes sent."""
        n = 0
        for i, s in enumerate(self.socks):
            if s is None:
                continue
            try:
                k = s.send(self.burst[self.offset[i]:])
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                self.socks[i] = None  # droverd closed it: counted, and asserted on
                self.closed += 1
                s.close()
                continue
            self.offset[i] = (self.offset[i] + k) % len(self.burst)
            n += k
        self.sent += n
        return n

    def close(self):
        for s in self.socks:
            if s is not None:
                s.close()


def pump_until_stuck(p, d, guard=120):
    """Rounds until two in a row find every socket full (the kernel's buffers full: droverd is
    not taking their requests); droverd's RSS is sampled after every round. Returns the peak
    (kB)."""
    peak, stuck_rounds = 0, 0
    deadline = time.monotonic() + guard
    while stuck_rounds < 2:
        progress = p.round()
        peak = max(peak, rss_kb(d.proc.pid))
        stuck_rounds = 0 if progress else stuck_rounds + 1
        assert time.monotonic() < deadline, (
            f"droverd still reads clients that take no answers after {p.sent} bytes")
        if not progress:
            time.sleep(0.05)
    return peak


def settle(d, quiet, sample_peak, guard=120):
    """Until quiet() says droverd answers nobody of the flood any more; RSS sampled meanwhile.
    Returns the peak."""
    peak = sample_peak
    deadline = time.monotonic() + guard
    while not quiet():
        peak = max(peak, rss_kb(d.proc.pid))
        assert time.monotonic() < deadline, "droverd never stopped answering the flood"
    return max(peak, rss_kb(d.proc.pid))


def http_get(port, path):
    """(status, body) from a fresh connection that reads its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def requests_total(port):
    st, body = http_get(port, "/metrics")
    m = re.search(rb"^drover_http_requests_total (\d+)", body, re.M)
    assert st == 200 and m, f"GET /metrics from a client that reads: {st} {body[:200]!r}"
    return int(m.group(1))


def memory_verdict(d, idle, peak):
    """Asserts the peak, then waits (a guard, not a threshold) for RSS to come back under
    16 MB: the memory the flood took is given back to the system."""
    asan = sanitized(d.proc.pid)  # ASan's quarantine keeps freed memory: RSS says nothing
    fig = f"droverd RSS: idle {idle} kB, peak {peak} kB"
    if asan:
        print(f"\n{fig}, after {rss_kb(d.proc.pid)} kB (ASan: not asserted)")
        return
    try:
        assert peak < 64 * MB, fig
        wait_until(lambda: rss_kb(d.proc.pid) < 16 * MB, timeout=60,
                   what="droverd's RSS back under 16 MB (the flood's memory given back)")
    finally:
        fig += f", after {rss_kb(d.proc.pid)} kB"
        print("\n" + fig)


def test_http_clients_pipelining_unread_metrics(make_droverd):
    port = free_port()
    d = make_droverd(extra_args=["--http", f"127.0.0.1:{port}"])
    assert http_get(port, "/healthz")[0] == 200
    idle = rss_kb(d.proc.pid)
    socks = []
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # takes next to nothing
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
    p = Pipeliner(socks, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 200)
    try:
        peak = pump_until_stuck(p, d)
        # Settled: between two scrapes of ours, droverd answered nothing but our own request.
        last = [requests_total(port)]

        def quiet():
            now = requests_total(port)
            done = now - last[0] == 1
            last[0] = now
            return done
        peak = settle(d, quiet, peak)
        print(f"\nHTTP: 200 clients sent {p.sent} bytes of pipelined GET /metrics; droverd "
              f"answered {last[0]} requests; it closed {p.closed} of them")
        assert p.closed == 0, "droverd closed well-formed clients that only pipeline"
        # Another client is answered, and so is droverd's own user on its socket.
        st, body = http_get(port, "/healthz")
        assert st == 200, (st, body)
        assert pong(d)[0]
        peak = max(peak, rss_kb(d.proc.pid))
        assert d.proc.poll() is None
    finally:
        p.close()
    # Gone: droverd notices each (a write to it fails) and gives the memory back.
    wait_until(lambda: b"drover_http_connections 1\n" in http_get(port, "/metrics")[1],
               timeout=60, what="the clients' connections closed")
    memory_verdict(d, idle, peak)
    assert http_get(port, "/healthz")[0] == 200


def test_rp_clients_pipelining_unread_pings(make_droverd):
    from rpclient import OK, RpClient, rp
    d = make_droverd(start=False)
    d.args += ["--rp-socket", d.rp_socket]
    d.start()
    with RpClient(d.rp_socket) as c:
        assert c.call(rp.REQUEST_TYPE_PING, "ping", rp.PingRequest()).code == OK
        ping = c.request_bytes(rp.REQUEST_TYPE_PING, "ping", rp.PingRequest())
    idle = rss_kb(d.proc.pid)
    socks = []
    for _ in range(50):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(d.rp_socket)
        s.setblocking(False)
        socks.append(s)
    p = Pipeliner(socks, ping * (65536 // len(ping)))
    try:
        peak = pump_until_stuck(p, d)

        # Settled: a few round trips of another client find every flooder still stuck.
        def quiet():
            with RpClient(d.rp_socket) as c:
                assert c.call(rp.REQUEST_TYPE_PING, "ping", rp.PingRequest()).code == OK
            return p.round() == 0
        peak = settle(d, lambda: quiet() and quiet() and quiet(), peak)
        print(f"\nrunning-process: 50 clients sent {p.sent} bytes of pipelined PINGs "
              f"({p.sent // len(ping)} requests); droverd closed {p.closed} of them")
        assert p.closed == 0, "droverd closed well-formed clients that only pipeline"
        # Another client is answered, and so is droverd's own user on its socket.
        with RpClient(d.rp_socket) as c:
            assert c.call(rp.REQUEST_TYPE_PING, "ping", rp.PingRequest()).code == OK
        assert pong(d)[0]
        peak = max(peak, rss_kb(d.proc.pid))
        assert d.proc.poll() is None
    finally:
        p.close()
    memory_verdict(d, idle, peak)
    with RpClient(d.rp_socket) as c:
        assert c.call(rp.REQUEST_TYPE_PING, "ping", rp.PingRequest()).code == OK
