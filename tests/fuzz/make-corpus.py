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
    write(os.path.join(HERE, "corpus", "stratavore"), stratavore_seeds())


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


def stratavore_seeds():
    """Stratavore's four services (fuzz-stratavore.c): every RPC with a valid request, several
    calls per connection, and hostile shapes. The target numbers ids in the order the core asks
    for them, afresh for each input: a runner takes three (its id, its token "svr1.<id>", its
    conversation), so the first runner of an input is sid(1), its token "svr1." + sid(2) and its
    conversation sid(3); the second runner sid(4), ... (a conversation made alone takes one)."""
    from grpc_tools import protoc
    gen = tempfile.mkdtemp()
    wkt = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT}/proto",
                           f"-I{wkt}", "-I/usr/include", f"--python_out={gen}",
                           "stratavore/v1/stratavore.proto"])
    sys.path.insert(0, gen)
    from google.protobuf import field_mask_pb2
    from stratavore.v1 import stratavore_pb2 as sv

    def sid(n):
        return f"00000000-0000-4000-8000-{n:012x}"

    def call(service, method, msg, extra=()):
        body = msg if isinstance(msg, bytes) else msg.SerializeToString(deterministic=True)
        return (f"/stratavore.v1.{service}/{method}", frame(body), list(extra))

    def runner(method, msg, extra=()):
        return call("RunnerService", method, msg, extra)

    def project(method, msg, extra=()):
        return call("ProjectService", method, msg, extra)

    def session(method, msg, extra=()):
        return call("SessionService", method, msg, extra)

    def daemon(method, msg, extra=()):
        return call("DaemonService", method, msg, extra)

    def mask(*paths):
        return field_mask_pb2.FieldMask(paths=list(paths))

    def late(before, after):
        """Calls whose bytes all come in the input's second half: the target sends an input in
        two halves, so these reach the server at once (a runner is created and acted on before
        its program's exit is seen). Pads before with ListProjects calls."""
        while len(client_bytes(before)) < len(client_bytes(before + after)) / 2:
            before = before + [project("ListProjects", sv.ListProjectsRequest())]
        return client_bytes(before + after)

    config = sv.ProjectConfig(command=["agent", "--project", "{project_path}", "--id",
                                       "{runner_id}", "--model", "{model}", "--temperature",
                                       "{temperature}"],
                              environment={"MODE": "fuzz"}, flags=["--quiet"],
                              capabilities=["read"], default_model="m1", default_temperature=0.5,
                              default_max_tokens=1000, restart_policy=sv.RESTART_POLICY_NEVER,
                              heartbeat_ttl_seconds=30, stop_timeout_seconds=1)
    p1 = sv.CreateProjectRequest(name="p1", description="fuzz", path="/tmp",
                                 quota=sv.ResourceQuota(max_concurrent_runners=4,
                                                        max_tokens_per_day=1000),
                                 config=config, metadata={"team": "a"}, tags=["t1", "t2"])
    make_p1 = project("CreateProject", p1)
    make_r1 = runner("CreateRunner", sv.CreateRunnerRequest(project_name="p1", model="m2",
                                                            temperature=1.0, max_tokens=10,
                                                            metadata={"k": "v"}, flags=["-v"]))
    r1, token1, conv1 = sid(1), "svr1." + sid(2), sid(3)
    missing = "ffffffff-ffff-4fff-bfff-ffffffffffff"
    update_pause = sv.UpdateRunnerRequest(runner_id=r1, update_mask=mask("desired_status"),
                                          desired_status=sv.RUNNER_STATUS_PAUSED)
    update_resume = sv.UpdateRunnerRequest(runner_id=r1, update_mask=mask("desired_status"),
                                           desired_status=sv.RUNNER_STATUS_RUNNING)
    base_seq = 1 << 32  # no database: the first daemon start, events from base_seq + 1

    seeds = {
        # ProjectService
        "project-create-get-list": client_bytes([
            make_p1,
            project("GetProject", sv.GetProjectRequest(name="p1", include_stats=True)),
            project("ListProjects", sv.ListProjectsRequest(include_stats=True, limit=10)),
            project("ListProjects", sv.ListProjectsRequest(status=sv.PROJECT_STATUS_IDLE,
                                                           offset=1))]),
        "project-update-archive-delete": client_bytes([
            make_p1,
            project("UpdateProject", sv.UpdateProjectRequest(
                name="p1", update_mask=mask("description", "quota", "config", "tags", "metadata"),
                description="changed", quota=sv.ResourceQuota(max_concurrent_runners=1),
                config=sv.ProjectConfig(command=["other"], use_pipes=True), tags=["x"],
                metadata={"a": "b"})),
            project("UpdateProject", sv.UpdateProjectRequest(name="p1", description="no mask")),
            project("UpdateProject", sv.UpdateProjectRequest(name="p1", update_mask=mask("status"),
                                                             status=sv.PROJECT_STATUS_ARCHIVED)),
            runner("CreateRunner", sv.CreateRunnerRequest(project_name="p1")),
            project("DeleteProject", sv.DeleteProjectRequest(name="p1", archive=True, force=True)),
            project("DeleteProject", sv.DeleteProjectRequest(name="p1", purge_transcripts=True))]),
        "project-delete-live": client_bytes([
            make_p1, make_r1,
            project("DeleteProject", sv.DeleteProjectRequest(name="p1")),
            project("DeleteProject", sv.DeleteProjectRequest(name="p1", force=True,
                                                             purge_transcripts=True)),
            runner("ListRunners", sv.ListRunnersRequest())]),
        "project-bad": client_bytes([
            project("CreateProject", sv.CreateProjectRequest(name="bad name/..", path="/tmp")),
            project("CreateProject", sv.CreateProjectRequest(name="rel", path="tmp")),
            project("CreateProject", sv.CreateProjectRequest(name="gone", path="/nonexistent/x")),
            project("CreateProject", sv.CreateProjectRequest(name="x" * 65, path="/tmp")),
            project("CreateProject", sv.CreateProjectRequest(name="", path="")),
            make_p1,
            project("CreateProject", p1),
            project("CreateProject", sv.CreateProjectRequest(name="p2", path="/tmp")),
            project("GetProject", sv.GetProjectRequest(name="")),
            project("GetProject", sv.GetProjectRequest(name="nope")),
            project("UpdateProject", sv.UpdateProjectRequest(name="p1", update_mask=mask("name"))),
            project("UpdateProject", sv.UpdateProjectRequest(name="p1", update_mask=mask("status"),
                                                             status=99)),
            project("UpdateProject", sv.UpdateProjectRequest(name="p1", update_mask=mask("path"),
                                                             path="relative")),
            project("DeleteProject", sv.DeleteProjectRequest(name="")),
            project("ListProjects", sv.ListProjectsRequest(status=99)),
            project("ListProjects", sv.ListProjectsRequest(limit=-1)),
            project("ListProjects", sv.ListProjectsRequest(limit=2**31 - 1, offset=-5))]),
        # RunnerService
        "runner-create-list-stop": client_bytes([
            make_p1, make_r1,
            runner("ListRunners", sv.ListRunnersRequest(project_name="p1", include_metrics=True)),
            runner("StopRunner", sv.StopRunnerRequest(runner_id=r1, timeout_seconds=1,
                                                      reason="fuzz"))]),
        "runner-get-pause-resume": late([make_p1], [
            make_r1,
            runner("GetRunner", sv.GetRunnerRequest(runner_id=r1, include_metrics=True,
                                                    include_session=True)),
            runner("UpdateRunner", update_pause),
            runner("UpdateRunner", update_resume),
            runner("UpdateRunner", sv.UpdateRunnerRequest(
                runner_id=r1, update_mask=mask("metadata", "quota", "max_restart_attempts",
                                               "restart_policy", "heartbeat_ttl_seconds", "model",
                                               "temperature", "max_tokens"),
                metadata={"k": "w"}, quota=sv.ResourceQuota(max_memory_mb=64, max_pids=16),
                max_restart_attempts=2, restart_policy=sv.RESTART_POLICY_ON_FAILURE,
                heartbeat_ttl_seconds=5, model="m3", temperature=0.1, max_tokens=5)),
            runner("UpdateRunner", sv.UpdateRunnerRequest(runner_id=r1, model="no mask")),
            runner("GetRunner", sv.GetRunnerRequest(runner_id=r1))]),
        "runner-restart": late([make_p1], [
            make_r1,
            runner("RestartRunner", sv.RestartRunnerRequest(runner_id=r1, preserve_session=True,
                                                            timeout_seconds=1)),
            runner("GetRunner", sv.GetRunnerRequest(runner_id=r1, include_session=True))]),
        "runner-restart-new-session": late([make_p1], [
            make_r1,
            runner("RestartRunner", sv.RestartRunnerRequest(runner_id=r1, force=True)),
            runner("StopRunner", sv.StopRunnerRequest(runner_id=r1, force=True))]),
        "runner-restart-delete": client_bytes([
            make_p1, make_r1,
            runner("RestartRunner", sv.RestartRunnerRequest(runner_id=r1, preserve_session=True,
                                                            timeout_seconds=1)),
            runner("RestartRunner", sv.RestartRunnerRequest(runner_id=r1, force=True)),
            runner("DeleteRunner", sv.DeleteRunnerRequest(runner_id=r1)),
            runner("DeleteRunner", sv.DeleteRunnerRequest(runner_id=r1, force=True,
                                                          delete_sessions=True))]),
        "runner-restart-policy": client_bytes([
            project("CreateProject", sv.CreateProjectRequest(
                name="always", path="/tmp",
                config=sv.ProjectConfig(command=["agent"], restart_policy=sv.RESTART_POLICY_ALWAYS,
                                        max_restart_attempts=2, restart_backoff_ms=1,
                                        use_pipes=True))),
            runner("CreateRunner", sv.CreateRunnerRequest(project_name="always")),
            runner("CreateRunner", sv.CreateRunnerRequest(
                project_name="always", restart_policy=sv.RESTART_POLICY_ON_FAILURE,
                command=["other", "{session_id}"], working_directory="/",
                conversation_mode=sv.CONVERSATION_MODE_NEW)),
            daemon("Reconcile", sv.ReconcileRequest()),
            runner("ListRunners", sv.ListRunnersRequest(status=sv.RUNNER_STATUS_RUNNING))]),
        "runner-missing-ids": client_bytes([
            runner(m, getattr(sv, t)(runner_id=i))
            for i in (missing, "")
            for m, t in (("GetRunner", "GetRunnerRequest"), ("UpdateRunner", "UpdateRunnerRequest"),
                         ("StopRunner", "StopRunnerRequest"),
                         ("RestartRunner", "RestartRunnerRequest"),
                         ("DeleteRunner", "DeleteRunnerRequest"),
                         ("SendHeartbeat", "HeartbeatRequest"))]),
        "runner-create-bad": client_bytes([
            make_p1,
            runner("CreateRunner", sv.CreateRunnerRequest()),
            runner("CreateRunner", sv.CreateRunnerRequest(project_name="nope")),
            runner("CreateRunner", sv.CreateRunnerRequest(project_name="p1",
                                                          temperature=float("nan"))),
            runner("CreateRunner", sv.CreateRunnerRequest(project_name="p1", temperature=3.0)),
            runner("CreateRunner", sv.CreateRunnerRequest(project_name="p1", max_tokens=-1)),
            runner("CreateRunner", sv.CreateRunnerRequest(project_name="p1", runtime_id="1")),
            runner("CreateRunner", sv.CreateRunnerRequest(project_name="p1",
                                                          runtime_type=sv.RUNTIME_TYPE_REMOTE)),
            runner("CreateRunner", sv.CreateRunnerRequest(project_name="p1", runtime_type=99)),
            runner("CreateRunner", sv.CreateRunnerRequest(project_name="p1", conversation_mode=99)),
            runner("CreateRunner", sv.CreateRunnerRequest(project_name="p1",
                                                          working_directory="/nonexistent")),
            runner("CreateRunner", sv.CreateRunnerRequest(
                project_name="p1", session_id=missing,
                conversation_mode=sv.CONVERSATION_MODE_RESUME)),
            runner("CreateRunner", sv.CreateRunnerRequest(project_name="p1", command=[""])),
            runner("CreateRunner", sv.CreateRunnerRequest(
                project_name="p1", metadata={"": ""}, environment={"": "x", "A=B": "c"},
                quota=sv.ResourceQuota(max_concurrent_runners=-1, max_memory_mb=-1,
                                       max_cpu_percent=2**31 - 1, max_pids=-3)))]),
        "runner-flags-1000": client_bytes([
            make_p1,
            runner("CreateRunner", sv.CreateRunnerRequest(
                project_name="p1", flags=[f"--flag-{i}" for i in range(1000)]))]),
        "runner-list-hostile": client_bytes([
            make_p1, make_r1,
            runner("ListRunners", sv.ListRunnersRequest(status=99)),
            runner("ListRunners", sv.ListRunnersRequest(status=-1)),
            runner("ListRunners", sv.ListRunnersRequest(limit=-1)),
            runner("ListRunners", sv.ListRunnersRequest(offset=-1)),
            runner("ListRunners", sv.ListRunnersRequest(limit=2**31 - 1, offset=2**31 - 1)),
            runner("ListRunners", sv.ListRunnersRequest(metadata_filter={"": ""})),
            runner("ListRunners", sv.ListRunnersRequest(metadata_filter={"k": "v"},
                                                        include_metrics=True)),
            runner("UpdateRunner", sv.UpdateRunnerRequest(runner_id=r1,
                                                          update_mask=mask("no_such_path"))),
            runner("UpdateRunner", sv.UpdateRunnerRequest(runner_id=r1, update_mask=mask(""))),
            runner("UpdateRunner", sv.UpdateRunnerRequest(
                runner_id=r1, update_mask=mask("desired_status"), desired_status=99)),
            runner("UpdateRunner", sv.UpdateRunnerRequest(
                runner_id=r1, update_mask=mask("temperature"), temperature=float("nan"))),
            runner("UpdateRunner", sv.UpdateRunnerRequest(
                runner_id=r1, update_mask=mask("restart_policy", "heartbeat_ttl_seconds"),
                restart_policy=99, heartbeat_ttl_seconds=-1)),
            runner("StopRunner", sv.StopRunnerRequest(runner_id=r1, timeout_seconds=-1)),
            runner("StopRunner", sv.StopRunnerRequest(runner_id=r1, timeout_seconds=2**31 - 1,
                                                      force=True)),
            runner("StopRunner", sv.StopRunnerRequest(runner_id=r1))]),
        "events-stream": client_bytes([
            runner("StreamRunnerEvents", sv.StreamRunnerEventsRequest()),
            runner("StreamRunnerEvents", sv.StreamRunnerEventsRequest(
                project_name="p1", event_types=[sv.EVENT_TYPE_RUNNER_STARTED,
                                                sv.EVENT_TYPE_RUNNER_HEARTBEAT,
                                                sv.EVENT_TYPE_RUNNER_STOPPED])),
            runner("StreamRunnerEvents", sv.StreamRunnerEventsRequest(runner_id=r1,
                                                                      session_id=conv1)),
            make_p1, make_r1,
            runner("SendHeartbeat", sv.HeartbeatRequest(runner_id=r1, status="running",
                                                        tokens_used=10)),
            runner("StreamRunnerEvents", sv.StreamRunnerEventsRequest(since_sequence=base_seq)),
            runner("StreamRunnerEvents", sv.StreamRunnerEventsRequest(since_sequence=base_seq + 1,
                                                                      project_name="p1")),
            runner("StopRunner", sv.StopRunnerRequest(runner_id=r1, force=True))]),
        "events-bad": client_bytes([
            runner("StreamRunnerEvents", sv.StreamRunnerEventsRequest(since_sequence=-1)),
            runner("StreamRunnerEvents", sv.StreamRunnerEventsRequest(since_sequence=1)),
            runner("StreamRunnerEvents", sv.StreamRunnerEventsRequest(since_sequence=2**63 - 1)),
            runner("StreamRunnerEvents", sv.StreamRunnerEventsRequest(event_types=[0])),
            runner("StreamRunnerEvents", sv.StreamRunnerEventsRequest(event_types=[99])),
            runner("StreamRunnerEvents", sv.StreamRunnerEventsRequest(event_types=[64])),
            runner("StreamRunnerEvents", sv.StreamRunnerEventsRequest(event_types=[-1]))]),
        "heartbeat": client_bytes([
            project("CreateProject", sv.CreateProjectRequest(
                name="hb", path="/tmp",
                config=sv.ProjectConfig(heartbeat_required=True, heartbeat_ttl_seconds=1),
                quota=sv.ResourceQuota(max_tokens_per_day=100))),
            runner("CreateRunner", sv.CreateRunnerRequest(project_name="hb")),
            runner("SendHeartbeat", sv.HeartbeatRequest(runner_id=r1, status="running",
                                                        tokens_used=80, session_id=conv1),
                   [("authorization", "Bearer " + token1)]),
            runner("SendHeartbeat", sv.HeartbeatRequest(runner_id=r1, status="running",
                                                        tokens_used=95),
                   [("authorization", "Bearer " + token1), ("x-fuzz-scopes", "0")]),
            runner("SendHeartbeat", sv.HeartbeatRequest(runner_id=r1, tokens_used=5),
                   [("authorization", "Bearer svr1.wrong")]),
            runner("SendHeartbeat", sv.HeartbeatRequest(runner_id=r1, tokens_used=200)),
            runner("SendHeartbeat", sv.HeartbeatRequest(runner_id=r1, status="stopped"),
                   [("x-fuzz-scopes", "0")]),
            runner("SendHeartbeat", sv.HeartbeatRequest(runner_id=missing),
                   [("x-fuzz-scopes", "1")]),
            runner("SendHeartbeat", sv.HeartbeatRequest(runner_id=missing),
                   [("x-fuzz-scopes", "1"), ("authorization", "Bearer x")]),
            runner("SendHeartbeat", sv.HeartbeatRequest(runner_id=r1, tokens_used=-1))]),
        # SessionService
        "sessions": client_bytes([
            make_p1,
            session("CreateSession", sv.CreateSessionRequest(project_name="p1", model="m",
                                                             metadata={"a": "b"})),
            session("CreateSession", sv.CreateSessionRequest(
                project_name="p1", launch=sv.CreateRunnerRequest(project_name="p1"))),
            session("GetSession", sv.GetSessionRequest(session_id=sid(1), include_runner=True)),
            session("ListSessions", sv.ListSessionsRequest(project_name="p1")),
            session("ListSessions", sv.ListSessionsRequest(resumable_only=True,
                                                           status=sv.SESSION_STATUS_INACTIVE)),
            session("ResumeSession", sv.ResumeSessionRequest(session_id=sid(1))),
            session("ResumeSession", sv.ResumeSessionRequest(
                session_id=sid(1), force_new_runner=True,
                overrides=sv.CreateRunnerRequest(model="o", flags=["-x"]))),
            session("GetSessionTranscript", sv.GetSessionTranscriptRequest(
                session_id=sid(1), include_metadata=True))]),
        "sessions-transcript": client_bytes([
            make_p1, make_r1,
            runner("StopRunner", sv.StopRunnerRequest(runner_id=r1, force=True)),
            *[session("GetSessionTranscript", sv.GetSessionTranscriptRequest(
                session_id=conv1, format=f, include_metadata=f % 2 == 0, limit=2))
              for f in (sv.TRANSCRIPT_FORMAT_UNSPECIFIED, sv.TRANSCRIPT_FORMAT_JSON,
                        sv.TRANSCRIPT_FORMAT_TEXT, sv.TRANSCRIPT_FORMAT_MARKDOWN)],
            session("CreateSession", sv.CreateSessionRequest(project_name="p1", runner_id=r1)),
            session("ResumeSession", sv.ResumeSessionRequest(session_id=conv1))]),
        "sessions-bad": client_bytes([
            make_p1,
            session("CreateSession", sv.CreateSessionRequest(project_name="p1")),
            session("CreateSession", sv.CreateSessionRequest()),
            session("CreateSession", sv.CreateSessionRequest(project_name="p1", runner_id=missing)),
            session("CreateSession", sv.CreateSessionRequest(
                project_name="p1", metadata={"": ""},
                launch=sv.CreateRunnerRequest(project_name="other", temperature=float("nan")))),
            session("GetSession", sv.GetSessionRequest()),
            session("GetSession", sv.GetSessionRequest(session_id=missing)),
            session("ListSessions", sv.ListSessionsRequest(status=99)),
            session("ListSessions", sv.ListSessionsRequest(limit=-1, offset=-1)),
            session("ListSessions", sv.ListSessionsRequest(limit=2**31 - 1)),
            session("ResumeSession", sv.ResumeSessionRequest(session_id="")),
            session("ResumeSession", sv.ResumeSessionRequest(session_id=missing)),
            session("GetSessionTranscript", sv.GetSessionTranscriptRequest(session_id=missing)),
            session("GetSessionTranscript", sv.GetSessionTranscriptRequest(
                session_id=sid(1), format=99, offset=-5, limit=-1)),
            session("GetSessionTranscript", sv.GetSessionTranscriptRequest(
                session_id=sid(1), offset=2**63 - 1, limit=2**31 - 1))]),
        # DaemonService
        "daemon": client_bytes([
            make_p1, make_r1,
            daemon("GetStatus", sv.GetStatusRequest(include_detailed=True)),
            daemon("GetStatus", sv.GetStatusRequest(component=sv.COMPONENT_TYPE_DATABASE)),
            daemon("GetMetrics", sv.GetMetricsRequest(include_runners=True)),
            daemon("GetMetrics", sv.GetMetricsRequest(project_name="p1", runner_id=r1)),
            daemon("HealthCheck", sv.HealthCheckRequest()),
            daemon("HealthCheck", sv.HealthCheckRequest(
                component=sv.COMPONENT_TYPE_RESOURCE_CONTROLLER)),
            daemon("Reconcile", sv.ReconcileRequest(dry_run=True)),
            daemon("Reconcile", sv.ReconcileRequest(project_name="p1"))]),
        "daemon-bad": client_bytes([
            daemon("GetStatus", sv.GetStatusRequest(component=99)),
            daemon("GetStatus", sv.GetStatusRequest(component=-1)),
            daemon("GetMetrics", sv.GetMetricsRequest(project_name="nope")),
            daemon("GetMetrics", sv.GetMetricsRequest(runner_id=missing)),
            daemon("HealthCheck", sv.HealthCheckRequest(component=99)),
            daemon("Reconcile", sv.ReconcileRequest(project_name="nope"))]),
        # The wire itself: a request that is not its message, one cut short, one never ended.
        "wire-bad": client_bytes([
            runner("ListRunners", b"\x18\xff\xff\xff\xff\x0f"),
            project("CreateProject", b"\x0a\x80"),
            daemon("GetStatus", b"\xff\xff\xff"),
            ("/stratavore.v1.RunnerService/NoSuchMethod", frame(b""), [])]),
    }
    # A StopRunner whose client never half-closes, on the connection that started the runner.
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    for i, (path, body, _) in enumerate([make_p1, make_r1, runner(
            "StopRunner", sv.StopRunnerRequest(runner_id=r1, timeout_seconds=1))]):
        stream = c.get_next_available_stream_id()
        c.send_headers(stream, [(":method", "POST"), (":scheme", "http"), (":path", path),
                                (":authority", "localhost"), ("content-type", "application/grpc"),
                                ("te", "trailers")])
        c.send_data(stream, body, end_stream=i < 2)
    seeds["wire-open-stream"] = c.data_to_send()
    return seeds


if __name__ == "__main__":
    # `make-corpus.py stratavore` writes that corpus alone.
    if sys.argv[1:] == ["stratavore"]:
        write(os.path.join(HERE, "corpus", "stratavore"), stratavore_seeds())
    else:
        main()
