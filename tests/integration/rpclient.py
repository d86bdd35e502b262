"""A running-process IPC client over a raw unix socket: 4-byte big-endian length, then a
protobuf DaemonRequest; replies the same way. The framing is upstream's Rust client's, written
again here (the Rust client cannot be built offline)."""

import socket
import struct

from running_process.daemon.v1 import daemon_pb2 as rp

OK = rp.STATUS_CODE_OK


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


class RpClient:
    def __init__(self, path, client_name="pytest", timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.client_name = client_name
        self.next_id = 1

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
            buf += chunk
        return buf

    def recv_response(self):
        n = struct.unpack(">I", self.recv_exact(4))[0]
        resp = rp.DaemonResponse()
        resp.ParseFromString(self.recv_exact(n))
        return resp

    def request_bytes(self, type_, payload_field=None, payload=None, id_=None):
        req = rp.DaemonRequest(id=self.next_id if id_ is None else id_, type=type_,
                               protocol_version=1, client_name=self.client_name)
        self.next_id += 1
        if payload_field is not None:
            getattr(req, payload_field).CopyFrom(payload)
        return frame(req.SerializeToString())

    def call(self, type_, payload_field=None, payload=None):
        self.send_raw(self.request_bytes(type_, payload_field, payload))
        return self.recv_response()

    def at_eof(self):
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
