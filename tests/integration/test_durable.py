"""State that cannot lie on a small or full disk: droverd with its state directory on an 8 MiB
tmpfs. The emergency reserve takes what fits and leaves room. With the disk full, a change a
client asks for is refused (RESOURCE_EXHAUSTED) and nothing changes, while what droverd does on
its own (restarting a crashed service) goes on, and is written again once space returns; a
droverd killed afterwards finds every service as it was. Needs root (it mounts the tmpfs)."""

import errno
import json
import os
import signal
import subprocess

import grpc
import pytest
from google.protobuf import wrappers_pb2

from conftest import Droverd, alive, wait_until
from drover.v1 import admin_pb2, admin_pb2_grpc, services_pb2 as pb, services_pb2_grpc

RESERVE = 32 << 20  # droverd's default: far more than the disk can spare
TAG = "7400"        # every service here is `sleep 7400NN`

CONFIG = """services:
  - name: from-file
    cmd: [sleep, "740010"]
"""


def channel(d):
    # A channel of its own: grpcio shares connections between channels to one target, and the
    # shared one may still be a dead droverd's.
    return d.channel(**{"grpc.use_local_subchannel_pool": 1})


def ignores_term(pid):
    """Whether pid ignores SIGTERM (its shell has run its trap)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            mask = next(int(x.split()[1], 16) for x in f if x.startswith("SigIgn:"))
    except (FileNotFoundError, StopIteration):
        return False
    return bool(mask & (1 << (15 - 1)))


def services(d):
    stub = services_pb2_grpc.ServicesStub(channel(d))
    return {s.name: s for s in stub.List(pb.ListServicesRequest(), timeout=10).services}


def status(d):
    return admin_pb2_grpc.AdminStub(channel(d)).Status(admin_pb2.StatusRequest(), timeout=10)


def start(d, name, n):
    spec = pb.ServiceSpec(name=name, cmd=["sleep", f"{TAG}{n:02d}"])
    stub = services_pb2_grpc.ServicesStub(channel(d))
    return stub.Start(pb.StartServiceRequest(spec=spec), timeout=10)


def act(d, verb, target):
    stub = services_pb2_grpc.ServicesStub(channel(d))
    return getattr(stub, verb)(pb.ServiceTarget(target=target), timeout=10)


def refused(call):
    """call() is refused because the change cannot be recorded; returns the message."""
    with pytest.raises(grpc.RpcError) as e:
        call()
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e.value
    assert "the state disk is full" in e.value.details()
    return e.value.details()


def sleeps():
    """pid -> N of every `sleep 7400NN` running now."""
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")[:-1]
        except OSError:
            continue
        if len(argv) == 2 and argv[0] == b"sleep" and argv[1].startswith(TAG.encode()) and \
                alive(int(p)):
            out[int(p)] = int(argv[1][len(TAG):])
    return out


def fill(path):
    """Writes path until the disk is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        while True:
            os.write(fd, bytes(4096))
    except OSError as e:
        assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)


def disk_free(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def crash(d):
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    d.log.close()


@pytest.fixture
def small_disk(make_droverd, tmp_path):
    """A droverd (not started) whose state directory is an 8 MiB tmpfs; its service logs are
    elsewhere. The tmpfs goes at the end, after droverd and anything left of its services."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    d = make_droverd(start=False, config=CONFIG)
    d.args[d.args.index("--emergency-reserve-bytes") + 1] = str(RESERVE)
    d.args += ["--log-dir", str(tmp_path / "logs")]
    os.makedirs(d.state_dir)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", d.state_dir],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield d
    finally:
        try:
            if d.proc is not None and d.proc.poll() is None:
                d.stop()
        finally:
            for pid in sleeps():
                os.kill(pid, signal.SIGKILL)
            subprocess.run(["umount", "-l", d.state_dir], check=True)


def test_full_disk_refuses_changes_and_loses_nothing(small_disk, tmp_path):
    d = small_disk.start()
    fillers = [os.path.join(d.state_dir, f"filler{i}") for i in (1, 2)]
    db = os.path.join(d.state_dir, "drover.sqlite3")
    reserve = os.path.join(d.state_dir, "emergency-reserve.bin")

    # The reserve takes a quarter of the disk at most, whole, and leaves room.
    s = status(d)
    assert s.emergency_reserve == "armed" and s.db_path == db and s.db_bytes > 0
    assert 1 << 20 <= s.emergency_reserve_bytes <= 2 << 20
    assert os.stat(reserve).st_size == s.emergency_reserve_bytes
    assert os.stat(reserve).st_blocks * 512 >= s.emergency_reserve_bytes
    assert disk_free(d.state_dir) > 4 << 20
    assert s.unsynced_rows == 0 and s.last_write_error == "" and not s.HasField(
        "last_write_error_at")

    for name, n in (("keep", 1), ("victim", 2), ("phoenix", 3), ("quiet", 6)):
        start(d, name, n)
    act(d, "Stop", "quiet")  # accepted: it must stay down
    before = {n: x.pid for n, x in services(d).items() if x.pid}
    assert set(before) == {"from-file", "keep", "victim", "phoenix"}

    # Full: what a client asks is refused, and nothing changes.
    fill(fillers[0])
    assert "cannot start 'newbie'" in refused(lambda: start(d, "newbie", 4))
    refused(lambda: act(d, "Stop", "victim"))
    refused(lambda: act(d, "Restart", "keep"))
    refused(lambda: act(d, "Delete", "keep"))
    refused(lambda: services_pb2_grpc.ServicesStub(channel(d)).Start(
        pb.StartServiceRequest(target="quiet"), timeout=10))
    with open(os.path.join(d.tmp, "drover.yaml"), "w") as f:
        f.write(CONFIG + "  - name: from-file-2\n    cmd: [sleep, \"740011\"]\n")
    refused(lambda: admin_pb2_grpc.AdminStub(channel(d)).Reload(admin_pb2.ReloadRequest(),
                                                                 timeout=10))
    with open(os.path.join(d.tmp, "drover.yaml"), "w") as f:
        f.write(CONFIG)
    now = services(d)
    assert {n: x.pid for n, x in now.items() if x.pid} == before
    assert "newbie" not in now and "from-file-2" not in now
    assert now["quiet"].state == pb.SERVICE_STATE_STOPPED
    assert sorted(sleeps().values()) == [1, 2, 3, 10]
    s = status(d)
    assert s.last_write_error == "No space left on device" and s.HasField("last_write_error_at")
    assert s.unsynced_rows == 0  # refused: nothing was changed, nothing waits
    assert s.emergency_reserve == "armed"  # a client's change never spends it

    # What droverd does on its own is not refused: the reserve pays for recording it...
    os.kill(before["phoenix"], signal.SIGKILL)
    wait_until(lambda: services(d)["phoenix"].pid not in (0, before["phoenix"]),
               what="phoenix restarted")
    assert status(d).emergency_reserve == "released"
    assert not os.path.exists(reserve)
    # ...and once that is gone too, it goes on, and the rows wait to be written again.
    fill(fillers[1])
    second = services(d)["phoenix"].pid
    os.kill(second, signal.SIGKILL)
    wait_until(lambda: services(d)["phoenix"].pid not in (0, second), what="phoenix again")
    wait_until(lambda: status(d).unsynced_rows == 1, what="phoenix's row waiting")
    assert alive(services(d)["phoenix"].pid)
    log = d.read_log()
    assert "its emergency reserve was spent" in log
    assert "cannot record the state of service 'phoenix'" in log
    text = d.cli("status", check=0).stdout
    assert "1 row waiting to be written again" in text
    assert "last write error: No space left on device at " in text
    j = json.loads(d.cli("status", "--json", check=0).stdout)
    assert j["unsynced_rows"] == 1 and j["emergency_reserve"] == "released"
    assert j["last_write_error"] == "No space left on device" and j["last_write_error_at"]
    assert j["db_path"] == db

    # Space returns: the rows are written again, the reserve set aside again, whole.
    for f in fillers:
        os.unlink(f)
    wait_until(lambda: status(d).unsynced_rows == 0 and status(d).emergency_reserve == "armed",
               timeout=30, what="the state in sync again")
    s = status(d)
    assert os.stat(reserve).st_size == s.emergency_reserve_bytes >= 1 << 20
    assert os.stat(reserve).st_blocks * 512 >= s.emergency_reserve_bytes
    assert "in sync again" in d.read_log()
    assert "state:        in sync" in d.cli("status", check=0).stdout
    start(d, "late", 5)  # accepted again
    # An accepted delete holds while its service takes its time to stop.
    stub = services_pb2_grpc.ServicesStub(channel(d))
    spec = pb.ServiceSpec(name="slow", cmd=["sh", "-c", f"trap '' TERM; exec sleep {TAG}07"],
                          kill_timeout_ms=wrappers_pb2.UInt32Value(value=600000))
    stub.Start(pb.StartServiceRequest(spec=spec), timeout=10)
    # Its shell must have set its trap first: a SIGTERM before that would end it at once.
    wait_until(lambda: services(d)["slow"].pid and ignores_term(services(d)["slow"].pid),
               what="slow ignoring SIGTERM")
    deleting = stub.Delete.future(pb.ServiceTarget(target="slow"), timeout=60)
    wait_until(lambda: services(d)["slow"].state == pb.SERVICE_STATE_STOPPING, what="slow stopping")

    # droverd dies: the next one finds everything as it was, and adopts it.
    last = {n: x.pid for n, x in services(d).items() if x.pid and n != "slow"}
    crash(d)
    with pytest.raises(grpc.RpcError):
        deleting.result()
    d.start()
    after = services(d)
    assert {n: x.pid for n, x in after.items() if x.pid} == last
    assert set(after) == {"from-file", "keep", "victim", "phoenix", "quiet", "late"}
    assert all(alive(pid) for pid in last.values())
    assert after["quiet"].state == pb.SERVICE_STATE_STOPPED
    assert f"adopted its process {last['phoenix']}" in d.read_log()
    if "contained with cgroups: none" not in d.read_log():  # else no stray can be found
        wait_until(lambda: sorted(sleeps().values()) == [1, 2, 3, 5, 10],
                   what="the deleted service's process killed as a stray")


def test_reserve_never_fills_the_disk(small_disk):
    """On a disk that filled up while droverd was away, the reserve that no longer fits goes, and
    droverd starts; no partial reserve is ever left behind."""
    d = small_disk.start()
    reserve = os.path.join(d.state_dir, "emergency-reserve.bin")
    assert status(d).emergency_reserve == "armed"
    assert d.stop() == 0
    fill(os.path.join(d.state_dir, "filler"))
    d.start()
    s = status(d)
    assert s.emergency_reserve == "degraded" and s.emergency_reserve_bytes == 0
    assert not os.path.exists(reserve)
    assert disk_free(d.state_dir) > 1 << 20  # what it held is free again
    assert "could not set aside" in d.read_log()
