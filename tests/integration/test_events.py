"""drover.v1.Admin/Events (the daemon's event bus as a gRPC stream, which the console follows to
re-list sessions and tracked processes) and the disks and network parts of drover.v1.Metrics."""

import socket
import subprocess
import time

import pytest

from drover.v1 import admin_pb2 as apb, admin_pb2_grpc
from drover.v1 import metrics_pb2 as mpb, metrics_pb2_grpc
from drover.v1 import processes_pb2_grpc, sessions_pb2_grpc
from rpclient import rp
from streams import Reader


class Follow(Reader):
    """An Events stream (streams.py): the constructor returns once droverd subscribed it. An
    error ends next() with an AssertionError naming the status."""

    def __init__(self, d, *types, after=0, wait=True):
        super().__init__(admin_pb2_grpc.AdminStub(d.channel()).Events(
            apb.EventsRequest(types=list(types), after_seq=after), timeout=60), wait)

    def until_type(self, type_, subject=None):
        """Events up to and including the first of type_ (about subject, when given)."""
        return self.until(lambda e: e.type == type_ and (subject is None or e.subject == subject))

    def close(self):
        self.cancel()


def test_session_lifecycle_events(droverd):
    s = sessions_pb2_grpc.SessionsStub(droverd.channel())
    ev = Follow(droverd, "pty.")
    sid = s.SpawnPty(rp.SpawnPtySessionRequest(argv=["sh", "-c", "sleep 0.5; exit 3"],
                                               originator="evtest:1"), timeout=10).session_id
    started = ev.until_type("pty.started", sid)[-1]
    assert started.source == "sessions" and started.data["originator"] == "evtest:1"
    assert started.session_id == sid and not started.container_id
    pid = int(started.data["pid"])
    assert pid > 0
    # A pipe session is not a "pty." event: the filter keeps it out.
    pipe = s.SpawnPipe(rp.SpawnPipeSessionRequest(argv=["true"]), timeout=10).session_id
    exited = ev.until_type("pty.exited", sid)[-1]
    assert exited.data["exit_code"] == "3" and int(exited.data["pid"]) == pid
    s.PurgeExited(rp.PurgeExitedSessionsRequest(), timeout=10)
    seen = ev.until_type("pty.removed", sid)
    assert all(e.type.startswith("pty.") for e in seen)
    assert all(e.subject != pipe for e in seen)
    seqs = [started.seq, exited.seq, seen[-1].seq]
    assert seqs == sorted(seqs)
    ev.close()


def test_tracked_process_events_and_resume(droverd):
    p = subprocess.Popen(["sleep", "300"])
    try:
        stub = processes_pb2_grpc.ProcessesStub(droverd.channel())
        ev = Follow(droverd, "process.")
        stub.Register(rp.RegisterRequest(pid=p.pid, created_at=time.time(), command="sleep 300",
                                         originator="evtool:7"), timeout=5)
        reg = ev.next()
        assert (reg.type, reg.source) == ("process.registered", "processes")
        assert reg.data["pid"] == str(p.pid) and reg.data["originator"] == "evtool:7"
        assert reg.data["command"] == "sleep 300"
        stub.Unregister(rp.UnregisterRequest(pid=p.pid), timeout=5)
        gone = ev.next()
        assert gone.type == "process.unregistered" and gone.data["pid"] == str(p.pid)
        assert gone.seq > reg.seq
        ev.close()
        # From after the registration on: the ring still holds the unregistration.
        again = Follow(droverd, after=reg.seq)
        e = again.next()
        assert (e.seq, e.type) == (gone.seq, "process.unregistered")
        again.quiet()
        again.close()
        # A seq from another run of droverd (past the newest) is refused, not waited for.
        late = Follow(droverd, after=gone.seq + 100)
        with pytest.raises(AssertionError) as e:
            late.next()
        assert "OUT_OF_RANGE" in str(e.value) and "started again" in str(e.value)
    finally:
        p.kill()
        p.wait()


def test_events_fall_behind_and_scope(make_droverd):
    d = make_droverd(config="event_ring: 16\n")
    p = subprocess.Popen(["sleep", "300"])
    try:
        stub = processes_pb2_grpc.ProcessesStub(d.channel())
        first = None
        for i in range(20):  # more than the ring holds
            stub.Register(rp.RegisterRequest(pid=p.pid, created_at=time.time(),
                                             command=f"sleep {i}"), timeout=5)
        ev = Follow(d, after=1)  # seq 2 was overwritten long ago
        with pytest.raises(AssertionError) as e:
            first = ev.next()
        assert "RESOURCE_EXHAUSTED" in str(e.value) and "behind" in str(e.value), first
    finally:
        p.kill()
        p.wait()


def test_metrics_disks_and_network(droverd):
    m = metrics_pb2_grpc.MetricsStub(droverd.channel())
    plain = m.Get(mpb.MetricsRequest(), timeout=10)
    assert not plain.filesystems and not plain.disk_io and not plain.network
    a = m.Get(mpb.MetricsRequest(disks=True, network=True), timeout=10)
    names = [n.name for n in a.network]
    assert "lo" in names
    with open("/proc/net/dev") as f:
        assert sorted(names) == sorted(l.split(":")[0].strip() for l in f.readlines()[2:])
    for fs in a.filesystems:
        assert fs.mountpoint.startswith("/") and fs.size_bytes >= fs.used_bytes
    with open("/proc/diskstats") as f:
        stats = {l.split()[2]: int(l.split()[3]) for l in f}
    assert {io.name for io in a.disk_io} <= set(stats)
    busy = [n for n, reads in stats.items() if reads and not n.startswith(("loop", "ram"))]
    assert not busy or set(busy) & {io.name for io in a.disk_io}
    # Counters grow: push bytes through lo and read again through a Watch.
    lo0 = next(n for n in a.network if n.name == "lo")
    srv = socket.create_server(("127.0.0.1", 0))
    with socket.create_connection(srv.getsockname()) as out:
        peer, _ = srv.accept()
        out.sendall(b"x" * 200000)
        peer.close()
    srv.close()
    w = m.Watch(mpb.MetricsRequest(network=True, interval={"nanos": 200000000}), timeout=10)
    for snap in w:
        lo = next(n for n in snap.network if n.name == "lo")
        if lo.rx_packets > lo0.rx_packets:
            break
    w.cancel()
    assert not snap.filesystems


def test_cli_events(droverd):
    """`drover events`: follows by prefix, stops after --count, JSON lines, resumes --after."""
    import json
    from conftest import DROVER
    # Where to begin, without racing the CLI's subscription: the seq before the session's
    # start, from a stream subscribed first. The CLI reads the start from the ring and the
    # exit as it happens.
    # (A pipe session first: its events come before, so the PTY's start is not seq 1, and
    # --after can point before it.)
    droverd.cli("run", "--detach", "--", "true", check=0)
    ev = Follow(droverd, "pty.")
    r = droverd.cli("run", "--pty", "--detach", "--", "sh", "-c", "sleep 1; exit 4", check=0)
    sid = r.stdout.strip()
    before = ev.until_type("pty.started", sid)[-1].seq - 1
    ev.close()
    follow = subprocess.Popen([DROVER, "--socket", droverd.socket, "events", "--count", "2",
                               "--after", str(before), "pty."], env=droverd.env,
                              stdout=subprocess.PIPE, text=True)
    out, _ = follow.communicate(timeout=20)
    assert follow.returncode == 0
    lines = out.splitlines()
    assert [l.split()[2] for l in lines] == ["pty.started", "pty.exited"], out
    assert all(sid in l for l in lines) and "exit_code=4" in lines[1]
    seq = int(lines[0].split()[1])
    r = droverd.cli("events", "--json", "--after", str(seq), "--count", "1", check=0)
    e = json.loads(r.stdout)
    assert (int(e["seq"]), e["type"], e["subject"]) == (seq + 1, "pty.exited", sid)
    assert e["data"]["exit_code"] == "4"
    r = droverd.cli("events", "--count", "x", check=2)
    assert "--count wants a number, not 'x'" in r.stderr
