"""Nothing that happens to droverd restarts, loses or doubles a service: a droverd killed with
SIGKILL is replaced by one that adopts the services' processes (same pids, output uninterrupted),
however often it is killed while it brings them back, and processes a dead droverd spawned but
never recorded are found in its cgroups and killed."""

import os
import random
import signal
import subprocess
import time

import grpc
import pytest

from conftest import alive, wait_until
from drover.v1 import services_pb2 as pb, services_pb2_grpc


def stub(d):
    # A channel of its own: grpcio shares connections between channels to one target, and the
    # shared one may still be the dead droverd's.
    return services_pb2_grpc.ServicesStub(d.channel(**{"grpc.use_local_subchannel_pool": 1}))


def services(d):
    return {s.name: s for s in stub(d).List(pb.ListServicesRequest(), timeout=10).services}


def cgroup_mode(d):
    for line in d.read_log().splitlines():
        if "contained with cgroups:" in line:
            return line.rsplit(":", 1)[1].strip()
    return "none"


def tree_group(pid, mode):
    """The directory of pid's group in the hierarchy droverd uses ("v2" or "v1")."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    if mode == "v2":
        path = next(x.split("::", 1)[1] for x in lines if x.startswith("0::"))
        base = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else \
            "/sys/fs/cgroup"
    else:
        path = next(x.split(":", 2)[2] for x in lines if x.split(":")[1] == "pids")
        base = "/sys/fs/cgroup/pids"
    return base + path


def crash(d):
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    d.log.close()


def cmdlines():
    """pid -> argv of every process now."""
    out = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")[:-1]
                with open(f"/proc/{p}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                out[int(p)] = [a.decode(errors="replace") for a in argv]
    return out


def marked(tag):
    """Processes whose argv carries tag (each test's services are `sleep N` with unique N)."""
    return {pid: argv for pid, argv in cmdlines().items() if argv[:1] == ["sleep"] and
            len(argv) == 2 and argv[1].startswith(tag)}


def test_kill9_adopts_with_output_uninterrupted(make_droverd, tmp_path):
    d = make_droverd()
    s = stub(d)
    for i in range(20):
        spec = pb.ServiceSpec(name=f"s{i}", cmd=["sleep", f"7100{i:02d}"])
        s.Start(pb.StartServiceRequest(spec=spec), timeout=10)
    writer = ("i=0; while :; do echo $i; i=$((i+1)); sleep 0.01; done")
    s.Start(pb.StartServiceRequest(spec=pb.ServiceSpec(name="writer", cmd=["sh", "-c", writer])),
            timeout=10)
    before = {n: x.pid for n, x in services(d).items()}
    log = services(d)["writer"].stdout_log
    wait_until(lambda: os.path.getsize(log) > 20, what="the writer writing")

    crash(d)
    time.sleep(0.2)  # the writer goes on writing while no droverd runs
    d.start()
    after = services(d)
    assert {n: x.pid for n, x in after.items()} == before
    assert all(x.state == pb.SERVICE_STATE_ONLINE and alive(x.pid) for x in after.values())
    assert all(x.restarts_total == 0 for x in after.values())
    size = os.path.getsize(log)
    wait_until(lambda: os.path.getsize(log) > size + 20, what="the writer still writing")

    # Stopping an adopted service works as for any other: its whole tree goes.
    r = s.Stop(pb.ServiceTarget(target="writer"), timeout=10)
    assert r.services[0].state == pb.SERVICE_STATE_STOPPED
    assert not alive(before["writer"])
    with open(log) as f:
        seq = [int(x) for x in f.read().split()]
    # Every number once, in order: nothing lost or doubled across the crash.
    assert seq == list(range(len(seq))) and len(seq) > 20

    # The adopted process's end is seen too: its exit status is unknown (it was not droverd's
    # child), and the restart policy restarts it.
    os.kill(before["s0"], signal.SIGKILL)
    wait_until(lambda: services(d)["s0"].pid not in (0, before["s0"]), what="s0 restarted")
    x = services(d)["s0"]
    assert x.restarts_total == 1 and x.last_exit == -2**31
    assert "exit status unknown" in x.last_error
    assert "last exit:    unknown" in d.cli("describe", "s0", check=0).stdout



def test_kill9_right_after_a_restart_adopts_the_new_process(make_droverd):
    """droverd writes a service's state once per loop turn, but a new pid at once: a droverd
    killed the moment a restart is visible is replaced by one that adopts the new process
    (neither a second instance nor a kill of the one that runs), with its restarts counted."""
    d = make_droverd()
    s = stub(d)
    s.Start(pb.StartServiceRequest(spec=pb.ServiceSpec(
        name="phoenix", cmd=["sleep", "7150001"], restart_delay_ms={"value": 0},
        min_uptime_ms={"value": 60000})), timeout=10)
    for round in range(3):
        old = services(d)["phoenix"].pid
        os.kill(old, signal.SIGKILL)
        wait_until(lambda: services(d)["phoenix"].pid not in (0, old), what="phoenix restarted")
        new = services(d)["phoenix"]
        crash(d)
        d.start()
        after = services(d)["phoenix"]
        assert after.pid == new.pid and alive(new.pid), (round, new.pid, after.pid)
        assert after.restarts == new.restarts == round + 1
        assert list(marked("7150001")) == [new.pid]

def test_kill9_during_restore(make_droverd, tmp_path):
    """droverd killed at random instants while it brings 50 services back: afterwards every
    definition is there, each service wanted up runs exactly once, nothing runs untracked."""
    d = make_droverd()
    s = stub(d)
    for i in range(50):
        spec = pb.ServiceSpec(name=f"r{i}", cmd=["sleep", f"7200{i:02d}"], autostart=i % 2 == 0)
        s.Start(pb.StartServiceRequest(spec=spec), timeout=10)
    # Some are down on purpose: they must stay down.
    for i in range(0, 50, 7):
        s.Stop(pb.ServiceTarget(target=f"r{i}"), timeout=10)
    down = {f"r{i}" for i in range(0, 50, 7)}
    # Some crash while droverd is away: they must be started again, once.
    victims = [x.pid for n, x in services(d).items() if n in ("r1", "r2", "r3")]

    rng = random.Random(17)
    for round_ in range(20):
        crash(d)
        if round_ == 5:
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
        d.log = open(d.log_path, "ab")
        d.proc = subprocess.Popen(d.args, env=d.env, stdout=d.log, stderr=subprocess.STDOUT)
        time.sleep(rng.uniform(0, 0.15))  # a random instant of the restore, not a wait for it
    crash(d)
    d.start()

    got = services(d)
    assert set(got) == {f"r{i}" for i in range(50)}
    wait_until(lambda: all(x.state in (pb.SERVICE_STATE_ONLINE, pb.SERVICE_STATE_STOPPED)
                           for x in services(d).values()), what="every service settled")
    got = services(d)
    running = marked("7200")
    for name, x in got.items():
        mine = [pid for pid, argv in running.items() if argv[1] == f"7200{int(name[1:]):02d}"]
        if name in down:
            assert x.state == pb.SERVICE_STATE_STOPPED and mine == [], (name, x, mine)
        else:
            assert x.state == pb.SERVICE_STATE_ONLINE and mine == [x.pid], (name, x, mine)


def test_unrecorded_child_of_a_dead_droverd_is_killed(make_droverd, tmp_path):
    """A process in a dead droverd's cgroup that no service claims (spawned, then droverd died
    before recording it) is killed at start, and reported."""
    d = make_droverd()
    if cgroup_mode(d) == "none":
        pytest.skip("no writable cgroup hierarchy here")
    s = stub(d)
    s.Start(pb.StartServiceRequest(spec=pb.ServiceSpec(name="kept", cmd=["sleep", "730001"])),
            timeout=10)
    kept = services(d)["kept"]
    # A stray in the same droverd's group directory: a new tree group holding a sleep.
    stray_group = os.path.join(os.path.dirname(tree_group(kept.pid, cgroup_mode(d))), "t999")
    os.mkdir(stray_group)
    stray = subprocess.Popen(["sleep", "730002"], start_new_session=True)
    with open(stray_group + "/cgroup.procs", "w") as f:
        f.write(str(stray.pid))
    crash(d)
    d.start()
    assert services(d)["kept"].pid == kept.pid and alive(kept.pid)
    assert stray.wait(timeout=10) == -signal.SIGKILL
    assert f"killing process {stray.pid} ('sleep')" in d.read_log()
    wait_until(lambda: not os.path.exists(stray_group), what="the stray group removed")


def test_session_programs_of_a_dead_droverd_are_killed(make_droverd):
    """A session's PTY dies with droverd; a program that ignores the hangup would run on, alone:
    the next droverd finds it in the dead droverd's cgroup, kills it and says so."""
    from drover.v1 import sessions_pb2_grpc
    from running_process.daemon.v1 import daemon_pb2 as rp

    d = make_droverd()
    if cgroup_mode(d) == "none":
        pytest.skip("no writable cgroup hierarchy here")
    sess = sessions_pb2_grpc.SessionsStub(d.channel(**{"grpc.use_local_subchannel_pool": 1}))
    r = sess.SpawnPty(rp.SpawnPtySessionRequest(
        argv=["sh", "-c", "trap '' HUP; exec sleep 740001"], rows=24, cols=80), timeout=10)
    wait_until(lambda: list(marked("740001")), what="the session's program")
    (pid,) = marked("740001")
    crash(d)
    wait_until(lambda: alive(pid), what="the program outliving droverd (it ignores SIGHUP)")
    d.start()
    wait_until(lambda: not alive(pid), what="the program killed")
    assert f"killing process {pid} ('sleep')" in d.read_log()
    sess = sessions_pb2_grpc.SessionsStub(d.channel(**{"grpc.use_local_subchannel_pool": 1}))
    assert r.session_id not in [x.session_id for x in sess.ListPty(
        rp.ListPtySessionsRequest(), timeout=10).sessions]
