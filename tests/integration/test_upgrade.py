"""Upgrade in place (`drover upgrade`, Admin.Upgrade, SIGUSR2): droverd re-executes its binary and
stays the same process. Afterwards it answers with the same pid and a later start time; services
keep their pids, restart counters, start times and output (a writer logging sequence numbers
loses and doubles nothing); sessions keep their ids, programs, output positions, input and tees.
Clients see at most a pause: every gRPC stream ends at once with a status saying why, and
`drover logs -f` and `drover attach` go on from exactly where they were (a gRPC client resumes
an attach from the position it got to, and gets exactly the bytes after it; Logs from file
offsets). A binary that does not run is refused and nothing changes; an exec that fails brings
the running droverd back; state the new image cannot read costs the sessions, not the
services."""

import collections
import os
import queue
import re
import signal
import subprocess
import threading
import urllib.request

import grpc

from conftest import DROVER, DROVERD, alive, free_port, screen, tmux, wait_until  # noqa: F401
from drover.v1 import admin_pb2, admin_pb2_grpc
from drover.v1 import services_pb2 as pb, services_pb2_grpc
from drover.v1 import sessions_pb2 as sp, sessions_pb2_grpc as sg
from rpclient import rp
from sessclient import door

from test_sessions import read_until

UPGRADING = "droverd is upgrading in place; reconnect"


def channel(d):
    # A channel of its own each time: the previous image's connections were closed under us.
    return d.channel(**{"grpc.use_local_subchannel_pool": 1})


def status(d):
    return admin_pb2_grpc.AdminStub(channel(d)).Status(admin_pb2.StatusRequest(), timeout=30)


def services(d):
    stub = services_pb2_grpc.ServicesStub(channel(d))
    return {s.name: s for s in stub.List(pb.ListServicesRequest(), timeout=30).services}


def start_service(d, name, *cmd):
    stub = services_pb2_grpc.ServicesStub(channel(d))
    stub.Start(pb.StartServiceRequest(spec=pb.ServiceSpec(name=name, cmd=list(cmd))), timeout=30)


def sessions(c):
    out = {}
    for op, req in (("list_pty", rp.ListPtySessionsRequest()),
                    ("list_pipe", rp.ListPipeSessionsRequest())):
        for s in c.call(op, req).sessions:
            out[s.session_id] = s
    return out


def session_identity(c):
    return {i: (s.pid, s.created_at, s.originator, s.exited) for i, s in sessions(c).items()}


def service_identity(d):
    return {n: (s.pid, s.restarts_total, s.started_at.ToNanoseconds())
            for n, s in services(d).items()}


def later(a, b):
    return a.started_at.ToNanoseconds() > b.started_at.ToNanoseconds()


def new_image(d, before):
    """Waits until the droverd answering started after before (the same pid, re-executed)."""
    def check():
        try:
            s = status(d)
        except grpc.RpcError:
            return None
        return s if later(s, before) else None
    return wait_until(check, timeout=60, what="the new image to answer")


def fd_kinds(pid):
    """droverd's descriptors by what they are (pipe, pidfd, file...), sockets left out: clients'
    connections come and go."""
    kinds = collections.Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if not target.startswith("socket:"):
            kinds[re.sub(r"\[\d+\]", "", target)] += 1
    return kinds


def script(path, text):
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)
    return str(path)


def with_rp(make_droverd, *extra):
    d = make_droverd(start=False)
    # A drain bound no test waits for: streams end at once, and the log says whether the bound
    # had calls to cancel.
    d.args += ["--rp-socket", d.rp_socket, "--shutdown-timeout-ms", "20000", *extra]
    return d.start()


class Attach:
    """AttachPty or AttachPipe over gRPC, counting output positions as a resuming client does:
    position is the attach answer's, pos the one after the last byte (or missed byte) got, data
    the bytes got (the backlog, then each frame's)."""

    def __init__(self, d, session_id, pty=True, resume_from=None, steal=False,
                 stream=rp.PIPE_STREAM_KIND_STDOUT):
        stub = sg.SessionsStub(channel(d))
        self.q = queue.Queue()
        self.data = bytearray()
        self.missed = []
        if pty:
            req = sp.AttachPtyRequest(attach=rp.AttachPtySessionRequest(session_id=session_id,
                                                                        steal=steal))
            if resume_from is not None:
                req.resume_from.value = resume_from

            def requests():
                yield req
                while (m := self.q.get()) is not None:
                    yield m
            self.it = stub.AttachPty(requests(), timeout=120)
        else:
            md = None if resume_from is None else [("drover-resume-from", str(resume_from))]
            self.it = stub.AttachPipe(rp.AttachPipeStreamRequest(
                session_id=session_id, stream=stream, steal=steal), metadata=md, timeout=120)
        try:
            first = next(self.it)
        except grpc.RpcError:
            self.q.put(None)
            raise
        self.position = first.position
        self.data += first.attached.backlog
        self.pos = self.position + len(self.data)

    def frame(self):
        f = next(self.it).frame
        kind = f.WhichOneof("frame")
        if kind in ("output", "bytes"):
            self.data += getattr(f, kind)
            self.pos += len(getattr(f, kind))
        elif kind == "missed_bytes":
            self.missed.append(f.missed_bytes)
            self.pos += f.missed_bytes
        return f

    def read_until(self, needle):
        while needle not in self.data:
            self.frame()

    def read_to(self, pos):
        while self.pos < pos:
            self.frame()

    def ended(self):
        """Reads on until the stream ends: its status code and message."""
        try:
            while True:
                self.frame()
        except StopIteration:
            return grpc.StatusCode.OK, ""
        except grpc.RpcError as e:
            return e.code(), e.details()
        finally:
            self.q.put(None)

    def send(self, data):
        self.q.put(sp.AttachPtyRequest(input=rp.PtyInputFrame(input=data)))

    def close(self):
        self.q.put(None)
        self.it.cancel()


WRITER = "i=0; while :; do echo $i; i=$((i+1)); sleep 0.01; done"  # a sequence number each 10 ms


def follow_writer(d):
    """`drover logs -f` on the writer from the file's first line, printing: (its process, the
    chunks it printed so far)."""
    follow = subprocess.Popen([DROVER, "--socket", d.socket, "logs", "-f", "-n", "100000",
                               "writer"], env=d.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    chunks = []

    def read():
        while b := os.read(follow.stdout.fileno(), 65536):
            chunks.append(b)
    threading.Thread(target=read, daemon=True).start()
    wait_until(lambda: b"".join(chunks).count(b"\n") > 10, what="logs -f printing")
    return follow, chunks


def followed_whole_file(d, follow, chunks, log):
    """Stops the writer: `logs -f`, still running, prints the whole file, byte for byte. Returns
    the file's content."""
    stub = services_pb2_grpc.ServicesStub(channel(d))
    stub.Stop(pb.ServiceTarget(target="writer"), timeout=30)
    with open(log, "rb") as f:
        content = f.read()
    wait_until(lambda: len(b"".join(chunks)) >= len(content), timeout=40,
               what="logs -f catching up")
    assert follow.poll() is None, follow.stderr.read()
    assert b"".join(chunks) == content
    follow.send_signal(signal.SIGTERM)
    follow.wait(timeout=30)
    assert follow.stderr.read() == b""
    return content


def test_upgrade_keeps_pid_services_sessions_and_output(make_droverd, tmux, tmp_path):
    d = with_rp(make_droverd)
    for i in range(20):
        start_service(d, f"s{i}", "sleep", f"7300{i:02d}")
    start_service(d, "writer", "sh", "-c", WRITER)
    log = services(d)["writer"].stdout_log
    wait_until(lambda: os.path.getsize(log) > 20, what="the writer writing")

    # A PTY session attached with the CLI in tmux.
    env = f"env DROVER_SOCKET={d.socket} "
    tmux("new-session", "-d", "-s", "t", "-x", "100", "-y", "30",
         env + f"{DROVER} run --pty --name cli-sh -- env PS1=PROMPT: sh; echo RC=$?; sleep 60")
    wait_until(lambda: "PROMPT:" in screen(tmux), what="a prompt")
    tmux("send-keys", "-t", "t", "echo typed-$((6*7))", "Enter")
    wait_until(lambda: "typed-42" in screen(tmux), what="the echo")
    # A PTY session attached over gRPC, and a pipe session with a tee on its output.
    g = door(d, "grpc")
    p = g.call("spawn_pty", rp.SpawnPtySessionRequest(argv=["sh"], originator="py"))
    a = Attach(d, p.session_id)
    a.send(b"echo grpc-$((1+1))\n")
    a.read_until(b"grpc-2")
    q = g.call("spawn_pipe", rp.SpawnPipeSessionRequest(argv=["cat"]))
    tee = tmp_path / "tee.out"
    g.call("register_tee", rp.RegisterSessionTeeRequest(
        session_id=q.session_id, session_kind=rp.TEE_SESSION_KIND_PIPE,
        stream=rp.TEE_STREAM_KIND_STDOUT, sink_kind=rp.TEE_SINK_KIND_FILE,
        file_path=str(tee).encode(), file_mode=rp.TEE_FILE_MODE_TRUNCATE))
    g.call("write_stdin", rp.WritePipeStdinRequest(session_id=q.session_id, data=b"one\n"))
    wait_until(lambda: tee.read_bytes() == b"one\n", what="the tee")
    follow, followed = follow_writer(d)

    before = status(d)
    svc_before = service_identity(d)
    sess_before = session_identity(g)
    assert len(sess_before) == 3
    size_before = os.path.getsize(log)

    r = d.cli("upgrade", check=0)
    assert f"droverd upgraded in place (pid {d.proc.pid}): 0.1.0 -> 0.1.0" in r.stdout
    after = status(d)
    assert after.pid == before.pid == d.proc.pid and later(after, before)
    assert d.proc.poll() is None
    assert "upgraded in place from droverd 0.1.0: 3 sessions handed over" in d.read_log()
    # No call was left for the drain's bound to cancel: the streams ended at once.
    assert "shutdown timeout" not in d.read_log()

    # Services: the same processes, counters and start times, still running.
    assert service_identity(d) == svc_before
    assert all(s.state == pb.SERVICE_STATE_ONLINE and alive(s.pid) for s in services(d).values())
    wait_until(lambda: os.path.getsize(log) > size_before + 20, what="the writer going on")
    # Sessions: the same ids, programs, start times and originators.
    g2 = door(d, "grpc")
    assert session_identity(g2) == sess_before

    # The gRPC client's stream ended saying why; it resumes from the position it got to and
    # types on. Read from position 0, the session's output is exactly what the two got.
    assert a.ended() == (grpc.StatusCode.UNAVAILABLE, UPGRADING)
    b = Attach(d, p.session_id, resume_from=a.pos, steal=True)
    assert (b.position, b.data) == (a.pos, b"")
    b.send(b"echo again-$((2+3))\n")
    b.read_until(b"again-5")
    whole = Attach(d, p.session_id, resume_from=0, steal=True)
    whole.read_to(b.pos)
    assert a.position == 0 and bytes(whole.data[:b.pos]) == bytes(a.data + b.data)
    whole.close()
    b.close()

    # The CLI stayed attached (no RC=): typing echoes, and what was on the screen is there once.
    tmux("send-keys", "-t", "t", "echo after-$((3*3))", "Enter")
    wait_until(lambda: "after-9" in screen(tmux), what="the echo after the upgrade")
    shown = screen(tmux)
    assert "RC=" not in shown and shown.count("typed-42") == 1, shown
    # The pipe session's input, output and tee go on.
    g2.call("write_stdin", rp.WritePipeStdinRequest(session_id=q.session_id, data=b"two\n"))
    wait_until(lambda: tee.read_bytes() == b"one\ntwo\n", what="the tee after the upgrade")
    snap = g2.call("backlog", rp.GetSessionBacklogRequest(session_id=q.session_id, pipe_stream=1))
    assert snap.backlog == b"one\ntwo\n"

    # `logs -f` runs on: what it printed is the writer's file, byte for byte, every number once,
    # in order, across the upgrade.
    seq = [int(x) for x in followed_whole_file(d, follow, followed, log).split()]
    assert seq == list(range(len(seq))) and seq[-1] > 0

    # A service of the adopted ones still ends as any other: its real exit status is seen (it
    # is still droverd's child), and it is restarted.
    os.kill(svc_before["s0"][0], signal.SIGKILL)
    wait_until(lambda: services(d)["s0"].pid not in (0, svc_before["s0"][0]), what="s0 restarted")
    s0 = services(d)["s0"]
    assert s0.restarts_total == 1 and s0.last_exit == -signal.SIGKILL


def test_attach_resumes_from_a_position(make_droverd):
    d = with_rp(make_droverd, "--session-backlog-bytes", "4096")
    g = door(d, "grpc")
    q = g.call("spawn_pipe", rp.SpawnPipeSessionRequest(argv=["cat"]))
    lines = [b"%05d\n" % i for i in range(1200)]
    data = b"".join(lines[:200])

    def write(chunk):
        door(d, "grpc").call("write_stdin", rp.WritePipeStdinRequest(session_id=q.session_id,
                                                                     data=chunk))
    write(data)
    wait_until(lambda: g.call("backlog", rp.GetSessionBacklogRequest(
        session_id=q.session_id, pipe_stream=1)).backlog == data, what="cat's output")

    # A plain attach says where its backlog starts; a resume gets exactly the bytes after its
    # position, and no backlog.
    a = Attach(d, q.session_id, pty=False)
    assert (a.position, bytes(a.data)) == (0, data)
    a.close()
    for k in (0, 1, 777, len(data)):
        r = Attach(d, q.session_id, pty=False, resume_from=k, steal=True)
        assert (r.position, bytes(r.data)) == (k, b"")
        r.read_to(len(data))
        assert bytes(r.data) == data[k:]
        r.close()

    # A position the ring no longer holds starts with what was missed, as a stalled client's.
    more = b"".join(lines[200:1000])
    write(more)
    total = len(data + more)
    wait_until(lambda: g.call("backlog", rp.GetSessionBacklogRequest(
        session_id=q.session_id, pipe_stream=1)).backlog.endswith(lines[999]), what="the rest")
    r = Attach(d, q.session_id, pty=False, resume_from=5, steal=True)
    r.read_to(total)
    assert r.missed == [total - 4096 - 5] and bytes(r.data) == (data + more)[-4096:]
    r.close()

    # Across an upgrade: the stream ends saying why, and the positions (the ring's first one is
    # not 0 any more) are the same afterwards.
    a = Attach(d, q.session_id, pty=False, resume_from=5000, steal=True)
    a.read_to(total)
    before = status(d)
    d.proc.send_signal(signal.SIGUSR2)
    assert a.ended() == (grpc.StatusCode.UNAVAILABLE, UPGRADING)
    new_image(d, before)
    rest = b"".join(lines[1000:])
    write(rest)
    total += len(rest)
    b = Attach(d, q.session_id, pty=False, resume_from=a.pos, steal=True)
    b.read_to(total)
    assert bytes(a.data + b.data) == (data + more + rest)[5000:]
    b.close()
    # Past the end, or not a position: refused.
    for v, code in ((total + 1, grpc.StatusCode.OUT_OF_RANGE),
                    ("x", grpc.StatusCode.INVALID_ARGUMENT),
                    ("-1", grpc.StatusCode.INVALID_ARGUMENT)):
        try:
            Attach(d, q.session_id, pty=False, resume_from=v, steal=True)
            raise AssertionError(f"resuming from {v} was not refused")
        except grpc.RpcError as e:
            assert e.code() == code, (v, e)

    # A PTY session resumes the same way (AttachPtyRequest.resume_from).
    p = g.call("spawn_pty", rp.SpawnPtySessionRequest(argv=["sh"]))
    a = Attach(d, p.session_id)
    a.send(b"echo pty-$((3+4))\n")
    a.read_until(b"pty-7")
    a.close()
    half = a.pos // 2
    r = Attach(d, p.session_id, resume_from=half, steal=True)
    r.read_to(a.pos)
    assert r.position == half and bytes(r.data[:a.pos - half]) == bytes(a.data[half:])
    r.close()

    # A session that ended while its client was away: the client gets the rest, then the end
    # (a plain attach is refused: nothing to attach to).
    write_close = rp.WritePipeStdinRequest(session_id=q.session_id, data=b"last\n", close=True)
    g.call("write_stdin", write_close)
    wait_until(lambda: g.call("list_pipe", rp.ListPipeSessionsRequest()).sessions[0].exited,
               what="cat to end")
    try:
        Attach(d, q.session_id, pty=False)
        raise AssertionError("an attach to an exited session was not refused")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e
    r = Attach(d, q.session_id, pty=False, resume_from=total, steal=True)
    assert r.ended() == (grpc.StatusCode.OK, "") and bytes(r.data) == b"last\n"


def test_logs_resume_from_offsets(make_droverd):
    d = with_rp(make_droverd)
    start_service(d, "w", "sh", "-c", "seq 1 100000; sleep 730000")
    log = services(d)["w"].stdout_log
    content = b"".join(b"%d\n" % i for i in range(1, 100001))
    wait_until(lambda: os.path.getsize(log) == len(content), what="the output")
    stub = services_pb2_grpc.ServicesStub(channel(d))

    def logs(**kw):
        return list(stub.Logs(pb.LogsRequest(target="w", **kw), timeout=30))

    def stream(chunks, s):
        got = [c for c in chunks if c.stream == s]
        # Each chunk says where it is; they follow each other.
        for c, n in zip(got, got[1:]):
            assert n.offset == c.offset + len(c.data)
        return got[0].offset, b"".join(c.data for c in got)

    # A tail says where it starts (one longer than a call's queue goes out whole); an empty
    # stream is announced by an empty chunk.
    last = b"".join(b"%d\n" % i for i in range(99991, 100001))
    chunks = logs(lines=10)
    assert stream(chunks, pb.LogChunk.STREAM_STDOUT) == (len(content) - len(last), last)
    assert stream(chunks, pb.LogChunk.STREAM_STDERR) == (0, b"")
    assert stream(logs(lines=100000), pb.LogChunk.STREAM_STDOUT) == (0, content)
    # From an offset: exactly the bytes after it.
    for k in (0, 1, 5000, len(content)):
        chunks = logs(stdout_from={"value": k}, stdout_only=True)
        assert stream(chunks, pb.LogChunk.STREAM_STDOUT) == (k, content[k:])
    # A file now shorter than the offset (flushed, rotated) is read from its start.
    chunks = logs(stdout_from={"value": len(content) + 100}, stdout_only=True)
    assert stream(chunks, pb.LogChunk.STREAM_STDOUT) == (0, content)


def test_logs_follow_goes_on_when_droverd_comes_back(make_droverd):
    # Not an upgrade: droverd dies (SIGKILL) and another one starts; the services run on.
    d = make_droverd()
    start_service(d, "writer", "sh", "-c", WRITER)
    log = services(d)["writer"].stdout_log
    follow, followed = follow_writer(d)

    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    d.log.close()
    size = os.path.getsize(log)
    wait_until(lambda: os.path.getsize(log) > size + 20, what="the writer writing meanwhile")
    d.start()
    followed_whole_file(d, follow, followed, log)


def listening_sockets(pid):
    """The inodes of droverd's listening sockets: unix (flag __SO_ACCEPTCON) and TCP (LISTEN)."""
    mine = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            mine.add(target[8:-1])
    found = set()
    with open(f"/proc/{pid}/net/unix") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if int(cols[3], 16) & 0x10000 and cols[6] in mine:
                found.add(cols[6])
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in mine:
                    found.add(cols[9])
    return found


def test_sigusr2_upgrades_in_place(make_droverd):
    hport, gport = free_port(), free_port()
    d = with_rp(make_droverd, "--http", f"127.0.0.1:{hport}", "--grpc-tcp", f"127.0.0.1:{gport}",
                "--grpc-tcp-plaintext", "--grpc-tcp-anonymous", "read")
    sockets = listening_sockets(d.proc.pid)
    assert len(sockets) == 4  # gRPC unix, gRPC TCP, HTTP, running-process
    for i in range(3):
        start_service(d, f"u{i}", "sleep", f"7310{i:02d}")
    g = door(d, "grpc")
    p = g.call("spawn_pty", rp.SpawnPtySessionRequest(argv=["sh"]))
    # Sessions.Send writes to either kind.
    g.stub.Send(rp.WritePipeStdinRequest(session_id=p.session_id, data=b"echo x-$((5+5))\n"),
                timeout=30)
    before, svc_before, sess_before = status(d), service_identity(d), session_identity(g)

    d.proc.send_signal(signal.SIGUSR2)
    after = new_image(d, before)
    assert after.pid == before.pid == d.proc.pid
    assert service_identity(d) == svc_before
    # The very sockets that listened before listen now, and answer.
    assert listening_sockets(d.proc.pid) == sockets
    with urllib.request.urlopen(f"http://127.0.0.1:{hport}/healthz", timeout=30) as r:
        assert r.status == 200
    tcp = grpc.insecure_channel(f"127.0.0.1:{gport}")
    admin_pb2_grpc.AdminStub(tcp).Ping(admin_pb2.PingRequest(), timeout=30)
    tcp.close()
    g2 = door(d, "grpc")
    assert session_identity(g2) == sess_before
    wait_until(lambda: b"x-10" in g2.call("backlog", rp.GetSessionBacklogRequest(
        session_id=p.session_id)).backlog, what="the session's output")
    # Twice more: nothing leaks from one image to the next (descriptors, sessions).
    fds = fd_kinds(d.proc.pid)
    for _ in range(2):
        before = status(d)
        d.proc.send_signal(signal.SIGUSR2)
        new_image(d, before)
    assert fd_kinds(d.proc.pid) == fds
    assert session_identity(door(d, "grpc")) == sess_before


def test_binary_that_does_not_run_is_refused(make_droverd, tmp_path):
    d = with_rp(make_droverd)
    start_service(d, "v", "sleep", "731100")
    g = door(d, "grpc")
    p = g.call("spawn_pty", rp.SpawnPtySessionRequest(argv=["sh"]))
    a = g.attach_pty(session_id=p.session_id)
    before, svc_before = status(d), service_identity(d)
    bad = script(tmp_path / "bad-droverd", "echo 'cannot start here' >&2\nexit 1\n")

    r = d.cli("upgrade", "--binary", bad, check=1)
    assert f"'{bad} --check-upgrade' failed (exit code 1): cannot start here" in r.stderr
    admin = admin_pb2_grpc.AdminStub(channel(d))
    for binary, code in ((bad, grpc.StatusCode.INVALID_ARGUMENT),
                         (str(tmp_path / "missing"), grpc.StatusCode.NOT_FOUND),
                         ("relative/droverd", grpc.StatusCode.INVALID_ARGUMENT)):
        try:
            admin.Upgrade(admin_pb2.UpgradeRequest(binary=binary), timeout=30)
            raise AssertionError(f"{binary} was not refused")
        except grpc.RpcError as e:
            assert e.code() == code, (binary, e)
    # Nothing changed: the same image, services, and the attached client still attached.
    now = status(d)
    assert now.pid == before.pid and now.started_at == before.started_at
    assert service_identity(d) == svc_before
    a.send(input=b"echo still-$((4*4))\n")
    read_until(a, b"still-16")
    a.close()


def test_failed_exec_brings_the_running_droverd_back(make_droverd, tmp_path):
    d = with_rp(make_droverd)
    start_service(d, "w", "sleep", "731200")
    g = door(d, "grpc")
    p = g.call("spawn_pty", rp.SpawnPtySessionRequest(argv=["sh"]))
    before, svc_before, sess_before = status(d), service_identity(d), session_identity(g)
    # Passes its check, then cannot be executed: the exec fails after the answer.
    vanishing = script(tmp_path / "vanishing-droverd",
                       'chmod -x "$0"; echo "droverd 9.9.9"; echo "handover 1"\n')

    r = d.cli("upgrade", "--binary", vanishing, check=1)
    assert "droverd came back as 0.1.0, not 9.9.9" in r.stderr
    after = status(d)
    assert after.pid == before.pid and later(after, before) and after.version == "0.1.0"
    assert "the upgrade failed and this droverd came back instead: cannot execute" in \
        d.read_log()
    assert service_identity(d) == svc_before
    assert session_identity(door(d, "grpc")) == sess_before
    assert sess_before[p.session_id][3] is False


def test_state_that_cannot_be_read_costs_the_sessions_only(make_droverd, tmp_path):
    d = with_rp(make_droverd)
    start_service(d, "k", "sleep", "731300")
    g = door(d, "grpc")
    p = g.call("spawn_pty", rp.SpawnPtySessionRequest(argv=["sh"]))
    before, svc_before = status(d), service_identity(d)
    # A wrapper that damages the handed-over state, then runs the real droverd.
    wrapper = script(tmp_path / "damaging-droverd",
                     f'if [ "$1" = --check-upgrade ]; then exec {DROVERD} "$@"; fi\n'
                     'fd=${DROVER_HANDOVER#state=}; fd=${fd%%,*}\n'
                     'printf garbage > /proc/self/fd/$fd\n'
                     f'exec {DROVERD} "$@"\n')

    d.cli("upgrade", "--binary", wrapper, check=0)
    after = status(d)
    assert after.pid == before.pid and later(after, before)
    assert "the sessions handed over cannot be read" in d.read_log()
    # The services are adopted from the database as always; the sessions are gone, and their
    # programs lost their terminal.
    assert service_identity(d) == svc_before
    assert session_identity(door(d, "grpc")) == {}
    wait_until(lambda: not alive(p.pid), what="the lost session's shell to go")
