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
    write(os.path.join(HERE, "corpus", "config"), config_seeds())


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


def config_seeds():
    """YAML configuration in both dialects, each file read as droverd's whole configuration and
    as a file of services alone: good ones that reach every key, and bad ones that stop at each
    kind of error."""
    drover = b"""log_level: debug
max_connections: 10
socket: run/d.sock
grpc_tcp: "127.0.0.1:50051"
grpc_tcp_anonymous: read
http_tls: yes
services:
  - name: web
    cmd: [python3, -m, http.server]
    cwd: site
    env: {PORT: "8080", MODE: prod}
    restart: on-failure
    max_restarts: 3
    restart_delay_ms: 0
    restart_delay_max: 1m
    min_uptime: 1.5s
    kill_timeout: 5s
    stop_signal: INT
    depends_on: [worker]
    autorestart: true
    oneshot: no
    umask: "027"
    user: nobody
    group: "0"
    log_max_size: 10M
    log_keep: 7
    log_max_age: 7d
    probe: {type: http, host: 127.0.0.1, port: 8080, path: /health, method: HEAD,
            status_code: 204, interval: 2s, timeout: 1s, failure_threshold: 3,
            success_threshold: 2}
  - name: worker
    cmd: [worker]
    autostart: false
    probe: {cmd: [worker, ping], args: [-q]}
"""
    superviz = b"""version: "1"
logging:
  base_dir: logs
  defaults:
    timestamp_format: none
    rotation: {max_size: 100MB, max_files: 10, max_age: 1d, compress: false}
services:
  - name: api
    command: /srv/api --port 8443
    args: [--verbose]
    working_dir: /srv
    environment: {A: b}
    restart: {policy: always, max_retries: 5, delay: 2s, delay_max: 1m, stability_window: 30s}
    depends_on: [db]
    health_checks:
      - {name: live, type: http, endpoint: "http://127.0.0.1:8080/healthz"}
      - {type: http, endpoint: "http://[::1]:9000/h", method: GET, status_code: 200}
      - {type: tcp, host: localhost, port: 5432, retries: 5}
      - {type: command, command: pg_isready -q, interval: 1m, timeout: 5s}
    listeners:
      - name: web
        probe: {type: http, path: /ready, success_threshold: 2}
        address: "::1"
        port: 8443
      - {name: dns, port: 53, protocol: udp, exposed: false}
    logging:
      stdout: {file: api.log, timestamp_format: rfc3339, rotation: {max_size: 5MB, max_files: 3}}
      stderr: {file: /var/log/api.err, rotation: {max_size: 5MB, max_files: 3}}
  - name: db
    command: postgres
    restart: unless-stopped
"""
    start = b"""services:
  - name: db
    cmd: [sleep, "300"]
  - name: app
    cmd: [sh, -c, "pwd; exec sleep 300"]
    working_dir: work
    depends_on: [db]
"""
    one = b"services:\n  - name: a\n    cmd: [x]\n"
    return {
        "drover": drover,
        "superviz": superviz,
        "start-file": start,
        "settings-only": b"log_level: info\nshutdown_timeout_ms: 100\nrp_socket: default\n",
        "empty": b"",
        "services-null": b"version: 1\nservices: ~\n",
        "bad-syntax": b"services:\n  - name: \"unclosed\n    cmd: [x]\n",
        "bad-tab": b"services:\n\t- name: a\n",
        "bad-two-documents": b"log_level: info\n---\nlog_level: debug\n",
        "bad-root-list": b"- a\n- b\n",
        "bad-setting-twice": b"log_level: info\nlog_level: debug\n",
        "bad-unknown-key": one + b"    colour: red\n",
        "bad-value": one + b"    kill_timeout: 5 parsecs\n",
        "bad-twice": one + b"  - name: a\n    cmd: [y]\n",
        "bad-cycle": b"services:\n  - {name: a, cmd: [x], depends_on: [b]}\n"
                     b"  - {name: b, cmd: [x], depends_on: [a]}\n",
        "bad-missing-dependency": one + b"    depends_on: [b]\n",
        "bad-probe": one + b"    probe: {type: grpc, port: 1}\n",
        "bad-endpoint": one + b"    health_checks: [{endpoint: \"https://x/\"}]\n",
        "bad-rotation": one + b"    logging:\n      stdout: {rotation: {max_size: 1M}}\n"
                        b"      stderr: {rotation: {max_size: 2M}}\n",
        "bad-restart-map": one + b"    restart: {policy: sometimes}\n",
        "bad-logging-daemon": b"logging: {daemon: {writers: []}}\n",
        "bad-alias": b"services:\n  - &s {name: a, cmd: [x]}\n  - *s\n",
        "bad-alias-word": b"services:\n  - name: &n a\n    cmd: [*n]\n",
    }


if __name__ == "__main__":
    main()
