"""Upgrade in place (`drover upgrade`, Admin.Upgrade, SIGUSR2): droverd re-executes its binary and
stays the same process. Afterwards it answers with the same pid and a later start time; services
keep their pids, restart counters, start times and output (a writer logging sequence numbers
loses and doubles nothing); sessions keep their ids, programs, output, input and tees (attached
clients are disconnected, attach again, get the backlog and type on); `logs -f` ends with a
status. A binary that does not run is refused and nothing changes; an exec that fails brings the
running droverd back; state the new image cannot read costs the sessions, not the services."""

import collections
import os
import re
import signal
import subprocess
import threading
import urllib.request

import grpc

from conftest import DROVER, DROVERD, alive, free_port, screen, tmux, wait_until  # noqa: F401
from drover.v1 import admin_pb2, admin_pb2_grpc
from drover.v1 import services_pb2 as pb, services_pb2_grpc
from rpclient import rp
from sessclient import door
from test_sessions import read_until, read_until_end


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
    # A short drain bound: `logs -f` streams hold the exec until it passes.
    d.args += ["--rp-socket", d.rp_socket, "--shutdown-timeout-ms", "1000", *extra]
    return d.start()


def test_upgrade_keeps_pid_services_sessions_and_output(make_droverd, tmux, tmp_path):
    d = with_rp(make_droverd)
    for i in range(20):
        start_service(d, f"s{i}", "sleep", f"7300{i:02d}")
    start_service(d, "writer", "sh", "-c", "i=0; while :; do echo $i; i=$((i+1)); sleep 0.01; done")
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
    a = g.attach_pty(session_id=p.session_id)
    a.send(input=b"echo grpc-$((1+1))\n")
    read_until(a, b"grpc-2")
    q = g.call("spawn_pipe", rp.SpawnPipeSessionRequest(argv=["cat"]))
    tee = tmp_path / "tee.out"
    g.call("register_tee", rp.RegisterSessionTeeRequest(
        session_id=q.session_id, session_kind=rp.TEE_SESSION_KIND_PIPE,
        stream=rp.TEE_STREAM_KIND_STDOUT, sink_kind=rp.TEE_SINK_KIND_FILE,
        file_path=str(tee).encode(), file_mode=rp.TEE_FILE_MODE_TRUNCATE))
    g.call("write_stdin", rp.WritePipeStdinRequest(session_id=q.session_id, data=b"one\n"))
    wait_until(lambda: tee.read_bytes() == b"one\n", what="the tee")
    # `logs -f` on the writer.
    follow = subprocess.Popen([DROVER, "--socket", d.socket, "logs", "-f", "-n", "100000",
                               "writer"], env=d.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    followed = []
    reader = threading.Thread(target=lambda: followed.append(follow.stdout.read()))
    reader.start()

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

    # Services: the same processes, counters and start times, still running.
    assert service_identity(d) == svc_before
    assert all(s.state == pb.SERVICE_STATE_ONLINE and alive(s.pid) for s in services(d).values())
    wait_until(lambda: os.path.getsize(log) > size_before + 20, what="the writer going on")
    # Sessions: the same ids, programs, start times and originators.
    g2 = door(d, "grpc")
    assert session_identity(g2) == sess_before

    # The gRPC client was told droverd was going; it attaches again, gets the backlog, types on.
    _, end = read_until_end(a)
    assert end.WhichOneof("frame") == "error" and "shutting down" in end.error, end
    b = g2.attach_pty(session_id=p.session_id)
    assert b"grpc-2" in b.response.backlog
    b.send(input=b"echo again-$((2+3))\n")
    read_until(b, b"again-5")
    b.close()
    # The CLI's attach ended; attaching again shows what was there, and typing echoes.
    wait_until(lambda: "RC=" in screen(tmux), what="the CLI's attach to end")
    tmux("respawn-pane", "-k", "-t", "t", env + f"{DROVER} attach cli-sh; echo RC=$?; sleep 60")
    wait_until(lambda: "typed-42" in screen(tmux), what="the backlog on re-attach")
    tmux("send-keys", "-t", "t", "echo after-$((3*3))", "Enter")
    wait_until(lambda: "after-9" in screen(tmux), what="the echo after the upgrade")
    # The pipe session's input, output and tee go on.
    g2.call("write_stdin", rp.WritePipeStdinRequest(session_id=q.session_id, data=b"two\n"))
    wait_until(lambda: tee.read_bytes() == b"one\ntwo\n", what="the tee after the upgrade")
    snap = g2.call("backlog", rp.GetSessionBacklogRequest(session_id=q.session_id, pipe_stream=1))
    assert snap.backlog == b"one\ntwo\n"

    # `logs -f` ended with a status (UNAVAILABLE as the drain closed it), having printed each
    # number once, in order.
    assert follow.wait(timeout=30) == 1
    reader.join(timeout=30)
    assert b"UNAVAILABLE" in follow.stderr.read()
    seen = [int(x) for x in followed[0].split()]
    assert seen and seen == list(range(len(seen)))

    # The writer's file: every number once, in order, across the upgrade.
    stub = services_pb2_grpc.ServicesStub(channel(d))
    stub.Stop(pb.ServiceTarget(target="writer"), timeout=30)
    with open(log) as f:
        seq = [int(x) for x in f.read().split()]
    assert seq == list(range(len(seq))) and len(seq) > len(seen)

    # A service of the adopted ones still ends as any other: its real exit status is seen (it
    # is still droverd's child), and it is restarted.
    os.kill(svc_before["s0"][0], signal.SIGKILL)
    wait_until(lambda: services(d)["s0"].pid not in (0, svc_before["s0"][0]), what="s0 restarted")
    s0 = services(d)["s0"]
    assert s0.restarts_total == 1 and s0.last_exit == -signal.SIGKILL


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
