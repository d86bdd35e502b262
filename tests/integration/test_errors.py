"""Every bad input gets a clear status, and the daemon keeps serving everyone else."""

import os
import socket
import struct

import grpc
import pytest

from conftest import wait_until
from drover.v1 import admin_pb2, admin_pb2_grpc
from rawh2 import RawH2, frame, grpc_status


def admin(d):
    return admin_pb2_grpc.AdminStub(d.channel())


def status(d):
    return admin(d).Status(admin_pb2.StatusRequest(), timeout=5)


def test_unknown_method_and_service(droverd):
    ch = droverd.channel()
    for path, words in [("/drover.v1.Admin/Nope", "unknown method 'Nope'"),
                        ("/no.Such/Thing", "unknown service 'no.Such'")]:
        call = ch.unary_unary(path, request_serializer=lambda x: x,
                              response_deserializer=lambda x: x)
        with pytest.raises(grpc.RpcError) as e:
            call(b"", timeout=5)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert words in e.value.details()


def test_malformed_request(droverd):
    call = droverd.channel().unary_unary("/drover.v1.Admin/Ping",
                                         request_serializer=lambda x: x,
                                         response_deserializer=lambda x: x)
    with pytest.raises(grpc.RpcError) as e:
        call(b"\xff\xff\xff\xff", timeout=5)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "drover.v1.PingRequest" in e.value.details()


def test_oversized_message(droverd):
    a = admin(droverd)
    with pytest.raises(grpc.RpcError) as e:
        a.Ping(admin_pb2.PingRequest(payload=b"x" * (5 << 20)), timeout=10)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "exceeds the 4194304-byte limit" in e.value.details()
    # Under the transport cap but over the method's own limit.
    with pytest.raises(grpc.RpcError) as e:
        a.Ping(admin_pb2.PingRequest(payload=b"x" * (2 << 20)), timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert a.Ping(admin_pb2.PingRequest(payload=b"ok"), timeout=5).payload == b"ok"


def test_deadline_cancels_handler(droverd):
    a = admin(droverd)
    got = []
    with pytest.raises(grpc.RpcError) as e:
        for m in a.PingStream(admin_pb2.PingStreamRequest(count=100, interval_ms=50),
                              timeout=0.3):
            got.append(m.sequence)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 1 <= len(got) < 100
    # The handler's work stopped: only the Status call itself is left.
    wait_until(lambda: status(droverd).active_calls == 1, what="the stream to be cancelled")


def test_client_cancel_stops_stream(droverd):
    a = admin(droverd)
    stream = a.PingStream(admin_pb2.PingStreamRequest(count=0), timeout=30)
    assert next(stream).sequence == 1
    stream.cancel()
    wait_until(lambda: status(droverd).active_calls == 1, what="the stream to be cancelled")


def test_raw_errors(droverd):
    req = admin_pb2.PingRequest(payload=b"p").SerializeToString()
    h = RawH2(droverd.socket)
    cases = [
        # (headers, body, expected status, words in the message)
        ([("grpc-encoding", "snappy")], frame(req), 12, "grpc-encoding 'snappy'"),
        ([], frame(req, compressed=True), 13, "compressed message without grpc-encoding"),
        ([("grpc-encoding", "gzip")], frame(b"not gzip", compressed=True), 3, "not valid gzip"),
        ([("x-id-bin", "!!not base64!!")], frame(req), 3, "metadata 'x-id-bin'"),
        ([("grpc-timeout", "soon")], frame(req), 3, "malformed grpc-timeout"),
        ([], frame(req) + frame(req), 3, "takes one request message, got more"),
        ([], b"", 3, "got 0"),
        ([], frame(req)[:7], 13, "request ended inside a message"),
        ([], b"\x07\x00\x00\x00\x00", 13, "invalid message flag"),
    ]
    for headers, body, code, words in cases:
        r = h.call("/drover.v1.Admin/Ping", body, headers)
        got = grpc_status(r)
        assert got[0] == code, (headers, body, r)
        assert words in got[1], (words, got)
        assert r["reset"] is None, "a complete response is never followed by RST_STREAM"
    # A trailers-only error is a single HEADERS frame carrying the status.
    r = h.call("/x.Y/Z", frame(req))
    assert r["headers"].get("grpc-status") == "12" and not r["trailers"]
    # Not gRPC at all: plain HTTP statuses.
    assert h.call("/drover.v1.Admin/Ping", frame(req), content_type="text/plain")["headers"][":status"] == "415"
    assert h.call("/drover.v1.Admin/Ping", b"", method="PUT")["headers"][":status"] == "405"
    # The same connection still works.
    r = h.call("/drover.v1.Admin/Ping", frame(req))
    assert grpc_status(r) == (0, "")
    assert admin_pb2.PingResponse.FromString(r["data"][5:]).payload == b"p"
    h.close()


def test_header_list_limit(droverd):
    h = RawH2(droverd.socket)
    r = h.call("/drover.v1.Admin/Ping", frame(b""), [("x-big", "a" * 20000)])
    assert grpc_status(r)[0] == 8
    assert "request headers exceed 16384 bytes" in grpc_status(r)[1]
    h.close()


def test_garbage_client_does_not_disturb_others(droverd):
    a = admin(droverd)
    bad = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bad.connect(droverd.socket)
    bad.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(4096))
    bad.settimeout(5)
    # droverd answers garbage with a GOAWAY and hangs up.
    data = b""
    while True:
        chunk = bad.recv(4096)
        if not chunk:
            break
        data += chunk
    assert b"\x07" in data[:64]  # a GOAWAY frame type byte among the first frames
    bad.close()
    assert a.Ping(admin_pb2.PingRequest(payload=b"still here"), timeout=5).payload == b"still here"


def test_hang_up_mid_frame(droverd):
    a = admin(droverd)
    a.Ping(admin_pb2.PingRequest(), timeout=5)
    h = RawH2(droverd.socket)
    sid = h.start("/drover.v1.Admin/Ping")
    h.send(sid, frame(b"\x0a\x10" + b"x" * 16)[:9], end_stream=False)
    wait_until(lambda: status(droverd).active_calls == 2, what="the half-sent call to start")
    h.sock.close()
    wait_until(lambda: status(droverd).open_connections == 1, what="the connection to go")
    assert status(droverd).active_calls == 1


def test_client_that_never_reads_stays_bounded(droverd):
    """A stream whose client never reads stalls; droverd's memory stays flat."""
    a = admin(droverd)
    before = status(droverd).rss_bytes
    stalled = []
    for _ in range(4):
        h = RawH2(droverd.socket)
        sid = h.start("/drover.v1.Admin/PingStream")
        h.send(sid, frame(admin_pb2.PingStreamRequest(count=0, payload_size=65536).SerializeToString()))
        stalled.append(h)  # never read from again
    # Others are served meanwhile.
    for i in range(200):
        assert a.Ping(admin_pb2.PingRequest(payload=b"%d" % i), timeout=5).payload == b"%d" % i
    s = status(droverd)
    assert s.active_calls == 5
    # Each stalled stream holds at most its queue cap plus one message; nothing grows without bound.
    assert s.rss_bytes - before < 32 << 20, (before, s.rss_bytes)
    for h in stalled:
        h.close()
    wait_until(lambda: status(droverd).open_connections == 1, what="stalled clients to go")


def test_connection_limit(make_droverd):
    """The unix socket's limit for droverd's own user (the test runs as it) is max_connections
    plus the admin lane of 16 (test_admin_lane.py has strangers over TCP)."""
    d = make_droverd(extra_args=["--max-connections", "2"])
    socks = []
    for _ in range(2 + 16):
        h = RawH2(d.socket)
        socks.append(h)
    extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    extra.connect(d.socket)
    extra.settimeout(5)
    assert extra.recv(100) == b""  # closed at accept
    extra.close()
    r = socks[0].call("/drover.v1.Admin/Ping", frame(b""))
    assert grpc_status(r)[0] == 0
    for h in socks:
        h.close()
