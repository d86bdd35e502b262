"""Stratavore's gRPC API (stratavore.v1: ProjectService, RunnerService, SessionService,
DaemonService) through python3-grpcio: projects and their validation, paging and archiving;
runners as supervised local programs (argv with placeholders, flags and conversation-mode
arguments, environment, working directory, PTY or pipe session, concurrency and daily token
quotas, pause and resume checked against the kernel's CPU counters, stop with TERM and KILL,
restart, delete, exit handling and restart policies); heartbeats and their TTL, reconcile; the
event stream (filters, payloads, sequence numbers and replay across a reconnect); sessions, resume
and transcripts recorded from the runner's I/O; daemon status, metrics and health; state across a
droverd restart and an upgrade in place; reflection and grpc.health; and the TLS TCP door with
JWTs. Runners here are small shell programs, never claude."""

import json
import math
import os
import re
import socket
import time

import grpc
import jwt
import pytest
from google.protobuf import field_mask_pb2

from conftest import alive, children_of, free_port, wait_until
from pki import make_cert, pem_cert, pem_key
from streams import Reader
import health_pb2
import health_pb2_grpc
import reflection_v1_pb2 as r1
import reflection_v1_pb2_grpc as r1_grpc
from drover.v1 import admin_pb2, admin_pb2_grpc
from stratavore.v1 import stratavore_pb2 as pb, stratavore_pb2_grpc as pbg

Code = grpc.StatusCode
SLEEPER = ["sleep", "1000"]
BUSY = ["sh", "-c", "while :; do :; done"]
# Ignores SIGTERM (an ignored signal stays ignored across exec).
DEAF = ["sh", "-c", "trap '' TERM; exec sleep 1000"]
# Extra arguments (flags, --continue, --resume ID) become $1... of the script and are ignored.
IGNORING_ARGS = ["sh", "-c", "exec sleep 1000", "sh"]
SERVICES = ("stratavore.v1.RunnerService", "stratavore.v1.ProjectService",
            "stratavore.v1.SessionService", "stratavore.v1.DaemonService")
COMPONENTS = {"runner_manager", "database", "event_bus", "reconciler", "api_server", "metrics",
              "transcript_store", "resource_controller"}


# ---- helpers --------------------------------------------------------------------------------

class Api:
    """The four services on one channel."""

    def __init__(self, ch):
        self.runners = pbg.RunnerServiceStub(ch)
        self.projects = pbg.ProjectServiceStub(ch)
        self.sessions = pbg.SessionServiceStub(ch)
        self.daemon = pbg.DaemonServiceStub(ch)


def api(d, **options):
    return Api(d.channel(**options))


def code_of(fn, *args, **kw):
    """(status code, details) of a call that is meant to fail; OK if it did not."""
    try:
        fn(*args, **kw)
    except grpc.RpcError as e:
        return e.code(), e.details()
    return Code.OK, ""


def mask(*paths):
    return field_mask_pb2.FieldMask(paths=list(paths))


def new_project(a, tmp_path, name, **kw):
    """Creates a project whose path is a fresh directory tmp_path/projects/name."""
    path = tmp_path / "projects" / name
    path.mkdir(parents=True, exist_ok=True)
    return a.projects.CreateProject(pb.CreateProjectRequest(name=name, path=str(path), **kw),
                                    timeout=10).project


def new_runner(a, project, command=SLEEPER, **kw):
    """CreateRunner's reply for a runner of project running command."""
    return a.runners.CreateRunner(pb.CreateRunnerRequest(project_name=project,
                                                         command=list(command), **kw),
                                  timeout=10)


def get(a, rid, **kw):
    return a.runners.GetRunner(pb.GetRunnerRequest(runner_id=rid, **kw), timeout=10).runner


def stop(a, rid, **kw):
    return a.runners.StopRunner(pb.StopRunnerRequest(runner_id=rid, **kw), timeout=30)


def status_of(a, rid):
    return get(a, rid).status


def wait_status(a, rid, status, timeout=10):
    wait_until(lambda: status_of(a, rid) == status, timeout=timeout,
               what=f"runner {rid} {pb.RunnerStatus.Name(status)}")
    return get(a, rid)


def session(a, sid, **kw):
    return a.sessions.GetSession(pb.GetSessionRequest(session_id=sid, **kw), timeout=10).session


def proc_state_and_ticks(pid):
    """(state letter, utime + stime in ticks) of pid from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return fields[0], int(fields[11]) + int(fields[12])


def ignores_term(pid):
    """Waits until pid ignores SIGTERM (the shell has run its trap)."""
    def ignored():
        with open(f"/proc/{pid}/status") as f:
            mask = next(int(x.split()[1], 16) for x in f if x.startswith("SigIgn:"))
        return mask & (1 << (15 - 1))
    wait_until(ignored, what=f"{pid} to ignore SIGTERM")


def environ(pid):
    """pid's environment, once its program is in place (the reply to CreateRunner can come
    while a `sh -c 'exec ...'` runner is still inside an execve)."""
    def read():
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(x.split("=", 1) for x in f.read().decode().split("\0") if "=" in x)
        return env if "STRATAVORE_RUNNER_ID" in env else None
    return wait_until(read, what=f"the environment of {pid}")


def dump_script(tmp_path):
    """A runner program that writes its arguments, cwd and environment to $DUMP, then sleeps."""
    path = tmp_path / "dump.sh"
    path.write_text('#!/bin/sh\n'
                    '{ for a in "$@"; do printf "arg=%s\\n" "$a"; done\n'
                    '  printf "cwd=%s\\n" "$(/bin/pwd -P)"\n'
                    '  env | sed "s/^/env=/"; } > "$DUMP.tmp" && mv "$DUMP.tmp" "$DUMP"\n'
                    'exec sleep 1000\n')
    path.chmod(0o755)
    return str(path)


def read_dump(path):
    """(arguments after argv[0], cwd, environment) that dump_script wrote to path."""
    wait_until(lambda: os.path.exists(path), what=f"{path} written")
    args, env, cwd = [], {}, None
    with open(path) as f:
        for line in f.read().splitlines():
            kind, _, value = line.partition("=")
            if kind == "arg":
                args.append(value)
            elif kind == "cwd":
                cwd = value
            elif kind == "env" and "=" in value:
                k, v = value.split("=", 1)
                env[k] = v
    return args, cwd, env


class Events(Reader):
    """A StreamRunnerEvents subscription read on a thread of its own (streams.py); it waits for
    the response headers, which the server sends once the subscription is registered."""

    def __init__(self, a, **req):
        super().__init__(a.runners.StreamRunnerEvents(pb.StreamRunnerEventsRequest(**req),
                                                      timeout=120))

    def describe(self):
        return str(self.types())

    def until_type(self, event_type, runner_id=None, timeout=10):
        return self.until(lambda e: e.event_type == event_type and
                          (runner_id is None or e.runner_id == runner_id), timeout)[-1]

    def types(self):
        return [pb.EventType.Name(e.event_type) for e in self.seen]

    def cancel(self):
        self.call.cancel()


def payload(event, message_type):
    msg = message_type()
    assert event.payload.type_url == f"type.googleapis.com/stratavore.v1.{message_type.__name__}"
    assert event.payload.Unpack(msg)
    return msg


@pytest.fixture
def sv(droverd):
    return api(droverd)


# ---- projects -------------------------------------------------------------------------------

def test_create_project_validates_and_defaults(sv, tmp_path):
    p = new_project(sv, tmp_path, "web-app_1.x", description="the web app", tags=["a", "b"],
                    metadata={"team": "infra"})
    assert p.name == "web-app_1.x" and p.description == "the web app"
    assert p.path == str(tmp_path / "projects" / "web-app_1.x")
    assert p.status == pb.PROJECT_STATUS_IDLE
    assert p.quota.max_concurrent_runners == 5  # an all-zero quota gets the default
    assert list(p.tags) == ["a", "b"] and dict(p.metadata) == {"team": "infra"}
    assert abs(p.created_at.ToMilliseconds() - time.time() * 1000) < 60_000
    assert new_project(sv, tmp_path, "n" * 64).name == "n" * 64
    q = new_project(sv, tmp_path, "capped", quota=pb.ResourceQuota(max_concurrent_runners=2))
    assert q.quota.max_concurrent_runners == 2

    create = sv.projects.CreateProject
    for name in ("", "has space", "n" * 65, "slash/name", "ümlaut", "semi;colon"):
        code, _ = code_of(create, pb.CreateProjectRequest(name=name, path=f"/tmp/x-{len(name)}"))
        assert code == Code.INVALID_ARGUMENT, name
    for path in ("", "relative/dir", "./here"):
        code, _ = code_of(create, pb.CreateProjectRequest(name="rel", path=path))
        assert code == Code.INVALID_ARGUMENT, path
    # The name and the path are each unique.
    code, msg = code_of(create, pb.CreateProjectRequest(name="web-app_1.x", path="/tmp/other"))
    assert code == Code.ALREADY_EXISTS and "web-app_1.x" in msg
    code, _ = code_of(create, pb.CreateProjectRequest(name="other", path=p.path))
    assert code == Code.ALREADY_EXISTS
    names = [x.name for x in sv.projects.ListProjects(pb.ListProjectsRequest()).projects]
    assert names == sorted(["web-app_1.x", "n" * 64, "capped"])


def test_get_project_stats_and_status(sv, tmp_path):
    code, msg = code_of(sv.projects.GetProject, pb.GetProjectRequest(name="nope"))
    assert code == Code.NOT_FOUND and "nope" in msg
    new_project(sv, tmp_path, "p")
    ra = new_runner(sv, "p").runner
    rb = new_runner(sv, "p").runner
    p = sv.projects.GetProject(pb.GetProjectRequest(name="p", include_stats=True)).project
    assert p.status == pb.PROJECT_STATUS_ACTIVE
    assert p.statistics.active_runners == 2 and p.statistics.total_runners == 2
    assert p.statistics.total_sessions == 2 and p.statistics.active_sessions == 2
    stop(sv, ra.id)
    p = sv.projects.GetProject(pb.GetProjectRequest(name="p", include_stats=True)).project
    assert p.status == pb.PROJECT_STATUS_ACTIVE
    assert p.statistics.active_runners == 1 and p.statistics.total_runners == 2
    stop(sv, rb.id)
    p = sv.projects.GetProject(pb.GetProjectRequest(name="p", include_stats=True)).project
    assert p.status == pb.PROJECT_STATUS_IDLE
    assert p.statistics.active_runners == 0 and p.statistics.total_runners == 2
    assert p.statistics.total_sessions == 2 and p.statistics.active_sessions == 0


def test_list_projects_order_filter_and_paging(sv, tmp_path):
    names = [f"proj{i:03d}" for i in range(104)]
    for n in reversed(names):  # created in reverse: the listing orders by name
        sv.projects.CreateProject(pb.CreateProjectRequest(name=n, path=f"/srv/none/{n}"))
    lp = sv.projects.ListProjects
    r = lp(pb.ListProjectsRequest())  # limit 0 means 100
    assert [p.name for p in r.projects] == names[:100]
    assert r.total_count == 104 and r.has_more
    r = lp(pb.ListProjectsRequest(limit=3, offset=2))
    assert [p.name for p in r.projects] == names[2:5] and r.total_count == 104 and r.has_more
    r = lp(pb.ListProjectsRequest(limit=10, offset=100))
    assert [p.name for p in r.projects] == names[100:] and not r.has_more
    r = lp(pb.ListProjectsRequest(limit=10, offset=200))
    assert list(r.projects) == [] and r.total_count == 104 and not r.has_more
    for bad in (pb.ListProjectsRequest(limit=-1), pb.ListProjectsRequest(offset=-1)):
        assert code_of(lp, bad)[0] == Code.INVALID_ARGUMENT

    # Status filters: one archived, one active, the rest idle.
    sv.projects.DeleteProject(pb.DeleteProjectRequest(name="proj007", archive=True))
    new_project(sv, tmp_path, "zlive")
    rid = new_runner(sv, "zlive").runner.id
    r = lp(pb.ListProjectsRequest(status=pb.PROJECT_STATUS_ARCHIVED))
    assert [p.name for p in r.projects] == ["proj007"] and r.total_count == 1
    assert r.projects[0].status == pb.PROJECT_STATUS_ARCHIVED
    r = lp(pb.ListProjectsRequest(status=pb.PROJECT_STATUS_ACTIVE, include_stats=True))
    assert [p.name for p in r.projects] == ["zlive"]
    assert r.projects[0].statistics.active_runners == 1
    r = lp(pb.ListProjectsRequest(status=pb.PROJECT_STATUS_IDLE, limit=1000))
    assert r.total_count == 103 and "proj007" not in {p.name for p in r.projects}
    stop(sv, rid)


def test_update_project(sv, tmp_path):
    new_project(sv, tmp_path, "u", description="old", tags=["t1"], metadata={"k": "v"})
    up = sv.projects.UpdateProject
    other = tmp_path / "elsewhere"
    other.mkdir()
    p = up(pb.UpdateProjectRequest(
        name="u", update_mask=mask("description", "tags", "metadata", "path", "quota", "config"),
        description="new", tags=["t2", "t3"], metadata={"k2": "v2"}, path=str(other),
        quota=pb.ResourceQuota(max_concurrent_runners=1),
        config=pb.ProjectConfig(command=["sh", "-c", "exec sleep 1000"],
                                environment={"FROM_PROJECT": "yes"}))).project
    assert p.description == "new" and list(p.tags) == ["t2", "t3"]
    assert dict(p.metadata) == {"k2": "v2"} and p.path == str(other)
    assert p.quota.max_concurrent_runners == 1
    assert list(p.config.command) == ["sh", "-c", "exec sleep 1000"]
    assert p.updated_at.ToNanoseconds() > p.created_at.ToNanoseconds()
    got = sv.projects.GetProject(pb.GetProjectRequest(name="u")).project
    assert got.description == "new" and got.path == str(other)
    # The new settings apply to runners: the command, the path as cwd, the quota of 1.
    r = sv.runners.CreateRunner(pb.CreateRunnerRequest(project_name="u")).runner
    assert list(r.command) == ["sh", "-c", "exec sleep 1000"]
    assert os.readlink(f"/proc/{r.pid}/cwd") == str(other)
    assert environ(r.pid)["FROM_PROJECT"] == "yes"
    code, msg = code_of(new_runner, sv, "u")
    assert code == Code.RESOURCE_EXHAUSTED and "quota exceeded: 1/1 runners active" in msg
    stop(sv, r.id)

    # Without a mask, the fields that are set apply and the others stay.
    p = up(pb.UpdateProjectRequest(name="u", description="newer")).project
    assert p.description == "newer" and list(p.tags) == ["t2", "t3"] and p.path == str(other)
    assert p.quota.max_concurrent_runners == 1 and dict(p.metadata) == {"k2": "v2"}
    # A path in the mask whose value is empty clears it.
    p = up(pb.UpdateProjectRequest(name="u", update_mask=mask("tags"))).project
    assert list(p.tags) == [] and p.description == "newer"

    code, msg = code_of(up, pb.UpdateProjectRequest(name="u", update_mask=mask("name")))
    assert code == Code.INVALID_ARGUMENT and "name" in msg
    code, msg = code_of(up, pb.UpdateProjectRequest(name="u", update_mask=mask("bogus_field")))
    assert code == Code.INVALID_ARGUMENT and "bogus_field" in msg
    code, _ = code_of(up, pb.UpdateProjectRequest(name="u", update_mask=mask("path"),
                                                  path="not/absolute"))
    assert code == Code.INVALID_ARGUMENT
    assert code_of(up, pb.UpdateProjectRequest(name="nope", description="x"))[0] == \
        Code.NOT_FOUND
    # status ARCHIVED through the mask archives it.
    p = up(pb.UpdateProjectRequest(name="u", update_mask=mask("status"),
                                   status=pb.PROJECT_STATUS_ARCHIVED)).project
    assert p.status == pb.PROJECT_STATUS_ARCHIVED and p.HasField("archived_at")
    assert sv.projects.GetProject(pb.GetProjectRequest(name="u")).project.description == "newer"


def test_archive_project_refuses_runners_and_ends_sessions(sv, tmp_path):
    new_project(sv, tmp_path, "arch")
    created = new_runner(sv, "arch")
    stop(sv, created.runner.id)
    sid = created.session.id
    assert session(sv, sid).status == pb.SESSION_STATUS_INACTIVE
    ev = Events(sv, project_name="arch")
    r = sv.projects.DeleteProject(pb.DeleteProjectRequest(name="arch", archive=True))
    assert r.archived and not r.deleted and r.stopped_runners == 0
    p = sv.projects.GetProject(pb.GetProjectRequest(name="arch")).project
    assert p.status == pb.PROJECT_STATUS_ARCHIVED and p.HasField("archived_at")
    e = ev.until_type(pb.EVENT_TYPE_PROJECT_ARCHIVED)
    assert payload(e, pb.Project).status == pb.PROJECT_STATUS_ARCHIVED
    s = session(sv, sid)
    assert s.status == pb.SESSION_STATUS_ENDED and s.details.HasField("ended_at")
    ev.cancel()
    code, msg = code_of(new_runner, sv, "arch")
    assert code == Code.FAILED_PRECONDITION and "archived" in msg
    # The runner record is still there.
    assert get(sv, created.runner.id).status == pb.RUNNER_STATUS_TERMINATED


def test_delete_project_with_live_runners_needs_force(sv, tmp_path):
    new_project(sv, tmp_path, "del")
    runners = [new_runner(sv, "del").runner for _ in range(2)]
    dp = sv.projects.DeleteProject
    code, msg = code_of(dp, pb.DeleteProjectRequest(name="del"))
    assert code == Code.FAILED_PRECONDITION and "force" in msg
    assert all(alive(r.pid) and status_of(sv, r.id) == pb.RUNNER_STATUS_RUNNING
               for r in runners)
    ev = Events(sv, project_name="del")
    r = dp(pb.DeleteProjectRequest(name="del", force=True))
    assert r.deleted and not r.archived and r.stopped_runners == 2
    assert not any(alive(x.pid) for x in runners)
    ev.until_type(pb.EVENT_TYPE_PROJECT_DELETED)
    assert sorted(e.runner_id for e in ev.seen
                  if e.event_type == pb.EVENT_TYPE_RUNNER_STOPPED) == sorted(x.id for x in runners)
    ev.cancel()
    assert code_of(sv.projects.GetProject, pb.GetProjectRequest(name="del"))[0] == Code.NOT_FOUND
    assert code_of(dp, pb.DeleteProjectRequest(name="del"))[0] == Code.NOT_FOUND
    # An idle project goes without force, and its name and path can be used again.
    p = new_project(sv, tmp_path, "idle")
    assert dp(pb.DeleteProjectRequest(name="idle")).deleted
    assert new_project(sv, tmp_path, "idle").path == p.path


# ---- launching runners ----------------------------------------------------------------------

def test_runner_argv_environment_and_cwd(droverd, sv, tmp_path):
    script = dump_script(tmp_path)
    out = str(tmp_path / "dump1")
    new_project(sv, tmp_path, "env", config=pb.ProjectConfig(
        command=[script, "{project_name}", "{project_path}", "{runner_id}", "{session_id}",
                 "{model}", "--temp={temperature}", "{max_tokens}"],
        flags=["--project-flag"], environment={"PROJECT_VAR": "p", "DUMP": out}))
    c = sv.runners.CreateRunner(pb.CreateRunnerRequest(
        project_name="env", model="model-x", temperature=0.5, max_tokens=123,
        flags=["--request-flag", "two words"], environment={"REQUEST_VAR": "r"},
        metadata={"role": "test"}))
    r, s = c.runner, c.session
    path = str(tmp_path / "projects" / "env")
    assert r.status == pb.RUNNER_STATUS_RUNNING and r.pid > 0 and r.runtime_id == str(r.pid)
    assert r.project_name == "env" and r.project_path == path and r.model == "model-x"
    assert r.temperature == 0.5 and r.max_tokens == 123 and dict(r.metadata) == {"role": "test"}
    assert r.HasField("started_at") and r.node_id == socket.gethostname()
    assert r.session_id == s.id and s.runner_id == r.id and s.project_name == "env"
    assert s.status == pb.SESSION_STATUS_ACTIVE and list(s.details.runner_ids) == [r.id]
    assert r.conversation_mode in (pb.CONVERSATION_MODE_NEW, pb.CONVERSATION_MODE_UNSPECIFIED)
    args, cwd, env = read_dump(out)
    assert args[:5] == ["env", path, r.id, s.id, "model-x"]
    assert args[5].startswith("--temp=") and float(args[5][len("--temp="):]) == 0.5
    assert args[6:] == ["123", "--project-flag", "--request-flag", "two words"]
    assert list(r.command) == [script] + args
    assert cwd == os.path.realpath(path) and r.working_directory in ("", path)
    assert env["STRATAVORE_RUNNER_ID"] == r.id
    assert env["STRATAVORE_PROJECT_NAME"] == "env"
    assert env["STRATAVORE_PROJECT_PATH"] == path
    assert env["STRATAVORE_SESSION_ID"] == s.id
    assert env["STRATAVORE_CONVERSATION_MODE"] == "new"
    assert env["STRATAVORE_MODEL"] == "model-x"
    assert float(env["STRATAVORE_TEMPERATURE"]) == 0.5
    assert env["STRATAVORE_MAX_TOKENS"] == "123"
    assert env["STRATAVORE_API_SOCKET"] == droverd.socket
    assert env["STRATAVORE_HEARTBEAT_INTERVAL"] == "10"
    assert len(env["STRATAVORE_RUNNER_TOKEN"]) >= 16
    assert env["PROJECT_VAR"] == "p" and env["REQUEST_VAR"] == "r"

    # Unset model, temperature and max_tokens: their arguments and variables are left out.
    out2 = str(tmp_path / "dump2")
    r2 = sv.runners.CreateRunner(pb.CreateRunnerRequest(
        project_name="env", environment={"DUMP": out2, "PROJECT_VAR": "overridden"})).runner
    args, _, env = read_dump(out2)
    assert args == ["env", path, r2.id, r2.session_id, "--project-flag"]
    assert not {"STRATAVORE_MODEL", "STRATAVORE_TEMPERATURE", "STRATAVORE_MAX_TOKENS"} & set(env)
    assert env["PROJECT_VAR"] == "overridden"  # the request's environment wins
    assert env["STRATAVORE_RUNNER_TOKEN"] != read_dump(out)[2]["STRATAVORE_RUNNER_TOKEN"]
    # An explicit 0 is a value (presence, not zero, decides).
    out3 = str(tmp_path / "dump3")
    r3 = sv.runners.CreateRunner(pb.CreateRunnerRequest(
        project_name="env", temperature=0.0, max_tokens=0, environment={"DUMP": out3})).runner
    args, _, env = read_dump(out3)
    assert float(env["STRATAVORE_TEMPERATURE"]) == 0 and env["STRATAVORE_MAX_TOKENS"] == "0"
    assert args[4].startswith("--temp=") and float(args[4][len("--temp="):]) == 0
    assert args[5:] == ["0", "--project-flag"]
    for x in (r, r2, r3):
        stop(sv, x.id)


def test_daemon_default_command(make_droverd, tmp_path):
    script = dump_script(tmp_path)
    out = str(tmp_path / "dump")
    d = make_droverd(config=f'stratavore_runner_command: "{script} --project {{project_path}} '
                            f'--model {{model}} --name={{project_name}}"\n')
    a = api(d)
    new_project(a, tmp_path, "dflt", config=pb.ProjectConfig(environment={"DUMP": out}))
    r = a.runners.CreateRunner(pb.CreateRunnerRequest(project_name="dflt")).runner
    path = str(tmp_path / "projects" / "dflt")
    # "--model" stays (it has no placeholder); "{model}" is empty and dropped.
    assert list(r.command) == [script, "--project", path, "--model", "--name=dflt"]
    assert read_dump(out)[0] == ["--project", path, "--model", "--name=dflt"]
    stop(a, r.id)


def test_conversation_mode_arguments(sv, tmp_path):
    new_project(sv, tmp_path, "conv", config=pb.ProjectConfig(command=IGNORING_ARGS,
                                                             flags=["-f"]))
    first = new_runner(sv, "conv", command=[])
    r, s = first.runner, first.session
    assert list(r.command) == IGNORING_ARGS + ["-f"]
    assert environ(r.pid)["STRATAVORE_CONVERSATION_MODE"] == "new"
    stop(sv, r.id)
    # CONTINUE with a session_id reuses that session and appends --continue after the flags.
    c = sv.runners.CreateRunner(pb.CreateRunnerRequest(
        project_name="conv", session_id=s.id, conversation_mode=pb.CONVERSATION_MODE_CONTINUE,
        flags=["-g"])).runner
    assert list(c.command) == IGNORING_ARGS + ["-f", "-g", "--continue"]
    assert c.session_id == s.id and c.conversation_mode == pb.CONVERSATION_MODE_CONTINUE
    assert environ(c.pid)["STRATAVORE_CONVERSATION_MODE"] == "continue"
    assert environ(c.pid)["STRATAVORE_SESSION_ID"] == s.id
    stop(sv, c.id)
    # RESUME: --resume SESSION.
    rr = sv.runners.CreateRunner(pb.CreateRunnerRequest(
        project_name="conv", session_id=s.id, conversation_mode=pb.CONVERSATION_MODE_RESUME))
    assert list(rr.runner.command) == IGNORING_ARGS + ["-f", "--resume", s.id]
    assert rr.session.id == s.id and environ(rr.runner.pid)[
        "STRATAVORE_CONVERSATION_MODE"] == "resume"
    assert list(rr.session.details.runner_ids) == [r.id, c.id, rr.runner.id]
    stop(sv, rr.runner.id)
    # A project's own continue_args and resume_args; [""] expands to nothing and disables them.
    sv.projects.UpdateProject(pb.UpdateProjectRequest(
        name="conv", update_mask=mask("config"), config=pb.ProjectConfig(
            command=IGNORING_ARGS, continue_args=[""],
            resume_args=["--session={session_id}", "--in={project_name}"])))
    c2 = sv.runners.CreateRunner(pb.CreateRunnerRequest(
        project_name="conv", session_id=s.id, conversation_mode=pb.CONVERSATION_MODE_CONTINUE))
    assert list(c2.runner.command) == IGNORING_ARGS
    r2 = sv.runners.CreateRunner(pb.CreateRunnerRequest(
        project_name="conv", session_id=s.id, conversation_mode=pb.CONVERSATION_MODE_RESUME))
    assert list(r2.runner.command) == IGNORING_ARGS + [f"--session={s.id}", "--in=conv"]
    for x in (c2.runner, r2.runner):
        stop(sv, x.id)


def test_working_directory(sv, tmp_path):
    new_project(sv, tmp_path, "wd")
    other = tmp_path / "other-dir"
    other.mkdir()
    r = new_runner(sv, "wd", working_directory=str(other)).runner
    assert r.working_directory == str(other)
    assert os.readlink(f"/proc/{r.pid}/cwd") == str(other)
    stop(sv, r.id)
    code, msg = code_of(new_runner, sv, "wd", working_directory=str(tmp_path / "missing"))
    assert code == Code.FAILED_PRECONDITION and "missing" in msg
    # A project whose own directory is gone.
    sv.projects.CreateProject(pb.CreateProjectRequest(name="gone", path=str(tmp_path / "gone")))
    assert code_of(new_runner, sv, "gone")[0] == Code.FAILED_PRECONDITION


def test_create_runner_refusals(sv, tmp_path):
    new_project(sv, tmp_path, "bad")
    for kw in ({"temperature": 2.01}, {"temperature": -0.1}, {"temperature": math.nan},
               {"temperature": math.inf}, {"max_tokens": -1}):
        code, _ = code_of(new_runner, sv, "bad", **kw)
        assert code == Code.INVALID_ARGUMENT, kw
    code, msg = code_of(new_runner, sv, "no-such-project")
    assert code == Code.NOT_FOUND and "no-such-project" in msg
    for rt in (pb.RUNTIME_TYPE_REMOTE, pb.RUNTIME_TYPE_CONTAINER):
        assert code_of(new_runner, sv, "bad", runtime_type=rt)[0] == Code.UNIMPLEMENTED
    # Nothing above left a runner behind.
    assert sv.runners.ListRunners(pb.ListRunnersRequest(project_name="bad")).total_count == 0
    # The edges of the range are valid.
    r = new_runner(sv, "bad", temperature=2.0).runner
    assert r.temperature == 2.0
    stop(sv, r.id)

    # A program that cannot be executed: FAILED_PRECONDITION, and a FAILED record stays.
    ev = Events(sv, project_name="bad")
    code, msg = code_of(new_runner, sv, "bad", command=["/nonexistent/agent", "x"])
    assert code == Code.FAILED_PRECONDITION
    failed = sv.runners.ListRunners(pb.ListRunnersRequest(
        project_name="bad", status=pb.RUNNER_STATUS_FAILED)).runners
    assert len(failed) == 1 and failed[0].status_reason.startswith("spawn_failed")
    assert failed[0].pid == 0 and list(failed[0].command) == ["/nonexistent/agent", "x"]
    e = ev.until_type(pb.EVENT_TYPE_RUNNER_FAILED)
    assert e.runner_id == failed[0].id
    assert payload(e, pb.RunnerExitPayload).reason.startswith("spawn_failed")
    ev.cancel()
    noexec = tmp_path / "not-executable"
    noexec.write_text("#!/bin/sh\nexit 0\n")
    code, _ = code_of(new_runner, sv, "bad", command=[str(noexec)])
    assert code == Code.FAILED_PRECONDITION
    assert sv.runners.ListRunners(pb.ListRunnersRequest(
        project_name="bad", status=pb.RUNNER_STATUS_FAILED)).total_count == 2
    # Failed runners are not live: the project is idle.
    assert sv.projects.GetProject(pb.GetProjectRequest(name="bad")).project.status == \
        pb.PROJECT_STATUS_IDLE


def test_runner_runs_in_a_drover_session(droverd, sv, tmp_path):
    new_project(sv, tmp_path, "tty")
    r = new_runner(sv, "tty", command=["sh", "-c", "echo ready; read x; echo got:$x; "
                                       "exec sleep 1000"]).runner
    sid = r.attach_session_id
    assert sid
    listing = json.loads(droverd.cli("--json", "sessions", check=0).stdout)
    mine = [s for s in listing if s["id"] == sid]
    assert len(mine) == 1 and mine[0]["kind"] == "pty" and not mine[0]["exited"]
    # The program's terminal is the PTY.
    assert os.readlink(f"/proc/{r.pid}/fd/0").startswith("/dev/pts/")
    wait_until(lambda: "ready" in droverd.cli("backlog", sid).stdout, what="the output")
    droverd.cli("send", "--newline", sid, "hello", check=0)
    wait_until(lambda: "got:hello" in droverd.cli("backlog", sid).stdout, what="the reply")
    stop(sv, r.id)
    # use_pipes: a pipe session instead.
    new_project(sv, tmp_path, "piped", config=pb.ProjectConfig(use_pipes=True))
    q = new_runner(sv, "piped", command=["cat"]).runner
    listing = json.loads(droverd.cli("--json", "sessions", check=0).stdout)
    assert [s["kind"] for s in listing if s["id"] == q.attach_session_id] == ["pipe"]
    assert not os.readlink(f"/proc/{q.pid}/fd/0").startswith("/dev/pts/")
    stop(sv, q.id)


# ---- quota ----------------------------------------------------------------------------------

def test_concurrency_quota(sv, tmp_path):
    new_project(sv, tmp_path, "q", quota=pb.ResourceQuota(max_concurrent_runners=2))
    a = new_runner(sv, "q").runner
    b = new_runner(sv, "q", command=BUSY).runner
    # A paused runner still counts.
    sv.runners.UpdateRunner(pb.UpdateRunnerRequest(runner_id=b.id, update_mask=mask(
        "desired_status"), desired_status=pb.RUNNER_STATUS_PAUSED))
    ev = Events(sv, project_name="q", event_types=[pb.EVENT_TYPE_QUOTA_EXCEEDED])
    code, msg = code_of(new_runner, sv, "q")
    assert code == Code.RESOURCE_EXHAUSTED and "quota exceeded: 2/2 runners active" in msg
    e = ev.next()
    assert e.event_type == pb.EVENT_TYPE_QUOTA_EXCEEDED and e.project_name == "q"
    q = payload(e, pb.QuotaExceededPayload)
    assert q.quota == "max_concurrent_runners" and q.limit == 2 and q.current == 2
    ev.cancel()
    assert sv.runners.ListRunners(pb.ListRunnersRequest(project_name="q")).total_count == 2
    stop(sv, a.id)
    c = new_runner(sv, "q").runner
    assert c.status == pb.RUNNER_STATUS_RUNNING
    # Another project is not affected by this one's quota.
    new_project(sv, tmp_path, "q2")
    d = new_runner(sv, "q2").runner
    for x in (b, c, d):
        stop(sv, x.id)


# ---- inspecting and changing runners --------------------------------------------------------

def test_get_runner_metrics_and_session(sv, tmp_path):
    new_project(sv, tmp_path, "m")
    assert code_of(get, sv, "00000000-0000-4000-8000-000000000000")[0] == Code.NOT_FOUND
    big = new_runner(sv, "m", command=["/usr/bin/python3", "-c",
                                       "import time; b = b'x' * (64 << 20); time.sleep(1000)"])
    busy = new_runner(sv, "m", command=["sh", "-c", "sleep 1000 & while :; do :; done"]).runner

    def metrics(rid):
        return sv.runners.GetRunner(pb.GetRunnerRequest(runner_id=rid, include_metrics=True),
                                    timeout=10).metrics
    wait_until(lambda: metrics(big.runner.id).memory_mb >= 64, what="64 MiB resident")
    m = metrics(big.runner.id)
    assert m.runner_id == big.runner.id and 64 <= m.memory_mb < 200 and m.pids >= 1
    assert m.HasField("collected_at")
    r = sv.runners.GetRunner(pb.GetRunnerRequest(runner_id=big.runner.id, include_session=True))
    assert r.session.id == big.session.id and r.session.runner_id == big.runner.id
    assert not r.HasField("metrics")
    plain = sv.runners.GetRunner(pb.GetRunnerRequest(runner_id=big.runner.id))
    assert not plain.HasField("metrics") and not plain.HasField("session")
    # The busy loop: its CPU share shows, and its tree has two processes.
    wait_until(lambda: metrics(busy.id).cpu_percent > 20, what="the busy loop's CPU share")
    m = metrics(busy.id)
    assert m.pids == 2 and m.cpu_time_ms > 0
    t1 = m.cpu_time_ms
    wait_until(lambda: metrics(busy.id).cpu_time_ms >= t1 + 100, what="CPU time growing")
    wait_until(lambda: metrics(busy.id).uptime_seconds >= 1, what="uptime")
    for x in (big.runner, busy):
        stop(sv, x.id)


def test_list_runners_filters_and_paging(sv, tmp_path):
    new_project(sv, tmp_path, "la")
    new_project(sv, tmp_path, "lb")
    ids = []
    for i in range(5):
        ids.append(new_runner(sv, "la", metadata={"tier": "web" if i % 2 else "db",
                                                  "zone": "a" if i < 3 else "b"}).runner.id)
    other = new_runner(sv, "lb", metadata={"tier": "web", "zone": "a"}).runner.id
    stop(sv, ids[0])
    lr = sv.runners.ListRunners
    r = lr(pb.ListRunnersRequest())
    assert [x.id for x in r.runners] == ids + [other]  # by created_at
    assert r.total_count == 6 and not r.has_more and list(r.metrics) == []
    r = lr(pb.ListRunnersRequest(project_name="la", limit=2, offset=1))
    assert [x.id for x in r.runners] == ids[1:3] and r.total_count == 5 and r.has_more
    r = lr(pb.ListRunnersRequest(project_name="la", limit=2, offset=4))
    assert [x.id for x in r.runners] == ids[4:] and not r.has_more
    r = lr(pb.ListRunnersRequest(project_name="la", status=pb.RUNNER_STATUS_RUNNING))
    assert [x.id for x in r.runners] == ids[1:]
    r = lr(pb.ListRunnersRequest(status=pb.RUNNER_STATUS_TERMINATED))
    assert [x.id for x in r.runners] == ids[:1]
    r = lr(pb.ListRunnersRequest(metadata_filter={"tier": "web", "zone": "a"}))
    assert [x.id for x in r.runners] == [ids[1], other]
    r = lr(pb.ListRunnersRequest(project_name="la", metadata_filter={"tier": "web"}))
    assert [x.id for x in r.runners] == [ids[1], ids[3]]
    assert lr(pb.ListRunnersRequest(metadata_filter={"tier": "nope"})).total_count == 0
    r = lr(pb.ListRunnersRequest(project_name="la", include_metrics=True))
    assert [m.runner_id for m in r.metrics] == ids
    assert all(m.pids >= 1 for m in r.metrics[1:]) and r.metrics[0].pids == 0
    for bad in (pb.ListRunnersRequest(limit=-5), pb.ListRunnersRequest(offset=-1)):
        assert code_of(lr, bad)[0] == Code.INVALID_ARGUMENT
    for rid in ids[1:] + [other]:
        stop(sv, rid)


def test_update_runner_fields(sv, tmp_path):
    new_project(sv, tmp_path, "upd", config=pb.ProjectConfig(command=[
        "sh", "-c", "exec sleep 1000", "sh", "{model}", "{temperature}", "{max_tokens}"]))
    r = new_runner(sv, "upd", command=[], model="m1", metadata={"a": "1"}).runner
    assert list(r.command)[4:] == ["m1"]
    ur = sv.runners.UpdateRunner
    ev = Events(sv, runner_id=r.id, event_types=[pb.EVENT_TYPE_RUNNER_UPDATED])
    u = ur(pb.UpdateRunnerRequest(
        runner_id=r.id, update_mask=mask("metadata", "max_restart_attempts", "restart_policy",
                                         "heartbeat_ttl_seconds", "model", "temperature",
                                         "max_tokens"),
        metadata={"b": "2"}, max_restart_attempts=7, restart_policy=pb.RESTART_POLICY_ALWAYS,
        heartbeat_ttl_seconds=45, model="m2", temperature=1.5, max_tokens=77)).runner
    assert dict(u.metadata) == {"b": "2"} and u.max_restart_attempts == 7
    assert u.restart_policy == pb.RESTART_POLICY_ALWAYS and u.heartbeat_ttl_seconds == 45
    assert u.model == "m2" and u.temperature == 1.5 and u.max_tokens == 77
    assert u.pid == r.pid and u.status == pb.RUNNER_STATUS_RUNNING  # nothing restarted
    assert ev.next().runner_id == r.id
    ev.cancel()
    g = get(sv, r.id)
    assert dict(g.metadata) == {"b": "2"} and g.model == "m2"
    # Fields outside the mask are left alone.
    u = ur(pb.UpdateRunnerRequest(runner_id=r.id, update_mask=mask("metadata"),
                                  metadata={"c": "3"}, model="ignored")).runner
    assert dict(u.metadata) == {"c": "3"} and u.model == "m2"
    u = ur(pb.UpdateRunnerRequest(runner_id=r.id, update_mask=mask("quota"),
                                  quota=pb.ResourceQuota(max_memory_mb=512, max_pids=64))).runner
    assert u.quota.max_memory_mb == 512 and u.quota.max_pids == 64
    assert get(sv, r.id).quota.max_memory_mb == 512 and alive(r.pid)
    # model, temperature and max_tokens take effect at the next start.
    n = sv.runners.RestartRunner(pb.RestartRunnerRequest(runner_id=r.id)).runner
    assert list(n.command)[4:] == ["m2", n.command[5], "77"] and float(n.command[5]) == 1.5
    assert environ(n.pid)["STRATAVORE_MODEL"] == "m2"

    for bad in (mask("bogus"), mask("id"), mask("status")):
        code, _ = code_of(ur, pb.UpdateRunnerRequest(runner_id=r.id, update_mask=bad))
        assert code == Code.INVALID_ARGUMENT, bad
    for st in (pb.RUNNER_STATUS_STOPPING, pb.RUNNER_STATUS_TERMINATED, pb.RUNNER_STATUS_FAILED,
               pb.RUNNER_STATUS_STARTING):
        code, _ = code_of(ur, pb.UpdateRunnerRequest(runner_id=r.id, update_mask=mask(
            "desired_status"), desired_status=st))
        assert code == Code.INVALID_ARGUMENT, st
    code, _ = code_of(ur, pb.UpdateRunnerRequest(runner_id=r.id, update_mask=mask("temperature"),
                                                 temperature=3))
    assert code == Code.INVALID_ARGUMENT
    code, _ = code_of(ur, pb.UpdateRunnerRequest(runner_id=r.id, update_mask=mask("max_tokens"),
                                                 max_tokens=-2))
    assert code == Code.INVALID_ARGUMENT
    assert code_of(ur, pb.UpdateRunnerRequest(runner_id="nope", update_mask=mask("model")))[0] \
        == Code.NOT_FOUND
    stop(sv, r.id)
    # Pausing a runner that does not run.
    code, _ = code_of(ur, pb.UpdateRunnerRequest(runner_id=r.id, update_mask=mask(
        "desired_status"), desired_status=pb.RUNNER_STATUS_PAUSED))
    assert code == Code.FAILED_PRECONDITION


def test_pause_freezes_and_resume_thaws(sv, tmp_path):
    new_project(sv, tmp_path, "frz")
    r = new_runner(sv, "frz", command=BUSY).runner
    ur = sv.runners.UpdateRunner
    ev = Events(sv, runner_id=r.id)

    def ticks():
        return proc_state_and_ticks(r.pid)[1]
    t0 = ticks()
    wait_until(lambda: ticks() > t0 + 5, what="the loop using CPU")
    u = ur(pb.UpdateRunnerRequest(runner_id=r.id, update_mask=mask("desired_status"),
                                  desired_status=pb.RUNNER_STATUS_PAUSED)).runner
    assert u.status == pb.RUNNER_STATUS_PAUSED and get(sv, r.id).status == pb.RUNNER_STATUS_PAUSED
    assert ev.next().event_type == pb.EVENT_TYPE_RUNNER_PAUSED
    # Frozen: the kernel gives it no more CPU time (the freezer may take a moment to settle).
    time.sleep(0.1)
    frozen = ticks()
    time.sleep(0.5)
    state, now = proc_state_and_ticks(r.pid)
    assert now - frozen <= 1, (state, frozen, now)
    assert alive(r.pid)
    u = ur(pb.UpdateRunnerRequest(runner_id=r.id, update_mask=mask("desired_status"),
                                  desired_status=pb.RUNNER_STATUS_RUNNING)).runner
    assert u.status == pb.RUNNER_STATUS_RUNNING
    assert ev.next().event_type == pb.EVENT_TYPE_RUNNER_RESUMED
    t1 = ticks()
    wait_until(lambda: ticks() > t1 + 5, what="the loop using CPU again")
    assert proc_state_and_ticks(r.pid)[0] == "R" or ticks() > t1
    # A paused runner can be stopped.
    ur(pb.UpdateRunnerRequest(runner_id=r.id, update_mask=mask("desired_status"),
                              desired_status=pb.RUNNER_STATUS_PAUSED))
    s = stop(sv, r.id, timeout_seconds=5)
    assert s.runner.status == pb.RUNNER_STATUS_TERMINATED and not alive(r.pid)
    ev.cancel()


# ---- stopping, restarting, deleting ---------------------------------------------------------

def test_stop_runner_term_kill_and_force(sv, tmp_path):
    new_project(sv, tmp_path, "stp")
    ev = Events(sv, project_name="stp", event_types=[pb.EVENT_TYPE_RUNNER_STOPPED])
    r = new_runner(sv, "stp").runner
    s = stop(sv, r.id, reason="test-stop")
    assert s.was_running and s.runner.status == pb.RUNNER_STATUS_TERMINATED
    assert s.runner.exit_signal == 15 and not s.runner.HasField("exit_code")
    assert not alive(r.pid) and s.runner.pid == 0
    assert "test-stop" in s.runner.status_reason and s.runner.HasField("terminated_at")
    e = ev.next()
    assert e.runner_id == r.id and e.metadata["routing_key"] == f"runner.stopped.{r.id}"
    ex = payload(e, pb.RunnerExitPayload)
    assert ex.exit_signal == 15 and not ex.HasField("exit_code") and not ex.will_restart
    assert "test-stop" in ex.reason
    # Stopping it again: OK, nothing was running.
    again = stop(sv, r.id)
    assert not again.was_running and again.runner.status == pb.RUNNER_STATUS_TERMINATED
    assert code_of(stop, sv, "nope")[0] == Code.NOT_FOUND

    # A program that ignores SIGTERM is killed after timeout_seconds.
    deaf = new_runner(sv, "stp", command=DEAF).runner
    ignores_term(deaf.pid)
    t = time.monotonic()
    s = stop(sv, deaf.id, timeout_seconds=1)
    took = time.monotonic() - t
    assert 0.9 <= took < 5, took
    assert s.runner.status == pb.RUNNER_STATUS_TERMINATED and s.runner.exit_signal == 9
    assert not alive(deaf.pid)
    # force: SIGKILL at once.
    deaf = new_runner(sv, "stp", command=DEAF).runner
    ignores_term(deaf.pid)
    t = time.monotonic()
    s = stop(sv, deaf.id, force=True)
    assert time.monotonic() - t < 0.9
    assert s.runner.exit_signal == 9 and not alive(deaf.pid)
    # The whole tree goes, not only the leader.
    tree = new_runner(sv, "stp", command=["sh", "-c", "sleep 1001 & sleep 1002 & wait"]).runner
    wait_until(lambda: len(children_of(tree.pid)) == 2, what="two children")
    kids = children_of(tree.pid)
    stop(sv, tree.id)
    assert not alive(tree.pid)
    wait_until(lambda: not any(alive(k) for k in kids), what="the runner's children gone")
    ev.cancel()


def test_restart_runner(sv, tmp_path):
    new_project(sv, tmp_path, "rst", config=pb.ProjectConfig(command=IGNORING_ARGS))
    c = new_runner(sv, "rst", command=[])
    r, s = c.runner, c.session
    ev = Events(sv, runner_id=r.id, event_types=[pb.EVENT_TYPE_RUNNER_RESTARTED])
    n = sv.runners.RestartRunner(pb.RestartRunnerRequest(runner_id=r.id, preserve_session=True))
    x = n.runner
    assert x.id == r.id and x.pid != r.pid and not alive(r.pid) and alive(x.pid)
    assert x.status == pb.RUNNER_STATUS_RUNNING and x.restart_attempts == 0
    assert x.session_id == s.id and x.conversation_mode == pb.CONVERSATION_MODE_CONTINUE
    assert list(x.command) == IGNORING_ARGS + ["--continue"]
    # Without preserve_session: a new session.
    y = sv.runners.RestartRunner(pb.RestartRunnerRequest(runner_id=r.id, force=True)).runner
    assert y.id == r.id and y.pid != x.pid and not alive(x.pid)
    assert y.session_id not in ("", s.id) and list(y.command) == IGNORING_ARGS
    assert session(sv, s.id).status == pb.SESSION_STATUS_INACTIVE
    assert session(sv, y.session_id).status == pb.SESSION_STATUS_ACTIVE
    # A stopped runner can be restarted too.
    stop(sv, r.id)
    z = sv.runners.RestartRunner(pb.RestartRunnerRequest(runner_id=r.id)).runner
    assert z.status == pb.RUNNER_STATUS_RUNNING and alive(z.pid)
    assert code_of(sv.runners.RestartRunner, pb.RestartRunnerRequest(runner_id="nope"))[0] == \
        Code.NOT_FOUND
    stop(sv, r.id)
    # Each RestartRunner was a RUNNER_RESTARTED event with the new pid and argv.
    for want in (x, y, z):
        e = ev.next(timeout=5)
        assert e.event_type == pb.EVENT_TYPE_RUNNER_RESTARTED and e.runner_id == r.id
        st = payload(e, pb.RunnerStartedPayload)
        assert st.pid == want.pid and list(st.command) == list(want.command)
    ev.cancel()


def test_delete_runner(sv, tmp_path):
    new_project(sv, tmp_path, "dr")
    c = new_runner(sv, "dr")
    r = c.runner
    dr = sv.runners.DeleteRunner
    code, msg = code_of(dr, pb.DeleteRunnerRequest(runner_id=r.id))
    assert code == Code.FAILED_PRECONDITION and "force" in msg
    assert alive(r.pid) and status_of(sv, r.id) == pb.RUNNER_STATUS_RUNNING
    ev = Events(sv, runner_id=r.id)
    d = dr(pb.DeleteRunnerRequest(runner_id=r.id, force=True))
    assert d.runner_id == r.id and d.deleted and d.was_running
    assert not alive(r.pid)
    assert ev.until_type(pb.EVENT_TYPE_RUNNER_DELETED).runner_id == r.id
    ev.cancel()
    assert code_of(get, sv, r.id)[0] == Code.NOT_FOUND
    assert code_of(dr, pb.DeleteRunnerRequest(runner_id=r.id))[0] == Code.NOT_FOUND
    # Its session is kept by default...
    assert session(sv, c.session.id).status == pb.SESSION_STATUS_INACTIVE
    # ... and deleted with delete_sessions. A stopped runner needs no force.
    c2 = new_runner(sv, "dr")
    stop(sv, c2.runner.id)
    d = dr(pb.DeleteRunnerRequest(runner_id=c2.runner.id, delete_sessions=True))
    assert d.deleted and not d.was_running
    code, _ = code_of(session, sv, c2.session.id)
    assert code == Code.NOT_FOUND
    assert sv.runners.ListRunners(pb.ListRunnersRequest(project_name="dr")).total_count == 0


# ---- exits and restart policies -------------------------------------------------------------

def test_exits_on_their_own(sv, tmp_path):
    new_project(sv, tmp_path, "ex")
    ev = Events(sv, project_name="ex",
                event_types=[pb.EVENT_TYPE_RUNNER_STOPPED, pb.EVENT_TYPE_RUNNER_FAILED])
    ok = new_runner(sv, "ex", command=["sh", "-c", "exit 0"]).runner
    e = ev.next()
    assert (e.event_type, e.runner_id) == (pb.EVENT_TYPE_RUNNER_STOPPED, ok.id)
    x = payload(e, pb.RunnerExitPayload)
    assert x.exit_code == 0 and x.reason == "exited" and not x.will_restart
    assert e.metadata["exit_code"] == "0" and e.metadata["reason"] == "exited"
    r = get(sv, ok.id)
    assert r.status == pb.RUNNER_STATUS_TERMINATED and r.status_reason == "exited"
    assert r.HasField("exit_code") and r.exit_code == 0 and not r.HasField("exit_signal")

    bad = new_runner(sv, "ex", command=["sh", "-c", "exit 3"]).runner
    e = ev.next()
    assert (e.event_type, e.runner_id) == (pb.EVENT_TYPE_RUNNER_FAILED, bad.id)
    assert payload(e, pb.RunnerExitPayload).exit_code == 3
    assert e.metadata["routing_key"] == f"runner.failed.{bad.id}"
    r = get(sv, bad.id)
    assert r.status == pb.RUNNER_STATUS_FAILED and r.exit_code == 3 and r.status_reason == "exited"

    killed = new_runner(sv, "ex", command=["sh", "-c", "kill -9 $$"]).runner
    e = ev.next()
    assert (e.event_type, e.runner_id) == (pb.EVENT_TYPE_RUNNER_FAILED, killed.id)
    r = get(sv, killed.id)
    assert r.status == pb.RUNNER_STATUS_FAILED and r.exit_signal == 9
    assert not r.HasField("exit_code") and r.status_reason == "killed"
    # NEVER (the default) leaves them down.
    ev.quiet(0.5)
    assert [x.restart_attempts for x in sv.runners.ListRunners(
        pb.ListRunnersRequest(project_name="ex")).runners] == [0, 0, 0]
    ev.cancel()


def test_restart_policies(sv, tmp_path):
    new_project(sv, tmp_path, "pol", config=pb.ProjectConfig(
        restart_policy=pb.RESTART_POLICY_ON_FAILURE, max_restart_attempts=2,
        restart_backoff_ms=50))
    ev = Events(sv, project_name="pol", event_types=[
        pb.EVENT_TYPE_RUNNER_STARTED, pb.EVENT_TYPE_RUNNER_RESTARTED,
        pb.EVENT_TYPE_RUNNER_STOPPED, pb.EVENT_TYPE_RUNNER_FAILED])
    t = time.monotonic()
    r = new_runner(sv, "pol", command=["sh", "-c", "exit 1"]).runner
    assert r.restart_policy == pb.RESTART_POLICY_ON_FAILURE and r.max_restart_attempts == 2
    events = ev.until(lambda e: e.event_type == pb.EVENT_TYPE_RUNNER_FAILED and
                      not payload(e, pb.RunnerExitPayload).will_restart)
    assert [pb.EventType.Name(e.event_type) for e in events] == [
        "EVENT_TYPE_RUNNER_STARTED", "EVENT_TYPE_RUNNER_FAILED",
        "EVENT_TYPE_RUNNER_RESTARTED", "EVENT_TYPE_RUNNER_FAILED",
        "EVENT_TYPE_RUNNER_RESTARTED", "EVENT_TYPE_RUNNER_FAILED"]
    assert {e.runner_id for e in events} == {r.id}
    assert [payload(e, pb.RunnerExitPayload).will_restart for e in events[1::2]] == \
        [True, True, False]
    assert [payload(e, pb.RunnerStartedPayload).restart_attempt for e in events[0::2]] == [0, 1, 2]
    pids = [payload(e, pb.RunnerStartedPayload).pid for e in events[0::2]]
    assert len(set(pids)) == 3
    # Backoff 50 ms, then 100 ms.
    assert time.monotonic() - t >= 0.15
    g = get(sv, r.id)
    assert g.status == pb.RUNNER_STATUS_FAILED and g.restart_attempts == 2
    # RestartRunner resets the count.
    n = sv.runners.RestartRunner(pb.RestartRunnerRequest(runner_id=r.id)).runner
    assert n.restart_attempts == 0
    ev.until(lambda e: e.event_type == pb.EVENT_TYPE_RUNNER_FAILED and
             not payload(e, pb.RunnerExitPayload).will_restart)
    assert get(sv, r.id).restart_attempts == 2

    # ON_FAILURE does not restart a clean exit; ALWAYS does.
    clean = new_runner(sv, "pol", command=["sh", "-c", "exit 0"]).runner
    e = ev.until_type(pb.EVENT_TYPE_RUNNER_STOPPED, clean.id)
    assert not payload(e, pb.RunnerExitPayload).will_restart
    always = new_runner(sv, "pol", command=["sh", "-c", "exit 0"],
                        restart_policy=pb.RESTART_POLICY_ALWAYS, max_restart_attempts=1).runner
    e = ev.until_type(pb.EVENT_TYPE_RUNNER_RESTARTED, always.id)
    assert e.metadata["routing_key"].startswith("runner.restarted.")
    e = ev.until_type(pb.EVENT_TYPE_RUNNER_STOPPED, always.id)
    assert not payload(e, pb.RunnerExitPayload).will_restart
    assert get(sv, always.id).restart_attempts == 1
    # A runner's own NEVER overrides the project's policy.
    never = new_runner(sv, "pol", command=["sh", "-c", "exit 1"],
                       restart_policy=pb.RESTART_POLICY_NEVER).runner
    e = ev.until_type(pb.EVENT_TYPE_RUNNER_FAILED, never.id)
    assert not payload(e, pb.RunnerExitPayload).will_restart
    # Stopping on request is no reason to restart, even with ALWAYS.
    long = new_runner(sv, "pol", restart_policy=pb.RESTART_POLICY_ALWAYS).runner
    stop(sv, long.id)
    ev.until_type(pb.EVENT_TYPE_RUNNER_STOPPED, long.id)
    ev.quiet(0.3)
    assert get(sv, long.id).status == pb.RUNNER_STATUS_TERMINATED
    ev.cancel()


# ---- heartbeats, TTL, reconcile -------------------------------------------------------------

FAST = "stratavore_reconcile_ms: 100\nstratavore_heartbeat_s: 7\n"


def heartbeat(a, rid, tokens=0, status="running"):
    return a.runners.SendHeartbeat(pb.HeartbeatRequest(runner_id=rid, status=status,
                                                       tokens_used=tokens), timeout=10)


def test_heartbeats_and_tokens(make_droverd, tmp_path):
    d = make_droverd(config=FAST)
    a = api(d)
    new_project(a, tmp_path, "hb")
    code, _ = code_of(heartbeat, a, "00000000-0000-4000-8000-000000000000")
    assert code == Code.NOT_FOUND
    r = new_runner(a, "hb").runner
    assert environ(r.pid)["STRATAVORE_HEARTBEAT_INTERVAL"] == "7"
    assert not get(a, r.id).HasField("last_heartbeat")
    ev = Events(a, runner_id=r.id, event_types=[pb.EVENT_TYPE_RUNNER_HEARTBEAT])
    quiet = Events(a, runner_id=r.id)  # every type but heartbeats
    before = time.time()
    h = heartbeat(a, r.id, 100)
    assert h.success and h.command == "" and h.next_heartbeat_seconds == 7
    e = ev.next()
    assert e.event_type == pb.EVENT_TYPE_RUNNER_HEARTBEAT and e.runner_id == r.id
    assert payload(e, pb.ResourceUsage).tokens_used == 100
    g = get(a, r.id)
    assert abs(g.last_heartbeat.ToMilliseconds() / 1000 - before) < 5
    heartbeat(a, r.id, 150)
    heartbeat(a, r.id, 20)  # a lower value: the agent's counter was reset
    g = a.runners.GetRunner(pb.GetRunnerRequest(runner_id=r.id, include_metrics=True))
    assert g.runner.resource_usage.tokens_used == 170
    assert g.metrics.tokens_used == 170 and g.metrics.heartbeats_received == 3
    p = a.projects.GetProject(pb.GetProjectRequest(name="hb", include_stats=True)).project
    assert p.statistics.total_tokens_used == 170 and p.statistics.tokens_used_today == 170
    quiet.quiet(0.2)
    stop(a, r.id)
    h = heartbeat(a, r.id, 180)
    assert h.command == "terminate"
    ev.cancel()
    quiet.cancel()

    # heartbeat_required: STARTING until the first heartbeat, and it counts against the quota.
    new_project(a, tmp_path, "req", quota=pb.ResourceQuota(max_concurrent_runners=1),
                config=pb.ProjectConfig(heartbeat_required=True))
    s = new_runner(a, "req").runner
    assert s.status == pb.RUNNER_STATUS_STARTING and alive(s.pid)
    code, msg = code_of(new_runner, a, "req")
    assert code == Code.RESOURCE_EXHAUSTED and "1/1" in msg
    assert heartbeat(a, s.id).command == ""
    assert status_of(a, s.id) == pb.RUNNER_STATUS_RUNNING
    stop(a, s.id)


def test_daily_token_budget(sv, tmp_path):
    new_project(sv, tmp_path, "tok", quota=pb.ResourceQuota(max_tokens_per_day=1000))
    r = new_runner(sv, "tok").runner
    ev = Events(sv, project_name="tok", event_types=[pb.EVENT_TYPE_SYSTEM_ALERT,
                                                     pb.EVENT_TYPE_QUOTA_EXCEEDED])
    assert heartbeat(sv, r.id, 700).command == ""
    assert heartbeat(sv, r.id, 760).command == ""
    e = ev.next()
    assert e.event_type == pb.EVENT_TYPE_SYSTEM_ALERT  # 75%, and nothing for 700
    q = payload(e, pb.QuotaExceededPayload)
    assert q.quota == "max_tokens_per_day" and q.limit == 1000 and q.current == 760
    assert heartbeat(sv, r.id, 800).command == ""
    assert heartbeat(sv, r.id, 950).command == ""
    e = ev.next()
    assert e.event_type == pb.EVENT_TYPE_SYSTEM_ALERT
    assert payload(e, pb.QuotaExceededPayload).current == 950
    h = heartbeat(sv, r.id, 1000)
    e = ev.next()
    assert e.event_type == pb.EVENT_TYPE_QUOTA_EXCEEDED
    q = payload(e, pb.QuotaExceededPayload)
    assert q.quota == "max_tokens_per_day" and q.limit == 1000 and q.current == 1000
    assert h.command == "terminate" and heartbeat(sv, r.id, 1001).command == "terminate"
    ev.quiet(0.2)  # each alert once
    code, msg = code_of(new_runner, sv, "tok")
    assert code == Code.RESOURCE_EXHAUSTED and "token" in msg
    m = sv.daemon.GetMetrics(pb.GetMetricsRequest(project_name="tok"))
    assert [p.project_name for p in m.projects] == ["tok"]
    assert m.projects[0].tokens_used_today == 1001 and m.projects[0].quota.max_tokens_per_day \
        == 1000
    ev.cancel()
    stop(sv, r.id)


def test_heartbeat_ttl(make_droverd, tmp_path):
    d = make_droverd(config=FAST)
    a = api(d)
    new_project(a, tmp_path, "ttl")
    new_project(a, tmp_path, "must", config=pb.ProjectConfig(heartbeat_required=True,
                                                             heartbeat_ttl_seconds=1))
    ev = Events(a, event_types=[pb.EVENT_TYPE_RUNNER_FAILED])
    beating = new_runner(a, "ttl", heartbeat_ttl_seconds=1).runner
    silent = new_runner(a, "ttl", heartbeat_ttl_seconds=1).runner
    required = new_runner(a, "must").runner
    assert required.status == pb.RUNNER_STATUS_STARTING
    heartbeat(a, beating.id)
    t = time.monotonic()
    failed = {}
    while len(failed) < 2:
        e = ev.next(timeout=5)
        failed[e.runner_id] = e
    assert set(failed) == {beating.id, required.id}
    assert time.monotonic() - t >= 0.9
    for rid, pid in ((beating.id, beating.pid), (required.id, required.pid)):
        assert payload(failed[rid], pb.RunnerExitPayload).reason == "heartbeat_timeout"
        g = get(a, rid)
        assert g.status == pb.RUNNER_STATUS_FAILED and g.status_reason == "heartbeat_timeout"
        wait_until(lambda: not alive(pid), what="the timed-out runner's process to be stopped")
    # A runner that never sent a heartbeat (and need not) is not held to the TTL.
    assert get(a, silent.id).status == pb.RUNNER_STATUS_RUNNING and alive(silent.pid)
    ev.cancel()
    stop(a, silent.id)


def test_reconcile_rpc(sv, tmp_path):
    # The daemon's own reconcile runs every 30 s: only the RPC acts within this test.
    # r ignores SIGTERM: stopping it takes the project's 1 s grace.
    new_project(sv, tmp_path, "rec", config=pb.ProjectConfig(stop_timeout_seconds=1))
    new_project(sv, tmp_path, "rec2")
    r = new_runner(sv, "rec", command=DEAF, heartbeat_ttl_seconds=1).runner
    ignores_term(r.pid)
    other = new_runner(sv, "rec2", heartbeat_ttl_seconds=1).runner
    heartbeat(sv, r.id)
    heartbeat(sv, other.id)
    rec = sv.daemon.Reconcile
    wait_until(lambda: set(rec(pb.ReconcileRequest(dry_run=True)).failed_runner_ids) ==
               {r.id, other.id}, what="the dry run to report both missed heartbeats")
    assert get(sv, r.id).status == pb.RUNNER_STATUS_RUNNING and alive(r.pid)
    ev = Events(sv, event_types=[pb.EVENT_TYPE_RECONCILE_COMPLETED, pb.EVENT_TYPE_RUNNER_FAILED])
    done = rec(pb.ReconcileRequest(project_name="rec"))
    right_after = get(sv, r.id)
    assert list(done.failed_runner_ids) == [r.id] and done.HasField("started_at")
    assert done.duration_ms >= 0
    wait_until(lambda: not alive(r.pid), what="its process stopped")
    # FAILED at once; its pid and signal once droverd has reaped it (a turn or more later).
    g = wait_until(lambda: (lambda x: x if x.pid == 0 else None)(get(sv, r.id)),
                   what="its exit recorded")
    assert g.status == pb.RUNNER_STATUS_FAILED
    assert g.status_reason == "heartbeat_timeout" and g.pid == 0 and g.exit_signal == 9
    assert get(sv, other.id).status == pb.RUNNER_STATUS_RUNNING  # another project
    kinds = set()
    ev.until(lambda e: kinds.add(e.event_type) or len(kinds) == 2)
    e = next(x for x in ev.seen if x.event_type == pb.EVENT_TYPE_RECONCILE_COMPLETED)
    assert list(payload(e, pb.ReconcileResponse).failed_runner_ids) == [r.id]
    e = next(x for x in ev.seen if x.event_type == pb.EVENT_TYPE_RUNNER_FAILED)
    assert e.runner_id == r.id
    assert payload(e, pb.RunnerExitPayload).reason == "heartbeat_timeout"
    ev.cancel()
    assert list(rec(pb.ReconcileRequest()).failed_runner_ids) == [other.id]
    wait_status(sv, other.id, pb.RUNNER_STATUS_FAILED)
    assert code_of(rec, pb.ReconcileRequest(project_name="nope"))[0] == Code.NOT_FOUND
    # Once Reconcile has answered, the runners it names are FAILED (not still RUNNING while
    # their process is being stopped).
    assert right_after.status == pb.RUNNER_STATUS_FAILED, pb.RunnerStatus.Name(
        right_after.status)


# ---- the event stream -----------------------------------------------------------------------

def test_event_stream_filters_and_payloads(sv, tmp_path):
    ev_all = Events(sv)
    ev_proj = Events(sv, project_name="evb")
    ev_types = Events(sv, event_types=[pb.EVENT_TYPE_PROJECT_CREATED])
    new_project(sv, tmp_path, "eva")
    new_project(sv, tmp_path, "evb")
    a = new_runner(sv, "eva")
    b = new_runner(sv, "evb")
    ev_runner = Events(sv, runner_id=b.runner.id)
    ev_sess = Events(sv, session_id=a.session.id)
    stop(sv, a.runner.id)
    stop(sv, b.runner.id)

    got = ev_all.until(lambda e: e.event_type == pb.EVENT_TYPE_RUNNER_STOPPED and
                       e.runner_id == b.runner.id)
    seqs = [e.sequence for e in got]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # strictly +1, no gaps
    assert len({e.event_id for e in got}) == len(got) and all(e.event_id for e in got)
    assert all(abs(e.timestamp.ToMilliseconds() - time.time() * 1000) < 60_000 for e in got)
    kinds = [(pb.EventType.Name(e.event_type), e.project_name) for e in got]
    for want in (("EVENT_TYPE_PROJECT_CREATED", "eva"), ("EVENT_TYPE_PROJECT_CREATED", "evb"),
                 ("EVENT_TYPE_SESSION_CREATED", "eva"), ("EVENT_TYPE_RUNNER_STARTED", "eva"),
                 ("EVENT_TYPE_RUNNER_STARTED", "evb"), ("EVENT_TYPE_RUNNER_STOPPED", "eva"),
                 ("EVENT_TYPE_RUNNER_STOPPED", "evb")):
        assert want in kinds, (want, kinds)
    by_type = {}
    for e in got:
        by_type.setdefault((e.event_type, e.project_name), e)
    e = by_type[(pb.EVENT_TYPE_PROJECT_CREATED, "eva")]
    assert payload(e, pb.Project).name == "eva"
    e = by_type[(pb.EVENT_TYPE_SESSION_CREATED, "eva")]
    assert payload(e, pb.Session).id == a.session.id and e.session_id == a.session.id
    e = by_type[(pb.EVENT_TYPE_RUNNER_STARTED, "eva")]
    st = payload(e, pb.RunnerStartedPayload)
    assert st.pid == a.runner.pid and list(st.command) == SLEEPER and st.restart_attempt == 0
    assert e.runner_id == a.runner.id and e.session_id == a.session.id
    assert e.metadata["routing_key"] == "runner.started.eva"
    assert e.metadata["pid"] == str(a.runner.pid)
    e = by_type[(pb.EVENT_TYPE_RUNNER_STOPPED, "evb")]
    assert e.metadata["routing_key"] == f"runner.stopped.{b.runner.id}"
    assert payload(e, pb.RunnerExitPayload).exit_signal == 15

    # The filtered streams got only their share, in the same order.
    mine = ev_proj.until(lambda e: e.event_type == pb.EVENT_TYPE_RUNNER_STOPPED)
    assert {e.project_name for e in mine} == {"evb"}
    assert [e.sequence for e in mine] == [e.sequence for e in got if e.project_name == "evb"]
    e = ev_types.next()
    assert e.event_type == pb.EVENT_TYPE_PROJECT_CREATED and e.project_name == "eva"
    e = ev_types.next()
    assert e.event_type == pb.EVENT_TYPE_PROJECT_CREATED and e.project_name == "evb"
    ev_types.quiet(0.2)
    e = ev_runner.next()
    assert (e.event_type, e.runner_id) == (pb.EVENT_TYPE_RUNNER_STOPPED, b.runner.id)
    ev_runner.quiet(0.1)
    e = ev_sess.next()
    assert e.session_id == a.session.id and e.runner_id == a.runner.id
    for ev in (ev_all, ev_proj, ev_types, ev_runner, ev_sess):
        ev.cancel()

    # Bad requests.
    for req, code in ((pb.StreamRunnerEventsRequest(since_sequence=-1), Code.INVALID_ARGUMENT),
                      (pb.StreamRunnerEventsRequest(event_types=[99]), Code.INVALID_ARGUMENT),
                      (pb.StreamRunnerEventsRequest(since_sequence=seqs[-1] + 1000),
                       Code.OUT_OF_RANGE)):
        with pytest.raises(grpc.RpcError) as err:
            next(sv.runners.StreamRunnerEvents(req, timeout=10))
        assert err.value.code() == code, req


def test_event_replay_across_reconnect(sv, tmp_path):
    ev = Events(sv)
    for i in range(5):
        new_project(sv, tmp_path, f"r{i}")
    got = [ev.next() for _ in range(5)]
    assert [payload(e, pb.Project).name for e in got] == [f"r{i}" for i in range(5)]
    last = got[-1].sequence
    ev.cancel()
    # Events while nobody listens...
    for i in range(5, 10):
        new_project(sv, tmp_path, f"r{i}")
    rid = new_runner(sv, "r9").runner.id
    stop(sv, rid)
    # ... are replayed from since_sequence, then live ones follow with no gap.
    ev = Events(sv, since_sequence=last)
    replay = ev.until(lambda e: e.event_type == pb.EVENT_TYPE_RUNNER_STOPPED)
    assert [e.sequence for e in replay] == list(range(last + 1, last + 1 + len(replay)))
    assert [payload(e, pb.Project).name for e in replay[:5]] == [f"r{i}" for i in range(5, 10)]
    new_project(sv, tmp_path, "live")
    e = ev.next()
    assert e.sequence == replay[-1].sequence + 1
    assert payload(e, pb.Project).name == "live"
    ev.cancel()
    # A replay with a filter gets the matching part of the same events.
    f = Events(sv, since_sequence=last, event_types=[pb.EVENT_TYPE_RUNNER_STARTED])
    e = f.next()
    assert e.runner_id == rid and e.sequence > last
    f.cancel()

    # The ring keeps the newest 1024: older than that is OUT_OF_RANGE.
    first = got[0].sequence
    for i in range(1100):
        sv.projects.UpdateProject(pb.UpdateProjectRequest(name="r0", description=str(i)))
    with pytest.raises(grpc.RpcError) as err:
        next(sv.runners.StreamRunnerEvents(pb.StreamRunnerEventsRequest(since_sequence=first),
                                           timeout=10))
    assert err.value.code() == Code.OUT_OF_RANGE
    newest = Events(sv, event_types=[pb.EVENT_TYPE_PROJECT_UPDATED])
    sv.projects.UpdateProject(pb.UpdateProjectRequest(name="r0", description="end"))
    top = newest.next().sequence
    newest.cancel()
    # Exactly the last 1024 are there: since top-1024 replays 1024 events.
    ok = Events(sv, since_sequence=top - 1024)
    assert [ok.next().sequence for _ in range(1024)] == list(range(top - 1023, top + 1))
    ok.cancel()
    with pytest.raises(grpc.RpcError) as err:
        next(sv.runners.StreamRunnerEvents(pb.StreamRunnerEventsRequest(
            since_sequence=top - 1026), timeout=10))
    assert err.value.code() == Code.OUT_OF_RANGE


# ---- sessions -------------------------------------------------------------------------------

def test_create_and_get_sessions(sv, tmp_path):
    new_project(sv, tmp_path, "ss")
    cs = sv.sessions.CreateSession
    s = cs(pb.CreateSessionRequest(project_name="ss", model="m", metadata={"k": "v"}))
    assert s.session.status == pb.SESSION_STATUS_INACTIVE and s.session.runner_id == ""
    assert s.session.project_name == "ss" and s.session.model == "m"
    assert dict(s.session.metadata) == {"k": "v"} and not s.HasField("runner")
    assert len(s.session.id) == 36 and s.session.details.resumable
    assert code_of(cs, pb.CreateSessionRequest(project_name="nope"))[0] == Code.NOT_FOUND
    assert code_of(sv.sessions.GetSession, pb.GetSessionRequest(session_id="nope"))[0] == \
        Code.NOT_FOUND

    # launch: a runner serving the new session.
    ev = Events(sv, project_name="ss", event_types=[pb.EVENT_TYPE_SESSION_CREATED])
    ln = cs(pb.CreateSessionRequest(project_name="ss", launch=pb.CreateRunnerRequest(
        project_name="ss", command=SLEEPER)))
    assert ln.runner.status == pb.RUNNER_STATUS_RUNNING and alive(ln.runner.pid)
    assert ln.runner.session_id == ln.session.id and ln.session.runner_id == ln.runner.id
    assert ln.session.status == pb.SESSION_STATUS_ACTIVE
    assert payload(ev.next(), pb.Session).id == ln.session.id
    ev.cancel()
    g = sv.sessions.GetSession(pb.GetSessionRequest(session_id=ln.session.id,
                                                    include_runner=True))
    assert g.runner.id == ln.runner.id and g.session.details.runner_ids == [ln.runner.id]
    assert not sv.sessions.GetSession(pb.GetSessionRequest(
        session_id=ln.session.id)).HasField("runner")

    # runner_id: a live runner now serves this session.
    bound = cs(pb.CreateSessionRequest(project_name="ss", runner_id=ln.runner.id))
    assert bound.runner.id == ln.runner.id and bound.session.runner_id == ln.runner.id
    assert bound.session.status == pb.SESSION_STATUS_ACTIVE
    assert get(sv, ln.runner.id).session_id == bound.session.id
    assert session(sv, ln.session.id).status == pb.SESSION_STATUS_INACTIVE
    assert code_of(cs, pb.CreateSessionRequest(project_name="ss", runner_id="nope"))[0] == \
        Code.NOT_FOUND
    stop(sv, ln.runner.id)
    assert session(sv, bound.session.id).status == pb.SESSION_STATUS_INACTIVE
    # A stopped runner cannot be bound.
    assert code_of(cs, pb.CreateSessionRequest(project_name="ss", runner_id=ln.runner.id))[0] \
        == Code.FAILED_PRECONDITION


def test_list_sessions(sv, tmp_path):
    new_project(sv, tmp_path, "la")
    new_project(sv, tmp_path, "lb")
    cs = sv.sessions.CreateSession
    ids = [cs(pb.CreateSessionRequest(project_name="la")).session.id for _ in range(4)]
    ended = cs(pb.CreateSessionRequest(project_name="lb")).session.id
    sv.projects.DeleteProject(pb.DeleteProjectRequest(name="lb", archive=True))
    ls = sv.sessions.ListSessions
    r = ls(pb.ListSessionsRequest())
    assert [s.id for s in r.sessions] == [ended] + ids[::-1]  # newest activity first
    assert r.total_count == 5 and not r.has_more
    last_activity = [s.last_activity.ToNanoseconds() for s in r.sessions]
    assert last_activity == sorted(last_activity, reverse=True)
    # Activity moves a session to the front: a runner resumes the oldest.
    res = sv.sessions.ResumeSession(pb.ResumeSessionRequest(
        session_id=ids[0], overrides=pb.CreateRunnerRequest(command=IGNORING_ARGS)))
    r = ls(pb.ListSessionsRequest(project_name="la"))
    assert [s.id for s in r.sessions] == [ids[0], ids[3], ids[2], ids[1]]
    r = ls(pb.ListSessionsRequest(project_name="la", limit=2, offset=1))
    assert [s.id for s in r.sessions] == [ids[3], ids[2]] and r.total_count == 4 and r.has_more
    r = ls(pb.ListSessionsRequest(status=pb.SESSION_STATUS_ACTIVE))
    assert [s.id for s in r.sessions] == [ids[0]]
    r = ls(pb.ListSessionsRequest(runner_id=res.runner.id))
    assert [s.id for s in r.sessions] == [ids[0]]
    r = ls(pb.ListSessionsRequest(status=pb.SESSION_STATUS_ENDED))
    assert [s.id for s in r.sessions] == [ended]
    r = ls(pb.ListSessionsRequest(resumable_only=True))
    assert ended not in [s.id for s in r.sessions] and r.total_count == 4
    assert code_of(ls, pb.ListSessionsRequest(limit=-1))[0] == Code.INVALID_ARGUMENT
    stop(sv, res.runner.id)


def test_resume_session(sv, tmp_path):
    new_project(sv, tmp_path, "rs", config=pb.ProjectConfig(command=IGNORING_ARGS))
    rsm = sv.sessions.ResumeSession
    assert code_of(rsm, pb.ResumeSessionRequest(session_id="nope"))[0] == Code.NOT_FOUND
    c = new_runner(sv, "rs", command=[])
    sid = c.session.id
    # Its runner is live: that one is returned, nothing is launched.
    r = rsm(pb.ResumeSessionRequest(session_id=sid))
    assert r.runner_was_active and r.runner.id == c.runner.id and r.runner.pid == c.runner.pid
    assert sv.runners.ListRunners(pb.ListRunnersRequest(project_name="rs")).total_count == 1
    # force_new_runner: another runner in RESUME mode on the same session.
    ev = Events(sv, session_id=sid, event_types=[pb.EVENT_TYPE_SESSION_RESUMED])
    r2 = rsm(pb.ResumeSessionRequest(session_id=sid, force_new_runner=True,
                                     overrides=pb.CreateRunnerRequest(model="resumed-model")))
    assert not r2.runner_was_active and r2.runner.id != c.runner.id
    assert r2.runner.conversation_mode == pb.CONVERSATION_MODE_RESUME
    assert r2.runner.session_id == sid and r2.runner.model == "resumed-model"
    assert list(r2.runner.command) == IGNORING_ARGS + ["--resume", sid]
    assert list(r2.session.details.runner_ids) == [c.runner.id, r2.runner.id]
    assert payload(ev.next(), pb.Session).id == sid
    ev.cancel()
    stop(sv, c.runner.id)
    stop(sv, r2.runner.id)
    assert session(sv, sid).status == pb.SESSION_STATUS_INACTIVE
    # Nothing live: a new runner.
    r3 = rsm(pb.ResumeSessionRequest(session_id=sid))
    assert not r3.runner_was_active and r3.runner.id not in (c.runner.id, r2.runner.id)
    assert r3.session.status == pb.SESSION_STATUS_ACTIVE and r3.runner.session_id == sid
    assert list(r3.session.details.runner_ids) == [c.runner.id, r2.runner.id, r3.runner.id]
    assert environ(r3.runner.pid)["STRATAVORE_CONVERSATION_MODE"] == "resume"
    stop(sv, r3.runner.id)
    # A session with no runner yet resumes too.
    fresh = sv.sessions.CreateSession(pb.CreateSessionRequest(project_name="rs")).session
    r4 = rsm(pb.ResumeSessionRequest(session_id=fresh.id))
    assert r4.runner.session_id == fresh.id
    stop(sv, r4.runner.id)
    # ENDED: the project was archived.
    sv.projects.DeleteProject(pb.DeleteProjectRequest(name="rs", archive=True))
    code, _ = code_of(rsm, pb.ResumeSessionRequest(session_id=sid))
    assert code == Code.FAILED_PRECONDITION


def test_session_transcript(droverd, sv, tmp_path):
    new_project(sv, tmp_path, "tr", config=pb.ProjectConfig(use_pipes=True))
    c = new_runner(sv, "tr", command=["cat"])
    r, sid = c.runner, c.session.id
    droverd.cli("send", "--newline", r.attach_session_id, "hello transcript", check=0)
    droverd.cli("send", "--newline", "--close", r.attach_session_id, "second line", check=0)
    wait_until(lambda: status_of(sv, r.id) == pb.RUNNER_STATUS_TERMINATED, what="cat to end")
    gt = sv.sessions.GetSessionTranscript

    def transcript(**kw):
        return gt(pb.GetSessionTranscriptRequest(session_id=sid, **kw), timeout=10)

    def lines(t):
        return [(m.role, m.content.rstrip("\r\n")) for m in t.messages]
    wait_until(lambda: ("system", f"runner {r.id} exited with code 0") in lines(transcript()),
               what="the exit note in the transcript")
    t = transcript(include_metadata=True)
    got = lines(t)
    assert got[0][0] == "system" and got[0][1].startswith(f"runner {r.id} started pid {r.pid}")
    assert got[1:] == [("user", "hello transcript"), ("assistant", "hello transcript"),
                       ("user", "second line"), ("assistant", "second line"),
                       ("system", f"runner {r.id} exited with code 0")]
    assert [m.sequence for m in t.messages] == sorted(m.sequence for m in t.messages)
    assert len({m.sequence for m in t.messages}) == 6
    assert {m.runner_id for m in t.messages} == {r.id}
    assert [m.stream for m in t.messages[1:3]] == ["stdin", "stdout"]
    assert t.messages[0].stream == "event" and not t.has_more
    assert t.session_id == sid and t.HasField("created_at")
    assert t.content_type == "application/json"
    js = json.loads(t.content)
    assert [(m["role"], m["content"].rstrip("\r\n")) for m in js] == got
    s = session(sv, sid)
    assert s.details.message_count == 6 and s.details.transcript_size_bytes > 0
    path = s.details.transcript_path
    assert path.endswith(f"{sid}.jsonl") and os.path.isfile(path)
    with open(path) as f:
        assert len([ln for ln in f if ln.strip()]) == 6

    text = transcript(format=pb.TRANSCRIPT_FORMAT_TEXT)
    assert text.content_type == "text/plain"
    tl = text.content.decode().splitlines()
    assert len(tl) == 6
    for line, (role, content) in zip(tl, got):
        assert re.fullmatch(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] " + re.escape(role) + ": " +
                            re.escape(content), line), line
    md = transcript(format=pb.TRANSCRIPT_FORMAT_MARKDOWN)
    assert md.content_type == "text/markdown"
    body = md.content.decode()
    assert "**user**" in body and "**assistant**" in body and "```" in body
    assert "hello transcript" in body

    page = transcript(offset=1, limit=2)
    assert lines(page) == got[1:3] and page.has_more
    page = transcript(offset=4, limit=2)
    assert lines(page) == got[4:6] and not page.has_more
    assert len(json.loads(page.content)) == 2
    assert code_of(gt, pb.GetSessionTranscriptRequest(session_id="nope"))[0] == Code.NOT_FOUND

    # A runner in a PTY (the default): its terminal output is the assistant's.
    new_project(sv, tmp_path, "trp")
    q = new_runner(sv, "trp", command=["sh", "-c", "echo pty-says-hi; exec sleep 1000"])

    def pty_lines():
        return lines(gt(pb.GetSessionTranscriptRequest(session_id=q.session.id)))
    wait_until(lambda: ("assistant", "pty-says-hi") in pty_lines(), what="the PTY output")
    stop(sv, q.runner.id)


# ---- the daemon -----------------------------------------------------------------------------

def test_daemon_status_metrics_health(droverd, sv, tmp_path):
    new_project(sv, tmp_path, "ds")
    new_project(sv, tmp_path, "ds2")
    r = new_runner(sv, "ds", command=BUSY).runner
    st = sv.daemon.GetStatus(pb.GetStatusRequest(include_detailed=True))
    ds = st.daemon_status
    assert ds.healthy and ds.active_runners == 1 and ds.total_projects == 2
    assert ds.total_runners == 1 and ds.active_sessions == 1
    version = admin_pb2_grpc.AdminStub(droverd.channel()).Status(admin_pb2.StatusRequest())
    assert ds.version == version.version and ds.hostname == socket.gethostname()
    assert 0 <= ds.uptime.seconds < 120
    assert abs(ds.started_at.ToMilliseconds() - time.time() * 1000) < 120_000
    assert set(st.components) == COMPONENTS
    for name, comp in st.components.items():
        assert comp.name == name and comp.health == pb.HEALTH_STATUS_HEALTHY
        assert pb.ComponentType.Name(comp.type) == "COMPONENT_TYPE_" + name.upper()
    sm = st.system_metrics
    assert sm.cpu_count == os.cpu_count() and sm.memory_total_mb > 0
    with open("/proc/meminfo") as f:
        total_kb = int(f.readline().split()[1])
    assert abs(sm.memory_total_mb - total_kb // 1024) <= 1
    assert abs(sm.load_average_15m - os.getloadavg()[2]) < 1
    assert sm.process_count > 0 and sm.uptime_seconds > 0
    assert not sv.daemon.GetStatus(pb.GetStatusRequest()).HasField("system_metrics")
    only = sv.daemon.GetStatus(pb.GetStatusRequest(include_detailed=True,
                                                   component=pb.COMPONENT_TYPE_DATABASE))
    assert set(only.components) == {"database"}
    code, _ = code_of(sv.daemon.GetStatus, pb.GetStatusRequest(component=99))
    assert code == Code.INVALID_ARGUMENT

    wait_until(lambda: sv.daemon.GetMetrics(pb.GetMetricsRequest(
        include_runners=True)).runners[0].cpu_percent > 20, what="the busy loop's CPU")
    m = sv.daemon.GetMetrics(pb.GetMetricsRequest(include_runners=True))
    assert m.metrics.active_runners == 1 and m.metrics.active_projects == 1
    assert m.metrics.total_sessions == 1
    assert sorted(p.project_name for p in m.projects) == ["ds", "ds2"]
    proj = {p.project_name: p for p in m.projects}
    assert proj["ds"].active_runners == 1 and proj["ds2"].active_runners == 0
    assert [x.runner_id for x in m.runners] == [r.id]
    assert m.HasField("collected_at")
    m = sv.daemon.GetMetrics(pb.GetMetricsRequest(project_name="ds2", include_runners=True))
    assert [p.project_name for p in m.projects] == ["ds2"] and list(m.runners) == []
    m = sv.daemon.GetMetrics(pb.GetMetricsRequest(runner_id=r.id, include_runners=True))
    assert [x.runner_id for x in m.runners] == [r.id]
    for req in (pb.GetMetricsRequest(project_name="nope"), pb.GetMetricsRequest(runner_id="x")):
        assert code_of(sv.daemon.GetMetrics, req)[0] == Code.NOT_FOUND

    h = sv.daemon.HealthCheck(pb.HealthCheckRequest())
    assert h.status == pb.HEALTH_STATUS_HEALTHY and h.version == ds.version
    assert set(h.components) == COMPONENTS and h.HasField("timestamp")
    h = sv.daemon.HealthCheck(pb.HealthCheckRequest(component=pb.COMPONENT_TYPE_EVENT_BUS))
    assert set(h.components) == {"event_bus"} and h.status == pb.HEALTH_STATUS_HEALTHY
    stop(sv, r.id)
    assert sv.daemon.GetStatus(pb.GetStatusRequest()).daemon_status.active_runners == 0


def test_reflection_and_grpc_health(droverd):
    s = r1_grpc.ServerReflectionStub(droverd.channel())
    reqs = [r1.ServerReflectionRequest(list_services=""),
            r1.ServerReflectionRequest(file_containing_symbol="stratavore.v1.RunnerService")]
    out = list(s.ServerReflectionInfo(iter(reqs), timeout=10))
    names = {x.name for x in out[0].list_services_response.service}
    assert set(SERVICES) <= names
    from google.protobuf import descriptor_pb2
    fd = descriptor_pb2.FileDescriptorProto()
    fd.ParseFromString(out[1].file_descriptor_response.file_descriptor_proto[0])
    assert fd.name == "stratavore/v1/stratavore.proto" and fd.package == "stratavore.v1"
    assert [m.name for m in fd.service[0].method] == [
        "CreateRunner", "GetRunner", "ListRunners", "UpdateRunner", "DeleteRunner", "StopRunner",
        "RestartRunner", "StreamRunnerEvents", "SendHeartbeat"]
    h = health_pb2_grpc.HealthStub(droverd.channel())
    for name in SERVICES:
        assert h.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING, name


# ---- across droverd restarts and upgrades ---------------------------------------------------

def test_state_survives_a_restart(make_droverd, tmp_path):
    d = make_droverd()
    a = api(d)
    new_project(a, tmp_path, "dur", description="kept", tags=["x"],
                quota=pb.ResourceQuota(max_concurrent_runners=3),
                config=pb.ProjectConfig(command=IGNORING_ARGS))
    live = new_runner(a, "dur", command=[], metadata={"m": "1"})
    done = new_runner(a, "dur", command=[])
    stop(a, done.runner.id)
    heartbeat(a, live.runner.id, 42)
    loose = a.sessions.CreateSession(pb.CreateSessionRequest(project_name="dur")).session
    assert d.stop() == 0
    assert not alive(live.runner.pid)  # droverd stops its runners on the way out
    d.start()
    a = api(d, **{"grpc.use_local_subchannel_pool": 1})
    p = a.projects.GetProject(pb.GetProjectRequest(name="dur", include_stats=True)).project
    assert p.description == "kept" and list(p.tags) == ["x"]
    assert p.quota.max_concurrent_runners == 3 and list(p.config.command) == IGNORING_ARGS
    assert p.status == pb.PROJECT_STATUS_IDLE and p.statistics.total_runners == 2
    assert p.statistics.total_tokens_used == 42
    g = get(a, live.runner.id)
    assert g.status == pb.RUNNER_STATUS_TERMINATED and "daemon shutdown" in g.status_reason
    assert dict(g.metadata) == {"m": "1"} and g.session_id == live.session.id
    assert g.resource_usage.tokens_used == 42 and g.pid == 0
    assert get(a, done.runner.id).status == pb.RUNNER_STATUS_TERMINATED
    ids = {s.id for s in a.sessions.ListSessions(pb.ListSessionsRequest()).sessions}
    assert ids == {live.session.id, done.session.id, loose.id}
    assert session(a, live.session.id).status == pb.SESSION_STATUS_INACTIVE
    # The sequence goes on, and the restored daemon launches and resumes.
    r = a.sessions.ResumeSession(pb.ResumeSessionRequest(session_id=live.session.id)).runner
    assert r.status == pb.RUNNER_STATUS_RUNNING and alive(r.pid)
    assert list(session(a, live.session.id).details.runner_ids) == [live.runner.id, r.id]
    stop(a, r.id)


def test_upgrade_in_place_keeps_runners(make_droverd, tmp_path):
    d = make_droverd()
    a = api(d)
    new_project(a, tmp_path, "upg")
    r = new_runner(a, "upg", command=["sh", "-c", "echo before; read x; echo after:$x; "
                                      "exec sleep 1000"]).runner
    out = d.cli("upgrade", check=0)
    assert f"pid {d.proc.pid}" in out.stdout
    a = api(d, **{"grpc.use_local_subchannel_pool": 1})
    g = get(a, r.id)
    assert g.status == pb.RUNNER_STATUS_RUNNING and g.pid == r.pid and alive(r.pid)
    assert g.attach_session_id == r.attach_session_id
    # Its session still works, and it can be stopped.
    d.cli("send", "--newline", r.attach_session_id, "up", check=0)
    wait_until(lambda: "after:up" in d.cli("backlog", r.attach_session_id).stdout,
               what="the runner's reply after the upgrade")
    s = stop(a, r.id)
    assert s.was_running and s.runner.status == pb.RUNNER_STATUS_TERMINATED
    assert s.runner.exit_signal == 15 and not alive(r.pid)


def test_runner_survives_a_droverd_crash(make_droverd, tmp_path):
    """SIGKILL of droverd: the descriptor holder kept the runner's terminal, so the runner runs
    on with the same pid, and the next droverd takes it back: output, input and stop work."""
    d = make_droverd()
    a = api(d)
    new_project(a, tmp_path, "crash")
    r = new_runner(a, "crash", command=["sh", "-c", "echo ready; while read x; do "
                                        "echo got:$x; done"]).runner
    holder = f"{d.socket}.holder"
    assert os.path.exists(holder)
    d.proc.kill()
    d.proc.wait()
    time.sleep(0.3)
    assert alive(r.pid)  # no hangup: its terminal is still open
    d.start()
    a = api(d, **{"grpc.use_local_subchannel_pool": 1})
    g = get(a, r.id)
    assert g.status == pb.RUNNER_STATUS_RUNNING and g.pid == r.pid
    assert g.attach_session_id == r.attach_session_id
    assert "taken back from the descriptor holder" in d.read_log()
    d.cli("send", "--newline", r.attach_session_id, "again", check=0)
    wait_until(lambda: "got:again" in d.cli("backlog", r.attach_session_id).stdout,
               what="the runner's answer after the crash")
    s = stop(a, r.id, timeout_seconds=5)
    assert s.was_running and s.runner.status == pb.RUNNER_STATUS_TERMINATED
    wait_until(lambda: not alive(r.pid), what="the runner gone")
    # A graceful stop lets the holder go.
    assert d.stop() == 0
    wait_until(lambda: not os.path.exists(holder), what="the holder gone")


def test_runner_heartbeats_with_its_own_token(make_droverd, tmp_path):
    """A runner needs no scope to heartbeat: its own STRATAVORE_RUNNER_TOKEN is enough, for its
    own id only. Over TCP without credentials, where nothing else is allowed."""
    port = free_port()
    d = make_droverd(extra_args=["--grpc-tcp", f"127.0.0.1:{port}", "--grpc-tcp-plaintext"])
    a = api(d)
    new_project(a, tmp_path, "tok")
    r1 = new_runner(a, "tok").runner
    r2 = new_runner(a, "tok").runner
    token = environ(r1.pid)["STRATAVORE_RUNNER_TOKEN"]
    assert token.startswith("svr1.") and token != environ(r2.pid)["STRATAVORE_RUNNER_TOKEN"]
    tcp = pbg.RunnerServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    req = pb.HeartbeatRequest(runner_id=r1.id, status="running", tokens_used=5)
    own = [("authorization", f"Bearer {token}")]
    h = tcp.SendHeartbeat(req, metadata=own, timeout=10)
    assert h.success and h.command == ""
    assert get(a, r1.id).resource_usage.tokens_used == 5
    # Another runner's id with this token; no token at all; the token for anything else.
    code, msg = code_of(tcp.SendHeartbeat, pb.HeartbeatRequest(runner_id=r2.id), metadata=own,
                        timeout=10)
    assert code == Code.PERMISSION_DENIED and r2.id in msg
    code, _ = code_of(tcp.SendHeartbeat, req, timeout=10)
    assert code == Code.UNAUTHENTICATED
    code, _ = code_of(tcp.GetRunner, pb.GetRunnerRequest(runner_id=r1.id), metadata=own,
                      timeout=10)
    assert code == Code.PERMISSION_DENIED
    stop(a, r1.id)
    stop(a, r2.id)


def test_usage_parser_counts_tokens_from_output(sv, tmp_path):
    """usage_parser json-usage: JSON lines of the runner's output with usage.input_tokens and
    usage.output_tokens (Anthropic's shape) add up; tokens_used is the larger of that count and
    what heartbeats say. A bad parser name is refused."""
    code, msg = code_of(new_project, sv, tmp_path, "bad-parser",
                        config=pb.ProjectConfig(usage_parser="regex:x"))
    assert code == Code.INVALID_ARGUMENT and "usage_parser" in msg
    new_project(sv, tmp_path, "use", config=pb.ProjectConfig(usage_parser="json-usage",
                                                              use_pipes=True))
    prog = ["sh", "-c", "echo '{\"usage\": {\"input_tokens\": 10, \"output_tokens\": 5}}'; "
            "echo 'not json'; echo '{\"type\":\"message\",\"message\":{\"usage\":"
            "{\"input_tokens\":20,\"output_tokens\":7}}}'; exec sleep 1000"]
    r = new_runner(sv, "use", command=prog).runner
    wait_until(lambda: get(sv, r.id).resource_usage.tokens_used == 42, what="42 tokens counted")
    p = sv.projects.GetProject(pb.GetProjectRequest(name="use", include_stats=True)).project
    assert p.statistics.tokens_used_today == 42
    heartbeat(sv, r.id, 30)  # below the parser's count: the larger stays
    assert get(sv, r.id).resource_usage.tokens_used == 42
    heartbeat(sv, r.id, 50)
    assert get(sv, r.id).resource_usage.tokens_used == 50
    stop(sv, r.id)


# ---- quotas as cgroup limits ----------------------------------------------------------------

def limits_of(a):
    """{controller: "v2"|"v1"|"none"} as droverd's resource_controller component reports it."""
    msg = a.daemon.GetStatus(pb.GetStatusRequest()).components["resource_controller"].message
    return dict(re.findall(r"(memory|cpu|pids):(v2|v1|none)", msg))


def group_of(pid, controller):
    """The directory of pid's group that holds controller's files (v1 hierarchy or v2)."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = [l.rstrip("\n").split(":", 2) for l in f]
    for _, ctrls, path in lines:
        if controller in ctrls.split(","):
            base = "/sys/fs/cgroup/" + ("cpu,cpuacct" if controller == "cpu" and
                                        os.path.isdir("/sys/fs/cgroup/cpu,cpuacct") else controller)
            return base + path
    for _, ctrls, path in lines:
        if ctrls == "":
            root = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else \
                "/sys/fs/cgroup"
            return root + path
    return None


def read_file(path):
    with open(path) as f:
        return f.read().strip()


def test_memory_limit_oom_fails_the_runner(droverd, sv, tmp_path):
    modes = limits_of(sv)
    if modes.get("memory", "none") == "none":
        pytest.skip("no memory controller for droverd on this host: " + str(modes))
    new_project(sv, tmp_path, "mem", quota=pb.ResourceQuota(max_concurrent_runners=5,
                                                             max_memory_mb=256))
    ev = Events(sv, project_name="mem")
    hog = ["/usr/bin/python3", "-c", "import sys; sys.stdin.readline(); "
           "b = bytearray(200 << 20); print('survived', flush=True)"]
    r = new_runner(sv, "mem", command=hog, quota=pb.ResourceQuota(max_memory_mb=64)).runner
    g = group_of(r.pid, "memory")
    v2 = modes["memory"] == "v2"
    limit = read_file(g + ("/memory.max" if v2 else "/memory.limit_in_bytes"))
    assert int(limit) == 64 << 20
    # The project's slice holds the runner's group and has the project's limit.
    parent = os.path.dirname(g)
    assert os.path.basename(parent) == "s-stratavore.mem"
    assert int(read_file(parent + ("/memory.max" if v2 else "/memory.limit_in_bytes"))) == 256 << 20
    # A live change of the project's quota reaches the slice at once.
    sv.projects.UpdateProject(pb.UpdateProjectRequest(
        name="mem", quota=pb.ResourceQuota(max_concurrent_runners=5, max_memory_mb=300),
        update_mask=mask("quota")))
    assert int(read_file(parent + ("/memory.max" if v2 else "/memory.limit_in_bytes"))) == 300 << 20
    # Over its limit: the OOM killer takes it, and the runner is FAILED "oom".
    droverd.cli("send", "--newline", r.attach_session_id, "go", check=0)
    events = ev.until(lambda e: e.event_type == pb.EVENT_TYPE_RUNNER_FAILED and
                      e.runner_id == r.id, timeout=30)
    quota = [e for e in events if e.event_type == pb.EVENT_TYPE_QUOTA_EXCEEDED]
    assert quota and quota[0].runner_id == r.id
    q = payload(quota[0], pb.QuotaExceededPayload)
    assert q.quota == "max_memory_mb" and q.limit == 64 and q.action == "killed"
    got = sv.runners.GetRunner(pb.GetRunnerRequest(runner_id=r.id, include_metrics=True))
    assert got.runner.status == pb.RUNNER_STATUS_FAILED and got.runner.status_reason == "oom"
    assert got.runner.exit_signal == 9 and got.metrics.oom_kills >= 1
    ev.cancel()


def test_cpu_and_pids_limits_are_felt(sv, tmp_path):
    modes = limits_of(sv)
    if modes.get("cpu", "none") == "none" or modes.get("pids", "none") == "none":
        pytest.skip("no cpu or pids controller for droverd on this host: " + str(modes))
    new_project(sv, tmp_path, "cpu", quota=pb.ResourceQuota(max_concurrent_runners=5,
                                                             max_cpu_percent=20, max_pids=40))
    r = new_runner(sv, "cpu", command=BUSY, quota=pb.ResourceQuota(max_pids=8)).runner
    g = group_of(r.pid, "cpu")
    slice_dir = os.path.dirname(g)
    if modes["cpu"] == "v2":
        assert read_file(slice_dir + "/cpu.max").split()[0] == "20000"
        stat = lambda: dict(l.split() for l in read_file(slice_dir + "/cpu.stat").splitlines())
    else:
        assert read_file(slice_dir + "/cpu.cfs_quota_us") == "20000"
        stat = lambda: dict(l.split() for l in read_file(slice_dir + "/cpu.stat").splitlines())
    # The busy loop is throttled: the kernel counts the periods it was held back.
    wait_until(lambda: int(stat()["nr_throttled"]) > 2, what="the busy loop throttled")
    assert int(read_file(group_of(r.pid, "pids") + "/pids.max")) == 8
    # A live change of the runner's own quota reaches its group.
    sv.runners.UpdateRunner(pb.UpdateRunnerRequest(runner_id=r.id,
                                                   quota=pb.ResourceQuota(max_pids=12),
                                                   update_mask=mask("quota")))
    assert int(read_file(group_of(r.pid, "pids") + "/pids.max")) == 12
    stop(sv, r.id, force=True)


# ---- the TCP door: TLS and JWTs -------------------------------------------------------------

JWT_SECRET = b"stratavore-test-secret-0123456789abcdef0123"


def test_tls_and_jwt_scopes(make_droverd, tmp_path):
    ca_key, ca = make_cert("stratavore test CA", ca=True)
    key, cert = make_cert("localhost", ca, ca_key, sans=("localhost", "127.0.0.1"))
    (tmp_path / "server.pem").write_bytes(pem_cert(cert))
    (tmp_path / "server.key").write_bytes(pem_key(key))
    (tmp_path / "secret").write_bytes(JWT_SECRET + b"\n")
    port = free_port()
    make_droverd(extra_args=[
        "--grpc-tcp", f"127.0.0.1:{port}", "--grpc-tls-cert", str(tmp_path / "server.pem"),
        "--grpc-tls-key", str(tmp_path / "server.key"), "--jwt-secret", str(tmp_path / "secret"),
        "--jwt-issuer", "https://auth.test", "--jwt-audience", "drover"])
    ch = grpc.secure_channel(f"localhost:{port}", grpc.ssl_channel_credentials(
        root_certificates=pem_cert(ca)))
    a = Api(ch)

    def token(scope):
        now = int(time.time())
        claims = {"sub": "ci", "iss": "https://auth.test", "aud": "drover", "exp": now + 300,
                  "nbf": now - 10, "scope": scope}
        return (("authorization", "Bearer " + jwt.encode(claims, JWT_SECRET,
                                                         algorithm="HS256")),)
    control, read = token("control"), token("read")
    try:
        code, _ = code_of(a.projects.ListProjects, pb.ListProjectsRequest(), timeout=10)
        assert code == Code.UNAUTHENTICATED
        code, _ = code_of(a.runners.ListRunners, pb.ListRunnersRequest(), timeout=10)
        assert code == Code.UNAUTHENTICATED
        (tmp_path / "tcp").mkdir()
        p = a.projects.CreateProject(pb.CreateProjectRequest(name="tcp", path=str(
            tmp_path / "tcp")), metadata=control, timeout=10).project
        assert p.name == "tcp"
        code, msg = code_of(a.runners.CreateRunner, pb.CreateRunnerRequest(
            project_name="tcp", command=SLEEPER), metadata=read, timeout=10)
        assert code == Code.PERMISSION_DENIED and "control" in msg
        assert a.runners.ListRunners(pb.ListRunnersRequest(), metadata=read,
                                     timeout=10).total_count == 0
        r = a.runners.CreateRunner(pb.CreateRunnerRequest(project_name="tcp", command=SLEEPER),
                                   metadata=control, timeout=10).runner
        assert alive(r.pid)
        listed = a.runners.ListRunners(pb.ListRunnersRequest(), metadata=read, timeout=10)
        assert [x.id for x in listed.runners] == [r.id]
        code, _ = code_of(a.runners.StopRunner, pb.StopRunnerRequest(runner_id=r.id),
                          metadata=read, timeout=10)
        assert code == Code.PERMISSION_DENIED and alive(r.pid)
        s = a.runners.StopRunner(pb.StopRunnerRequest(runner_id=r.id), metadata=control,
                                 timeout=30)
        assert s.runner.status == pb.RUNNER_STATUS_TERMINATED and not alive(r.pid)
        assert a.projects.GetProject(pb.GetProjectRequest(name="tcp"), metadata=read,
                                     timeout=10).project.path == str(tmp_path / "tcp")
    finally:
        ch.close()
