"""Clients that misbehave must not hurt droverd or anyone else: a client that stops reading a
stream and then dies is noticed at once (its calls end, its connection slot is free), and
`drover shutdown` is then not held up by it."""

import time

import h2.settings

from conftest import wait_until
from drover.v1 import admin_pb2, admin_pb2_grpc, services_pb2
from rawh2 import RawH2, frame


def active_calls(d):
    st = admin_pb2_grpc.AdminStub(d.channel()).Status(admin_pb2.StatusRequest(), timeout=10)
    return st.active_calls, st.open_connections


def test_a_dead_client_of_a_blocked_stream_is_noticed(droverd):
    # A service that writes fast, and a Logs -f whose client takes every window droverd offers
    # (as drover's CLI does) but never reads the socket: droverd fills the socket, stops
    # reading from it, and must still notice when the client goes.
    droverd.cli("start", "--name", "noisy", "--", "sh", "-c",
                "while :; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done",
                check=0)
    wait_until(lambda: "aaaa" in droverd.cli("logs", "-n", "1", "noisy").stdout,
               what="the service writing")
    raw = RawH2(droverd.socket)
    raw.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
    raw.conn.increment_flow_control_window(2**31 - 1 - 65535)
    raw.flush()
    sid = raw.start("/drover.v1.Services/Logs")
    raw.send(sid, frame(services_pb2.LogsRequest(target="noisy", follow=True,
                                                  lines=1).SerializeToString()))
    wait_until(lambda: active_calls(droverd)[0] >= 2, what="the Logs call running")
    time.sleep(1.0)  # droverd fills the socket and stops reading it
    raw.close()
    wait_until(lambda: active_calls(droverd) == (1, 1), timeout=5,
               what="the dead client's call and connection gone")
    droverd.cli("stop", "noisy", check=0)
    t = time.monotonic()
    droverd.cli("shutdown", check=0)
    assert time.monotonic() - t < 4  # no call left to wait out the 5 s bound for


TIMEOUTS = ["--grpc-preface-timeout-ms", "300", "--grpc-idle-timeout-ms", "400",
            "--grpc-keepalive-ms", "200", "--grpc-keepalive-timeout-ms", "300"]


def read_to_eof(sock, limit=5.0):
    """Bytes until droverd closes the connection; None if it is still open after limit."""
    import socket as so
    sock.settimeout(0.1)
    got, t = b"", time.monotonic()
    while time.monotonic() - t < limit:
        try:
            chunk = sock.recv(65536)
        except so.timeout:
            continue
        except ConnectionResetError:
            return got
        if not chunk:
            return got
        got += chunk
    return None


def test_a_connection_that_never_speaks_is_closed(make_droverd):
    import socket as so
    d = make_droverd(extra_args=TIMEOUTS)
    s = so.socket(so.AF_UNIX, so.SOCK_STREAM)
    s.connect(d.socket)
    t = time.monotonic()
    assert read_to_eof(s) is not None, "a silent connection was kept"
    assert time.monotonic() - t < 3
    s.close()
    assert active_calls(d)[1] == 1  # only the Status call's own connection


def test_an_idle_connection_gets_goaway_and_a_live_stream_is_kept(make_droverd):
    import h2.events
    d = make_droverd(extra_args=TIMEOUTS)
    raw = RawH2(d.socket)
    status, _ = __import__("rawh2").grpc_status(
        raw.call("/drover.v1.Admin/Ping", frame(admin_pb2.PingRequest().SerializeToString())))
    assert status == 0
    rest = read_to_eof(raw.sock)
    assert rest is not None, "an idle connection was kept"
    assert any(isinstance(e, h2.events.ConnectionTerminated) for e in raw.conn.receive_data(rest))
    # A grpcio client with a quiet stream answers the keepalive PINGs: it is kept.
    stream = admin_pb2_grpc.AdminStub(d.channel()).PingStream(
        admin_pb2.PingStreamRequest(interval_ms=60000), timeout=30)
    assert next(stream).server_time.seconds > 0
    time.sleep(1.5)  # several keepalive rounds
    assert active_calls(d)[0] == 2  # the stream and the Status call
    stream.cancel()


def test_a_peer_that_stops_answering_pings_is_closed(make_droverd):
    d = make_droverd(extra_args=TIMEOUTS)
    raw = RawH2(d.socket)
    sid = raw.start("/drover.v1.Admin/PingStream")
    raw.send(sid, frame(admin_pb2.PingStreamRequest(interval_ms=60000).SerializeToString()))
    wait_until(lambda: active_calls(d)[0] == 2, what="the stream running")
    # Never read again: the PING is not answered.
    wait_until(lambda: active_calls(d) == (1, 1), timeout=5,
               what="the silent peer's connection closed and its stream cancelled")
    raw.close()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def flood(d, connect, burst, conns, seconds=2.0):
    """conns clients that send burst again and again and never read; droverd's RSS at its
    peak meanwhile, and after they are gone."""
    import socket as so
    import threading
    socks = [connect() for _ in range(conns)]
    for s in socks:
        s.setblocking(False)
    stop = []

    def pump():
        while not stop:
            for s in socks:
                try:
                    s.send(burst)
                except (BlockingIOError, BrokenPipeError, ConnectionResetError, OSError):
                    pass
            time.sleep(0.02)
    t = threading.Thread(target=pump)
    t.start()
    peak, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        peak = max(peak, rss_kb(d.proc.pid))
        # Everyone else is still answered meanwhile.
        assert d.cli("ping").returncode == 0
        time.sleep(0.05)
    stop.append(True)
    t.join()
    for s in socks:
        s.close()
    time.sleep(0.5)
    return peak, rss_kb(d.proc.pid)


def test_pipelining_clients_that_never_read_hold_bounded_memory(make_droverd, tmp_path):
    import socket as so
    from conftest import free_port, sanitized
    from rpclient import RpClient, rp
    port = free_port()
    d = make_droverd(extra_args=["--rp-socket", str(tmp_path / "rp" / "daemon.sock"),
                                 "--http", f"127.0.0.1:{port}"])
    rp_sock = str(tmp_path / "rp" / "daemon.sock")
    with RpClient(rp_sock) as c:
        ping = c.request_bytes(rp.REQUEST_TYPE_PING, "ping", rp.PingRequest())

    def rp_conn():
        s = so.socket(so.AF_UNIX, so.SOCK_STREAM)
        s.connect(rp_sock)
        return s

    def http_conn():
        return so.create_connection(("127.0.0.1", port))

    idle = rss_kb(d.proc.pid)
    peak_rp, after_rp = flood(d, rp_conn, ping * (400000 // len(ping)), 50)
    peak_http, after_http = flood(d, http_conn, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 200,
                                  200)
    if not sanitized(d.proc.pid):  # ASan's quarantine keeps freed memory: RSS says nothing
        assert peak_rp - idle < 64 * 1024, (idle, peak_rp)
        assert peak_http - idle < 64 * 1024, (idle, peak_http)
        assert after_http - idle < 16 * 1024, (idle, after_http)  # given back after the flood


def test_streams_that_nobody_reads_share_one_budget(make_droverd):
    """Answers queued for every gRPC client together stay within grpc_queue_budget_bytes: past
    it, a stream holding much waits, while a stream whose client reads goes on, and unary
    answers are never held back."""
    import subprocess
    from conftest import DROVER
    d = make_droverd(extra_args=["--grpc-queue-budget-bytes", str(1 << 20)])
    d.cli("start", "--name", "noisy", "--", "sh", "-c",
          "while :; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done", check=0)
    wait_until(lambda: "aaaa" in d.cli("logs", "-n", "1", "noisy").stdout,
               what="the service writing")
    admin = admin_pb2_grpc.AdminStub(d.channel())

    def queued():
        return admin.Status(admin_pb2.StatusRequest(), timeout=10).grpc_queued_bytes

    hostile = []
    for _ in range(32):  # 32 × 256 KiB (each call's own cap) would be 8 MiB without the budget
        raw = RawH2(d.socket)
        raw.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
        raw.conn.increment_flow_control_window(2**31 - 1 - 65535)
        raw.flush()
        sid = raw.start("/drover.v1.Services/Logs")
        raw.send(sid, frame(services_pb2.LogsRequest(target="noisy", follow=True,
                                                      lines=1).SerializeToString()))
        hostile.append(raw)
    wait_until(lambda: queued() >= 1 << 20, what="the budget reached")
    time.sleep(1.0)
    peak = max(queued() for _ in range(20))
    # The budget, and past it what each stream had begun to hold (under 64 KiB and a message):
    # 1 MiB + 32 × ~100 KiB, well under the 8 MiB the streams would hold without it.
    assert peak < 5 << 20, peak
    # A follower that reads gets new lines all the same; unary calls answer.
    follow = subprocess.Popen([DROVER, "--socket", d.socket, "logs", "-f", "-n", "0", "noisy"],
                              stdout=subprocess.PIPE)
    try:
        got = 0
        while got < 200 * 1024:
            chunk = follow.stdout.read1(65536)
            assert chunk, "the reading follower's stream ended"
            got += len(chunk)
    finally:
        follow.kill()
        follow.wait()
    assert admin.Ping(admin_pb2.PingRequest(), timeout=10) is not None
    for raw in hostile:
        raw.close()
    wait_until(lambda: queued() < 64 * 1024, what="the queues freed")
    d.cli("stop", "noisy", check=0)
