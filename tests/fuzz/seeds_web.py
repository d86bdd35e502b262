"""Seeds of fuzz-web (see the top of fuzz-web.c): the first byte picks the door (even: open to
everyone; odd: a bearer token with scope read, or socktop's own token, is needed), the rest is
what a client sends — /healthz, /metrics, socktop's /ws with every request in both forms, and
hostile shapes."""

import os
import struct


def ws_frame(payload, opcode=1, fin=True, key=b"\x11\x22\x33\x44"):
    """A masked client frame."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def upgrade(path="/ws", extra=b""):
    return (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + extra + b"\r\n")


def get(path, extra=b""):
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"


def seeds():
    OPEN, CLOSED = b"\x00", b"\x01"
    every = ["get_metrics", "get_disks", "get_processes", f"get_process_metrics:{os.getpid()}",
             "get_journal_entries:1", '{"type":"metrics"}', '{"type":"disks"}',
             '{"type":"processes"}']
    out = {
        "healthz": OPEN + get("/healthz"),
        "metrics-gzip": OPEN + get("/metrics", b"Accept-Encoding: gzip\r\n"),
        "head-post-404": OPEN + b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
        + b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" + get("/nope"),
        "pipelined": OPEN + get("/healthz") * 3 + get("/metrics"),
        "ws-every-request": OPEN + upgrade() + b"".join(ws_frame(r) for r in every)
        + ws_frame(b"", opcode=8),
        "ws-bad-requests": OPEN + upgrade() + b"".join(ws_frame(r) for r in [
            "get_process_metrics:x", "get_journal_entries:", "get_process_metrics:999999999",
            "{bad json", '{"type":1}', '{"type":"nope"}', "nonsense", "x" * 5000])
        + ws_frame(b"\x00binary", opcode=2) + ws_frame(b"ping", opcode=9),
        "ws-fragmented": OPEN + upgrade() + ws_frame("get_", fin=False)
        + ws_frame("metrics", opcode=0) + ws_frame("get_disks"),
        "closed-no-token": CLOSED + get("/metrics") + get("/healthz"),
        "closed-read-token": CLOSED + get("/metrics", b"Authorization: Bearer fuzz-read\r\n"),
        "closed-token-without-read": CLOSED + get("/metrics?token=fuzz-none"),
        "closed-ws-agent-token": CLOSED + upgrade("/ws?token=fuzz-agent")
        + ws_frame("get_processes") + ws_frame('{"type":"metrics"}'),
        "closed-ws-bearer": CLOSED + upgrade("/ws", b"Authorization: Bearer fuzz-read\r\n")
        + ws_frame("get_metrics"),
        "closed-ws-bad-token": CLOSED + upgrade("/ws?token=wrong") + ws_frame("get_metrics"),
    }
    return out
