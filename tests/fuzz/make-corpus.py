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
                           f"--python_out={gen}", "drover/v1/admin.proto",
                           "running_process/daemon/v1/daemon.proto"])
    sys.path.insert(0, gen)
    from drover.v1 import admin_pb2
    from running_process.daemon.v1 import daemon_pb2 as rp

    ping = admin_pb2.PingRequest(payload=b"hello").SerializeToString()
    stream = admin_pb2.PingStreamRequest(count=3, payload_size=10).SerializeToString()
    d = os.path.join(HERE, "corpus", "grpc-deframe")
    seeds = {
        "one": b"\x01" + frame(stream),
        "two-split": b"\x03" + frame(stream) + frame(b""),
        "gzip": b"\x07" + frame(gzip.compress(stream, mtime=0), True),
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
                                           frame(gzip.compress(ping, mtime=0), True),
                                           [("grpc-encoding", "gzip"), ("grpc-timeout", "5S"),
                                            ("x-id-bin", "AAEC")])]),
        "unknown": client_bytes([("/no.Such/Method", frame(b"x"), [])]),
        "garbage": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    }
    for name, data in seeds.items():
        open(os.path.join(d, name), "wb").write(data)

    write(os.path.join(HERE, "corpus", "rp-door"), rp_door_seeds(rp))
    write(os.path.join(HERE, "corpus", "proc-parsers"), proc_seeds())


def write(d, seeds):
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        open(os.path.join(d, name), "wb").write(data)


def rp_frame(msg):
    return struct.pack(">I", len(msg)) + msg


def rp_door_seeds(rp):
    def req(type_, field=None, payload=None, id_=1):
        r = rp.DaemonRequest(id=id_, type=type_, protocol_version=1, client_name="fuzz")
        if field:
            getattr(r, field).CopyFrom(payload)
        return rp_frame(r.SerializeToString())

    return {
        "ping": rp_frame(bytes.fromhex("080110281801220178c20200")),
        "register-list": req(10, "register", rp.RegisterRequest(pid=1, created_at=1.5,
                                                                command="init", originator="t:1"))
        + req(20, "list_active", rp.ListActiveRequest(), 2)
        + req(21, "list_by_originator", rp.ListByOriginatorRequest(tool="t"), 3)
        + req(11, "unregister", rp.UnregisterRequest(pid=1), 4),
        "tree-zombies-status": req(22, "get_process_tree", rp.GetProcessTreeRequest(pid=1))
        + req(30, "kill_zombies", rp.KillZombiesRequest(dry_run=True), 2) + req(42, id_=3),
        "errors": req(0) + req(99, id_=2) + req(50, id_=3) + req(10, id_=4)
        + rp_frame(b"\xff\xff\xff") + struct.pack(">I", 5 << 20),
        "split-header": rp_frame(bytes.fromhex("080110281801220178c20200"))[:3],
    }


def proc_seeds():
    tail = b" 0 0 0 0 0 5 7 0 0 20 0 3 0 12345 8192000 300 1 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0\n"
    return {
        "stat": b"\x00" + b"42 (a) b) c) S 1 42 42 34816 42" + tail,
        "status": b"\x01Name:\tbash\nState:\tS (sleeping)\nPPid:\t1\nUid:\t0\t0\t0\t0\n"
                  b"VmRSS:\t 100 kB\nThreads:\t1\n",
        "statm": b"\x02" + b"2745 640 512 27 0 190 0\n",
        "io": b"\x03rchar: 1\nwchar: 2\nread_bytes: 3\n",
        "btime": b"\x04cpu 1 2\nbtime 1700000000\n",
        "cmdline": b"\x05ls\x00-l\x00\x00",
    }


if __name__ == "__main__":
    main()
