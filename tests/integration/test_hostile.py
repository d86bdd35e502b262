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
