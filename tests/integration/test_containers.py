"""Containers from OCI images (drover.v1.Containers, drover.v1.Images, drover container/image):
a tiny image built here from Debian's busybox-static with umoci (no registry), imported from an
OCI layout, an oci-archive and a docker-archive; containers run through the host's OCI runtime
with droverd as their monitor: output and exit codes, memory limits and the OOM kill, pids
limits, a read-only root, the network namespace, capabilities, seccomp and no_new_privs, users,
volumes, a terminal container attached and detached like a session, exec, stop of a container
that ignores SIGTERM, isolation of two containers of one image, a droverd killed with SIGKILL
and started again adopting what runs, start again of an exited container, and the errors every
bad request gets. Skipped, with the reason, only where no OCI runtime can run on the host."""

import json
import os
import pty
import select
import shutil
import signal
import subprocess
import time

import grpc
import pytest

from conftest import DROVER, ROOT, alive, free_port, wait_until
from drover.v1 import containers_pb2 as pb, containers_pb2_grpc as pbg

Code = grpc.StatusCode
MKIMAGE = os.path.join(ROOT, "tests", "images", "mkimage.sh")
State = pb.ContainerState


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """An OCI layout holding busybox:latest (built once per module)."""
    for tool in ("umoci", "skopeo"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (Debian package {tool})")
    out = str(tmp_path_factory.mktemp("img") / "busybox")
    subprocess.run([MKIMAGE, out, "busybox:latest"], check=True, capture_output=True)
    return out


class Api:
    def __init__(self, d, **options):
        ch = d.channel(**options)
        self.c = pbg.ContainersStub(ch)
        self.i = pbg.ImagesStub(ch)
        self.d = d

    def run(self, cmd, wait=True, **kw):
        """Creates and starts a container of busybox running cmd; with wait, its end."""
        res = kw.pop("resources", None)
        kw.setdefault("stop_timeout_ms", 1000)
        spec = pb.ContainerSpec(image="busybox", command=cmd, **kw)
        if res is not None:
            spec.resources.CopyFrom(res)
        c = self.c.Create(pb.CreateContainerRequest(spec=spec, start=True), timeout=60)
        return self.wait(c.id) if wait else c

    def wait(self, ref):
        return self.c.Wait(pb.ContainerRef(container=ref), timeout=60)

    def logs(self, ref):
        return b"".join(x.data for x in self.c.Logs(pb.ContainerLogsRequest(container=ref),
                                                      timeout=30))

    def get(self, ref):
        return self.c.Get(pb.ContainerRef(container=ref), timeout=10)


@pytest.fixture
def api(make_droverd, image_dir):
    d = make_droverd(extra_args=["--http", f"127.0.0.1:{free_port()}"])
    a = Api(d)
    try:
        a.i.Import(pb.ImportImageRequest(source=image_dir), timeout=60)
        probe = a.run(["true"])
    except grpc.RpcError as e:
        # Only the first container decides: a host where no OCI runtime can run (none
        # installed, not root, no overlayfs, a runtime that refuses the host) skips, saying why.
        pytest.skip(f"no OCI runtime can run containers here: {e.code()}: {e.details()}")
    assert probe.exit_code == 0, probe
    yield a
    # A graceful stop stops the containers and leaves no overlay mounted.
    if d.proc.poll() is None:
        assert d.stop() == 0, d.read_log()
    with open("/proc/self/mounts") as m:
        assert d.state_dir not in m.read()


def err(call, *args, **kw):
    with pytest.raises(grpc.RpcError) as e:
        call(*args, **kw)
    return e.value.code(), e.value.details()


# ---- running ----------------------------------------------------------------------------------

def test_output_exit_code_and_cli(api):
    c = api.run(["sh", "-c", "echo out; echo err >&2; id -u; exit 3"])
    assert c.state == State.CONTAINER_STATE_EXITED and c.exit_known and c.exit_code == 3
    assert api.logs(c.id) == b"out\nerr\n0\n"
    assert c.started_at.seconds and c.finished_at.seconds >= c.started_at.seconds
    r = api.d.cli("container", "run", "--rm", "busybox", "sh", "-c", "echo via-cli; exit 7")
    assert (r.returncode, r.stdout) == (7, "via-cli\n"), r.stderr
    ls = api.d.cli("container", "ls", "-a", check=0).stdout
    assert c.id in ls and "exited 3" in ls
    # --rm took the CLI's container away once it exited.
    assert len([l for l in ls.splitlines()[1:] if l.strip()]) == 2, ls


def test_memory_limit_oom_kill_recorded(api):
    c = api.run(["sh", "-c", "x=aaaaaaaa; while :; do x=$x$x; done"],
                resources=pb.ContainerResources(memory_bytes=32 << 20))
    assert c.oom_killed and c.exit_signal == signal.SIGKILL, c


def test_pids_limit_fork_fails(api):
    c = api.run(["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; echo all"],
                resources=pb.ContainerResources(pids=5))
    assert c.exit_code != 0
    assert b"can't fork" in api.logs(c.id)


def test_read_only_root(api):
    c = api.run(["sh", "-c", "echo x > /tmp/ok && echo tmp-ok; echo y > /etc/x || echo refused"],
                read_only=True)
    out = api.logs(c.id)
    assert b"tmp-ok" in out and b"Read-only file system" in out and b"refused" in out


def test_network_none_has_only_lo(api):
    c = api.run(["cat", "/proc/net/dev"])
    ifaces = [l.split(b":")[0].strip() for l in api.logs(c.id).splitlines()[2:]]
    assert ifaces == [b"lo"]
    c = api.run(["cat", "/proc/net/dev"], network="host")
    assert len(api.logs(c.id).splitlines()[2:]) > 1


def test_capabilities_seccomp_and_no_new_privs(api):
    cmd = ["sh", "-c", "touch /tmp/x; chown 1 /tmp/x && echo chown-ok; "
           "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status"]
    assert b"chown-ok" in api.logs(api.run(cmd).id)
    c = api.run(cmd, cap_drop=["CHOWN"])
    out = api.logs(c.id)
    assert b"chown-ok" not in out and b"Operation not permitted" in out
    assert b"NoNewPrivs:\t1" in out
    if os.path.exists("/usr/share/containers/seccomp.json"):
        assert b"Seccomp:\t2" in out
    assert b"Seccomp:\t0" in api.logs(api.run(cmd, no_seccomp=True).id)


def test_user_env_cwd_hostname_volumes(api, tmp_path):
    host = tmp_path / "shared"
    host.mkdir()
    (host / "in.txt").write_text("from-host\n")
    vol = [pb.Mount(type=pb.MOUNT_TYPE_VOLUME, source="v1", destination="/vol")]
    c = api.run(["sh", "-c", "id -u; echo $GREETING; pwd; hostname; cat /h/in.txt; "
                 "touch /h/nope || echo ro"],
                user="nobody", env=["GREETING=hi"], cwd="/tmp", name="box1",
                mounts=[pb.Mount(type=pb.MOUNT_TYPE_BIND, source=str(host), destination="/h",
                                 read_only=True)])
    out = api.logs(c.id).decode()
    assert out.splitlines()[:5] == ["65534", "hi", "/tmp", "box1", "from-host"], out
    assert "ro" in out.splitlines()[-1]
    # A named volume outlives its container.
    assert api.run(["sh", "-c", "echo kept > /vol/f"], mounts=vol).exit_code == 0
    c2 = api.run(["cat", "/vol/f"], mounts=vol)
    assert api.logs(c2.id) == b"kept\n"


def test_two_containers_of_one_image_do_not_share_writes(api):
    a = api.run(["sh", "-c", "echo written-by-a > /etc/mine; sleep 0.5; cat /etc/mine"])
    b = api.run(["sh", "-c", "cat /etc/mine 2>/dev/null || echo absent; echo b > /etc/mine"])
    assert api.logs(a.id) == b"written-by-a\n"
    assert api.logs(b.id) == b"absent\n"
    c = api.run(["sh", "-c", "cat /etc/mine 2>/dev/null || echo absent"])
    assert api.logs(c.id) == b"absent\n"


def test_start_again_keeps_the_writable_layer(api):
    c = api.run(["sh", "-c", "cat /count 2>/dev/null || echo 0 > /count; "
                 "echo $(( $(cat /count) + 1 )) > /count; cat /count"])
    c2 = api.c.Start(pb.ContainerRef(container=c.id), timeout=60)
    assert c2.restarts == 1
    api.wait(c.id)
    assert api.logs(c.id).split() == [b"1", b"1", b"2"]


def test_stop_a_container_that_ignores_sigterm(api):
    c = api.run(["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"], wait=False,
                stop_timeout_ms=800)
    assert c.state == State.CONTAINER_STATE_RUNNING and alive(c.pid)
    t = time.monotonic()
    s = api.c.Stop(pb.StopContainerRequest(container=c.id), timeout=30)
    took = time.monotonic() - t
    assert s.state == State.CONTAINER_STATE_EXITED and s.exit_signal == signal.SIGKILL
    assert took >= 0.7, took
    assert not alive(c.pid)
    # A handler makes SIGTERM work at once; a stop of a stopped container answers at once.
    c = api.run(["sh", "-c", "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done"],
                wait=False)
    wait_until(lambda: api.logs(c.id) == b"ready\n", what="the trap set")
    s = api.c.Stop(pb.StopContainerRequest(container=c.id), timeout=30)
    assert (s.exit_code, s.exit_signal) == (0, 0)
    assert api.c.Stop(pb.StopContainerRequest(container=c.id), timeout=5).state == \
        State.CONTAINER_STATE_EXITED


def test_exec_stats_and_logs_follow(api):
    c = api.run(["sh", "-c", "echo start; sleep 1000"], wait=False, name="svc")
    r = api.d.cli("container", "exec", "svc", "sh", "-c", "hostname; exit 5")
    assert (r.returncode, r.stdout) == (5, "svc\n"), r.stderr
    st = api.c.Stats(pb.ContainerRef(container="svc"), timeout=10)
    assert st.pids >= 1 and st.memory_bytes > 0
    follow = api.c.Logs(pb.ContainerLogsRequest(container="svc", follow=True), timeout=30)
    assert next(follow).data == b"start\n"
    api.c.Stop(pb.StopContainerRequest(container="svc", timeout_ms=-1), timeout=30)
    rest = list(follow)
    assert rest and rest[-1].exited


def test_terminal_container_attach_and_detach(api):
    c = api.run(["sh"], wait=False, tty=True, name="term", rows=30, cols=100)
    assert c.session_id.startswith("pty-")
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(DROVER, ["drover", "--socket", api.d.socket, "container", "attach", "term"],
                  api.d.env)
    try:
        os.write(fd, b"echo hello-from-$(tty); stty size\n")
        out = b""
        deadline = time.monotonic() + 10
        while b"30 100" not in out and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                out += os.read(fd, 4096)
        assert b"hello-from-/dev/pts/0" in out and b"30 100" in out, out
        os.write(fd, b"\x1c")  # Ctrl-\ detaches
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
    finally:
        os.close(fd)
    assert api.get("term").state == State.CONTAINER_STATE_RUNNING
    api.c.Stop(pb.StopContainerRequest(container="term", timeout_ms=-1), timeout=30)


def test_droverd_killed_and_started_again_adopts_running_containers(api):
    d, a = api.d, api
    bg = a.run(["sh", "-c", "trap '' TERM; while :; do echo tick; sleep 0.2; done"],
               wait=False, name="bg")
    term = a.run(["sh"], wait=False, tty=True, name="term")
    d.proc.kill()
    d.proc.wait()
    d.log.close()
    assert alive(bg.pid) and alive(term.pid)
    d.start()
    a = Api(d, **{"grpc.use_local_subchannel_pool": 1})
    now = a.get("bg")
    assert now.state == State.CONTAINER_STATE_RUNNING and now.pid == bg.pid
    t = a.get("term")
    assert t.state == State.CONTAINER_STATE_RUNNING and t.session_id == term.session_id
    n = a.logs("bg").count(b"tick")
    wait_until(lambda: a.logs("bg").count(b"tick") > n, what="output after the restart")
    s = a.c.Stop(pb.StopContainerRequest(container="bg"), timeout=30)
    assert s.state == State.CONTAINER_STATE_EXITED and not alive(bg.pid)
    assert not s.exit_known  # it ended while another droverd was its parent
    a.c.Remove(pb.RemoveContainerRequest(container="term", force=True), timeout=30)
    assert not alive(term.pid)


# ---- images -----------------------------------------------------------------------------------

def test_image_import_formats_and_removal(api, tmp_path):
    oa, da = str(tmp_path / "bb.oci.tar"), str(tmp_path / "bb.docker.tar")
    subprocess.run(["skopeo", "copy", "-q", f"oci:{api_image(api)}:busybox:latest",
                    f"oci-archive:{oa}"], check=True)
    subprocess.run(["skopeo", "copy", "-q", f"oci:{api_image(api)}:busybox:latest",
                    f"docker-archive:{da}:library/box:v2"], check=True)
    a = api.i.Import(pb.ImportImageRequest(source=oa, name="fromarchive:1"), timeout=60)
    assert a.name == "fromarchive:1" and a.layers == 1
    b = api.i.Import(pb.ImportImageRequest(source=da), timeout=60)
    assert b.name == "box:v2"
    r = api.d.cli("image", "ls", check=0).stdout
    assert "busybox:latest" in r and "fromarchive:1" in r and "box:v2" in r
    c = api.c.Create(pb.CreateContainerRequest(spec=pb.ContainerSpec(
        image="box:v2", command=["echo", "docker-archive"]), start=True), timeout=60)
    assert api.logs(api.wait(c.id).id) == b"docker-archive\n"
    code, msg = err(api.i.Remove, pb.RemoveImageRequest(image="box:v2"), timeout=10)
    assert code == Code.FAILED_PRECONDITION and "use the image" in msg
    api.c.Remove(pb.RemoveContainerRequest(container=c.id), timeout=30)
    api.i.Remove(pb.RemoveImageRequest(image="box:v2"), timeout=10)
    api.i.Remove(pb.RemoveImageRequest(image="fromarchive:1"), timeout=10)
    names = [i.name for i in api.i.List(pb.ListImagesRequest(), timeout=10).images]
    assert names == ["busybox:latest"]


def api_image(api):
    return api.i.Get(pb.ImageRef(image="busybox"), timeout=10).source.split(":", 1)[1]


# ---- errors -----------------------------------------------------------------------------------

def test_bad_requests_get_clear_errors(api, tmp_path):
    def create(**kw):
        kw.setdefault("image", "busybox")
        kw.setdefault("command", ["true"])
        return err(api.c.Create, pb.CreateContainerRequest(spec=pb.ContainerSpec(**kw)),
                   timeout=30)

    assert create(image="nosuch")[0] == Code.NOT_FOUND
    assert create(name="bad name!")[0] == Code.INVALID_ARGUMENT
    assert create(network="bridge")[0] == Code.INVALID_ARGUMENT
    assert create(cap_drop=["NOT_A_CAP"])[0] == Code.INVALID_ARGUMENT
    assert create(env=["NOEQUALS"])[0] == Code.INVALID_ARGUMENT
    assert create(stop_signal="SIGNOPE")[0] == Code.INVALID_ARGUMENT
    assert create(user="nosuchuser")[0] == Code.INVALID_ARGUMENT
    assert create(mounts=[pb.Mount(source="relative", destination="/x")])[0] == \
        Code.INVALID_ARGUMENT
    assert create(mounts=[pb.Mount(source="/no/such/dir", destination="/x")])[0] == \
        Code.NOT_FOUND
    code, msg = create(command=["/no/such/program"])
    assert code == Code.FAILED_PRECONDITION and "/no/such/program" in msg
    assert api.c.List(pb.ListContainersRequest(all=True), timeout=10).containers[0].spec.command \
        == ["true"]  # the failed ones left nothing behind
    c = api.run(["sleep", "1000"], wait=False, name="busy")
    assert create(name="busy")[0] == Code.ALREADY_EXISTS
    assert err(api.c.Remove, pb.RemoveContainerRequest(container="busy"))[0] == \
        Code.FAILED_PRECONDITION
    assert err(api.c.Attach, pb.ContainerRef(container="busy"))[0] == Code.FAILED_PRECONDITION
    assert err(api.c.Start, pb.ContainerRef(container="busy"))[0] == Code.FAILED_PRECONDITION
    assert err(api.c.Get, pb.ContainerRef(container="nosuch"))[0] == Code.NOT_FOUND
    assert err(api.c.Stop, pb.StopContainerRequest(container="busy", signal="NOPE"))[0] == \
        Code.INVALID_ARGUMENT
    api.c.Remove(pb.RemoveContainerRequest(container="busy", force=True), timeout=30)
    assert not alive(c.pid)
    assert err(api.c.Exec, pb.ExecContainerRequest(container=api.run(["true"]).id,
                                                   command=["ls"]))[0] == Code.FAILED_PRECONDITION
    assert err(api.i.Import, pb.ImportImageRequest(source=str(tmp_path / "none")))[0] == \
        Code.NOT_FOUND
    (tmp_path / "junk.tar").write_bytes(b"not a tar")
    assert err(api.i.Import, pb.ImportImageRequest(source=str(tmp_path / "junk.tar")))[0] == \
        Code.INVALID_ARGUMENT
    # Everyone else is still served.
    assert api.run(["true"]).exit_code == 0


# ---- services in containers -------------------------------------------------------------------

def test_service_with_an_image_is_restarted_after_it_is_killed(api, tmp_path):
    f = tmp_path / "web.yaml"
    f.write_text("services:\n"
                 "  - name: web\n"
                 "    image: busybox\n"
                 "    cmd: [sh, -c, 'echo up in $(hostname); trap \"exit 0\" TERM; "
                 "while :; do sleep 0.1; done']\n"
                 "    mem_limit: 64m\n"
                 "    pids_limit: 20\n"
                 "    read_only: true\n"
                 "    restart_delay: 100ms\n"
                 "    kill_timeout: 2s\n")
    api.d.cli("start", str(f), check=0)

    def described():
        return json.loads(api.d.cli("describe", "web", "--json", check=0).stdout)

    def children(pid):
        kids = []
        for p in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{p}/stat") as st:
                    if int(st.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(p))
            except (OSError, ValueError):
                pass
        return kids

    wait_until(lambda: "up in web" in api.d.cli("logs", "web").stdout, what="the service up")
    pid = described()["pid"]
    kids = wait_until(lambda: children(pid), what="the container's init")
    os.kill(kids[0], signal.SIGKILL)  # the container's program dies: the service restarts
    wait_until(lambda: api.d.cli("logs", "web").stdout.count("up in web") == 2,
               what="the service restarted in a new container")
    d = described()
    assert d["pid"] != pid and d["restarts"] >= 1, d
    api.d.cli("stop", "web", check=0)
    state = os.path.join(api.d.state_dir, "runtime")
    dirs = os.path.join(api.d.state_dir, "containers")
    wait_until(lambda: not [x for x in os.listdir(state) + os.listdir(dirs)
                            if x.startswith("svc")],
               what="the runtime letting go of the service's container, its layer removed")
    with open("/proc/self/mounts") as m:
        assert api.d.state_dir not in m.read()


# ---- seen everywhere ----------------------------------------------------------------------------

def test_containers_in_top_metrics_status_and_superviz(api):
    import urllib.request
    from daemon.v1 import daemon_pb2, daemon_pb2_grpc
    api.run(["sh", "-c", "while :; do :; done"], wait=False, name="spin",
            resources=pb.ContainerResources(memory_bytes=64 << 20))
    snap = json.loads(api.d.cli("--json", "metrics", check=0).stdout)
    row = [c for c in snap["containers"] if c["name"] == "spin"]
    assert row and row[0]["state"] == "running" and row[0]["processes"] >= 1, snap["containers"]
    port = api.d.args[api.d.args.index("--http") + 1].split(":")[1]
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert 'drover_container_up{container="spin",image="busybox"} 1' in page
    assert f'drover_container_memory_limit_bytes{{container="spin",image="busybox"}} {64 << 20}' \
        in page
    status = json.loads(api.d.cli("--json", "status", check=0).stdout)
    assert status["container_runtime"] in ("runc", "crun") and status["containers_running"] >= 1
    sv = daemon_pb2_grpc.DaemonServiceStub(api.d.channel())
    names = [p.service_name for p in sv.ListProcesses(__import__("google.protobuf.empty_pb2",
                                                                 fromlist=["Empty"]).Empty(),
                                                      timeout=10).processes]
    assert "container:spin" in names
    p = sv.GetProcess(daemon_pb2.GetProcessRequest(service_name="container:spin"), timeout=10)
    assert p.state == daemon_pb2.PROCESS_STATE_RUNNING and p.pid > 0
    api.c.Stop(pb.StopContainerRequest(container="spin", timeout_ms=-1), timeout=30)
