"""Session clients for both doors, with one interface so each test runs through both: the
running-process socket (framed DaemonRequest, attach turns the connection into a stream) and
drover.v1.Sessions over gRPC (AttachPty bidi, AttachPipe server-streaming). Status codes are
normalized to names: OK, NOT_FOUND, INVALID_ARGUMENT, ALREADY_ATTACHED, and so on."""

import queue
import socket
import struct
import threading

import grpc

from drover.v1 import sessions_pb2 as sp
from drover.v1 import sessions_pb2_grpc as sg
from rpclient import RpClient, frame, rp

# op name: (request type, payload field, gRPC method)
OPS = {
    "spawn_pty": (60, "spawn_pty_session", "SpawnPty"),
    "detach_pty": (62, "detach_pty_session", "DetachPty"),
    "list_pty": (63, "list_pty_sessions", "ListPty"),
    "terminate_pty": (64, "terminate_pty_session", "TerminatePty"),
    "spawn_pipe": (65, "spawn_pipe_session", "SpawnPipe"),
    "detach_pipe": (67, "detach_pipe_stream", "DetachPipe"),
    "list_pipe": (68, "list_pipe_sessions", "ListPipe"),
    "terminate_pipe": (69, "terminate_pipe_session", "TerminatePipe"),
    "write_stdin": (70, "write_pipe_stdin", "WriteStdin"),
    "backlog": (71, "get_session_backlog", "GetBacklog"),
    "purge": (72, "purge_exited_sessions", "PurgeExited"),
    "bulk_terminate": (73, "bulk_terminate_sessions", "BulkTerminate"),
    "resize_pty": (74, "resize_pty_session", "ResizePty"),
    "register_tee": (75, "register_session_tee", "RegisterTee"),
    "unregister_tee": (76, "unregister_session_tee", "UnregisterTee"),
    "tee_status": (77, "get_session_tee_status", "GetTeeStatus"),
}

GRPC_NAMES = {grpc.StatusCode.FAILED_PRECONDITION: "ALREADY_ATTACHED"}


def rp_name(code):
    return rp.StatusCode.Name(code).replace("STATUS_CODE_", "")


class Error(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class RpDoor:
    name = "rp"

    def __init__(self, d):
        self.d = d
        self.c = RpClient(d.rp_socket, client_name="pytest")

    def close(self):
        self.c.close()

    def call(self, op, req):
        t, field, _ = OPS[op]
        r = self.c.call(t, field, req)
        if r.code != rp.STATUS_CODE_OK:
            raise Error(rp_name(r.code), r.message)
        return getattr(r, field)

    def attach_pty(self, **kw):
        return RpAttach(self.d, True, rp.AttachPtySessionRequest(**kw))

    def attach_pipe(self, **kw):
        return RpAttach(self.d, False, rp.AttachPipeStreamRequest(**kw))


class RpAttach:
    def __init__(self, d, pty, req):
        self.pty = pty
        self.c = RpClient(d.rp_socket, client_name="pytest", timeout=30)
        field = "attach_pty_session" if pty else "attach_pipe_stream"
        r = self.c.call(61 if pty else 66, field, req)
        if r.code != rp.STATUS_CODE_OK:
            assert self.c.at_eof(), "a failed attach must close the connection"
            self.c.close()
            raise Error(rp_name(r.code), r.message)
        self.response = getattr(r, field)

    def next_frame(self):
        n = struct.unpack(">I", self.c.recv_exact(4))[0]
        f = rp.PtyStreamFrame() if self.pty else rp.PipeStreamFrame()
        f.ParseFromString(self.c.recv_exact(n))
        return f

    def send(self, **kw):
        self.c.send_raw(frame(rp.PtyInputFrame(**kw).SerializeToString()))

    def ended(self):
        """Whether the stream closes (frames already on their way are read past)."""
        for _ in range(10000):
            try:
                head = self.c.sock.recv(4, socket.MSG_WAITALL)
            except ConnectionResetError:
                return True
            if head == b"":
                return True
            self.c.recv_exact(struct.unpack(">I", head)[0])
        return False

    def close(self):
        self.c.close()


class GrpcDoor:
    name = "grpc"

    def __init__(self, d):
        self.ch = d.channel()
        self.stub = sg.SessionsStub(self.ch)

    def close(self):
        pass

    def call(self, op, req):
        try:
            return getattr(self.stub, OPS[op][2])(req, timeout=30)
        except grpc.RpcError as e:
            raise Error(GRPC_NAMES.get(e.code(), e.code().name), e.details())

    def attach_pty(self, **kw):
        return GrpcAttach(self.stub, True, rp.AttachPtySessionRequest(**kw))

    def attach_pipe(self, **kw):
        return GrpcAttach(self.stub, False, rp.AttachPipeStreamRequest(**kw))


class GrpcAttach:
    def __init__(self, stub, pty, req):
        self.pty = pty
        self.q = queue.Queue()
        self.status = None
        if pty:
            def requests():
                yield sp.AttachPtyRequest(attach=req)
                while True:
                    m = self.q.get()
                    if m is None:
                        return
                    yield m
            self.it = stub.AttachPty(requests(), timeout=60)
        else:
            self.it = stub.AttachPipe(req, timeout=60)
        try:
            first = next(self.it)
        except grpc.RpcError as e:
            self.q.put(None)
            raise Error(GRPC_NAMES.get(e.code(), e.code().name), e.details())
        self.response = first.attached

    def next_frame(self):
        try:
            m = next(self.it)
        except StopIteration:
            raise EOFError("the stream ended")
        return m.frame

    def send(self, **kw):
        self.q.put(sp.AttachPtyRequest(input=rp.PtyInputFrame(**kw)))

    def ended(self):
        try:
            next(self.it)
        except StopIteration:
            return True
        except grpc.RpcError:
            return True
        return False

    def close(self):
        self.q.put(None)
        self.it.cancel()


def door(d, kind):
    return RpDoor(d) if kind == "rp" else GrpcDoor(d)
