"""A raw HTTP/2 client (python3-h2) for requests grpcio will not make: unsupported encodings,
malformed -bin metadata, flags and lengths that lie, clients that stop reading or hang up."""

import socket
import struct

import h2.config
import h2.connection
import h2.events


def frame(msg: bytes, compressed=False) -> bytes:
    return struct.pack(">BI", 1 if compressed else 0, len(msg)) + msg


class RawH2:
    def __init__(self, socket_path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(socket_path)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(cfg)
        self.conn.initiate_connection()
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def start(self, path, extra_headers=(), content_type="application/grpc", method="POST"):
        sid = self.conn.get_next_available_stream_id()
        headers = [(":method", method), (":scheme", "http"), (":path", path),
                   (":authority", "localhost"), ("content-type", content_type),
                   ("te", "trailers"), *extra_headers]
        self.conn.send_headers(sid, headers)
        self.flush()
        return sid

    def send(self, sid, data, end_stream=True):
        self.conn.send_data(sid, data, end_stream=end_stream)
        self.flush()

    def call(self, path, body, extra_headers=(), **kw):
        """One request; returns the stream's outcome (see result)."""
        sid = self.start(path, extra_headers, **kw)
        self.send(sid, body)
        return self.result(sid)

    def result(self, sid):
        """Reads until stream sid ends: {'headers', 'data', 'trailers', 'reset'}."""
        out = {"headers": {}, "data": b"", "trailers": {}, "reset": None}
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("droverd closed the connection")
            for ev in self.conn.receive_data(chunk):
                if getattr(ev, "stream_id", None) != sid:
                    continue
                if isinstance(ev, h2.events.ResponseReceived):
                    out["headers"] = dict(ev.headers)
                elif isinstance(ev, h2.events.TrailersReceived):
                    out["trailers"] = dict(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    out["data"] += ev.data
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamReset):
                    out["reset"] = ev.error_code
                    return out
                if isinstance(ev, h2.events.StreamEnded):
                    self.flush()
                    return out
            self.flush()

    def close(self):
        self.sock.close()


def grpc_status(result):
    """(status, message) from trailers, or from the headers of a trailers-only response."""
    src = result["trailers"] or result["headers"]
    return int(src.get("grpc-status", -1)), src.get("grpc-message", "")
