"""Floods at the connection limit (issue 22, first part): droverd's own user keeps a lane of its
own on the unix socket past max_connections, so `drover ping` answers while strangers hold every
ordinary slot; and the refusals are logged at most a burst per window, not one line each."""

import os
import socket
import time

from conftest import free_port, wait_until


def hold(port, n):
    """n TCP connections to port that never send a byte."""
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        out.append(s)
    return out


def refusals(d):
    return d.read_log().count("refusing a connection")


def test_admin_lane_and_quiet_refusals(make_droverd):
    port = free_port()
    d = make_droverd(extra_args=["--grpc-tcp", f"127.0.0.1:{port}", "--grpc-tcp-plaintext",
                                 "--max-connections", "8"])
    held = hold(port, 8)  # every ordinary slot, held by TCP clients (never the admin lane)
    try:
        # A stranger more is refused...
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        extra.settimeout(5)
        assert extra.recv(1) == b""
        extra.close()
        # ...but droverd's own user still gets in on the unix socket.
        r = d.cli("ping", check=0)
        assert "pong" in r.stdout or "ms" in r.stdout
        assert d.cli("status", check=0).returncode == 0
        # A flood of refused connects writes a burst of lines, not one per connect.
        before = refusals(d)
        for _ in range(300):
            try:
                c = socket.create_connection(("127.0.0.1", port), timeout=5)
                c.settimeout(5)
                c.recv(1)
                c.close()
            except OSError:
                pass
        wait_until(lambda: refusals(d) > before, what="a refusal logged")
        assert refusals(d) - before <= 11, refusals(d) - before
    finally:
        for s in held:
            s.close()
