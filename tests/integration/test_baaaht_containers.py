"""baaaht's container RPCs (orchestrator.v1 CreateContainer, GetContainer, ListContainers,
StopContainer, RemoveContainer) on drover's container core, and tasks that run in a container:
a 32 MiB memory limit OOM-kills the container and the event stream says so; create, get, list
with filters, stop with a timeout, remove (force for a running one); a session's container
limit and policy; closing the session stops its containers; upstream's errors. Uses the busybox
image the container tests build (umoci, no registry); skipped, saying why, where no OCI runtime
can run."""

import grpc
import pytest

from conftest import wait_until
from test_baaaht_tasks import watch
from test_containers import image_dir  # noqa: F401 (a fixture)
from drover.v1 import containers_pb2 as pb, containers_pb2_grpc as pbg
import agent_pb2 as ag
import agent_pb2_grpc as agg
import common_pb2 as common
import orchestrator_pb2 as o
import orchestrator_pb2_grpc as og

Code = grpc.StatusCode


def err(call, *args, **kw):
    with pytest.raises(grpc.RpcError) as e:
        call(*args, timeout=60, **kw)
    return e.value.code(), e.value.details()


@pytest.fixture
def bh(make_droverd, image_dir):  # noqa: F811
    d = make_droverd()
    ch = d.channel()
    pbg.ImagesStub(ch).Import(pb.ImportImageRequest(source=image_dir), timeout=60)
    s = og.OrchestratorServiceStub(ch)
    sid = s.CreateSession(o.CreateSessionRequest(), timeout=10).session_id
    try:
        c = s.CreateContainer(o.CreateContainerRequest(session_id=sid, config=o.ContainerConfig(
            image="busybox", command=["true"])), timeout=60)
    except grpc.RpcError as e:
        pytest.skip(f"no OCI runtime can run containers here: {e.code()}: {e.details()}")
    s.RemoveContainer(o.RemoveContainerRequest(container_id=c.container_id, force=True),
                      timeout=60)
    return d, s, agg.AgentServiceStub(ch)


def get(s, cid):
    return s.GetContainer(o.GetContainerRequest(container_id=cid), timeout=10).container


def test_oom_kill_is_an_event(bh):
    d, s, _ = bh
    sid = s.CreateSession(o.CreateSessionRequest(), timeout=10).session_id
    c = s.CreateContainer(o.CreateContainerRequest(session_id=sid, config=o.ContainerConfig(
        image="busybox", command=["sh", "-c", "sleep 0.5; head -c 100m /dev/zero | tail"],
        resources=common.ResourceLimits(memory_bytes=32 << 20, memory_swap=32 << 20))),
        timeout=60)
    events = s.SubscribeEvents(o.SubscribeEventsRequest(filter=o.EventFilter(
        container_id=c.container_id)), timeout=60)
    events.initial_metadata()
    assert c.container.state == o.CONTAINER_STATE_RUNNING and c.container.session_id == sid
    assert c.container.config.resources.memory_bytes == 32 << 20
    stopped = next(e for e in events if e.type == o.EVENT_TYPE_CONTAINER_STOPPED)
    assert stopped.data["oom_killed"] == "true" and stopped.data["reason"] == "oom"
    assert stopped.metadata.session_id == sid
    got = get(s, c.container_id)
    assert got.state == o.CONTAINER_STATE_EXITED and got.status == common.STATUS_ERROR
    events.cancel()


def test_container_rpcs_and_session_binding(bh):
    d, s, a = bh
    sid = s.CreateSession(o.CreateSessionRequest(config=o.SessionConfig(max_containers=1)),
                          timeout=10).session_id
    c = s.CreateContainer(o.CreateContainerRequest(session_id=sid, config=o.ContainerConfig(
        image="busybox", command=["sh", "-c"], args=["trap 'exit 0' TERM; sleep 60 & wait"],
        env={"A": "1"}, labels={"team": "x"}, read_only_rootfs=True)), timeout=60).container
    assert c.state == o.CONTAINER_STATE_RUNNING and c.status == common.STATUS_RUNNING
    assert list(c.config.command) == ["sh", "-c", "trap 'exit 0' TERM; sleep 60 & wait"]
    assert c.config.env["A"] == "1" and c.config.read_only_rootfs
    assert c.config.labels["baaaht.managed"] == "true" and c.config.labels["team"] == "x"
    assert c.resources.pids_count >= 1
    assert list(s.GetSession(o.GetSessionRequest(session_id=sid),
                             timeout=10).session.container_ids) == [c.id]
    # The session's limit.
    assert err(s.CreateContainer, o.CreateContainerRequest(session_id=sid, config=o.ContainerConfig(
        image="busybox", command=["true"]))) == (Code.RESOURCE_EXHAUSTED,
                                                 "maximum containers limit reached: 1")

    def ids(**f):
        r = s.ListContainers(o.ListContainersRequest(filter=o.ContainerFilter(**f)), timeout=10)
        assert r.total_count == len(r.containers)
        return [x.id for x in r.containers]

    assert ids(session_id=sid) == [c.id]
    assert ids(labels={"team": "x"}) == [c.id]
    assert ids(labels={"team": "y"}) == []
    assert ids(state=o.CONTAINER_STATE_RUNNING, session_id=sid) == [c.id]
    # Stop with a timeout: it exits 0 on SIGTERM.
    st = s.StopContainer(o.StopContainerRequest(container_id=c.id, timeout_ns=5 * 10**9),
                         timeout=60)
    assert st.state == o.CONTAINER_STATE_EXITED
    got = get(s, c.id)
    assert got.status == common.STATUS_STOPPED and got.exit_code == 0
    assert ids(state=o.CONTAINER_STATE_EXITED, session_id=sid) == [c.id]
    s.RemoveContainer(o.RemoveContainerRequest(container_id=c.id), timeout=60)
    assert err(s.GetContainer, o.GetContainerRequest(container_id=c.id)) == (
        Code.NOT_FOUND, f"no such container: {c.id}")
    assert list(s.GetSession(o.GetSessionRequest(session_id=sid),
                             timeout=10).session.container_ids) == []
    # Remove of a running one needs force; closing the session stops the rest.
    c1 = s.CreateContainer(o.CreateContainerRequest(session_id=sid, config=o.ContainerConfig(
        image="busybox", command=["sleep", "60"])), timeout=60).container
    assert err(s.RemoveContainer, o.RemoveContainerRequest(container_id=c1.id))[0] == \
        Code.FAILED_PRECONDITION
    s.CloseSession(o.CloseSessionRequest(session_id=sid), timeout=10)
    wait_until(lambda: get(s, c1.id).state == o.CONTAINER_STATE_EXITED, timeout=30,
               what="the closed session's container stopped")
    assert err(s.CreateContainer, o.CreateContainerRequest(session_id=sid, config=o.ContainerConfig(
        image="busybox", command=["true"]))) == (Code.FAILED_PRECONDITION,
                                                 "cannot add container to closed session")
    s.RemoveContainer(o.RemoveContainerRequest(container_id=c1.id, force=True), timeout=60)
    # Upstream's errors, and drover's for what it cannot do.
    live = s.CreateSession(o.CreateSessionRequest(config=o.SessionConfig(
        allowed_images=["alpine*"])), timeout=10).session_id
    cases = [
        (o.CreateContainerRequest(config=o.ContainerConfig(image="busybox")),
         (Code.INVALID_ARGUMENT, "session_id is required")),
        (o.CreateContainerRequest(session_id=live),
         (Code.INVALID_ARGUMENT, "config is required")),
        (o.CreateContainerRequest(session_id=live, config=o.ContainerConfig()),
         (Code.INVALID_ARGUMENT, "container image is required")),
        (o.CreateContainerRequest(session_id="a" * 32, config=o.ContainerConfig(image="busybox")),
         (Code.NOT_FOUND, "session not found: " + "a" * 32)),
        (o.CreateContainerRequest(session_id=live, config=o.ContainerConfig(image="busybox")),
         (Code.PERMISSION_DENIED, "image not allowed: busybox")),
        (o.CreateContainerRequest(session_id=live, config=o.ContainerConfig(
            image="busybox", ports=[o.PortBinding(container_port=80)])),
         (Code.INVALID_ARGUMENT,
          "port bindings are not supported: containers have no network of their own")),
        (o.CreateContainerRequest(session_id=live, config=o.ContainerConfig(
            image="busybox", network_mode="bridge")),
         (Code.INVALID_ARGUMENT, "network mode bridge is not supported (none or host)")),
    ]
    for req, want in cases:
        assert err(s.CreateContainer, req) == want, req
    assert err(s.StopContainer, o.StopContainerRequest(container_id="nope")) == (
        Code.NOT_FOUND, "no such container: nope")


def test_a_task_in_a_container(bh):
    d, s, a = bh
    sid = s.CreateSession(o.CreateSessionRequest(), timeout=10).session_id
    t = a.ExecuteTask(ag.ExecuteTaskRequest(session_id=sid, config=ag.TaskConfig(
        command="sh", arguments=["-c", "echo in; touch /x || echo ro >&2; exit 4"],
        parameters={"image": "busybox"})), timeout=60)
    out, states, complete, _ = watch(a, t.task_id)
    joined = {k: b"".join(x for j, x in out if j == k) for k in ("stdout", "stderr")}
    assert joined["stdout"] == b"in\n" and joined["stderr"].endswith(b"ro\n")  # read-only root
    assert complete.result.exit_code == 4 and states[-1] == ag.TASK_STATE_FAILED


def test_an_agent_in_a_container_uses_its_own_token(make_droverd, image_dir, tmp_path):  # noqa: F811
    """A session's container gets BAAAHT_CONTAINER_TOKEN: the agent it runs registers with it
    and may then act as itself only; the token opens nothing else, and goes with the
    container."""
    sock = str(tmp_path / "baaaht.sock")
    d = make_droverd(extra_args=["--baaaht-socket", sock, "--baaaht-auth", "bearer"])
    ch = d.channel()
    pbg.ImagesStub(ch).Import(pb.ImportImageRequest(source=image_dir), timeout=60)
    s = og.OrchestratorServiceStub(ch)
    sid = s.CreateSession(o.CreateSessionRequest(), timeout=10).session_id
    try:
        c = s.CreateContainer(o.CreateContainerRequest(session_id=sid, config=o.ContainerConfig(
            image="busybox", command=["sh", "-c", 'echo "$BAAAHT_CONTAINER_TOKEN"; sleep 60'])),
            timeout=60).container
    except grpc.RpcError as e:
        pytest.skip(f"no OCI runtime can run containers here: {e.code()}: {e.details()}")
    assert "BAAAHT_CONTAINER_TOKEN" not in c.config.env  # not shown to readers
    logs = pbg.ContainersStub(ch)

    def token():
        out = b"".join(x.data for x in logs.Logs(pb.ContainerLogsRequest(container=c.id),
                                                 timeout=10))
        return out.decode().strip()

    wait_until(lambda: token().startswith("bah1."), what="the container's token")
    tok = token()
    # On baaaht's socket (bearer mode) the token registers and acts as that agent.
    b = grpc.insecure_channel(f"unix:{sock}")
    a = agg.AgentServiceStub(b)
    md = (("authorization", f"Bearer {tok}"),)
    mine = a.Register(ag.RegisterRequest(name="worker-in-ctr"), metadata=md, timeout=10).agent_id
    assert a.Heartbeat(ag.HeartbeatRequest(agent_id=mine), metadata=md, timeout=10).timestamp
    other = agg.AgentServiceStub(ch).Register(ag.RegisterRequest(name="other"),
                                              timeout=10).agent_id
    assert err(a.Heartbeat, ag.HeartbeatRequest(agent_id=other), metadata=md) == (
        Code.PERMISSION_DENIED, f"this token is not agent {other}'s")
    bogus = (("authorization", "Bearer bah1." + "0" * 32),)
    assert err(a.Heartbeat, ag.HeartbeatRequest(agent_id=mine), metadata=bogus) == (
        Code.UNAUTHENTICATED, "invalid authentication token")
    # It opens nothing else.
    code, msg = err(og.OrchestratorServiceStub(b).ListSessions, o.ListSessionsRequest(),
                    metadata=md)
    assert code == Code.PERMISSION_DENIED and "Register, Heartbeat" in msg
    # Without a token, Register needs control (drover's own socket, droverd's user: it has it).
    assert err(a.Register, ag.RegisterRequest(name="x"))[0] == Code.UNAUTHENTICATED
    # The token goes with its container.
    s.RemoveContainer(o.RemoveContainerRequest(container_id=c.id, force=True), timeout=60)
    assert err(a.Heartbeat, ag.HeartbeatRequest(agent_id=mine), metadata=md) == (
        Code.UNAUTHENTICATED, "invalid authentication token")
    b.close()
