"""baaaht's gRPC API (seed 003) through python3-grpcio, with stubs generated from
proto/baaaht/ (upstream's files): orchestrator.v1 sessions (create as baaaht's TUI does, get,
list with every filter field, update, close), messages and their history, upstream's error
codes and words, the idle timer, the session limit (closed sessions do not count), sessions and
messages kept across a droverd restart, the event stream with its filters, health and status.
The agent, gateway, task and container RPCs come with the rest of issue 20."""

import time

import grpc
import pytest
from google.protobuf import empty_pb2

from conftest import wait_until
import common_pb2 as common
import orchestrator_pb2 as o
import orchestrator_pb2_grpc as og

Code = grpc.StatusCode


def stub(d, **options):
    return og.OrchestratorServiceStub(d.channel(**options))


def err(call, *args, **kw):
    with pytest.raises(grpc.RpcError) as e:
        call(*args, timeout=10, **kw)
    return e.value.code(), e.value.details()


def tui_session(s, **labels):
    """What baaaht's Go TUI sends: a name and a client label, no owner, no config."""
    return s.CreateSession(o.CreateSessionRequest(metadata=o.SessionMetadata(
        name="tui-session", labels={"client": "tui", **labels})), timeout=10)


def test_sessions_messages_and_errors(droverd):
    s = stub(droverd)
    r = tui_session(s)
    assert len(r.session_id) == 32 and r.session.id == r.session_id
    assert r.session.state == o.SESSION_STATE_ACTIVE
    assert r.session.status == common.STATUS_RUNNING
    assert r.session.metadata.labels["client"] == "tui"
    sent = s.SendMessage(o.SendMessageRequest(session_id=r.session_id, message=o.Message(
        role=o.MESSAGE_ROLE_USER, content="hello", metadata=o.MessageMetadata(
            tool_name="t", extra={"k": "v"}))), timeout=10)
    assert len(sent.message_id) == 32 and sent.timestamp.seconds > 0
    mine = s.SendMessage(o.SendMessageRequest(session_id=r.session_id, message=o.Message(
        id="client-chosen-id", role=o.MESSAGE_ROLE_ASSISTANT, content="hi")), timeout=10)
    assert mine.message_id == "client-chosen-id"
    got = s.GetSession(o.GetSessionRequest(session_id=r.session_id), timeout=10).session
    msgs = got.context.messages
    assert [(m.role, m.content) for m in msgs] == [(o.MESSAGE_ROLE_USER, "hello"),
                                                    (o.MESSAGE_ROLE_ASSISTANT, "hi")]
    assert msgs[0].id == sent.message_id and msgs[0].metadata.extra["k"] == "v"
    # UpdateSession replaces the metadata whole.
    up = s.UpdateSession(o.UpdateSessionRequest(session_id=r.session_id, metadata=o.SessionMetadata(
        name="renamed", owner_id="alice")), timeout=10).session
    assert up.metadata.name == "renamed" and up.metadata.owner_id == "alice"
    assert not up.metadata.labels
    closed = s.CloseSession(o.CloseSessionRequest(session_id=r.session_id, reason="done"),
                            timeout=10)
    assert closed.state == o.SESSION_STATE_CLOSED
    again = s.CloseSession(o.CloseSessionRequest(session_id=r.session_id), timeout=10)
    assert again.state == o.SESSION_STATE_CLOSED  # idempotent
    got = s.GetSession(o.GetSessionRequest(session_id=r.session_id), timeout=10).session
    assert got.status == common.STATUS_STOPPED and got.closed_at.seconds > 0
    # A closed session's messages are no longer held in memory, but it still answers with them.
    assert [(m.id, m.role, m.content) for m in got.context.messages] == [
        (sent.message_id, o.MESSAGE_ROLE_USER, "hello"),
        ("client-chosen-id", o.MESSAGE_ROLE_ASSISTANT, "hi")]
    md = got.context.messages[0].metadata
    assert md.tool_name == "t" and dict(md.extra) == {"k": "v"}
    listed = s.ListSessions(o.ListSessionsRequest(), timeout=10).sessions
    assert [m.content for m in listed[0].context.messages] == ["hello", "hi"]
    # Upstream's codes and words.
    assert err(s.GetSession, o.GetSessionRequest()) == (Code.INVALID_ARGUMENT,
                                                        "session_id is required")
    assert err(s.GetSession, o.GetSessionRequest(session_id="x" * 32)) == (
        Code.NOT_FOUND, "session not found: " + "x" * 32)
    assert err(s.SendMessage, o.SendMessageRequest(session_id=r.session_id)) == (
        Code.INVALID_ARGUMENT, "message is required")
    assert err(s.SendMessage, o.SendMessageRequest(
        session_id=r.session_id, message=o.Message(content="late"))) == (
        Code.FAILED_PRECONDITION, "cannot add message to closed session")
    assert err(s.UpdateSession, o.UpdateSessionRequest(
        session_id=r.session_id, metadata=o.SessionMetadata(name="z"))) == (
        Code.FAILED_PRECONDITION, "cannot update closed session")
    assert err(s.CreateSession, o.CreateSessionRequest(metadata=o.SessionMetadata(
        owner_id="../etc")))[0] == Code.INVALID_ARGUMENT
    h = s.HealthCheck(empty_pb2.Empty(), timeout=10)
    assert h.health == common.HEALTH_HEALTHY and list(h.subsystems) == [
        "session_manager", "event_bus", "ipc_broker"]
    st = s.GetStatus(empty_pb2.Empty(), timeout=10)
    assert st.status == common.STATUS_RUNNING and st.active_sessions == 0
    assert abs(st.started_at.seconds - time.time()) < 60 and st.uptime.seconds < 60


def test_list_filters(droverd):
    s = stub(droverd)
    a = tui_session(s, team="x")
    b = s.CreateSession(o.CreateSessionRequest(metadata=o.SessionMetadata(
        name="b", owner_id="bob", labels={"team": "x"})), timeout=10)
    c = s.CreateSession(o.CreateSessionRequest(metadata=o.SessionMetadata(name="c")), timeout=10)
    s.CloseSession(o.CloseSessionRequest(session_id=c.session_id), timeout=10)

    def ids(**f):
        r = s.ListSessions(o.ListSessionsRequest(filter=o.SessionFilter(**f)), timeout=10)
        assert r.total_count == len(r.sessions)
        return [x.id for x in r.sessions]

    assert ids() == [a.session_id, b.session_id, c.session_id]  # creation order, closed too
    assert ids(labels={"team": "x"}) == [a.session_id, b.session_id]
    assert ids(labels={"team": "x", "client": "tui"}) == [a.session_id]
    assert ids(owner_id="bob") == [b.session_id]
    assert ids(state=o.SESSION_STATE_CLOSED) == [c.session_id]
    assert ids(status=common.STATUS_RUNNING) == [a.session_id, b.session_id]


def test_limit_counts_open_sessions_only(make_droverd):
    d = make_droverd(extra_args=["--agents-max-sessions", "2"])
    s = stub(d)
    first = tui_session(s)
    tui_session(s)
    assert err(s.CreateSession, o.CreateSessionRequest()) == (
        Code.RESOURCE_EXHAUSTED, "maximum sessions limit reached: 2")
    s.CloseSession(o.CloseSessionRequest(session_id=first.session_id), timeout=10)
    tui_session(s)  # a closed one no longer counts


def test_idle_and_expiry(make_droverd):
    d = make_droverd(extra_args=["--agents-idle-timeout-ms", "300"])
    s = stub(d)
    r = tui_session(s)

    def state(sid):
        return s.GetSession(o.GetSessionRequest(session_id=sid), timeout=10).session

    wait_until(lambda: state(r.session_id).state == o.SESSION_STATE_IDLE, what="idle")
    s.SendMessage(o.SendMessageRequest(session_id=r.session_id, message=o.Message(content="x")),
                  timeout=10)
    assert state(r.session_id).state == o.SESSION_STATE_ACTIVE  # a message wakes it
    short = s.CreateSession(o.CreateSessionRequest(config=o.SessionConfig(
        max_duration_ns=400_000_000)), timeout=10)
    assert short.session.expires_at.seconds > 0
    wait_until(lambda: state(short.session_id).state == o.SESSION_STATE_CLOSED, what="expiry")
    # A session's own idle timeout wins over droverd's.
    own = s.CreateSession(o.CreateSessionRequest(config=o.SessionConfig(
        idle_timeout_ns=60_000_000_000)), timeout=10)
    time.sleep(0.8)
    assert state(own.session_id).state == o.SESSION_STATE_ACTIVE


def test_sessions_survive_a_restart(make_droverd):
    d = make_droverd()
    s = stub(d)
    r = tui_session(s)
    for i in range(3):
        s.SendMessage(o.SendMessageRequest(session_id=r.session_id, message=o.Message(
            role=o.MESSAGE_ROLE_USER, content=f"m{i}")), timeout=10)
    closed = tui_session(s)
    s.SendMessage(o.SendMessageRequest(session_id=closed.session_id, message=o.Message(
        role=o.MESSAGE_ROLE_USER, content="last words")), timeout=10)
    s.CloseSession(o.CloseSessionRequest(session_id=closed.session_id), timeout=10)
    assert d.stop() == 0
    d.start()
    s = stub(d, **{"grpc.use_local_subchannel_pool": 1})
    got = s.GetSession(o.GetSessionRequest(session_id=r.session_id), timeout=10).session
    assert got.state == o.SESSION_STATE_IDLE  # nobody streams to it after a restart
    assert [m.content for m in got.context.messages] == ["m0", "m1", "m2"]
    assert got.metadata.labels["client"] == "tui"
    was = s.GetSession(o.GetSessionRequest(session_id=closed.session_id), timeout=10).session
    assert was.state == o.SESSION_STATE_CLOSED
    assert [m.content for m in was.context.messages] == ["last words"]
    # It takes messages again.
    s.SendMessage(o.SendMessageRequest(session_id=r.session_id, message=o.Message(content="m3")),
                  timeout=10)


def test_event_stream_and_filters(droverd):
    s = stub(droverd)
    all_events = s.SubscribeEvents(o.SubscribeEventsRequest(), timeout=30)
    closed_only = s.SubscribeEvents(o.SubscribeEventsRequest(filter=o.EventFilter(
        type=o.EVENT_TYPE_SESSION_CLOSED)), timeout=30)
    all_events.initial_metadata()  # subscribed: nothing from here on is missed
    closed_only.initial_metadata()
    a = tui_session(s)
    b = tui_session(s)
    one = s.SubscribeEvents(o.SubscribeEventsRequest(filter=o.EventFilter(
        session_id=b.session_id)), timeout=30)
    one.initial_metadata()
    s.SendMessage(o.SendMessageRequest(session_id=a.session_id, message=o.Message(
        role=o.MESSAGE_ROLE_USER, content="x")), timeout=10)
    s.CloseSession(o.CloseSessionRequest(session_id=a.session_id, reason="bye"), timeout=10)
    s.CloseSession(o.CloseSessionRequest(session_id=b.session_id), timeout=10)
    got = [next(all_events) for _ in range(5)]
    assert [e.type for e in got] == [o.EVENT_TYPE_SESSION_CREATED, o.EVENT_TYPE_SESSION_CREATED,
                                     o.EVENT_TYPE_UNSPECIFIED, o.EVENT_TYPE_SESSION_CLOSED,
                                     o.EVENT_TYPE_SESSION_CLOSED]
    assert got[2].data["type"] == "message.sent" and got[2].data["role"] == "user"
    assert got[3].data["reason"] == "bye" and got[3].metadata.session_id == a.session_id
    assert all(len(e.id) == 32 and e.timestamp.seconds > 0 for e in got)
    c1, c2 = next(closed_only), next(closed_only)
    assert {c1.metadata.session_id, c2.metadata.session_id} == {a.session_id, b.session_id}
    e = next(one)
    assert e.type == o.EVENT_TYPE_SESSION_CLOSED and e.metadata.session_id == b.session_id
    for call in (all_events, closed_only, one):
        call.cancel()
    # A window already over sends nothing and ends.
    past = s.SubscribeEvents(o.SubscribeEventsRequest(filter=o.EventFilter(
        end_time={"seconds": 1})), timeout=10)
    assert list(past) == []


# ---- baaaht's socket, health and auth -----------------------------------------------------------

def test_baaaht_socket_health_names_and_auth(make_droverd, tmp_path):
    import os
    import stat
    import health_pb2
    import health_pb2_grpc
    from drover.v1 import admin_pb2, admin_pb2_grpc
    from test_auth import new_token
    read_tok = new_token(tmp_path, "viewer", "read")
    ctl_tok = new_token(tmp_path, "tui", "control")
    sock = str(tmp_path / "bh" / "baaaht-grpc.sock")
    d = make_droverd(extra_args=["--baaaht-socket", sock, "--auth-tokens",
                                 str(tmp_path / "tokens")])
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660
    ch = grpc.insecure_channel(f"unix:{sock}")
    s = og.OrchestratorServiceStub(ch)
    # droverd's own user passes without a token (baaaht's clients send none).
    r = tui_session(s)
    assert s.GetSession(o.GetSessionRequest(session_id=r.session_id), timeout=10).session.id
    h = health_pb2_grpc.HealthStub(ch)
    for name in ("", "orchestrator"):
        assert h.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status == \
            health_pb2.HealthCheckResponse.SERVING
    assert err(h.Check, health_pb2.HealthCheckRequest(service="foo"))[0] == Code.NOT_FOUND
    # Only baaaht's packages answer there.
    code, msg = err(admin_pb2_grpc.AdminStub(ch).Ping, admin_pb2.PingRequest())
    assert code == Code.UNIMPLEMENTED and "baaaht's API only" in msg
    ch.close()

    # With bearer auth everyone shows a token; refusals carry upstream's words.
    assert d.stop() == 0
    d.args += ["--baaaht-auth", "bearer"]
    d.start()
    ch = grpc.insecure_channel(f"unix:{sock}", options=[("grpc.use_local_subchannel_pool", 1)])
    s = og.OrchestratorServiceStub(ch)
    h = health_pb2_grpc.HealthStub(ch)

    def refused(md):
        return err(s.ListSessions, o.ListSessionsRequest(), metadata=md)

    assert refused(()) == (Code.UNAUTHENTICATED, "PERMISSION: no authorization token provided")
    assert refused((("authorization", "Token abc"),)) == (
        Code.UNAUTHENTICATED, 'PERMISSION: authorization token must start with "Bearer "')
    assert refused((("authorization", "Bearer "),)) == (
        Code.UNAUTHENTICATED, "PERMISSION: empty authorization token")
    assert refused((("authorization", "Bearer drv_wrong"),)) == (
        Code.UNAUTHENTICATED, "invalid authentication token")
    # Health too, as upstream's interceptor checks every method.
    assert err(h.Check, health_pb2.HealthCheckRequest())[0] == Code.UNAUTHENTICATED
    md = (("authorization", f"Bearer {ctl_tok}"),)
    assert h.Check(health_pb2.HealthCheckRequest(), metadata=md, timeout=10).status == \
        health_pb2.HealthCheckResponse.SERVING
    assert s.ListSessions(o.ListSessionsRequest(), metadata=md, timeout=10).total_count == 1
    # A read token reads, and is refused what needs control, naming both scopes.
    rd = (("authorization", f"Bearer {read_tok}"),)
    assert s.ListSessions(o.ListSessionsRequest(), metadata=rd, timeout=10).total_count == 1
    code, msg = err(s.CreateSession, o.CreateSessionRequest(), metadata=rd)
    assert code == Code.PERMISSION_DENIED and "needs control" in msg
    ch.close()
    # drover's own socket is unchanged: its own user needs no token there.
    assert og.OrchestratorServiceStub(d.channel(**{"grpc.use_local_subchannel_pool": 1})) \
        .ListSessions(o.ListSessionsRequest(), timeout=10).total_count == 1


# ---- agents -----------------------------------------------------------------------------------

def agents(d, **options):
    import agent_pb2_grpc
    return agent_pb2_grpc.AgentServiceStub(d.channel(**options))


def assistant(a):
    """What baaaht's TypeScript assistant sends."""
    import agent_pb2 as ag
    return a.Register(ag.RegisterRequest(name="assistant", type=ag.AGENT_TYPE_WORKER,
                                         metadata=ag.AgentMetadata(labels={"role": "assistant"})),
                      timeout=10)


def test_agents_register_heartbeat_ttl_and_unregister(make_droverd):
    import agent_pb2 as ag
    d = make_droverd(extra_args=["--agents-agent-ttl-ms", "500"])
    a, s = agents(d), stub(d)
    events = s.SubscribeEvents(o.SubscribeEventsRequest(), timeout=30)
    events.initial_metadata()
    r = assistant(a)
    assert len(r.agent_id) == 32 and r.registration_token == r.agent_id
    assert r.agent.state == ag.AGENT_STATE_IDLE and r.agent.status == common.STATUS_RUNNING
    assert r.agent.metadata.labels["role"] == "assistant" and r.agent.type == ag.AGENT_TYPE_WORKER
    w = a.Register(ag.RegisterRequest(name="worker-x", type=ag.AGENT_TYPE_WORKER,
                                      metadata=ag.AgentMetadata(hostname="x", pid="42"),
                                      capabilities=ag.AgentCapabilities(
                                          supported_tasks=["file_operation"],
                                          max_concurrent_tasks=5,
                                          resource_limits=common.ResourceLimits(
                                              nano_cpus=2_000_000_000))), timeout=10)
    assert w.agent.capabilities.max_concurrent_tasks == 5
    assert w.agent.capabilities.resource_limits.nano_cpus == 2_000_000_000
    assert err(a.Register, ag.RegisterRequest()) == (Code.INVALID_ARGUMENT, "name is required")
    assert err(a.Heartbeat, ag.HeartbeatRequest()) == (Code.INVALID_ARGUMENT,
                                                       "agent_id is required")
    assert err(a.Heartbeat, ag.HeartbeatRequest(agent_id="f" * 32)) == (Code.NOT_FOUND,
                                                                        "agent not found")
    # The worker heartbeats; the assistant does not, and is terminated.
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        hb = a.Heartbeat(ag.HeartbeatRequest(agent_id=w.agent_id), timeout=10)
        assert hb.timestamp.seconds > 0
        time.sleep(0.1)
    assert err(a.Heartbeat, ag.HeartbeatRequest(agent_id=r.agent_id)) == (Code.NOT_FOUND,
                                                                          "agent not found")
    seen = []
    while not any(e.data.get("type") == "agent.terminated" for e in seen):
        seen.append(next(events))
    term = [e for e in seen if e.data.get("type") == "agent.terminated"][0]
    assert term.data["agent_id"] == r.agent_id and term.data["reason"] == "heartbeat_timeout"
    assert any(e.data.get("type") == "agent.registered" for e in seen)
    u = a.Unregister(ag.UnregisterRequest(agent_id=w.agent_id, reason="bye"), timeout=10)
    assert u.success and u.message == "Agent unregistered: bye"
    assert err(a.Unregister, ag.UnregisterRequest(agent_id=w.agent_id)) == (Code.NOT_FOUND,
                                                                            "agent not found")
    events.cancel()
    h = a.HealthCheck(empty_pb2.Empty(), timeout=10)
    assert h.status == common.STATUS_RUNNING and list(h.subsystems) == ["agent_registry",
                                                                        "task_manager"]
    assert a.GetStatus(empty_pb2.Empty(), timeout=10).status == common.STATUS_RUNNING
    caps = a.GetCapabilities(empty_pb2.Empty(), timeout=10).capabilities
    assert caps.supports_streaming and "grpc" in caps.supported_protocols


def test_agents_survive_a_restart(make_droverd):
    import agent_pb2 as ag
    d = make_droverd()
    r = assistant(agents(d))
    assert d.stop() == 0
    d.start()
    a = agents(d, **{"grpc.use_local_subchannel_pool": 1})
    hb = a.Heartbeat(ag.HeartbeatRequest(agent_id=r.agent_id), timeout=10)  # still known
    assert hb.timestamp.seconds > 0


def test_llm_and_tool_services_say_what_they_are_not(droverd):
    import llm_pb2
    import llm_pb2_grpc
    import tool_pb2
    import tool_pb2_grpc
    import health_pb2
    import health_pb2_grpc
    ch = droverd.channel()
    code, msg = err(llm_pb2_grpc.LLMServiceStub(ch).CompleteLLM, llm_pb2.CompleteLLMRequest())
    assert code == Code.UNIMPLEMENTED and "drover is not a model gateway" in msg
    assert "/llm.v1.LLMService/CompleteLLM" in msg
    code, msg = err(tool_pb2_grpc.ToolServiceStub(ch).ListTools, tool_pb2.ListToolsRequest())
    assert code == Code.UNIMPLEMENTED and "no tool registry" in msg
    h = health_pb2_grpc.HealthStub(ch)
    for name in ("llm", "tool", "gateway", "agent"):
        assert h.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status == \
            health_pb2.HealthCheckResponse.SERVING
