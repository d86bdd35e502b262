"""baaaht's conversation path through python3-grpcio: a scripted assistant (registered and bound
over StreamAgent as baaaht's TypeScript assistant does, answering by correlation id) and a
TUI-like client (CreateSession, then StreamMessages) hold a conversation. Replies go to every
stream of the session, heartbeats too; the routing failures, the timeout, a lost assistant
stream, the reply variants the real assistant sends, and the stream errors carry upstream's
codes and words. SendMessage reaches an agent over its stream; a newer stream replaces an
older one; a terminated agent's stream ends."""

import queue
import threading
import time

import grpc
import pytest

from conftest import wait_until
import agent_pb2 as ag
import agent_pb2_grpc as agg
import orchestrator_pb2 as o
import orchestrator_pb2_grpc as og

Code = grpc.StatusCode
TIMEOUT_TEXT = "Timed out waiting for assistant response."


def err(call, *args, **kw):
    with pytest.raises(grpc.RpcError) as e:
        call(*args, timeout=10, **kw)
    return e.value.code(), e.value.details()


class Stream:
    """A bidi call fed from a queue, its answers read by a thread into another queue."""

    def __init__(self, method, first):
        self.out = queue.Queue()
        self.out.put(first)
        self.got = queue.Queue()
        self.error = None
        self.call = method(iter(self.out.get, None), timeout=120)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for r in self.call:
                self.got.put(r)
        except grpc.RpcError as e:
            self.error = e
        self.got.put(None)

    def send(self, req):
        self.out.put(req)

    def next(self, timeout=10):
        r = self.got.get(timeout=timeout)
        assert r is not None, f"the stream ended: {self.error}"
        return r

    def quiet(self, seconds=0.3):
        """Nothing arrives for a while."""
        try:
            r = self.got.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected {r}")

    def ended(self, timeout=10):
        """Waits for the end; the error (None for OK)."""
        while True:
            r = self.got.get(timeout=timeout)
            if r is None:
                return self.error

    def close(self):
        self.out.put(None)
        self.call.cancel()


class Assistant:
    """baaaht's assistant: Register, StreamAgent bound with its id and no payload, then an
    answer to each DATA message by correlation id (how: the answer function)."""

    def __init__(self, d, answer=None, name="assistant", labels=None):
        self.stub = agg.AgentServiceStub(d.channel())
        self.id = self.stub.Register(ag.RegisterRequest(
            name=name, type=ag.AGENT_TYPE_WORKER,
            metadata=ag.AgentMetadata(labels=labels if labels is not None
                                      else {"role": "assistant"})), timeout=10).agent_id
        self.answer = answer or echo
        self.received = []
        self.stream = Stream(self.stub.StreamAgent, ag.StreamAgentRequest(agent_id=self.id))
        self.stream.call.initial_metadata()  # bound
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            r = self.stream.got.get()
            if r is None:
                return
            if r.WhichOneof("payload") != "message":
                continue
            self.received.append(r.message)
            if r.message.type == ag.MESSAGE_TYPE_DATA:
                self.answer(self, r.message)

    def reply(self, m, text, corr=None, session=None, in_headers=False,
              type=ag.MESSAGE_TYPE_DATA, content_type="text/plain"):
        corr = m.metadata.correlation_id if corr is None else corr
        session = m.metadata.session_id if session is None else session
        data = ag.DataMessage(content_type=content_type, data=text.encode())
        md = ag.AgentMessageMetadata()
        if in_headers:
            data.headers["correlation_id"] = corr
            data.headers["session_id"] = session
        else:
            md = ag.AgentMessageMetadata(correlation_id=corr, session_id=session)
        self.stream.send(ag.StreamAgentRequest(agent_id=self.id, message=ag.AgentMessage(
            id="r-" + corr, type=type, source_id=self.id, target_id="orchestrator",
            data_message=data, metadata=md)))

    def close(self):
        self.stream.close()


def echo(a, m):
    a.reply(m, "echo: " + m.data_message.data.decode())


class Tui:
    """baaaht's TUI: a session named tui-session, then StreamMessages."""

    def __init__(self, d, session_id=None):
        self.s = og.OrchestratorServiceStub(d.channel())
        if session_id is None:
            session_id = self.s.CreateSession(o.CreateSessionRequest(metadata=o.SessionMetadata(
                name="tui-session", labels={"client": "tui"})), timeout=10).session_id
        self.id = session_id
        self.stream = Stream(self.s.StreamMessages, o.StreamMessageRequest(session_id=self.id))
        self.stream.call.initial_metadata()  # bound

    def say(self, text, role=o.MESSAGE_ROLE_USER):
        self.stream.send(o.StreamMessageRequest(session_id=self.id, message=o.Message(
            role=role, content=text)))

    def history(self):
        return [(m.role, m.content) for m in self.s.GetSession(o.GetSessionRequest(
            session_id=self.id), timeout=10).session.context.messages]


def test_conversation_with_a_scripted_assistant(droverd):
    a = Assistant(droverd)
    tui = Tui(droverd)
    other = Tui(droverd, tui.id)  # a second stream on the same session
    tui.say("hi")
    r = tui.stream.next()
    assert r.WhichOneof("payload") == "message"
    assert (r.message.role, r.message.content) == (o.MESSAGE_ROLE_ASSISTANT, "echo: hi")
    assert len(r.message.id) == 32 and r.message.timestamp.seconds > 0
    r2 = other.stream.next()
    assert r2.message.id == r.message.id  # broadcast to every stream of the session
    tui.stream.quiet()  # the user's own message is never echoed
    # What the assistant got: upstream's shape.
    m = a.received[0]
    assert m.type == ag.MESSAGE_TYPE_DATA and m.source_id == "orchestrator"
    assert m.target_id == a.id and m.data_message.content_type == "text/plain"
    assert m.data_message.data == b"hi" and m.metadata.session_id == tui.id
    assert len(m.metadata.correlation_id) == 32 and len(m.id) == 32
    assert tui.history() == [(o.MESSAGE_ROLE_USER, "hi"), (o.MESSAGE_ROLE_ASSISTANT, "echo: hi")]
    # A heartbeat sent by one stream after binding reaches both.
    other.stream.send(o.StreamMessageRequest(heartbeat={}))
    assert tui.stream.next().WhichOneof("payload") == "heartbeat"
    assert other.stream.next().WhichOneof("payload") == "heartbeat"
    # Other roles are stored, not routed.
    tui.say("a note", role=o.MESSAGE_ROLE_SYSTEM)
    wait_until(lambda: len(tui.history()) == 3, what="the system message")
    assert len(a.received) == 1
    # Several messages in a row each get their reply, in order.
    for i in range(5):
        tui.say(f"m{i}")
    assert [tui.stream.next().message.content for _ in range(5)] == [
        f"echo: m{i}" for i in range(5)]
    # Closing the session ends its streams (OK).
    tui.s.CloseSession(o.CloseSessionRequest(session_id=tui.id), timeout=10)
    assert tui.stream.ended() is None and other.stream.ended() is None
    a.close()


def test_reply_variants(droverd):
    seen = []

    def answer(a, m):
        text = m.data_message.data.decode()
        seen.append(text)
        if text == "headers":  # ids only in the data message's headers
            a.reply(m, "by headers", in_headers=True)
        elif text == "error":  # the real assistant's error form
            a.reply(m, "it broke", type=ag.MESSAGE_TYPE_ERROR,
                    content_type="application/vnd.baaaht.conversation.error+text")
        elif text == "twice":
            a.reply(m, "first")
            a.reply(m, "second")  # already answered: dropped
        elif text == "wrong session":
            a.reply(m, "lost", session="0" * 32)  # dropped
            a.reply(m, "right")
        elif text == "bad utf8":
            a.stream.send(ag.StreamAgentRequest(agent_id=a.id, message=ag.AgentMessage(
                type=ag.MESSAGE_TYPE_DATA, data_message=ag.DataMessage(data=b"ok \xff!"),
                metadata=ag.AgentMessageMetadata(correlation_id=m.metadata.correlation_id,
                                                 session_id=m.metadata.session_id))))

    a = Assistant(droverd, answer)
    tui = Tui(droverd)
    for text, want in (("headers", "by headers"), ("error", "it broke"), ("twice", "first"),
                       ("wrong session", "right"), ("bad utf8", "ok \ufffd!")):
        tui.say(text)
        assert tui.stream.next().message.content == want
    tui.stream.quiet()
    roles = [r for r, _ in tui.history()]
    assert roles == [o.MESSAGE_ROLE_USER, o.MESSAGE_ROLE_ASSISTANT] * 5
    a.close()
    tui.stream.close()


def test_routing_failures_and_timeouts(make_droverd):
    d = make_droverd(extra_args=["--agents-route-timeout-ms", "400"])
    tui = Tui(d)
    # No assistant: an inline TASK_FAILED event, and the message is not kept.
    tui.say("anyone?")
    r = tui.stream.next()
    assert r.WhichOneof("payload") == "event"
    assert r.event.type == o.EVENT_TYPE_TASK_FAILED and r.event.source == "orchestrator"
    assert r.event.data["error"] == "NOT_FOUND: assistant agent not found"
    assert tui.history() == []
    # An agent named otherwise, or not bound, is no assistant.
    agg.AgentServiceStub(d.channel()).Register(ag.RegisterRequest(name="assistant"), timeout=10)
    Assistant(d, name="helper", labels={})
    tui.say("still nobody")
    assert tui.stream.next().event.data["error"].endswith("assistant agent not found")
    # A silent assistant: the timeout text is the reply, stored and broadcast.
    silent = Assistant(d, answer=lambda a, m: None, name="ASSISTANT", labels={})
    tui.say("hello?")
    t0 = time.monotonic()
    r = tui.stream.next()
    assert (r.message.role, r.message.content) == (o.MESSAGE_ROLE_ASSISTANT, TIMEOUT_TEXT)
    assert time.monotonic() - t0 > 0.2
    # A late answer is dropped.
    silent.reply(silent.received[-1], "too late")
    tui.stream.quiet()
    # The assistant's stream goes mid-route: the timeout text at once (drover's divergence).
    tui.say("are you there")
    wait_until(lambda: len(silent.received) == 2, what="the second message routed")
    silent.close()
    r = tui.stream.next(timeout=0.35)  # before the 400 ms timeout
    assert r.message.content == TIMEOUT_TEXT
    assert tui.history()[-2:] == [(o.MESSAGE_ROLE_USER, "are you there"),
                                  (o.MESSAGE_ROLE_ASSISTANT, TIMEOUT_TEXT)]
    tui.stream.close()


def test_stream_messages_errors(droverd):
    s = og.OrchestratorServiceStub(droverd.channel())

    def first(req):
        st = Stream(s.StreamMessages, req)
        e = st.ended()
        return e.code(), e.details()

    assert first(o.StreamMessageRequest(message=o.Message(content="x"))) == (
        Code.INVALID_ARGUMENT, "first message must contain session_id")
    assert first(o.StreamMessageRequest(session_id="a" * 32)) == (
        Code.NOT_FOUND, "session not found: " + "a" * 32)
    sid = s.CreateSession(o.CreateSessionRequest(), timeout=10).session_id
    s.CloseSession(o.CloseSessionRequest(session_id=sid), timeout=10)
    assert first(o.StreamMessageRequest(session_id=sid)) == (
        Code.FAILED_PRECONDITION, f"session is not active: {sid} (state: closed)")
    # A heartbeat before binding is answered on the same stream.
    live = s.CreateSession(o.CreateSessionRequest(), timeout=10).session_id
    st = Stream(s.StreamMessages, o.StreamMessageRequest(heartbeat={}))
    assert st.next().WhichOneof("payload") == "heartbeat"
    st.send(o.StreamMessageRequest(session_id=live))
    st.out.put(None)  # half-close: the call ends OK
    assert st.ended() is None


def test_agent_stream_binding_and_send_message(make_droverd):
    d = make_droverd(extra_args=["--agents-agent-ttl-ms", "600"])
    a = agg.AgentServiceStub(d.channel())

    def first(req):
        st = Stream(a.StreamAgent, req)
        e = st.ended()
        return e.code(), e.details()

    assert first(ag.StreamAgentRequest()) == (Code.INVALID_ARGUMENT,
                                              "first message must contain agent_id")
    assert first(ag.StreamAgentRequest(agent_id="b" * 32)) == (Code.NOT_FOUND, "agent not found")
    aid = a.Register(ag.RegisterRequest(name="worker-1"), timeout=10).agent_id
    msg = ag.AgentMessage(type=ag.MESSAGE_TYPE_CONTROL, control_message=ag.ControlMessage(
        command=ag.CONTROL_COMMAND_STATUS, parameters={"k": "v"}))
    assert err(a.SendMessage, ag.AgentSendMessageRequest(agent_id=aid, message=msg)) == (
        Code.FAILED_PRECONDITION, "agent has no stream")
    assert err(a.SendMessage, ag.AgentSendMessageRequest(agent_id=aid)) == (
        Code.INVALID_ARGUMENT, "message is required")
    assert err(a.SendMessage, ag.AgentSendMessageRequest(message=msg)) == (
        Code.INVALID_ARGUMENT, "agent_id is required")
    old = Stream(a.StreamAgent, ag.StreamAgentRequest(agent_id=aid))
    old.call.initial_metadata()
    sent = a.SendMessage(ag.AgentSendMessageRequest(agent_id=aid, message=msg), timeout=10)
    assert len(sent.message_id) == 32 and sent.timestamp.seconds > 0
    got = old.next().message
    assert got.id == sent.message_id and got.control_message.parameters["k"] == "v"
    assert got.control_message.command == ag.CONTROL_COMMAND_STATUS and got.target_id == aid
    # A heartbeat on the stream is echoed, and keeps the agent alive.
    for _ in range(8):
        old.send(ag.StreamAgentRequest(agent_id=aid, heartbeat={}))
        assert old.next().WhichOneof("payload") == "heartbeat"
        time.sleep(0.1)
    # A newer stream replaces the older one.
    new = Stream(a.StreamAgent, ag.StreamAgentRequest(agent_id=aid))
    new.call.initial_metadata()
    e = old.ended()
    assert (e.code(), e.details()) == (Code.UNAVAILABLE, "agent stream replaced by a newer one")
    a.SendMessage(ag.AgentSendMessageRequest(agent_id=aid, message=ag.AgentMessage(id="mine")),
                  timeout=10)
    assert new.next().message.id == "mine"
    # Silent past its TTL: terminated, its stream ends.
    e = new.ended(timeout=5)
    assert (e.code(), e.details()) == (Code.UNAVAILABLE, "agent missed its heartbeats")
    assert err(a.SendMessage, ag.AgentSendMessageRequest(agent_id=aid, message=msg)) == (
        Code.NOT_FOUND, "agent not found")


# ---- the gateway ------------------------------------------------------------------------------

def gateway(d):
    import gateway_pb2_grpc
    return gateway_pb2_grpc.GatewayServiceStub(d.channel())


def test_gateway_sessions_wrap_conversations(droverd):
    import gateway_pb2 as gw
    import common_pb2 as common
    g, s = gateway(droverd), og.OrchestratorServiceStub(droverd.channel())
    r = g.CreateGatewaySession(gw.CreateGatewaySessionRequest(
        metadata=gw.GatewaySessionMetadata(name="web", user_id="alice", labels={"ui": "web"},
                                           client_type="browser", client_version="1.2"),
        config=gw.GatewaySessionConfig(timeout_ns=3600 * 10**9, max_message_size=16,
                                       stream_config=gw.StreamConfig(chunk_size=4))), timeout=10)
    assert len(r.session_id) == 32 and r.session.id == r.session_id
    assert r.session.state == gw.GATEWAY_SESSION_STATE_ACTIVE
    assert r.session.metadata.client_type == "browser"
    assert r.session.config.stream_config.chunk_size == 4
    conv = s.GetSession(o.GetSessionRequest(session_id=r.session.orchestrator_session_id),
                        timeout=10).session
    assert conv.metadata.owner_id == "alice" and conv.metadata.labels["ui"] == "web"
    assert conv.expires_at.seconds > time.time() + 3000
    assert r.session.expires_at == conv.expires_at
    other = g.CreateGatewaySession(gw.CreateGatewaySessionRequest(
        metadata=gw.GatewaySessionMetadata(name="cli", user_id="bob")), timeout=10)

    def ids(**f):
        x = g.ListGatewaySessions(gw.ListGatewaySessionsRequest(
            filter=gw.GatewaySessionFilter(**f)), timeout=10)
        assert x.total_count == len(x.sessions)
        return [y.id for y in x.sessions]

    assert ids() == [r.session_id, other.session_id]
    assert ids(user_id="bob") == [other.session_id]
    assert ids(labels={"ui": "web"}) == [r.session_id]
    assert ids(state=gw.GATEWAY_SESSION_STATE_CLOSED) == []
    # Its max_message_size holds.
    code, msg = err(g.GatewaySendMessage, gw.GatewaySendMessageRequest(
        session_id=r.session_id, message=gw.GatewayMessage(content="x" * 17)))
    assert (code, msg) == (Code.INVALID_ARGUMENT, "message exceeds max_message_size (17 > 16)")
    # A system message is stored with its id and time filled in (upstream returned them empty).
    sent = g.GatewaySendMessage(gw.GatewaySendMessageRequest(session_id=r.session_id,
                                message=gw.GatewayMessage(role=gw.GATEWAY_MESSAGE_ROLE_SYSTEM,
                                                          content="be brief")), timeout=10)
    assert len(sent.message_id) == 32 and sent.timestamp.seconds > 0
    assert sent.session_id == r.session_id
    # Upstream's errors.
    assert err(g.GetGatewaySession, gw.GetGatewaySessionRequest()) == (
        Code.INVALID_ARGUMENT, "session_id is required")
    assert err(g.GetGatewaySession, gw.GetGatewaySessionRequest(session_id="c" * 32)) == (
        Code.NOT_FOUND, "gateway session not found")
    assert err(g.GatewaySendMessage, gw.GatewaySendMessageRequest(session_id=r.session_id)) == (
        Code.INVALID_ARGUMENT, "message is required")
    # Without an assistant a user message is refused, and not kept.
    assert err(g.GatewaySendMessage, gw.GatewaySendMessageRequest(
        session_id=r.session_id, message=gw.GatewayMessage(content="hi"))) == (
        Code.NOT_FOUND, "assistant agent not found")
    # Closing closes the conversation and removes the gateway session.
    c = g.CloseGatewaySession(gw.CloseGatewaySessionRequest(session_id=r.session_id,
                                                            reason="done"), timeout=10)
    assert c.state == gw.GATEWAY_SESSION_STATE_CLOSED
    assert err(g.GetGatewaySession, gw.GetGatewaySessionRequest(session_id=r.session_id)) == (
        Code.NOT_FOUND, "gateway session not found")
    conv = s.GetSession(o.GetSessionRequest(session_id=r.session.orchestrator_session_id),
                        timeout=10).session
    assert conv.state == o.SESSION_STATE_CLOSED
    assert [m.content for m in conv.context.messages] == ["be brief"]
    # A conversation closed from the orchestrator side shows through as CLOSED.
    s.CloseSession(o.CloseSessionRequest(session_id=other.session.orchestrator_session_id),
                   timeout=10)
    got = g.GetGatewaySession(gw.GetGatewaySessionRequest(session_id=other.session_id),
                              timeout=10).session
    assert got.state == gw.GATEWAY_SESSION_STATE_CLOSED and got.status == common.STATUS_STOPPED
    st = g.GetStatus(__import__("google.protobuf.empty_pb2").protobuf.empty_pb2.Empty(),
                     timeout=10)
    assert st.active_sessions == 0


def chat_text(st):
    """The chunks of one reply: (text, chunks)."""
    chunks = []
    while True:
        r = st.next()
        assert r.WhichOneof("payload") == "chunk", r
        chunks.append(r.chunk)
        if r.chunk.is_final:
            break
    assert len({c.chunk_id for c in chunks}) == 1
    assert [c.sequence for c in chunks] == list(range(len(chunks)))
    return "".join(c.text for c in chunks), chunks


def test_stream_chat_streams_the_assistants_reply(droverd):
    import gateway_pb2 as gw
    g = gateway(droverd)
    sid = g.CreateGatewaySession(gw.CreateGatewaySessionRequest(), timeout=10).session_id
    st = Stream(g.StreamChat, gw.StreamChatRequest(session_id=sid))
    st.call.initial_metadata()
    # No assistant: a status ERROR, and the stream goes on.
    st.send(gw.StreamChatRequest(message=gw.GatewayMessage(content="hi")))
    r = st.next()
    assert r.WhichOneof("payload") == "status"
    assert r.status.state == gw.STREAM_STATE_ERROR
    assert r.status.message == "NOT_FOUND: assistant agent not found"
    a = Assistant(droverd)
    st.send(gw.StreamChatRequest(message=gw.GatewayMessage(content="hi")))  # UNSPECIFIED: a user's
    text, chunks = chat_text(st)
    assert text == "echo: hi" and len(chunks) == 1  # not an echo of "hi"
    md = chunks[0].metadata
    assert md.content_type == "text/plain" and md.total_bytes == len(text) and md.progress == 1.0
    assert len(md.extra["message_id"]) == 32 and len(md.extra["reply_to"]) == 32
    st.send(gw.StreamChatRequest(heartbeat={}))
    assert st.next().WhichOneof("payload") == "heartbeat"
    st.send(gw.StreamChatRequest(cancel=gw.CancelStream(reason="bye")))
    assert st.ended() is None
    # chunk_size 3 and a delay: several pieces, cut on UTF-8 boundaries, paced.
    sid2 = g.CreateGatewaySession(gw.CreateGatewaySessionRequest(config=gw.GatewaySessionConfig(
        stream_config=gw.StreamConfig(chunk_size=3, chunk_delay_ns=20_000_000))),
        timeout=10).session_id
    st = Stream(g.StreamChat, gw.StreamChatRequest(session_id=sid2, message=gw.GatewayMessage(
        role=gw.GATEWAY_MESSAGE_ROLE_USER, content="héllo wörld")))
    t0 = time.monotonic()
    text, chunks = chat_text(st)
    assert text == "echo: héllo wörld" and len(chunks) >= 6
    assert all(len(c.text.encode()) <= 3 for c in chunks) and all(c.is_delta for c in chunks)
    assert time.monotonic() - t0 >= 0.02 * (len(chunks) - 1)
    # Half-closed after a message: it ends once the reply is out.
    st.send(gw.StreamChatRequest(message=gw.GatewayMessage(content="last")))
    st.out.put(None)
    assert chat_text(st)[0] == "echo: last"
    assert st.ended() is None
    # The conversation has both sides.
    hist = og.OrchestratorServiceStub(droverd.channel()).GetSession(o.GetSessionRequest(
        session_id=g.GetGatewaySession(gw.GetGatewaySessionRequest(session_id=sid2),
                                       timeout=10).session.orchestrator_session_id),
        timeout=10).session.context.messages
    assert [m.content for m in hist] == ["héllo wörld", "echo: héllo wörld", "last",
                                         "echo: last"]
    # Upstream's errors.
    for req, want in ((gw.StreamChatRequest(message=gw.GatewayMessage(content="x")),
                       (Code.INVALID_ARGUMENT, "first message must contain session_id")),
                      (gw.StreamChatRequest(session_id="d" * 32),
                       (Code.NOT_FOUND, "gateway session not found"))):
        e = Stream(g.StreamChat, req).ended()
        assert (e.code(), e.details()) == want
    a.close()


def test_stream_responses_streams_a_real_reply(droverd):
    import gateway_pb2 as gw
    g = gateway(droverd)
    held = []

    def answer(a, m):  # the second message's reply waits until released
        if m.data_message.data == b"wait for it":
            held.append(m)
        else:
            echo(a, m)

    a = Assistant(droverd, answer)
    sid = g.CreateGatewaySession(gw.CreateGatewaySessionRequest(), timeout=10).session_id
    sent = g.GatewaySendMessage(gw.GatewaySendMessageRequest(
        session_id=sid, message=gw.GatewayMessage(content="tell me a story")), timeout=10)

    def responses(**kw):
        out = []
        for r in g.StreamResponses(gw.StreamResponsesRequest(session_id=sid, **kw), timeout=10):
            out.append(r)
        return out

    wait_until(lambda: len(Tui(droverd, g.GetGatewaySession(gw.GetGatewaySessionRequest(
        session_id=sid), timeout=10).session.orchestrator_session_id).history()) == 2,
        what="the reply")
    rs = responses(message_id=sent.message_id)
    assert rs[0].status.state == gw.STREAM_STATE_ACTIVE and rs[0].status.started_at.seconds
    chunks = [r.chunk for r in rs[1:-1]]
    want = "echo: tell me a story"
    assert "".join(c.text for c in chunks) == want
    assert all(len(c.text) <= 10 for c in chunks) and chunks[-1].is_final
    assert [c.sequence for c in chunks] == list(range(len(chunks)))
    end = rs[-1].status
    assert end.state == gw.STREAM_STATE_COMPLETE and end.chunks_sent == len(chunks)
    assert end.bytes_sent == len(want) and end.ended_at.seconds > 0
    # Another chunk size; an empty message_id is the newest routed message.
    rs = responses(options=gw.StreamOptions(chunk_size=100))
    assert len(rs) == 3 and rs[1].chunk.text == want
    # A reply still to come is waited for.
    pending = g.GatewaySendMessage(gw.GatewaySendMessageRequest(
        session_id=sid, message=gw.GatewayMessage(content="wait for it")), timeout=10)
    got = []
    t = threading.Thread(target=lambda: got.extend(responses(message_id=pending.message_id)))
    t.start()
    wait_until(lambda: held, what="the held message")
    time.sleep(0.2)
    assert not got
    a.reply(held[0], "here it is")
    t.join(10)
    assert "".join(r.chunk.text for r in got[1:-1]) == "here it is"
    # Errors.
    code, msg = err(lambda *x, **k: responses(message_id="e" * 32))
    assert (code, msg) == (Code.NOT_FOUND, "message not found: " + "e" * 32)
    note = g.GatewaySendMessage(gw.GatewaySendMessageRequest(session_id=sid, message=gw.GatewayMessage(
        role=gw.GATEWAY_MESSAGE_ROLE_SYSTEM, content="note")), timeout=10)
    code, msg = err(lambda *x, **k: responses(message_id=note.message_id))
    assert (code, msg) == (Code.FAILED_PRECONDITION,
                           f"message {note.message_id} was not routed to the assistant")
    a.close()


def test_gateway_events_are_scoped_to_its_session(droverd):
    import gateway_pb2 as gw
    g = gateway(droverd)
    a = Assistant(droverd)
    mine = g.CreateGatewaySession(gw.CreateGatewaySessionRequest(), timeout=10).session_id
    theirs = g.CreateGatewaySession(gw.CreateGatewaySessionRequest(), timeout=10).session_id
    ev = g.SubscribeToEvents(gw.SubscribeToEventsRequest(session_id=mine), timeout=30)
    ev.initial_metadata()
    only_sent = g.SubscribeToEvents(gw.SubscribeToEventsRequest(
        session_id=mine, filter=gw.GatewayEventFilter(type=gw.GATEWAY_EVENT_TYPE_MESSAGE_SENT)),
        timeout=30)
    only_sent.initial_metadata()
    for sid in (theirs, mine):
        g.GatewaySendMessage(gw.GatewaySendMessageRequest(session_id=sid, message=gw.GatewayMessage(
            content="hello")), timeout=10)
    e1, e2 = next(ev), next(ev)
    assert (e1.type, e2.type) == (gw.GATEWAY_EVENT_TYPE_MESSAGE_SENT,
                                  gw.GATEWAY_EVENT_TYPE_MESSAGE_RECEIVED)
    assert e1.metadata.session_id == mine and len(e1.metadata.message_id) == 32
    g.CloseGatewaySession(gw.CloseGatewaySessionRequest(session_id=mine), timeout=10)
    e3 = next(ev)
    assert e3.type == gw.GATEWAY_EVENT_TYPE_SESSION_CLOSED
    assert next(only_sent).type == gw.GATEWAY_EVENT_TYPE_MESSAGE_SENT
    ev.cancel()
    only_sent.cancel()
    assert err(lambda *x, **k: list(g.SubscribeToEvents(gw.SubscribeToEventsRequest(
        session_id=mine), timeout=5))) == (Code.NOT_FOUND, "gateway session not found")
    a.close()
