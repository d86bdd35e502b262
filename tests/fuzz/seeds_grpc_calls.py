"""Seeds of fuzz-grpc-calls (see the top of fuzz-grpc-calls.c for the input's form): every method
alone with an empty request, then what clients do — services defined, started, watched, logged,
stopped and deleted; sessions spawned, attached, written to, resized, teed and ended; processes
registered, listed and their trees killed; metrics; superviz's daemon.v1 — and hostile shapes.

The method numbers come from the target itself (FUZZ_GRPC_CALLS_LIST=1), so a build of it is
needed: make-corpus.py grpc-calls [BINARY] (default build/tests/fuzz/fuzz-grpc-calls-replay)."""

import os
import re
import struct
import subprocess
import sys
import tempfile

import h2.config
import h2.connection
import h2.events

# How a call is made (the "how" byte).
END, OPEN, CANCEL, TWICE = 0, 1, 2, 3
SCOPED = 4   # with bits 4-5 as its scopes: SCOPED | (1 << 4) is read only, SCOPED alone none
WAIT = 8     # answered before the next call
GZIP = 0x40  # compressed flag on a message droverd cannot decompress
TOKEN = 0x80  # with a baaaht agent token (bound; free with bit 4)


def methods(binary):
    out = subprocess.run([binary, os.devnull], env=dict(os.environ, FUZZ_GRPC_CALLS_LIST="1"),
                         capture_output=True, text=True, check=True).stdout
    return {line.split()[1]: int(line.split()[0]) for line in out.splitlines()}


def from_raw(path, index):
    """The calls of a raw HTTP/2 seed of fuzz-stratavore or fuzz-baaaht (client bytes), as
    records: each stream's path, its first message and how it ended (a stream left open stays
    open); None when the bytes are not a client's well-formed HTTP/2."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    try:
        events = conn.receive_data(open(path, "rb").read())
    except Exception:  # noqa: BLE001 (a hostile seed: no calls to take from it)
        return None
    calls, order = {}, []
    for e in events:
        if isinstance(e, h2.events.RequestReceived):
            hd = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes)
                  else v for k, v in e.headers}
            calls[e.stream_id] = {"path": hd.get(":path", ""), "data": b"", "ended": False,
                                  "token": "authorization" in hd}
            order.append(e.stream_id)
        elif isinstance(e, h2.events.DataReceived) and e.stream_id in calls:
            calls[e.stream_id]["data"] += e.data
        elif isinstance(e, h2.events.StreamEnded) and e.stream_id in calls:
            calls[e.stream_id]["ended"] = True
    out = b""
    for sid in order:
        c = calls[sid]
        if c["path"] not in index or len(c["data"]) < 5:
            continue
        n = int.from_bytes(c["data"][1:5], "big")
        body = c["data"][5:5 + n]
        how = (END if c["ended"] else OPEN) | (TOKEN if c["token"] else 0)
        out += struct.pack("<BBH", index[c["path"]], how, len(body)) + body
    return out or None


def seeds(root, binary):
    from grpc_tools import protoc
    gen = tempfile.mkdtemp()
    wkt = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    protos = ["drover/v1/services.proto", "drover/v1/sessions.proto", "drover/v1/admin.proto",
              "drover/v1/metrics.proto", "drover/v1/processes.proto",
              "running_process/daemon/v1/daemon.proto", "daemon/v1/daemon.proto"]
    subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc", f"-I{root}/proto",
                           f"-I{wkt}", f"--python_out={gen}", *protos])
    sys.path.insert(0, gen)
    from google.protobuf import duration_pb2, wrappers_pb2
    from drover.v1 import metrics_pb2 as mx
    from drover.v1 import services_pb2 as sv
    from drover.v1 import sessions_pb2 as ss
    from running_process.daemon.v1 import daemon_pb2 as rp
    from daemon.v1 import daemon_pb2 as sz

    index = methods(binary)

    def rec(path, msg=b"", how=END):
        body = msg if isinstance(msg, bytes) else msg.SerializeToString(deterministic=True)
        return struct.pack("<BBH", index[path], how, len(body)) + body

    def svc(method, msg=b"", how=END):
        return rec("/drover.v1.Services/" + method, msg, how)

    def sess(method, msg=b"", how=END):
        return rec("/drover.v1.Sessions/" + method, msg, how)

    def proc(method, msg=b"", how=END):
        return rec("/drover.v1.Processes/" + method, msg, how)

    def pty(n):
        return f"pty-{'@' * 16}-{n:08x}"

    def pipe(n):
        return f"pipe-{'@' * 16}-{n:08x}"

    out = {}
    for path, i in index.items():
        out["empty-" + path.strip("/").replace("/", "-")] = rec(path)
    # Stratavore's and baaaht's calls: those of their raw targets' named seeds.
    for face in ("stratavore", "baaaht"):
        d = os.path.join(root, "tests", "fuzz", "corpus", face)
        for name in sorted(os.listdir(d)):
            if not re.fullmatch(r"[0-9a-f]{40}", name):
                calls = from_raw(os.path.join(d, name), index)
                if calls:
                    out[f"{face}-{name}"] = calls

    spec = sv.ServiceSpec(name="web", cmd=["sleep", "60"], restart=sv.RESTART_POLICY_ALWAYS,
                          restart_delay_ms=wrappers_pb2.UInt32Value(value=1),
                          kill_timeout_ms=wrappers_pb2.UInt32Value(value=50),
                          env=[sv.EnvVar(name="A", value="b")], depends_on=["db"],
                          probes=[sv.Probe(cmd=["true"], interval_ms=5, timeout_ms=50)])
    db = sv.ServiceSpec(name="db", cmd=["true"], oneshot=True)
    t = sv.ServiceTarget
    out["service-life"] = b"".join([
        svc("Start", sv.StartServiceRequest(spec=db), WAIT),
        svc("Start", sv.StartServiceRequest(spec=spec), WAIT),
        svc("Watch", sv.WatchServicesRequest(target="all"), OPEN),
        svc("List", sv.ListServicesRequest()),
        svc("Get", t(target="web")),
        svc("Logs", sv.LogsRequest(target="web", lines=10, follow=True), OPEN),
        svc("Restart", t(target="web"), WAIT),
        svc("Flush", t(target="web")),
        svc("Save", sv.SaveServicesRequest(), WAIT),
        svc("Stop", t(target="all"), WAIT),
        svc("Resurrect", sv.ResurrectServicesRequest(), WAIT),
        svc("Delete", t(target="web"), WAIT),
        svc("Delete", t(target="db")),
    ])
    yaml = ("version: 1\nservices:\n  - name: api\n    command: sleep 1\n"
            "    restart: on-failure\n    logging:\n      stdout: {file: /etc/fuzz-must-not}\n"
            "  - name: worker\n    cmd: ['true']\n    depends_on: [api]\n")
    out["service-file"] = b"".join([
        svc("StartFile", sv.StartFileRequest(yaml=yaml, name="fuzz.yaml", dir="/"), WAIT),
        svc("List", sv.ListServicesRequest()),
        svc("Stop", t(target="api"), CANCEL),
        svc("StartFile", sv.StartFileRequest(yaml="services: [", name="bad.yaml")),
        svc("Delete", t(target="all"), WAIT),
    ])
    out["service-scoped"] = b"".join([
        svc("Start", sv.StartServiceRequest(spec=db), SCOPED | (1 << 4)),
        svc("List", sv.ListServicesRequest(), SCOPED),
        svc("Start", sv.StartServiceRequest(spec=db), SCOPED | (2 << 4) | WAIT),
    ])

    out["sessions-pty"] = b"".join([
        sess("SpawnPty", rp.SpawnPtySessionRequest(argv=["cat"], rows=24, cols=80,
                                                   env=[rp.KeyValue(key="K", value="v")]), WAIT),
        sess("AttachPty", ss.AttachPtyRequest(attach=rp.AttachPtySessionRequest(
            session_id=pty(1), rows=30, cols=100, is_tty=True, term="xterm")), OPEN | WAIT),
        sess("ResizePty", rp.ResizePtySessionRequest(session_id=pty(1), rows=40, cols=120)),
        sess("ListPty", rp.ListPtySessionsRequest()),
        sess("GetBacklog", rp.GetSessionBacklogRequest(session_id=pty(1))),
        sess("RegisterTee", rp.RegisterSessionTeeRequest(
            session_id=pty(1), session_kind=rp.TEE_SESSION_KIND_PTY, stream=rp.TEE_STREAM_KIND_PTY_OUTPUT,
            sink_kind=rp.TEE_SINK_KIND_FILE, file_path=b"/etc/fuzz-must-not", queue_capacity=4)),
        sess("RegisterTee", rp.RegisterSessionTeeRequest(
            session_id=pty(1), session_kind=rp.TEE_SESSION_KIND_PTY, stream=rp.TEE_STREAM_KIND_STDIN,
            sink_kind=rp.TEE_SINK_KIND_FILE, file_path=b"/dev/null", queue_capacity=4)),
        sess("GetTeeStatus", rp.GetSessionTeeStatusRequest(session_id=pty(1), session_kind=rp.TEE_SESSION_KIND_PTY, tee_handle=1)),
        sess("UnregisterTee", rp.UnregisterSessionTeeRequest(session_id=pty(1), session_kind=rp.TEE_SESSION_KIND_PTY, tee_handle=1)),
        sess("AttachPty", ss.AttachPtyRequest(attach=rp.AttachPtySessionRequest(
            session_id=pty(1), steal=True)), OPEN | WAIT),
        sess("DetachPty", rp.DetachPtySessionRequest(session_id=pty(1))),
        sess("TerminatePty", rp.TerminatePtySessionRequest(session_id=pty(1), grace_ms=10),
             WAIT),
        sess("PurgeExited", rp.PurgeExitedSessionsRequest()),
    ])
    out["sessions-pipe"] = b"".join([
        sess("SpawnPipe", rp.SpawnPipeSessionRequest(argv=["cat"], originator="fuzz"), WAIT),
        sess("SpawnPipe", rp.SpawnPipeSessionRequest(argv=["true"],
                                                     merge_stderr_into_stdout=True), WAIT),
        sess("AttachPipe", rp.AttachPipeStreamRequest(session_id=pipe(1),
                                                      stream=rp.PIPE_STREAM_KIND_STDOUT), OPEN | WAIT),
        sess("WriteStdin", rp.WritePipeStdinRequest(session_id=pipe(1), data=b"hello\n"), WAIT),
        sess("Send", rp.WritePipeStdinRequest(session_id=pipe(1), data=b"x", close=True), WAIT),
        sess("ListPipe", rp.ListPipeSessionsRequest()),
        sess("DetachPipe", rp.DetachPipeStreamRequest(session_id=pipe(1),
                                                      stream=rp.PIPE_STREAM_KIND_STDOUT)),
        sess("BulkTerminate", rp.BulkTerminateSessionsRequest(), WAIT),
    ])
    out["processes"] = b"".join([
        proc("Register", rp.RegisterRequest(pid=1, kind="fuzz", command="init", originator="f")),
        proc("Register", rp.RegisterRequest(pid=2 ** 31, kind="fuzz")),
        proc("ListActive", rp.ListActiveRequest()),
        proc("ListByOriginator", rp.ListByOriginatorRequest(tool="f")),
        proc("GetProcessTree", rp.GetProcessTreeRequest(pid=1)),
        proc("KillZombies", rp.KillZombiesRequest(dry_run=True)),
        proc("KillTree", rp.KillTreeRequest(pid=1, timeout_seconds=0.01), WAIT),
        proc("SpawnDaemon", rp.SpawnDaemonRequest(command="sleep 1", originator="f"), WAIT),
        proc("Unregister", rp.UnregisterRequest(pid=1)),
    ])
    every = duration_pb2.Duration(nanos=10_000_000)
    out["metrics"] = b"".join([
        rec("/drover.v1.Metrics/Get", mx.MetricsRequest(processes=True, process_limit=5)),
        rec("/drover.v1.Metrics/Watch", mx.MetricsRequest(interval=every), OPEN | WAIT),
        rec("/drover.v1.Admin/Status", b"", WAIT),
    ])
    sz_every = duration_pb2.Duration(nanos=10_000_000)
    out["superviz"] = b"".join([
        svc("Start", sv.StartServiceRequest(spec=db), WAIT),
        rec("/daemon.v1.DaemonService/GetState"),
        rec("/daemon.v1.DaemonService/ListProcesses"),
        rec("/daemon.v1.DaemonService/GetProcess", sz.GetProcessRequest(service_name="db")),
        rec("/daemon.v1.DaemonService/StreamState", sz.StreamStateRequest(), OPEN | WAIT),
        rec("/daemon.v1.MetricsService/GetSystemMetrics"),
        rec("/daemon.v1.MetricsService/StreamSystemMetrics",
            sz.StreamMetricsRequest(interval=sz_every), OPEN | WAIT),
        rec("/daemon.v1.MetricsService/StreamAllProcessMetrics", sz.StreamMetricsRequest(),
            CANCEL),
    ])
    out["hostile"] = b"".join([
        rec("/drover.v1.Admin/Ping", b"\xff\xff\xff"),
        rec("/drover.v1.Admin/Ping", b"", GZIP),
        rec("/drover.v1.Admin/PingStream", b"", TWICE),
        svc("Start", b"\x0a\x80\x80\x80\x80\x10"),
        sess("AttachPty", b"", TWICE | OPEN),
    ])
    return out
