"""droverd's start and stop: sockets, refusals, configuration errors, graceful shutdown."""

import json
import os
import signal
import socket
import stat
import subprocess

import grpc
import pytest

from conftest import DROVERD, wait_until
from drover.v1 import admin_pb2, admin_pb2_grpc


def test_socket_permissions(droverd):
    assert stat.S_IMODE(os.stat(os.path.dirname(droverd.socket)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(droverd.socket).st_mode) == 0o600
    assert os.path.isdir(droverd.state_dir)


def test_second_daemon_refused(make_droverd):
    first = make_droverd()
    second = make_droverd(start=False)
    second.socket = first.socket
    second.args[second.args.index("--socket") + 1] = first.socket
    r = subprocess.run(second.args, env=second.env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "another droverd" in r.stderr and first.socket in r.stderr
    a = admin_pb2_grpc.AdminStub(first.channel())
    assert a.Status(admin_pb2.StatusRequest(), timeout=5).pid == first.proc.pid


def test_stale_socket_replaced(make_droverd):
    d = make_droverd(start=False)
    os.makedirs(os.path.dirname(d.socket), mode=0o700)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(d.socket)
    s.close()  # a socket file nobody listens on, as a crashed daemon leaves
    d.start()
    assert d.cli("ping").returncode == 0


def test_not_a_socket_is_left_alone(make_droverd):
    d = make_droverd(start=False)
    os.makedirs(os.path.dirname(d.socket), mode=0o700)
    with open(d.socket, "w") as f:
        f.write("precious")
    r = subprocess.run(d.args, env=d.env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "not a socket" in r.stderr
    assert open(d.socket).read() == "precious"


@pytest.mark.parametrize("text,words", [
    ("log_level: info\nbogus_key: 1\n", ":2: unknown key 'bogus_key'"),
    ("max_connections: lots\n", ":1: 'max_connections': expected a whole number, got 'lots'"),
    ("log_level: [a\n", ":1: key 'log_level' takes a single value"),
    ("socket: \"unterminated\n", ":2: found unexpected end of stream"),
])
def test_config_errors(make_droverd, text, words):
    d = make_droverd(config=text, start=False)
    r = subprocess.run(d.args, env=d.env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert os.path.join(d.tmp, "drover.yaml") + words in r.stderr, r.stderr
    assert not os.path.exists(d.socket)


def test_config_file_and_flag_precedence(make_droverd):
    d = make_droverd(config="log_level: error\nshutdown_timeout_ms: 1234\n")
    st = admin_pb2_grpc.AdminStub(d.channel()).Status(admin_pb2.StatusRequest(), timeout=5)
    assert st.config_path == os.path.join(d.tmp, "drover.yaml")
    assert "debug:" in d.read_log() or "notice:" in d.read_log()  # --log-level debug won


def test_usage_errors():
    for args, code in [(["--bogus"], 2), (["--socket"], 2), (["stray"], 2), (["--help"], 0),
                       (["--version"], 0)]:
        r = subprocess.run([DROVERD, *args], capture_output=True, text=True, timeout=10)
        assert r.returncode == code, (args, r.stderr)
    r = subprocess.run([DROVERD, "--help"], capture_output=True, text=True, timeout=10)
    assert "--state-dir" in r.stdout and "--max-connections" in r.stdout


def test_graceful_shutdown_with_call_in_flight(droverd):
    a = admin_pb2_grpc.AdminStub(droverd.channel())
    stream = a.PingStream(admin_pb2.PingStreamRequest(count=5, interval_ms=100), timeout=30)
    assert next(stream).sequence == 1
    droverd.proc.send_signal(signal.SIGTERM)
    # The call in flight runs to completion; only then does droverd exit, with 0.
    assert [m.sequence for m in stream] == [2, 3, 4, 5]
    assert droverd.wait() == 0
    assert not os.path.exists(droverd.socket)
    log = droverd.read_log()
    assert "shutting down (SIGTERM)" in log


def test_shutdown_bound_cancels_endless_calls(make_droverd):
    d = make_droverd(extra_args=["--shutdown-timeout-ms", "300"])
    a = admin_pb2_grpc.AdminStub(d.channel())
    stream = a.PingStream(admin_pb2.PingStreamRequest(count=0, interval_ms=50), timeout=30)
    assert next(stream).sequence == 1
    d.proc.send_signal(signal.SIGTERM)
    with pytest.raises(grpc.RpcError) as e:
        for _ in stream:
            pass
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    assert d.wait() == 0


def test_new_connections_refused_while_stopping(make_droverd):
    d = make_droverd()
    a = admin_pb2_grpc.AdminStub(d.channel())
    stream = a.PingStream(admin_pb2.PingStreamRequest(count=4, interval_ms=200), timeout=30)
    assert next(stream).sequence == 1
    d.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: not os.path.exists(d.socket), what="the socket to go")
    assert d.cli("ping").returncode == 1
    assert len(list(stream)) == 3
    assert d.wait() == 0


def test_shutdown_rpc_replies_first(droverd):
    r = admin_pb2_grpc.AdminStub(droverd.channel()).Shutdown(admin_pb2.ShutdownRequest(), timeout=5)
    assert r.pid == droverd.proc.pid
    assert droverd.wait() == 0


def test_sighup_rereads_config(make_droverd):
    d = make_droverd(config="log_level: info\n")
    with open(os.path.join(d.tmp, "drover.yaml"), "w") as f:
        f.write("log_level: warning\nnot_a_key: 1\n")
    d.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "keeping the current configuration" in d.read_log(), what="the SIGHUP error")
    assert "not_a_key" in d.read_log()
    assert d.cli("ping").returncode == 0
