"""One mistake, one meaning, whichever door it comes in by.

Each operation exists once in the core and returns -errno; every face maps that through the one
table in src/api/status.c. These tests make the same mistakes through every face that has the
operation (drover.v1 over gRPC, running-process's socket, superviz's daemon.v1) and check that
each face answers with its column of the same row."""

import os

import grpc
import pytest

from conftest import alive, wait_until
from daemon.v1 import daemon_pb2, daemon_pb2_grpc
from drover.v1 import processes_pb2_grpc, services_pb2 as spb, services_pb2_grpc
from drover.v1 import sessions_pb2_grpc
from google.protobuf import empty_pb2  # noqa: F401  (the stubs import it)
from rpclient import RpClient, rp

# The rows of src/api/status.c these mistakes land on: (gRPC code, running-process StatusCode).
MEANING = {
    "ok": ("OK", "STATUS_CODE_OK"),
    "ENOENT": ("NOT_FOUND", "STATUS_CODE_NOT_FOUND"),
    "EEXIST": ("ALREADY_EXISTS", "STATUS_CODE_INVALID_ARGUMENT"),
    "EINVAL": ("INVALID_ARGUMENT", "STATUS_CODE_INVALID_ARGUMENT"),
}


@pytest.fixture
def d(make_droverd):
    d = make_droverd(start=False)
    d.args += ["--rp-socket", d.rp_socket]
    d = d.start()
    d.rp = RpClient(d.rp_socket)
    yield d
    d.rp.close()


def grpc_code(fn, *args):
    """The gRPC status name a unary call ends with."""
    try:
        fn(*args, timeout=10)
        return "OK"
    except grpc.RpcError as e:
        return e.code().name


def rp_code(d, type_, field, payload):
    r = d.rp.call(type_, field, payload)
    return rp.StatusCode.Name(r.code)


def same_meaning(expected, **faces):
    """Every face answered with its column of the expected row."""
    g, r = MEANING[expected]
    got = {face: code for face, code in faces.items()}
    want = {face: (r if face.startswith("rp") else g) for face in faces}
    assert got == want, f"{expected}: {got}"


# ---- services: drover.v1.Services, running-process SERVICE_*, daemon.v1 -------------------------

def grpc_start(d, name, cmd):
    stub = services_pb2_grpc.ServicesStub(d.channel())
    return grpc_code(stub.Start, spb.StartServiceRequest(spec=spb.ServiceSpec(name=name, cmd=cmd)))


def rp_start(d, name, cmd):
    cfg = rp.ServiceConfig(name=name, cmd=cmd)
    return rp_code(d, rp.REQUEST_TYPE_SERVICE_START, "service_start",
                   rp.ServiceStartRequest(config=cfg))


def target_ops(d, target):
    """Each target-taking operation, through each face that has it."""
    stub = services_pb2_grpc.ServicesStub(d.channel())
    t = spb.ServiceTarget(target=target)
    return {
        "get": dict(grpc=grpc_code(stub.Get, t),
                    rp=rp_code(d, rp.REQUEST_TYPE_SERVICE_DESCRIBE, "service_describe",
                               rp.ServiceDescribeRequest(target=target))),
        "stop": dict(grpc=grpc_code(stub.Stop, t),
                     rp=rp_code(d, rp.REQUEST_TYPE_SERVICE_STOP, "service_stop",
                                rp.ServiceStopRequest(target=target))),
        "restart": dict(grpc=grpc_code(stub.Restart, t),
                        rp=rp_code(d, rp.REQUEST_TYPE_SERVICE_RESTART, "service_restart",
                                   rp.ServiceRestartRequest(target=target))),
        "flush": dict(grpc=grpc_code(stub.Flush, t),
                      rp=rp_code(d, rp.REQUEST_TYPE_SERVICE_FLUSH, "service_flush",
                                 rp.ServiceFlushRequest(target=target))),
        "delete": dict(grpc=grpc_code(stub.Delete, t),
                       rp=rp_code(d, rp.REQUEST_TYPE_SERVICE_DELETE, "service_delete",
                                  rp.ServiceDeleteRequest(target=target))),
    }


def test_services_unknown(d):
    for op, faces in target_ops(d, "nope").items():
        same_meaning("ENOENT", **faces)
    sv = daemon_pb2_grpc.DaemonServiceStub(d.channel())
    same_meaning("ENOENT", grpc_superviz=grpc_code(
        sv.GetProcess, daemon_pb2.GetProcessRequest(service_name="nope")))


def test_services_running_with_another_definition(d):
    assert grpc_start(d, "a", ["sleep", "300"]) == "OK"
    assert rp_start(d, "b", ["sleep", "300"]) == "STATUS_CODE_OK"
    # Each service started again, through both doors, with another command.
    for name in ("a", "b"):
        same_meaning("EEXIST", grpc=grpc_start(d, name, ["sleep", "1"]),
                     rp=rp_start(d, name, ["sleep", "1"]))
    stub = services_pb2_grpc.ServicesStub(d.channel())
    same_meaning("EEXIST", grpc_target=grpc_code(stub.Start, spb.StartServiceRequest(target="a")))


def test_services_bad_command(d):
    same_meaning("EINVAL", grpc=grpc_start(d, "x", []), rp=rp_start(d, "y", []))
    same_meaning("EINVAL", grpc=grpc_start(d, "", ["true"]), rp=rp_start(d, "", ["true"]))
    # A program that does not exist: the spawn fails at once with ENOENT.
    missing = "/nonexistent/drover-test-program"
    same_meaning("ENOENT", grpc=grpc_start(d, "x", [missing]), rp=rp_start(d, "y", [missing]))


def test_services_stop_stopped_and_delete_twice(d):
    for name in ("a", "b"):
        assert grpc_start(d, name, ["sleep", "300"]) == "OK"
    for name in ("a", "b"):  # the first stop stops it, the second finds it stopped: both fine
        for _ in range(2):
            same_meaning("ok", **target_ops_one(d, name, "stop"))
    same_meaning("ok", **target_ops_one(d, "a", "delete", faces=("grpc",)))
    same_meaning("ok", **target_ops_one(d, "b", "delete", faces=("rp",)))
    for name in ("a", "b"):
        same_meaning("ENOENT", **target_ops_one(d, name, "delete"))


def target_ops_one(d, target, op, faces=("grpc", "rp")):
    """One operation through the given faces (each face's call made once)."""
    stub = services_pb2_grpc.ServicesStub(d.channel())
    t = spb.ServiceTarget(target=target)
    calls = {
        "stop": (lambda: grpc_code(stub.Stop, t),
                 lambda: rp_code(d, rp.REQUEST_TYPE_SERVICE_STOP, "service_stop",
                                 rp.ServiceStopRequest(target=target))),
        "delete": (lambda: grpc_code(stub.Delete, t),
                   lambda: rp_code(d, rp.REQUEST_TYPE_SERVICE_DELETE, "service_delete",
                                   rp.ServiceDeleteRequest(target=target))),
    }[op]
    return {face: calls[0 if face == "grpc" else 1]() for face in faces}


# ---- sessions: drover.v1.Sessions and running-process's session requests ----------------------

def sessions(d):
    return sessions_pb2_grpc.SessionsStub(d.channel())


def both_sessions(d, method, type_, field, req):
    return dict(grpc=grpc_code(getattr(sessions(d), method), req),
                rp=rp_code(d, type_, field, req))


def test_sessions_unknown(d):
    cases = [
        ("TerminatePty", rp.REQUEST_TYPE_TERMINATE_PTY_SESSION, "terminate_pty_session",
         rp.TerminatePtySessionRequest(session_id="nope")),
        ("TerminatePipe", rp.REQUEST_TYPE_TERMINATE_PIPE_SESSION, "terminate_pipe_session",
         rp.TerminatePipeSessionRequest(session_id="nope")),
        ("DetachPty", rp.REQUEST_TYPE_DETACH_PTY_SESSION, "detach_pty_session",
         rp.DetachPtySessionRequest(session_id="nope")),
        ("ResizePty", rp.REQUEST_TYPE_RESIZE_PTY_SESSION, "resize_pty_session",
         rp.ResizePtySessionRequest(session_id="nope", rows=24, cols=80)),
        ("WriteStdin", rp.REQUEST_TYPE_WRITE_PIPE_STDIN, "write_pipe_stdin",
         rp.WritePipeStdinRequest(session_id="nope", data=b"x")),
        ("GetBacklog", rp.REQUEST_TYPE_GET_SESSION_BACKLOG, "get_session_backlog",
         rp.GetSessionBacklogRequest(session_id="nope")),
    ]
    for case in cases:
        same_meaning("ENOENT", **both_sessions(d, *case))


def test_sessions_bad_command(d):
    for argv in ([], ["/nonexistent/drover-test-program"]):
        expected = "EINVAL" if not argv else "ENOENT"
        same_meaning(expected, **both_sessions(
            d, "SpawnPty", rp.REQUEST_TYPE_SPAWN_PTY_SESSION, "spawn_pty_session",
            rp.SpawnPtySessionRequest(argv=argv, rows=24, cols=80)))
        same_meaning(expected, **both_sessions(
            d, "SpawnPipe", rp.REQUEST_TYPE_SPAWN_PIPE_SESSION, "spawn_pipe_session",
            rp.SpawnPipeSessionRequest(argv=argv)))


def test_sessions_terminate_twice(d):
    ids = []
    for face in ("grpc", "rp"):
        req = rp.SpawnPipeSessionRequest(argv=["sleep", "300"])
        if face == "grpc":
            ids.append(sessions(d).SpawnPipe(req, timeout=10).session_id)
        else:
            ids.append(d.rp.call(rp.REQUEST_TYPE_SPAWN_PIPE_SESSION, "spawn_pipe_session",
                                 req).spawn_pipe_session.session_id)
    for sid in ids:
        first = both_sessions(d, "TerminatePipe", rp.REQUEST_TYPE_TERMINATE_PIPE_SESSION,
                              "terminate_pipe_session",
                              rp.TerminatePipeSessionRequest(session_id=sid, grace_ms=2000))
        # The first face to ask terminates it; the second finds it exited: both succeed.
        same_meaning("ok", **first)


# ---- tracked processes: drover.v1.Processes and running-process's registry requests -----------

def both_processes(d, method, type_, field, req):
    stub = processes_pb2_grpc.ProcessesStub(d.channel())
    return dict(grpc=grpc_code(getattr(stub, method), req), rp=rp_code(d, type_, field, req))


def test_processes_mistakes(d):
    same_meaning("ENOENT", **both_processes(
        d, "Unregister", rp.REQUEST_TYPE_UNREGISTER, "unregister",
        rp.UnregisterRequest(pid=4000000)))
    same_meaning("EINVAL", **both_processes(
        d, "Register", rp.REQUEST_TYPE_REGISTER, "register",
        rp.RegisterRequest(pid=0, command="x", created_at=1.0)))
    same_meaning("EINVAL", **both_processes(
        d, "SpawnDaemon", rp.REQUEST_TYPE_SPAWN_DAEMON, "spawn_daemon",
        rp.SpawnDaemonRequest(command="  ")))
    # Registered through one door, unregistered through the other, then again: not found.
    pid = os.getpid()
    assert rp_code(d, rp.REQUEST_TYPE_REGISTER, "register",
                   rp.RegisterRequest(pid=pid, command="pytest", created_at=1.0)) == \
        "STATUS_CODE_OK"
    stub = processes_pb2_grpc.ProcessesStub(d.channel())
    assert grpc_code(stub.Unregister, rp.UnregisterRequest(pid=pid)) == "OK"
    same_meaning("ENOENT", **both_processes(
        d, "Unregister", rp.REQUEST_TYPE_UNREGISTER, "unregister", rp.UnregisterRequest(pid=pid)))
