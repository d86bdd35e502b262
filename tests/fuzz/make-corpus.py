#!/usr/bin/python3
"""Writes the seed corpora: real client traffic (built with python3-h2 and protoc-generated
messages) plus a few hostile shapes. Run again after protocol changes; the output is committed."""

import gzip
import os
import struct
import subprocess
import sys
import tempfile

import h2.config
import h2.connection

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def frame(msg, compressed=False):
    return struct.pack(">BI", int(compressed), len(msg)) + msg


def client_bytes(calls):
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    for path, body, extra in calls:
        sid = c.get_next_available_stream_id()
        c.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":path", path),
                             (":authority", "localhost"), ("content-type", "application/grpc"),
                             ("te", "trailers"), *extra])
        c.send_data(sid, body, end_stream=True)
    return c.data_to_send()


def main():
    gen = tempfile.mkdtemp()
    subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT}/proto",
                           f"--python_out={gen}", "drover/v1/admin.proto"])
    sys.path.insert(0, gen)
    from drover.v1 import admin_pb2

    ping = admin_pb2.PingRequest(payload=b"hello").SerializeToString()
    stream = admin_pb2.PingStreamRequest(count=3, payload_size=10).SerializeToString()
    d = os.path.join(HERE, "corpus", "grpc-deframe")
    seeds = {
        "one": b"\x01" + frame(stream),
        "two-split": b"\x03" + frame(stream) + frame(b""),
        "gzip": b"\x07" + frame(gzip.compress(stream), True),
        "oversized": b"\x00" + struct.pack(">BI", 0, 1 << 30),
        "bad-flag": b"\x00\x05\x00\x00\x00\x00",
        "truncated": b"\x02" + frame(stream)[:6],
    }
    for name, data in seeds.items():
        open(os.path.join(d, name), "wb").write(data)

    d = os.path.join(HERE, "corpus", "h2-server")
    health = b"\x0a\x00"  # HealthCheckRequest{service: ""}
    refl = b"\x3a\x00"    # ServerReflectionRequest{list_services: ""}
    seeds = {
        "ping": client_bytes([("/drover.v1.Admin/Ping", frame(ping), [])]),
        "status-and-stream": client_bytes([("/drover.v1.Admin/Status", frame(b""), []),
                                           ("/drover.v1.Admin/PingStream", frame(stream), [])]),
        "health": client_bytes([("/grpc.health.v1.Health/Check", frame(health), []),
                                ("/grpc.health.v1.Health/Watch", frame(health), [])]),
        "reflection": client_bytes([("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                                     frame(refl), [])]),
        "gzip-timeout-bin": client_bytes([("/drover.v1.Admin/Ping",
                                           frame(gzip.compress(ping), True),
                                           [("grpc-encoding", "gzip"), ("grpc-timeout", "5S"),
                                            ("x-id-bin", "AAEC")])]),
        "unknown": client_bytes([("/no.Such/Method", frame(b"x"), [])]),
        "garbage": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    }
    for name, data in seeds.items():
        open(os.path.join(d, name), "wb").write(data)


if __name__ == "__main__":
    main()
