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
import h2.settings

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
    write(os.path.join(HERE, "corpus", "baaaht"), baaaht_seeds())
    grpc_calls_seeds(None)
    web_seeds()


def web_seeds():
    import seeds_web
    write(os.path.join(HERE, "corpus", "web"), seeds_web.seeds())


def grpc_calls_seeds(binary):
    """fuzz-grpc-calls' seeds are calls, not bytes on the wire (seeds_grpc_calls.py); the method
    numbers come from a build of the target."""
    import seeds_grpc_calls
    binary = binary or os.path.join(ROOT, "build", "tests", "fuzz", "fuzz-grpc-calls-replay")
    write(os.path.join(HERE, "corpus", "grpc-calls"), seeds_grpc_calls.seeds(ROOT, binary))


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


class H2Calls:
    """One client connection whose calls may interleave: streams are opened, fed and ended in
    the order of the script (an agent's stream bound before the message it is to answer, its
    reply after that message)."""

    def __init__(self, settings=None):
        self.c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.c.initiate_connection()
        if settings:
            self.c.update_settings(settings)
        self.ids = {}
        self.n = 0
        self.paths = set()
        self.parts = []

    def open(self, name, path, extra=()):
        sid = self.c.get_next_available_stream_id()
        self.c.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":path", path),
                                  (":authority", "localhost"),
                                  ("content-type", "application/grpc"), ("te", "trailers"),
                                  *extra])
        self.ids[name] = sid
        self.n += 1
        self.paths.add(path)
        return self

    def send(self, name, msg, end=False):
        body = msg if isinstance(msg, bytes) else msg.SerializeToString(deterministic=True)
        self.c.send_data(self.ids[name], frame(body), end_stream=end)
        return self

    def end(self, name):
        self.c.end_stream(self.ids[name])
        return self

    def call(self, path, msg, extra=()):
        name = ("unary", self.n)
        return self.open(name, path, extra).send(name, msg, end=True)

    def later(self):
        """What came before is in the input's first half, what follows in its second (the
        target sends an input in two halves, running the loop between them): frames of an
        unknown type, which the server ignores, pad the shorter side."""
        assert not self.parts, "one mark"
        self.parts.append(self.c.data_to_send())
        return self

    @staticmethod
    def padding(n):
        """n bytes (0, or 9 and more) of frames of an unknown type (0xfa) on stream 0."""
        out = b""
        while n > 0:
            k = min(n - 9, 16384)
            out += struct.pack(">I", k)[1:] + bytes([0xfa, 0, 0, 0, 0, 0]) + bytes(k)
            n -= 9 + k
        return out

    def bytes(self):
        # The server takes 32 streams at once: a seed stays below, whatever it answers when.
        assert self.n <= 32, f"{self.n} streams"
        data = self.c.data_to_send()
        if not self.parts:
            return data
        first = self.parts[0]
        pad_first, pad_last = max(0, len(data) - len(first)), max(0, len(first) - len(data))
        if 0 < pad_first + pad_last < 9:  # too short for a frame: both sides get one more
            pad_first, pad_last = pad_first + 9, pad_last + 9
        return first + self.padding(pad_first) + data + self.padding(pad_last)


def baaaht_seeds():
    """baaaht's services (fuzz-baaaht.c): every RPC of orchestrator.v1, agent.v1 and gateway.v1
    in valid sessions of calls (a conversation with a scripted assistant answering by
    correlation id, tasks droverd runs and tasks an agent runs and reports on, gateway chats
    streamed back in pieces, event streams, agents' own tokens), the container RPCs refused
    (the target has no containers), llm.v1 and tool.v1 refusing, and hostile shapes.

    The target numbers every id the hub makes in the order it is made, afresh for each input,
    id(1), id(2), ... (32 hex digits): a conversation (CreateSession) takes one; a gateway
    session two (its conversation, then itself: the gateway session is the second); an agent
    one; a task one, and one more for the TASK_REQUEST when its agent holds a stream; a message
    stored one when the client gives it no id; a user message routed to the assistant then one
    for the correlation id and one for the DATA message the assistant gets; the assistant's
    reply (or its timeout) stored one; a routing failure on a StreamMessages stream one (its
    event); a reply streamed by StreamChat or StreamResponses one (its chunk_id); agent.v1
    SendMessage one when the message has no id, found or not; a CONTROL (cancel) or DATA
    (input) message to an agent for its task one. Client message ids are given wherever they
    can be, to keep the count short. The database starts with two agent tokens (TOKEN_FREE
    and TOKEN_BOUND, id(1)'s, in the target). H2Calls.later() puts calls in the input's second
    half, after the loop has run (a stream's end seen before a session closes)."""
    from grpc_tools import protoc
    gen = tempfile.mkdtemp()
    wkt = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    for n in ("common", "orchestrator", "agent", "gateway", "llm", "tool"):
        subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc",
                               f"-I{ROOT}/proto/baaaht", f"-I{wkt}", f"--python_out={gen}",
                               f"{n}.proto"])
    sys.path.insert(0, gen)
    from google.protobuf import empty_pb2, timestamp_pb2
    import agent_pb2 as ag
    import common_pb2 as cm
    import gateway_pb2 as gw
    import llm_pb2
    import orchestrator_pb2 as o
    import tool_pb2

    O, A, G = ("/orchestrator.v1.OrchestratorService/", "/agent.v1.AgentService/",
               "/gateway.v1.GatewayService/")
    E = empty_pb2.Empty()
    token_free = "bah1." + "a" * 31 + "1"
    token_bound = "bah1." + "a" * 31 + "2"
    missing = "f" * 32

    def i(n):
        return f"{n:032x}"

    def ts(s):
        return timestamp_pb2.Timestamp(seconds=s)

    def bearer(token, scopes="0"):
        return [("authorization", "Bearer " + token), ("x-fuzz-scopes", scopes)]

    def user(mid, text, role=o.MESSAGE_ROLE_USER):
        return o.Message(id=mid, role=role, content=text)

    def reply(agent, corr, conv, text, in_headers=False, type_=ag.MESSAGE_TYPE_DATA,
              content_type="text/plain"):
        """The assistant's answer on its stream, as baaaht's assistant sends it."""
        data = ag.DataMessage(content_type=content_type, data=text.encode())
        md = ag.AgentMessageMetadata()
        if in_headers:
            data.headers["correlation_id"] = corr
            data.headers["session_id"] = conv
        else:
            md = ag.AgentMessageMetadata(correlation_id=corr, session_id=conv, priority=2)
        return ag.StreamAgentRequest(agent_id=agent, message=ag.AgentMessage(
            id="r-" + corr[-4:], type=type_, source_id=agent, target_id="orchestrator",
            timestamp=ts(1700000000), data_message=data, metadata=md))

    assistant = ag.RegisterRequest(name="assistant", type=ag.AGENT_TYPE_WORKER,
                                   metadata=ag.AgentMetadata(labels={"role": "assistant"}))
    session = o.CreateSessionRequest(metadata=o.SessionMetadata(name="tui-session",
                                                                labels={"client": "tui"}))
    seeds = {}

    # ---- orchestrator.v1: sessions and their messages ----
    c = H2Calls()
    c.call(O + "CreateSession", o.CreateSessionRequest(  # id(1)
        metadata=o.SessionMetadata(name="s1", description="fuzz", labels={"client": "tui"},
                                   owner_id="alice", tags=["t1", "t2"]),
        config=o.SessionConfig(
            max_containers=2, max_duration_ns=3600 * 10**9, idle_timeout_ns=600 * 10**9,
            resource_limits=cm.ResourceLimits(nano_cpus=10**9, memory_bytes=1 << 26,
                                              memory_swap=1 << 27, pids_limit=64),
            allowed_images=["alpine:3"],
            policy=o.SessionPolicy(allow_network=True, allowed_networks=["none"],
                                   allow_volume_mount=True, allowed_paths=["/tmp"],
                                   require_approval=True))))
    c.call(O + "GetSession", o.GetSessionRequest(session_id=i(1)))
    c.call(O + "ListSessions", o.ListSessionsRequest())
    c.call(O + "ListSessions", o.ListSessionsRequest(filter=o.SessionFilter(
        state=o.SESSION_STATE_ACTIVE, status=cm.STATUS_RUNNING, owner_id="alice",
        labels={"client": "tui"})))
    c.call(O + "UpdateSession", o.UpdateSessionRequest(
        session_id=i(1), metadata=o.SessionMetadata(name="renamed", labels={"k": "v"}),
        context=o.SessionContext(preferences=o.UserPreferences(
            timezone="UTC", language="en", theme="dark", notifications=True))))
    c.call(O + "UpdateSession", o.UpdateSessionRequest(session_id=i(1), context=o.SessionContext(
        preferences=o.UserPreferences(theme="light"))))
    c.call(O + "UpdateSession", o.UpdateSessionRequest(session_id=i(1)))
    c.call(O + "SendMessage", o.SendMessageRequest(session_id=i(1), message=o.Message(  # id(2)
        role=o.MESSAGE_ROLE_USER, content="hello", metadata=o.MessageMetadata(
            container_id="c1", tool_name="t", tool_call_id="x", extra={"a": "b"}))))
    c.call(O + "SendMessage", o.SendMessageRequest(session_id=i(1), message=o.Message(
        id="m-own", role=o.MESSAGE_ROLE_TOOL, content="note", timestamp=ts(1700000000))))
    c.call(O + "SendMessage", o.SendMessageRequest(session_id=i(1), message=user("m-own", "dup")))
    c.call(O + "GetSession", o.GetSessionRequest(session_id=i(1)))
    c.call(O + "CloseSession", o.CloseSessionRequest(session_id=i(1), reason="done"))
    c.call(O + "CloseSession", o.CloseSessionRequest(session_id=i(1)))
    c.call(O + "GetSession", o.GetSessionRequest(session_id=i(1)))
    c.call(O + "UpdateSession", o.UpdateSessionRequest(session_id=i(1)))
    c.call(O + "UpdateSession", o.UpdateSessionRequest(session_id=i(1), metadata=o.SessionMetadata(
        name="late")))
    c.call(O + "SendMessage", o.SendMessageRequest(session_id=i(1), message=user("", "late")))
    c.call(O + "ListSessions", o.ListSessionsRequest(filter=o.SessionFilter(
        state=o.SESSION_STATE_CLOSED)))
    c.call(O + "HealthCheck", E)
    c.call(O + "GetStatus", E)
    seeds["orchestrator-sessions"] = c

    c = H2Calls()
    c.call(O + "CreateSession", o.CreateSessionRequest(metadata=o.SessionMetadata(
        owner_id="../x")))
    c.call(O + "CreateSession", o.CreateSessionRequest(config=o.SessionConfig(
        max_duration_ns=-1, idle_timeout_ns=-1)))
    for n in range(9):  # id(1) to id(8), then the limit
        c.call(O + "CreateSession", o.CreateSessionRequest())
    c.call(O + "GetSession", o.GetSessionRequest())
    c.call(O + "GetSession", o.GetSessionRequest(session_id=missing))
    c.call(O + "UpdateSession", o.UpdateSessionRequest(session_id=missing))
    c.call(O + "CloseSession", o.CloseSessionRequest())
    c.call(O + "SendMessage", o.SendMessageRequest(message=user("", "x")))
    c.call(O + "SendMessage", o.SendMessageRequest(session_id=i(1)))
    c.call(O + "SendMessage", o.SendMessageRequest(session_id=missing, message=user("", "x")))
    c.call(O + "SendMessage", o.SendMessageRequest(session_id=i(1), message=user("", "x" * 5000)))
    c.call(O + "SendMessage", o.SendMessageRequest(session_id=i(1),
                                                   message=user("k" * 80, "long id")))
    c.open("s", O + "StreamMessages").send("s", o.StreamMessageRequest(message=user("", "x")))
    c.open("t", O + "StreamMessages").send("t", o.StreamMessageRequest(session_id=missing), True)
    c.open("u", O + "StreamMessages").send("u", o.StreamMessageRequest(heartbeat=E))
    c.send("u", o.StreamMessageRequest(heartbeat=E), True)
    for n in range(1, 7):  # closed ones: the oldest go past closed_keep
        c.call(O + "CloseSession", o.CloseSessionRequest(session_id=i(n), reason=f"r{n}"))
    c.call(O + "ListSessions", o.ListSessionsRequest())
    seeds["orchestrator-errors"] = c

    # Expiry and idleness: their timers fire while the target settles (a task runs).
    c = H2Calls()
    c.open("ev", O + "SubscribeEvents").send("ev", o.SubscribeEventsRequest(), True)
    c.call(O + "CreateSession", o.CreateSessionRequest(config=o.SessionConfig(  # id(1)
        max_duration_ns=1)))
    c.call(O + "CreateSession", o.CreateSessionRequest(config=o.SessionConfig(  # id(2)
        idle_timeout_ns=1000)))
    c.open("s", O + "StreamMessages").send("s", o.StreamMessageRequest(session_id=i(1)))
    c.call(O + "SendMessage", o.SendMessageRequest(session_id=i(2), message=user(  # id(3)
        "", "wakes it", o.MESSAGE_ROLE_SYSTEM)))
    c.later()
    c.call(O + "ListSessions", o.ListSessionsRequest(filter=o.SessionFilter(
        state=o.SESSION_STATE_IDLE)))
    c.call(O + "GetSession", o.GetSessionRequest(session_id=i(1)))
    c.open("t", O + "StreamMessages").send("t", o.StreamMessageRequest(session_id=i(2)))
    c.send("t", o.StreamMessageRequest(message=user("n1", "a note", o.MESSAGE_ROLE_SYSTEM)))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(session_id=i(2), config=ag.TaskConfig(
        command="true")))  # id(4)
    seeds["orchestrator-idle-expiry"] = c

    # ---- a conversation: the TUI's StreamMessages, the assistant's StreamAgent ----
    c = H2Calls()
    c.call(A + "Register", assistant)  # id(1)
    c.call(O + "CreateSession", session)  # id(2)
    c.open("agent", A + "StreamAgent").send("agent", ag.StreamAgentRequest(agent_id=i(1)))
    c.open("tui", O + "StreamMessages").send("tui", o.StreamMessageRequest(
        session_id=i(2), message=user("u1", "hello")))  # correlation id(3), DATA id(4)
    c.open("tui2", O + "StreamMessages").send("tui2", o.StreamMessageRequest(session_id=i(2)))
    c.send("tui2", o.StreamMessageRequest(heartbeat=E))
    c.send("agent", reply(i(1), i(3), i(2), "echo: hello"))  # stored id(5)
    c.send("tui", o.StreamMessageRequest(session_id=i(2), message=user("u2", "more")))  # 6, 7
    c.send("agent", reply(i(1), i(6), i(2), "by headers", in_headers=True))  # id(8)
    c.send("tui", o.StreamMessageRequest(message=user("u3", "break")))  # 9, 10
    c.send("agent", reply(i(1), i(9), i(2), "it broke", type_=ag.MESSAGE_TYPE_ERROR,
                          content_type="application/vnd.baaaht.conversation.error+text"))  # 11
    c.send("agent", reply(i(1), i(9), i(2), "answered twice"))
    c.send("agent", reply(i(1), i(6), missing, "wrong session"))
    c.send("tui", o.StreamMessageRequest(message=user("n1", "a note", o.MESSAGE_ROLE_SYSTEM)))
    c.call(O + "SendMessage", o.SendMessageRequest(session_id=i(2), message=user("d1", "direct")))
    c.send("agent", ag.StreamAgentRequest(agent_id=i(1), heartbeat=E))
    c.send("agent", ag.StreamAgentRequest(agent_id=i(1), message=ag.AgentMessage(
        type=ag.MESSAGE_TYPE_EVENT, event_message=ag.EventMessage(
            event_type="thinking", source="assistant", data={"k": "v"}))))
    c.call(A + "SendMessage", ag.AgentSendMessageRequest(agent_id=i(1), message=ag.AgentMessage(
        type=ag.MESSAGE_TYPE_CONTROL, control_message=ag.ControlMessage(
            command=ag.CONTROL_COMMAND_STATUS, parameters={"x": "y"}))))  # id(12)
    c.call(A + "SendMessage", ag.AgentSendMessageRequest(agent_id=i(1), message=ag.AgentMessage(
        id="own", type=ag.MESSAGE_TYPE_DATA, target_id=i(1), timestamp=ts(1700000000),
        data_message=ag.DataMessage(content_type="text/plain", data=b"hi", headers={"a": "b"}))))
    c.send("tui", o.StreamMessageRequest(message=user("u4", "unanswered")))  # 13, 14
    c.end("agent")  # its stream goes: u4's reply times out, stored id(15)
    c.later()
    c.call(O + "GetSession", o.GetSessionRequest(session_id=i(2)))
    c.end("tui")
    c.call(O + "CloseSession", o.CloseSessionRequest(session_id=i(2), reason="bye"))
    seeds["conversation-assistant"] = c

    c = H2Calls()
    c.call(O + "CreateSession", session)  # id(1)
    c.open("tui", O + "StreamMessages").send("tui", o.StreamMessageRequest(
        session_id=i(1), message=user("u1", "nobody")))  # no assistant: event id(2)
    c.call(A + "Register", assistant)  # id(3)
    c.send("tui", o.StreamMessageRequest(message=user("u2", "no stream")))  # event id(4)
    c.open("a", A + "StreamAgent").send("a", ag.StreamAgentRequest(agent_id=i(3)))
    for n in range(3, 7):  # four owed: routes_max
        c.send("tui", o.StreamMessageRequest(message=user(f"u{n}", f"m{n}")))  # 5..12
    c.send("tui", o.StreamMessageRequest(message=user("u7", "overloaded")))  # event id(13)
    c.call(A + "Register", ag.RegisterRequest(name="helper", type=ag.AGENT_TYPE_WORKER,
                                              metadata=ag.AgentMetadata(
                                                  labels={"role": "Assistant"})))  # id(14)
    c.open("b", A + "StreamAgent").send("b", ag.StreamAgentRequest(agent_id=i(14)))
    c.open("a2", A + "StreamAgent").send("a2", ag.StreamAgentRequest(agent_id=i(3)))  # replaces
    c.call(A + "Unregister", ag.UnregisterRequest(agent_id=i(3), reason="bye"))  # 15..18
    c.send("tui", o.StreamMessageRequest(message=user("u8", "to the helper")))  # 19, 20
    c.send("b", reply(i(14), i(19), i(1), "helped"))  # id(21)
    c.send("tui", o.StreamMessageRequest(message=user("u8", "same id again")))
    c.send("tui", o.StreamMessageRequest(message=user("", "x" * 5000)))
    c.call(O + "CloseSession", o.CloseSessionRequest(session_id=i(1)))
    c.open("late", O + "StreamMessages").send("late", o.StreamMessageRequest(session_id=i(1)))
    seeds["routing-failures"] = c

    # ---- agent.v1: agents ----
    c = H2Calls()
    c.call(A + "Register", ag.RegisterRequest(  # id(1)
        name="worker-1", type=ag.AGENT_TYPE_WORKER,
        metadata=ag.AgentMetadata(version="1.0", description="fuzz", labels={"zone": "a"},
                                  owner_id="alice", tags=["t"], hostname="h", pid="42"),
        capabilities=ag.AgentCapabilities(
            supported_tasks=["code_execution", "file_operation"], supported_tools=["read"],
            max_concurrent_tasks=2, supported_protocols=["grpc"],
            resource_limits=cm.ResourceLimits(nano_cpus=1, memory_bytes=2, memory_swap=3,
                                              pids_limit=4),
            supports_streaming=True, supports_cancellation=True)))
    c.call(A + "Heartbeat", ag.HeartbeatRequest(agent_id=i(1), active_tasks=["x"],
                                                resources=cm.ResourceUsage()))
    c.call(A + "HealthCheck", E)
    c.call(A + "GetStatus", E)
    c.call(A + "GetCapabilities", E)
    c.call(A + "Register", ag.RegisterRequest())
    c.call(A + "Heartbeat", ag.HeartbeatRequest())
    c.call(A + "Heartbeat", ag.HeartbeatRequest(agent_id=missing))
    c.call(A + "Heartbeat", ag.HeartbeatRequest(agent_id=i(1)), [("x-fuzz-scopes", "1")])
    c.open("s0", A + "StreamAgent").send("s0", ag.StreamAgentRequest(message=ag.AgentMessage()))
    c.open("s1", A + "StreamAgent").send("s1", ag.StreamAgentRequest(agent_id=missing), True)
    c.open("s", A + "StreamAgent").send("s", ag.StreamAgentRequest(agent_id=i(1)))
    c.send("s", ag.StreamAgentRequest(heartbeat=E))
    c.send("s", ag.StreamAgentRequest(message=ag.AgentMessage(
        type=ag.MESSAGE_TYPE_TASK_UPDATE, task_message=ag.TaskMessage(task_id=missing))))
    c.open("s2", A + "StreamAgent").send("s2", ag.StreamAgentRequest(heartbeat=E))
    c.send("s2", ag.StreamAgentRequest(agent_id=i(1)))  # replaces s
    c.call(A + "Unregister", ag.UnregisterRequest(agent_id=i(1), reason="done"))
    c.call(A + "Heartbeat", ag.HeartbeatRequest(agent_id=i(1)))
    c.call(A + "SendMessage", ag.AgentSendMessageRequest(agent_id=i(1),
                                                         message=ag.AgentMessage()))  # id(2)
    c.call(A + "SendMessage", ag.AgentSendMessageRequest(message=ag.AgentMessage()))
    c.call(A + "SendMessage", ag.AgentSendMessageRequest(agent_id=i(1)))
    c.call(A + "Register", ag.RegisterRequest(name="quiet"))  # id(3): SendMessage took id(2)
    c.call(A + "SendMessage", ag.AgentSendMessageRequest(agent_id=i(3),
                                                         message=ag.AgentMessage()))  # id(4)
    c.call(A + "Unregister", ag.UnregisterRequest(agent_id=missing))
    c.call(A + "Unregister", ag.UnregisterRequest())
    c.call(A + "Unregister", ag.UnregisterRequest(agent_id=i(3)))
    c.call(A + "GetStatus", E)
    seeds["agents"] = c

    # ---- agent.v1: tasks droverd runs (/bin/true in the target) ----
    c = H2Calls()
    c.call(O + "CreateSession", o.CreateSessionRequest())  # id(1)
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(  # id(2)
        session_id=i(1), type=ag.TASK_TYPE_CODE_EXECUTION, priority=ag.TASK_PRIORITY_NORMAL,
        config=ag.TaskConfig(command="sh", arguments=["-c", "echo out; echo err >&2; cat"],
                             environment={"GREETING": "hi"}, working_directory="/tmp",
                             timeout_ns=5 * 10**9, max_retries=1, retry_on_failure=True,
                             input_data=b"piped", parameters={"k": "v"})))
    c.open("w", A + "StreamTask").send("w", ag.StreamTaskRequest(task_id=i(2)))
    c.send("w", ag.StreamTaskRequest(heartbeat=E))
    c.send("w", ag.StreamTaskRequest(input=ag.TaskInput(data=b"more\n", metadata={"eof": "true"})))
    c.open("w2", A + "StreamTask").send("w2", ag.StreamTaskRequest(task_id=i(2)), True)
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(  # id(3)
        session_id=i(1), config=ag.TaskConfig(command="sleep", arguments=["30"])))
    c.call(A + "CancelTask", ag.CancelTaskRequest(task_id=i(3), reason="enough"))
    c.call(A + "CancelTask", ag.CancelTaskRequest(task_id=i(3), force=True))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(  # id(4)
        session_id=i(1), config=ag.TaskConfig(command="sleep", arguments=["30"])))
    c.open("w4", A + "StreamTask").send("w4", ag.StreamTaskRequest(
        task_id=i(4), cancel=ag.CancelCommand(reason="from the stream", force=True)))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(  # id(5): no containers, FAILED
        session_id=i(1), config=ag.TaskConfig(command="true", parameters={"image": "alpine"})))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(  # id(6)
        session_id=i(1), type=ag.TASK_TYPE_DATA_PROCESSING, priority=ag.TASK_PRIORITY_HIGH,
        config=ag.TaskConfig(command="true", constraints=ag.TaskConstraints(
            max_memory_bytes=64 << 20, max_cpu_ns=10**9, max_execution_time_ns=10**9,
            allowed_operations=["read"], denied_operations=["write"]))))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(  # id(7): times out at once
        session_id=i(1), config=ag.TaskConfig(command="sleep", arguments=["30"], timeout_ns=1)))
    c.open("w7", A + "StreamTask").send("w7", ag.StreamTaskRequest(task_id=i(7)))
    c.call(A + "GetTaskStatus", ag.GetTaskStatusRequest(task_id=i(2)))
    c.call(A + "ListTasks", ag.ListTasksRequest())
    c.call(A + "ListTasks", ag.ListTasksRequest(filter=ag.TaskFilter(
        state=ag.TASK_STATE_RUNNING, type=ag.TASK_TYPE_CODE_EXECUTION,
        priority=ag.TASK_PRIORITY_NORMAL, session_id=i(1), created_after=ts(1),
        created_before=ts(2**40))))
    c.call(A + "GetStatus", E)
    c.call(O + "GetSession", o.GetSessionRequest(session_id=i(1)))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(  # id(8): cancelled with its session
        session_id=i(1), config=ag.TaskConfig(command="sleep", arguments=["30"])))
    c.call(O + "CloseSession", o.CloseSessionRequest(session_id=i(1)))
    seeds["tasks-droverd"] = c

    c = H2Calls()
    c.call(O + "CreateSession", o.CreateSessionRequest())  # id(1)
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(config=ag.TaskConfig(command="true")))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(session_id=i(1)))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(session_id=i(1), config=ag.TaskConfig()))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(agent_id=missing, session_id=i(1),
                                                    config=ag.TaskConfig(command="true")))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(session_id=i(1), config=ag.TaskConfig(
        command="true", timeout_ns=-1)))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(session_id=i(1), config=ag.TaskConfig(
        command="true", constraints=ag.TaskConstraints(max_memory_bytes=-1))))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(  # id(2): a session it does not name
        session_id=missing, config=ag.TaskConfig(command="true", environment={"": "x", "A=B": ""},
                                                 working_directory="/nonexistent")))
    c.call(A + "GetTaskStatus", ag.GetTaskStatusRequest())
    c.call(A + "GetTaskStatus", ag.GetTaskStatusRequest(task_id=missing))
    c.call(A + "CancelTask", ag.CancelTaskRequest())
    c.call(A + "CancelTask", ag.CancelTaskRequest(task_id=missing))
    c.call(A + "ListTasks", ag.ListTasksRequest(agent_id=missing))
    c.call(A + "ListTasks", ag.ListTasksRequest(filter=ag.TaskFilter(state=99, type=-1)))
    c.open("a", A + "StreamTask").send("a", ag.StreamTaskRequest(input=ag.TaskInput(data=b"x")))
    c.open("b", A + "StreamTask").send("b", ag.StreamTaskRequest(task_id=missing), True)
    c.open("c", A + "StreamTask").end("c")
    c.open("d", A + "StreamTask").send("d", ag.StreamTaskRequest(task_id=i(2), progress=(
        ag.TaskProgress(percent=5))))
    c.open("e", A + "StreamTask").send("e", ag.StreamTaskRequest(task_id=i(2)))
    c.send("e", ag.StreamTaskRequest(task_id=i(1)))
    c.send("e", ag.StreamTaskRequest(input=ag.TaskInput()))
    c.send("e", ag.StreamTaskRequest(cancel=ag.CancelCommand()))
    c.send("e", ag.StreamTaskRequest(input=ag.TaskInput(data=b"late")))
    seeds["tasks-errors"] = c

    # ---- agent.v1: tasks an agent runs and reports on ----
    c = H2Calls()
    c.call(A + "Register", ag.RegisterRequest(  # id(1)
        name="worker-1", type=ag.AGENT_TYPE_WORKER, capabilities=ag.AgentCapabilities(
            supported_tasks=["file_operation"], supports_cancellation=True)))
    c.call(O + "CreateSession", o.CreateSessionRequest())  # id(2)
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(  # id(3): no stream, its heartbeat has it
        agent_id=i(1), session_id=i(2), type=ag.TASK_TYPE_FILE_OPERATION,
        config=ag.TaskConfig(command="read_file", arguments=["/x"])))
    c.call(A + "Heartbeat", ag.HeartbeatRequest(agent_id=i(1)))
    c.open("agent", A + "StreamAgent").send("agent", ag.StreamAgentRequest(agent_id=i(1)))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(  # id(4), its TASK_REQUEST id(5)
        session_id=i(2), type=ag.TASK_TYPE_FILE_OPERATION,
        config=ag.TaskConfig(command="read_file")))
    c.open("watch", A + "StreamTask").send("watch", ag.StreamTaskRequest(task_id=i(4)))
    c.open("rep", A + "StreamTask").send("rep", ag.StreamTaskRequest(
        task_id=i(4), status=ag.TaskStatusUpdate(state=ag.TASK_STATE_RUNNING, message="reading",
                                                 timestamp=ts(1700000000))))
    c.send("rep", ag.StreamTaskRequest(progress=ag.TaskProgress(percent=50, message="half",
                                                                details={"k": "v"})))
    c.send("rep", ag.StreamTaskRequest(output=ag.TaskOutput(data=b"content",
                                                            stream_type="stdout")))
    c.send("rep", ag.StreamTaskRequest(output=ag.TaskOutput(text="warn", stream_type="stderr")))
    c.send("watch", ag.StreamTaskRequest(input=ag.TaskInput(data=b"more")))  # DATA id(6)
    c.send("agent", ag.StreamAgentRequest(agent_id=i(1), message=ag.AgentMessage(
        type=ag.MESSAGE_TYPE_TASK_UPDATE, task_message=ag.TaskMessage(
            task_id=i(3), session_id=i(2), state=ag.TASK_STATE_RUNNING, progress=10,
            status_message="started", output=b"x"))))
    c.send("rep", ag.StreamTaskRequest(complete=ag.TaskComplete(
        task_id=i(4), completed_at=ts(1700000000), result=ag.TaskResult(
            exit_code=0, output_data=b"content", output_text="content", error_text="",
            metadata={"a": "b"}, completed_at=ts(1700000000), execution_duration_ns=5))))
    c.send("rep", ag.StreamTaskRequest(progress=ag.TaskProgress(percent=99)))
    c.call(A + "CancelTask", ag.CancelTaskRequest(task_id=i(3), reason="no", force=True))  # 7
    c.call(A + "ListTasks", ag.ListTasksRequest(agent_id=i(1)))
    c.call(A + "GetTaskStatus", ag.GetTaskStatusRequest(task_id=i(4)))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(  # id(8), TASK_REQUEST id(9)
        agent_id=i(1), session_id=i(2), config=ag.TaskConfig(command="write_file")))
    c.open("rep2", A + "StreamTask").send("rep2", ag.StreamTaskRequest(
        task_id=i(8), error_msg=ag.TaskError(code="E", message="broke", details=["d"],
                                             stack_trace="st", occurred_at=ts(1700000000))))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(  # id(10): droverd's own
        session_id=i(2), config=ag.TaskConfig(command="true")))
    c.open("rep3", A + "StreamTask").send("rep3", ag.StreamTaskRequest(
        task_id=i(10), progress=ag.TaskProgress(percent=1)))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(  # id(11), TASK_REQUEST id(12)
        agent_id=i(1), session_id=i(2), config=ag.TaskConfig(command="slow")))
    c.send("agent", ag.StreamAgentRequest(agent_id=i(1), message=ag.AgentMessage(
        type=ag.MESSAGE_TYPE_TASK_RESPONSE, task_message=ag.TaskMessage(
            task_id=i(11), state=ag.TASK_STATE_COMPLETED, progress=100, output=b"done"))))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(  # id(13), TASK_REQUEST id(14)
        agent_id=i(1), session_id=i(2), config=ag.TaskConfig(command="slower")))
    c.end("agent")
    c.call(A + "Unregister", ag.UnregisterRequest(agent_id=i(1)))  # its tasks fail
    c.call(A + "ListTasks", ag.ListTasksRequest(filter=ag.TaskFilter(session_id=i(2))))
    seeds["tasks-agent"] = c

    # ---- gateway.v1 ----
    c = H2Calls()
    c.call(A + "Register", assistant)  # id(1)
    c.open("agent", A + "StreamAgent").send("agent", ag.StreamAgentRequest(agent_id=i(1)))
    c.call(G + "CreateGatewaySession", gw.CreateGatewaySessionRequest(  # id(2), id(3)
        metadata=gw.GatewaySessionMetadata(name="web", description="fuzz", labels={"ui": "web"},
                                           user_id="u", tags=["t"], client_type="browser",
                                           client_version="1"),
        config=gw.GatewaySessionConfig(
            timeout_ns=3600 * 10**9, idle_timeout_ns=600 * 10**9, enable_streaming=True,
            max_message_size=1024,
            stream_config=gw.StreamConfig(chunk_size=4, chunk_delay_ns=0, enable_delta=False),
            security=gw.SessionSecurity(require_auth=True, allowed_origins=["x"],
                                        enable_encryption=True))))
    c.open("ev", G + "SubscribeToEvents").send("ev", gw.SubscribeToEventsRequest(
        session_id=i(3)), True)
    c.call(G + "GetGatewaySession", gw.GetGatewaySessionRequest(session_id=i(3)))
    c.call(G + "ListGatewaySessions", gw.ListGatewaySessionsRequest())
    c.call(G + "ListGatewaySessions", gw.ListGatewaySessionsRequest(filter=gw.GatewaySessionFilter(
        state=gw.GATEWAY_SESSION_STATE_ACTIVE, status=cm.STATUS_RUNNING, user_id="u",
        labels={"ui": "web"})))
    c.open("chat", G + "StreamChat").send("chat", gw.StreamChatRequest(
        session_id=i(3), message=gw.GatewayMessage(
            id="g1", role=gw.GATEWAY_MESSAGE_ROLE_USER, content="héllo wörld ✓",
            timestamp=ts(1700000000), metadata=gw.GatewayMessageMetadata(
                session_id="x", correlation_id="c", model="m", extra={"k": "v"},
                tokens_used=3))))  # correlation id(4), DATA id(5)
    c.send("agent", reply(i(1), i(4), i(2), "réponse ✓ en morceaux"))  # id(6), chunk id(7)
    c.open("resp", G + "StreamResponses").send("resp", gw.StreamResponsesRequest(
        session_id=i(3), message_id="g1", options=gw.StreamOptions(
            chunk_size=3, include_events=True, include_metadata=True)), True)  # chunk id(8)
    c.call(G + "GatewaySendMessage", gw.GatewaySendMessageRequest(session_id=i(3), message=(
        gw.GatewayMessage(id="g2", content="second"))))  # 9, 10
    c.open("resp2", G + "StreamResponses").send("resp2", gw.StreamResponsesRequest(
        session_id=i(3)), True)
    c.send("agent", reply(i(1), i(9), i(2), "second answer"))  # id(11), chunk id(12)
    c.send("chat", gw.StreamChatRequest(heartbeat=E))
    c.send("chat", gw.StreamChatRequest(message=gw.GatewayMessage(
        role=gw.GATEWAY_MESSAGE_ROLE_SYSTEM, content="system")))  # id(13)
    c.send("chat", gw.StreamChatRequest(message=gw.GatewayMessage(content="x" * 2000)))
    c.call(G + "HealthCheck", E)
    c.call(G + "GetStatus", E)
    c.send("chat", gw.StreamChatRequest(message=gw.GatewayMessage(id="g3", content="last")))
    c.end("chat")  # 14, 15: it ends once its reply is out
    c.send("agent", reply(i(1), i(14), i(2), "last answer"))  # id(16), chunk id(17)
    c.call(G + "CloseGatewaySession", gw.CloseGatewaySessionRequest(session_id=i(3),
                                                                    reason="bye"))
    c.call(G + "GetGatewaySession", gw.GetGatewaySessionRequest(session_id=i(3)))
    c.call(G + "GatewaySendMessage", gw.GatewaySendMessageRequest(session_id=i(3), message=(
        gw.GatewayMessage(content="gone"))))
    seeds["gateway-chat"] = c

    c = H2Calls()
    c.call(A + "Register", assistant)  # id(1)
    c.open("agent", A + "StreamAgent").send("agent", ag.StreamAgentRequest(agent_id=i(1)))
    c.call(G + "CreateGatewaySession", gw.CreateGatewaySessionRequest(  # id(2), id(3)
        config=gw.GatewaySessionConfig(stream_config=gw.StreamConfig(
            chunk_size=1, chunk_delay_ns=1000000, enable_delta=True))))
    c.open("chat", G + "StreamChat").send("chat", gw.StreamChatRequest(
        session_id=i(3), message=gw.GatewayMessage(content="paced")))  # id(4); 5, 6
    c.send("agent", reply(i(1), i(5), i(2), "one byte a millisecond"))  # id(7), chunk id(8)
    c.send("chat", gw.StreamChatRequest(cancel=gw.CancelStream(reason="enough", force=True)))
    c.open("c2", G + "StreamChat").send("c2", gw.StreamChatRequest(heartbeat=E))
    c.send("c2", gw.StreamChatRequest(message=gw.GatewayMessage(content="no session")))
    c.open("c3", G + "StreamChat").send("c3", gw.StreamChatRequest(session_id=missing))
    c.open("c4", G + "StreamChat").end("c4")
    c.open("c5", G + "StreamChat").send("c5", gw.StreamChatRequest(session_id=i(3)))
    c.call(G + "CloseGatewaySession", gw.CloseGatewaySessionRequest(session_id=i(3)))
    c.send("c5", gw.StreamChatRequest(message=gw.GatewayMessage(content="after close")))
    c.call(G + "CreateGatewaySession", gw.CreateGatewaySessionRequest(  # id(9), id(10)
        config=gw.GatewaySessionConfig(timeout_ns=-1)))
    c.call(G + "CreateGatewaySession", gw.CreateGatewaySessionRequest(  # id(11), id(12)
        metadata=gw.GatewaySessionMetadata(user_id="a/../b")))
    c.call(G + "StreamResponses", gw.StreamResponsesRequest(session_id=i(12)))
    c.call(G + "StreamResponses", gw.StreamResponsesRequest(session_id=i(12), message_id="none"))
    c.call(G + "StreamResponses", gw.StreamResponsesRequest())
    c.call(G + "StreamResponses", gw.StreamResponsesRequest(session_id=i(3)))
    c.call(G + "GatewaySendMessage", gw.GatewaySendMessageRequest(message=gw.GatewayMessage()))
    c.call(G + "GatewaySendMessage", gw.GatewaySendMessageRequest(session_id=i(12)))
    c.call(G + "GatewaySendMessage", gw.GatewaySendMessageRequest(session_id=i(12), message=(
        gw.GatewayMessage(role=gw.GATEWAY_MESSAGE_ROLE_ASSISTANT, content="as the assistant"))))
    c.call(G + "GetGatewaySession", gw.GetGatewaySessionRequest())
    c.call(G + "CloseGatewaySession", gw.CloseGatewaySessionRequest(session_id=missing))
    c.call(G + "SubscribeToEvents", gw.SubscribeToEventsRequest())
    c.call(G + "SubscribeToEvents", gw.SubscribeToEventsRequest(session_id=missing))
    c.call(O + "CloseSession", o.CloseSessionRequest(session_id=i(11)))  # under the gateway
    c.call(G + "ListGatewaySessions", gw.ListGatewaySessionsRequest(filter=gw.GatewaySessionFilter(
        state=gw.GATEWAY_SESSION_STATE_CLOSED)))
    seeds["gateway-paced-errors"] = c

    # ---- events ----
    c = H2Calls()
    c.open("all", O + "SubscribeEvents").send("all", o.SubscribeEventsRequest(), True)
    c.open("typed", O + "SubscribeEvents").send("typed", o.SubscribeEventsRequest(
        filter=o.EventFilter(type=o.EVENT_TYPE_SESSION_CREATED)), True)
    c.open("narrow", O + "SubscribeEvents").send("narrow", o.SubscribeEventsRequest(
        filter=o.EventFilter(source="orchestrator", session_id=i(1),
                             priority=cm.PRIORITY_NORMAL, labels={"client": "tui"},
                             start_time=ts(1), end_time=ts(2**40))), True)
    c.open("past", O + "SubscribeEvents").send("past", o.SubscribeEventsRequest(
        filter=o.EventFilter(end_time=ts(1))), True)
    c.open("ctr", O + "SubscribeEvents").send("ctr", o.SubscribeEventsRequest(
        filter=o.EventFilter(container_id="c", type=o.EVENT_TYPE_TASK_COMPLETED)), True)
    c.call(O + "CreateSession", session)  # id(1)
    c.call(O + "SendMessage", o.SendMessageRequest(session_id=i(1), message=user("m1", "x")))
    c.call(O + "UpdateSession", o.UpdateSessionRequest(session_id=i(1), metadata=(
        o.SessionMetadata(name="y"))))
    c.call(A + "Register", ag.RegisterRequest(name="a"))  # id(2)
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(session_id=i(1), config=ag.TaskConfig(
        command="true")))  # id(3)
    c.call(G + "CreateGatewaySession", gw.CreateGatewaySessionRequest(  # id(4), id(5)
        metadata=gw.GatewaySessionMetadata(user_id="u", labels={"k": "v"})))
    c.open("gev", G + "SubscribeToEvents").send("gev", gw.SubscribeToEventsRequest(
        session_id=i(5)), True)
    c.open("gev2", G + "SubscribeToEvents").send("gev2", gw.SubscribeToEventsRequest(
        session_id=i(5), filter=gw.GatewayEventFilter(
            type=gw.GATEWAY_EVENT_TYPE_MESSAGE_SENT, source="orchestrator",
            priority=cm.PRIORITY_NORMAL, labels={"k": "v"}, start_time=ts(1),
            end_time=ts(2**40))), True)
    c.call(G + "GatewaySendMessage", gw.GatewaySendMessageRequest(session_id=i(5), message=(
        gw.GatewayMessage(id="g1", role=gw.GATEWAY_MESSAGE_ROLE_SYSTEM, content="noted"))))
    c.call(G + "GatewaySendMessage", gw.GatewaySendMessageRequest(session_id=i(5), message=(
        gw.GatewayMessage(id="g2", content="nobody answers"))))
    c.call(A + "Unregister", ag.UnregisterRequest(agent_id=i(2)))
    c.call(G + "CloseGatewaySession", gw.CloseGatewaySessionRequest(session_id=i(5)))
    c.call(O + "CloseSession", o.CloseSessionRequest(session_id=i(1)))
    seeds["events"] = c

    # A subscriber the server cannot send to (a zero window) while the ring goes round, then
    # the client opens its window.
    c = H2Calls(settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    c.open("all", O + "SubscribeEvents").send("all", o.SubscribeEventsRequest(), True)
    c.call(O + "CreateSession", session)  # id(1)
    c.open("tui", O + "StreamMessages").send("tui", o.StreamMessageRequest(session_id=i(1)))
    for n in range(72):
        c.send("tui", o.StreamMessageRequest(message=user(f"n{n}", "x", o.MESSAGE_ROLE_SYSTEM)))
    c.c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535})
    c.end("tui")
    seeds["events-zero-window"] = c

    # ---- agents' own tokens (Bearer bah1.…, no scope) ----
    c = H2Calls()
    c.call(A + "Register", ag.RegisterRequest(name="first"))  # id(1): TOKEN_BOUND's
    c.call(A + "Register", ag.RegisterRequest(name="in-container"), bearer(token_free))  # id(2)
    c.call(A + "Heartbeat", ag.HeartbeatRequest(agent_id=i(2)), bearer(token_free))
    c.call(A + "Heartbeat", ag.HeartbeatRequest(agent_id=i(1)), bearer(token_free))
    c.call(A + "Heartbeat", ag.HeartbeatRequest(agent_id=i(1)), bearer(token_bound))
    c.call(A + "Heartbeat", ag.HeartbeatRequest(), bearer(token_bound))
    c.call(A + "Register", ag.RegisterRequest(name="x"), bearer("bah1." + "f" * 32))
    c.call(A + "Register", ag.RegisterRequest(name="x"), bearer("bah1."))
    c.call(A + "Register", ag.RegisterRequest(name="x"), [("x-fuzz-scopes", "1")])
    c.call(A + "Register", ag.RegisterRequest(name="x"), [("authorization", "Basic eA==")])  # 3
    c.open("s", A + "StreamAgent", bearer(token_free)).send("s", ag.StreamAgentRequest(
        agent_id=i(2)))
    c.send("s", ag.StreamAgentRequest(heartbeat=E))
    c.open("s1", A + "StreamAgent", bearer(token_free)).send("s1", ag.StreamAgentRequest(
        agent_id=i(1)))
    c.call(O + "CreateSession", o.CreateSessionRequest())  # id(4)
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(  # id(5), TASK_REQUEST id(6)
        agent_id=i(2), session_id=i(4), config=ag.TaskConfig(command="work")))
    c.open("rep", A + "StreamTask", bearer(token_free)).send("rep", ag.StreamTaskRequest(
        task_id=i(5), status=ag.TaskStatusUpdate(state=ag.TASK_STATE_RUNNING)))
    c.send("rep", ag.StreamTaskRequest(output=ag.TaskOutput(data=b"out", stream_type="stdout")))
    c.open("rep1", A + "StreamTask", bearer(token_bound)).send("rep1", ag.StreamTaskRequest(
        task_id=i(5), progress=ag.TaskProgress(percent=1)))
    c.call(A + "ExecuteTask", ag.ExecuteTaskRequest(  # id(7): droverd's own
        session_id=i(4), config=ag.TaskConfig(command="true")))
    c.open("own", A + "StreamTask", bearer(token_free)).send("own", ag.StreamTaskRequest(
        task_id=i(7)))
    c.call(A + "Unregister", ag.UnregisterRequest(agent_id=i(1)), bearer(token_free))
    c.call(A + "Unregister", ag.UnregisterRequest(agent_id=i(2), reason="done"),
           bearer(token_free))
    c.call(A + "Register", ag.RegisterRequest(name="again"), bearer(token_free))  # id(8)
    c.call(A + "Heartbeat", ag.HeartbeatRequest(agent_id=i(8)), bearer(token_free, "3"))
    seeds["tokens"] = c

    # ---- the container RPCs: refused, no containers (the request is read first) ----
    def ctr(**kw):
        base = dict(image="alpine:3", command=["sh"], args=["-c", "true"], env={"A": "1"},
                    working_dir="/", labels={"l": "v"}, network_mode="none",
                    resources=cm.ResourceLimits(nano_cpus=10**9, memory_bytes=1 << 26,
                                                memory_swap=1 << 27, pids_limit=64),
                    restart_policy=o.RestartPolicy(name="no"), read_only_rootfs=True,
                    remove_on_stop=True,
                    mounts=[o.Mount(type=o.MOUNT_TYPE_BIND, source="/tmp", target="/data",
                                    read_only=True),
                            o.Mount(type=o.MOUNT_TYPE_TMPFS, target="/scratch")])
        base.update(kw)
        return o.CreateContainerRequest(session_id=i(1), config=o.ContainerConfig(**base))

    c = H2Calls()
    c.call(O + "CreateSession", o.CreateSessionRequest())  # id(1)
    c.call(O + "CreateContainer", ctr())
    c.call(O + "CreateContainer", ctr(network_mode="host"))
    c.call(O + "CreateContainer", o.CreateContainerRequest(config=o.ContainerConfig(image="a")))
    c.call(O + "CreateContainer", o.CreateContainerRequest(session_id=i(1)))
    c.call(O + "CreateContainer", ctr(image=""))
    c.call(O + "CreateContainer", ctr(ports=[o.PortBinding(container_port=80, host_port=8080)]))
    c.call(O + "CreateContainer", ctr(networks=["bridge"]))
    c.call(O + "CreateContainer", ctr(network_mode="bridge"))
    c.call(O + "CreateContainer", ctr(restart_policy=o.RestartPolicy(name="always")))
    c.call(O + "CreateContainer", ctr(mounts=[o.Mount(source="/a", target="/b")]))
    c.call(O + "CreateContainer", ctr(resources=cm.ResourceLimits(memory_bytes=-1)))
    c.call(O + "CreateContainer", ctr(resources=cm.ResourceLimits(memory_swap=-1)))
    c.call(O + "CreateContainer", ctr(resources=cm.ResourceLimits(memory_bytes=2, memory_swap=1)))
    c.call(O + "GetContainer", o.GetContainerRequest(container_id="abc"))
    c.call(O + "GetContainer", o.GetContainerRequest())
    c.call(O + "ListContainers", o.ListContainersRequest())
    c.call(O + "ListContainers", o.ListContainersRequest(filter=o.ContainerFilter(
        session_id=i(1), state=o.CONTAINER_STATE_RUNNING, status=cm.STATUS_RUNNING,
        labels={"l": "v"})))
    c.call(O + "StopContainer", o.StopContainerRequest(container_id="abc", timeout_ns=10**9))
    c.call(O + "StopContainer", o.StopContainerRequest(container_id="abc", timeout_ns=-1))
    c.call(O + "RemoveContainer", o.RemoveContainerRequest(container_id="abc", force=True))
    c.call(O + "GetStatus", E)
    seeds["containers-refused"] = c

    # ---- llm.v1 and tool.v1: every method refuses ----
    for name, mod, svc in (("llm", llm_pb2, "llm.v1.LLMService"),
                           ("tool", tool_pb2, "tool.v1.ToolService")):
        c = H2Calls()
        for m in mod.DESCRIPTOR.services_by_name[svc.split(".")[-1]].methods:
            c.call(f"/{svc}/{m.name}", b"")
        seeds[f"{name}-refused"] = c

    # ---- the wire: requests that are not their message, cut short, never ended ----
    c = H2Calls()
    c.call(O + "CreateSession", b"\x0a\x80")
    c.call(A + "Register", b"\xff\xff\xff")
    c.call(G + "CreateGatewaySession", b"\x12\x05abc")
    c.call(O + "NoSuchMethod", b"")
    c.call("/agent.v1.AgentService/", b"")
    c.call(O + "CreateSession", b"", [("grpc-encoding", "gzip")])
    c.open("s", O + "StreamMessages").send("s", o.StreamMessageRequest(heartbeat=E))
    c.send("s", b"\x12\x80\x80")
    c.open("t", A + "StreamTask").send("t", b"\x0a")
    c.open("u", G + "StreamChat")
    c.c.send_data(c.ids["u"], b"\x00\x00\x00\x00\x09\x0a\x02ab")  # shorter than it says
    c.open("v", A + "StreamAgent")
    seeds["wire-bad"] = c

    # Every method of the three services is in some seed.
    used = set().union(*(c.paths for c in seeds.values()))
    for mod, svc in ((o, "OrchestratorService"), (ag, "AgentService"), (gw, "GatewayService")):
        for m in mod.DESCRIPTOR.services_by_name[svc].methods:
            path = f"/{mod.DESCRIPTOR.package}.{svc}/{m.name}"
            assert path in used, f"no seed calls {path}"
    return {name: c.bytes() for name, c in seeds.items()}


if __name__ == "__main__":
    # `make-corpus.py stratavore` (or baaaht, web, grpc-calls [BINARY]) writes that corpus alone.
    if sys.argv[1:] == ["stratavore"]:
        write(os.path.join(HERE, "corpus", "stratavore"), stratavore_seeds())
    elif sys.argv[1:] == ["baaaht"]:
        write(os.path.join(HERE, "corpus", "baaaht"), baaaht_seeds())
    elif sys.argv[1:] == ["web"]:
        web_seeds()
    elif sys.argv[1:2] == ["grpc-calls"]:
        grpc_calls_seeds(sys.argv[2] if len(sys.argv) > 2 else None)
    else:
        main()
