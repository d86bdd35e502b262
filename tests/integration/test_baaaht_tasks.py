"""baaaht's tasks through python3-grpcio: ExecuteTask with an empty agent_id (what baaaht's
assistant sends) runs the program as a supervised pipe session; StreamTask delivers its stdout
and stderr apart, accepts input, and ends with TaskComplete and the real exit code, also for a
watcher that comes after the end; CancelTask signals it; timeouts; GetTaskStatus and ListTasks
with filters; a task on a named agent goes over its StreamAgent and is driven by the agent's
StreamTask reports; Heartbeat hands out pending tasks; an agent that goes fails its tasks;
closing a session cancels its tasks; tasks survive a restart."""

import os
import time

import grpc
import pytest

from conftest import wait_until
from test_baaaht_routing import Stream, err
import agent_pb2 as ag
import agent_pb2_grpc as agg
import orchestrator_pb2 as o
import orchestrator_pb2_grpc as og

Code = grpc.StatusCode


def stubs(d, **options):
    ch = d.channel(**options)
    return agg.AgentServiceStub(ch), og.OrchestratorServiceStub(ch)


def session(s):
    return s.CreateSession(o.CreateSessionRequest(), timeout=10).session_id


def run(a, sid, *argv, agent_id="", **config):
    return a.ExecuteTask(ag.ExecuteTaskRequest(
        agent_id=agent_id, session_id=sid, type=ag.TASK_TYPE_CODE_EXECUTION,
        priority=ag.TASK_PRIORITY_NORMAL,
        config=ag.TaskConfig(command=argv[0], arguments=list(argv[1:]), **config)), timeout=10)


def watch(a, task_id):
    """Everything a StreamTask watcher gets, to the end: (outputs, statuses, complete, error)."""
    st = Stream(a.StreamTask, ag.StreamTaskRequest(task_id=task_id))
    out, states, complete, error = [], [], None, None
    while True:
        r = st.got.get(timeout=20)
        if r is None:
            assert st.error is None, st.error
            return out, states, complete, error
        kind = r.WhichOneof("payload")
        if kind == "output":
            out.append((r.output.stream_type, r.output.data))
        elif kind == "status":
            states.append(r.status.state)
        elif kind == "complete":
            complete = r.complete
        elif kind == "error":
            error = r.error


def test_execute_task_runs_the_program(droverd):
    a, s = stubs(droverd)
    sid = session(s)
    t = run(a, sid, "sh", "-c", "echo out; echo err >&2; exit 3",
            environment={"GREETING": "hi"})
    assert len(t.task_id) == 32 and t.task.agent_id == "" and t.task.session_id == sid
    out, states, complete, error = watch(a, t.task_id)
    assert ("stdout", b"out\n") in out and ("stderr", b"err\n") in out
    assert complete.task_id == t.task_id and complete.result.exit_code == 3
    assert states[-1] == ag.TASK_STATE_FAILED and ag.TASK_STATE_RUNNING in states
    assert error.code == "exit" and error.message == "exited with code 3"
    got = a.GetTaskStatus(ag.GetTaskStatusRequest(task_id=t.task_id), timeout=10).task
    assert got.state == ag.TASK_STATE_FAILED and got.result.exit_code == 3
    assert got.result.output_text == "out\n" and got.result.error_text == "err\n"
    assert got.result.output_data == b"out\n" and got.started_at.seconds > 0
    assert got.completed_at.seconds > 0 and got.result.execution_duration_ns > 0
    # A watcher that comes after the end gets the same, then the completion.
    out2, _, complete2, _ = watch(a, t.task_id)
    assert sorted(out2) == sorted(out) and complete2.result.exit_code == 3
    # Its environment, working directory and input_data; exit 0 is COMPLETED.
    t = run(a, sid, "sh", "-c", 'printf "%s %s " "$GREETING" "$(pwd)"; cat',
            environment={"GREETING": "hi"}, working_directory="/tmp", input_data=b"piped")
    out, states, complete, _ = watch(a, t.task_id)
    assert b"".join(d for _, d in out) == b"hi /tmp piped"
    assert states[-1] == ag.TASK_STATE_COMPLETED and complete.result.exit_code == 0
    assert a.GetTaskStatus(ag.GetTaskStatusRequest(task_id=t.task_id),
                           timeout=10).task.progress == 100
    # An operation name is not a program: FAILED at once, saying why.
    t = run(a, sid, "read_file", "/etc/hostname")
    got = a.GetTaskStatus(ag.GetTaskStatusRequest(task_id=t.task_id), timeout=10).task
    assert got.state == ag.TASK_STATE_FAILED and got.error.code == "spawn"
    assert got.error.message == "read_file: No such file or directory"
    # The session knows its tasks.
    hist = s.GetSession(o.GetSessionRequest(session_id=sid), timeout=10).session.context
    assert len(hist.task_history) == 3 and hist.current_task_id == ""
    # Errors, in upstream's words.
    assert err(a.ExecuteTask, ag.ExecuteTaskRequest(config=ag.TaskConfig(command="true"))) == (
        Code.INVALID_ARGUMENT, "session_id is required")
    assert err(a.ExecuteTask, ag.ExecuteTaskRequest(session_id=sid)) == (
        Code.INVALID_ARGUMENT, "config is required")
    assert err(a.ExecuteTask, ag.ExecuteTaskRequest(agent_id="f" * 32, session_id=sid,
                                                    config=ag.TaskConfig(command="true"))) == (
        Code.NOT_FOUND, "agent not found")
    assert err(a.ExecuteTask, ag.ExecuteTaskRequest(session_id=sid, config=ag.TaskConfig(
        command="true", environment={"A=B": "x"}))) == (
        Code.INVALID_ARGUMENT, "config.environment: 'A=B' is not a variable name")
    assert err(a.GetTaskStatus, ag.GetTaskStatusRequest()) == (Code.INVALID_ARGUMENT,
                                                               "task_id is required")
    assert err(a.GetTaskStatus, ag.GetTaskStatusRequest(task_id="9" * 32)) == (
        Code.NOT_FOUND, "task not found")
    e = Stream(a.StreamTask, ag.StreamTaskRequest(input=ag.TaskInput(data=b"x"))).ended()
    assert (e.code(), e.details()) == (Code.INVALID_ARGUMENT, "first message must contain task_id")
    e = Stream(a.StreamTask, ag.StreamTaskRequest(task_id="9" * 32)).ended()
    assert (e.code(), e.details()) == (Code.NOT_FOUND, "task not found")


def test_input_cancel_and_timeout(droverd):
    a, s = stubs(droverd)
    sid = session(s)
    # Input through StreamTask.
    t = run(a, sid, "sh", "-c", "read x; echo got $x")
    st = Stream(a.StreamTask, ag.StreamTaskRequest(task_id=t.task_id))
    st.send(ag.StreamTaskRequest(heartbeat={}))
    st.send(ag.StreamTaskRequest(input=ag.TaskInput(data=b"abc\n")))
    seen = []
    while True:
        r = st.next()
        seen.append(r)
        if r.WhichOneof("payload") == "complete":
            break
    assert any(r.WhichOneof("payload") == "heartbeat" for r in seen)
    assert b"got abc\n" in [r.output.data for r in seen if r.WhichOneof("payload") == "output"]
    assert st.ended() is None
    # CancelTask: SIGTERM to its tree; the watcher sees CANCELLED and the completion.
    t = run(a, sid, "sleep", "30")
    wait_until(lambda: a.GetTaskStatus(ag.GetTaskStatusRequest(task_id=t.task_id),
                                       timeout=10).task.state == ag.TASK_STATE_RUNNING)
    st = Stream(a.StreamTask, ag.StreamTaskRequest(task_id=t.task_id))
    st.call.initial_metadata()
    c = a.CancelTask(ag.CancelTaskRequest(task_id=t.task_id, reason="enough"), timeout=10)
    assert (c.task_id, c.state, c.cancelled) == (t.task_id, ag.TASK_STATE_CANCELLED, True)
    states, complete = [], None
    while complete is None:
        r = st.next()
        if r.WhichOneof("payload") == "status":
            states.append(r.status)
        elif r.WhichOneof("payload") == "complete":
            complete = r.complete
    assert states[-1].state == ag.TASK_STATE_CANCELLED and states[-1].message == "enough"
    assert complete.result.exit_code == -15  # SIGTERM, as drover's sessions say it
    again = a.CancelTask(ag.CancelTaskRequest(task_id=t.task_id), timeout=10)
    assert again.cancelled is False and again.state == ag.TASK_STATE_CANCELLED
    # force: SIGKILL at once, even for a program that ignores SIGTERM.
    t = run(a, sid, "sh", "-c", "trap '' TERM; sleep 30")
    wait_until(lambda: a.GetTaskStatus(ag.GetTaskStatusRequest(task_id=t.task_id),
                                       timeout=10).task.state == ag.TASK_STATE_RUNNING)
    time.sleep(0.1)
    a.CancelTask(ag.CancelTaskRequest(task_id=t.task_id, force=True), timeout=10)
    _, _, complete, _ = watch(a, t.task_id)
    assert complete.result.exit_code == -9
    # A timeout: TIMEOUT, with its error.
    t = run(a, sid, "sleep", "5", timeout_ns=200_000_000)
    _, states, complete, error = watch(a, t.task_id)
    assert states[-1] == ag.TASK_STATE_TIMEOUT and error.code == "timeout"
    got = a.GetTaskStatus(ag.GetTaskStatusRequest(task_id=t.task_id), timeout=10).task
    assert got.expires_at.seconds > 0 and got.state == ag.TASK_STATE_TIMEOUT
    # Closing the session cancels what still runs in it.
    t = run(a, sid, "sleep", "30")
    s.CloseSession(o.CloseSessionRequest(session_id=sid), timeout=10)
    _, states, _, _ = watch(a, t.task_id)
    assert states[-1] == ag.TASK_STATE_CANCELLED


def test_list_tasks_filters_and_status(droverd):
    a, s = stubs(droverd)
    one, two = session(s), session(s)
    t1 = run(a, one, "true")
    t2 = run(a, two, "false")
    watch(a, t1.task_id)
    watch(a, t2.task_id)

    def ids(agent_id="", **f):
        r = a.ListTasks(ag.ListTasksRequest(agent_id=agent_id, filter=ag.TaskFilter(**f)),
                        timeout=10)
        assert r.total_count == len(r.tasks)
        return [x.id for x in r.tasks]

    assert ids() == [t1.task_id, t2.task_id]  # droverd's own, in creation order
    assert ids(session_id=two) == [t2.task_id]
    assert ids(state=ag.TASK_STATE_COMPLETED) == [t1.task_id]
    assert ids(type=ag.TASK_TYPE_FILE_OPERATION) == []
    assert ids(created_after={"seconds": int(time.time()) + 60}) == []
    assert ids(agent_id="0" * 32) == []
    st = a.GetStatus(__import__("google.protobuf.empty_pb2").protobuf.empty_pb2.Empty(),
                     timeout=10)
    assert st.active_tasks == 0 and st.state == ag.AGENT_STATE_IDLE


def test_tasks_on_a_named_agent(make_droverd):
    d = make_droverd(extra_args=["--agents-agent-ttl-ms", "1500"])
    a, s = stubs(d)
    sid = session(s)
    aid = a.Register(ag.RegisterRequest(name="worker-1", type=ag.AGENT_TYPE_WORKER,
                                        capabilities=ag.AgentCapabilities(
                                            supported_tasks=["file_operation"])),
                     timeout=10).agent_id
    # Without a stream, it finds the task in its heartbeat, once.
    t = run(a, sid, "read_file", "/x", agent_id=aid)
    assert t.task.agent_id == aid and t.task.state == ag.TASK_STATE_PENDING
    hb = a.Heartbeat(ag.HeartbeatRequest(agent_id=aid), timeout=10)
    assert list(hb.pending_tasks) == [t.task_id]
    assert list(a.Heartbeat(ag.HeartbeatRequest(agent_id=aid), timeout=10).pending_tasks) == []
    assert a.GetTaskStatus(ag.GetTaskStatusRequest(task_id=t.task_id),
                           timeout=10).task.state == ag.TASK_STATE_QUEUED
    # With a stream: a TASK_REQUEST; an empty agent_id picks it too, by its capability.
    stream = Stream(a.StreamAgent, ag.StreamAgentRequest(agent_id=aid))
    stream.call.initial_metadata()
    t2 = a.ExecuteTask(ag.ExecuteTaskRequest(session_id=sid, type=ag.TASK_TYPE_FILE_OPERATION,
                                             config=ag.TaskConfig(command="read_file")),
                       timeout=10)
    assert t2.task.agent_id == aid
    m = stream.next().message
    assert m.type == ag.MESSAGE_TYPE_TASK_REQUEST and m.task_message.task_id == t2.task_id
    assert m.source_id == "orchestrator" and m.metadata.session_id == sid
    # A watcher sees what the agent reports on its own StreamTask.
    watcher = Stream(a.StreamTask, ag.StreamTaskRequest(task_id=t2.task_id))
    watcher.call.initial_metadata()
    rep = Stream(a.StreamTask, ag.StreamTaskRequest(task_id=t2.task_id, status=ag.TaskStatusUpdate(
        state=ag.TASK_STATE_RUNNING, message="reading")))
    rep.send(ag.StreamTaskRequest(progress=ag.TaskProgress(percent=50, message="half")))
    rep.send(ag.StreamTaskRequest(output=ag.TaskOutput(data=b"content", stream_type="stdout")))
    wait_until(lambda: a.GetTaskStatus(ag.GetTaskStatusRequest(task_id=t2.task_id),
                                       timeout=10).task.progress == 50, what="progress")
    # Input from the watcher reaches the agent; a CONTROL CANCEL for another task.
    watcher.send(ag.StreamTaskRequest(input=ag.TaskInput(data=b"more")))
    m = stream.next().message
    assert m.data_message.data == b"more" and m.data_message.headers["task_id"] == t2.task_id
    rep.send(ag.StreamTaskRequest(complete=ag.TaskComplete(task_id=t2.task_id, result=ag.TaskResult(
        exit_code=0, output_text="content"))))
    kinds = []
    while True:
        r = watcher.next()
        kinds.append(r.WhichOneof("payload"))
        if kinds[-1] == "complete":
            assert r.complete.result.output_text == "content"
            break
    assert {"status", "progress", "output"} <= set(kinds)
    got = a.GetTaskStatus(ag.GetTaskStatusRequest(task_id=t2.task_id), timeout=10).task
    assert got.state == ag.TASK_STATE_COMPLETED and got.result.output_data == b"content"
    a.CancelTask(ag.CancelTaskRequest(task_id=t.task_id, reason="no", force=True), timeout=10)
    m = stream.next().message
    assert m.type == ag.MESSAGE_TYPE_CONTROL and m.control_message.command == \
        ag.CONTROL_COMMAND_CANCEL
    assert dict(m.control_message.parameters) == {"task_id": t.task_id, "reason": "no",
                                                  "force": "true"}
    # A report for droverd's own task is refused.
    own = run(a, sid, "sleep", "5")
    e = Stream(a.StreamTask, ag.StreamTaskRequest(task_id=own.task_id, progress=ag.TaskProgress(
        percent=1))).ended()
    assert e.code() == Code.PERMISSION_DENIED
    a.CancelTask(ag.CancelTaskRequest(task_id=own.task_id, force=True), timeout=10)
    # An agent that stops heartbeating fails its tasks.
    t3 = run(a, sid, "read_file", agent_id=aid)
    assert a.ListTasks(ag.ListTasksRequest(agent_id=aid), timeout=10).total_count == 3
    stream.close()
    wait_until(lambda: a.GetTaskStatus(ag.GetTaskStatusRequest(task_id=t3.task_id),
                                       timeout=10).task.state == ag.TASK_STATE_FAILED,
               timeout=10, what="the task failed with its agent")
    got = a.GetTaskStatus(ag.GetTaskStatusRequest(task_id=t3.task_id), timeout=10).task
    assert got.error.code == "agent_terminated"


def test_tasks_survive_a_restart(make_droverd):
    d = make_droverd()
    a, s = stubs(d)
    sid = session(s)
    done = run(a, sid, "sh", "-c", "echo kept")
    watch(a, done.task_id)
    running = run(a, sid, "sleep", "30")
    wait_until(lambda: a.GetTaskStatus(ag.GetTaskStatusRequest(task_id=running.task_id),
                                       timeout=10).task.state == ag.TASK_STATE_RUNNING)
    assert d.stop() == 0
    d.start()
    a, s = stubs(d, **{"grpc.use_local_subchannel_pool": 1})
    got = a.GetTaskStatus(ag.GetTaskStatusRequest(task_id=done.task_id), timeout=10).task
    assert got.state == ag.TASK_STATE_COMPLETED and got.result.output_text == "kept\n"
    lost = a.GetTaskStatus(ag.GetTaskStatusRequest(task_id=running.task_id), timeout=10).task
    assert lost.state in (ag.TASK_STATE_FAILED, ag.TASK_STATE_CANCELLED)
    # A watcher of an ended task from before the restart gets its completion.
    _, _, complete, _ = watch(a, done.task_id)
    assert complete.result.exit_code == 0


def test_the_cli_views(make_droverd):
    """drover baaaht sessions|agents|tasks|events, with --json: what a demanding user reads."""
    import json
    import subprocess
    from conftest import DROVER
    d = make_droverd(extra_args=["--agents-agent-ttl-ms", "400"])
    a, s = stubs(d)
    follow = subprocess.Popen([DROVER, "--socket", d.socket, "--json", "baaaht", "events",
                               "--count", "2"], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)  # the CLI has subscribed by then (droverd answers its headers at once)
    sid = s.CreateSession(o.CreateSessionRequest(metadata=o.SessionMetadata(
        name="cli-view", owner_id="ann")), timeout=10).session_id
    s.SendMessage(o.SendMessageRequest(session_id=sid, message=o.Message(content="x")),
                  timeout=10)
    out, _ = follow.communicate(timeout=10)
    evs = [json.loads(line) for line in out.splitlines()]
    assert len(evs) == 2 and evs[0]["type"] == "EVENT_TYPE_SESSION_CREATED"
    assert evs[1]["data"]["type"] == "message.sent"
    t = run(a, sid, "sh", "-c", "exit 7")
    watch(a, t.task_id)
    gone = a.Register(ag.RegisterRequest(name="quiet-worker"), timeout=10).agent_id
    wait_until(lambda: json.loads(d.cli("--json", "baaaht", "agents").stdout)[0]["state"] ==
               "terminated", what="the agent terminated in the CLI's view")
    agents = json.loads(d.cli("--json", "baaaht", "agents").stdout)
    assert agents[0]["id"] == gone and agents[0]["name"] == "quiet-worker"
    sessions = json.loads(d.cli("--json", "baaaht", "sessions").stdout)
    assert [x["id"] for x in sessions] == [sid]
    assert sessions[0]["metadata"]["owner_id"] == "ann"  # the CLI's JSON keeps proto names
    tasks = json.loads(d.cli("--json", "baaaht", "tasks", "--session", sid).stdout)
    assert len(tasks) == 1 and tasks[0]["id"] == t.task_id and tasks[0]["state"] == "failed"
    text = d.cli("baaaht", "tasks").stdout
    assert t.task_id[:8] in text and "exit: exited with code 7" in text
    assert "quiet-worker" in d.cli("baaaht", "agents").stdout
    assert "cli-view" in d.cli("baaaht", "sessions").stdout
    r = d.cli("baaaht", "tasks", "--agent")
    assert r.returncode == 2
