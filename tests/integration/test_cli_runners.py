"""The drover CLI's Stratavore commands (project, runner, transcript) against a real droverd:
their output, --json, exit codes, and the server's errors as they reach the user. Runners are
small shell programs, never claude."""

import json
import re
import subprocess
import time

from conftest import DROVER, alive, wait_until

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def run(d, *args, check=None, timeout=60):
    """The CLI with stdin from /dev/null (attach reads keys from a terminal otherwise)."""
    r = subprocess.run([DROVER, "--socket", d.socket, *args], env=d.env, capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check is not None:
        assert r.returncode == check, (args, r.returncode, r.stdout, r.stderr)
    return r


def jrun(d, *args):
    return json.loads(run(d, "--json", *args, check=0).stdout)


def project(d, tmp_path, name, *options):
    path = tmp_path / f"dir-{name}"
    path.mkdir(exist_ok=True)
    run(d, "project", "create", name, "--path", str(path), *options, check=0)
    return str(path)


def create_runner(d, proj, *args):
    """runner create: its runner id and session id, from the text output."""
    r = run(d, "runner", "create", proj, *args, check=0)
    lines = r.stdout.splitlines()
    assert len(lines) == 2, r.stdout
    m = re.fullmatch(rf"runner ({UUID.pattern}) \(running, pid (\d+)\)", lines[0])
    assert m, lines[0]
    s = re.fullmatch(rf"session ({UUID.pattern})", lines[1])
    assert s, lines[1]
    return m.group(1), s.group(1)


def runner(d, rid):
    return jrun(d, "runner", "get", rid)["runner"]


def test_project_commands(droverd, tmp_path):
    d = droverd
    path = tmp_path / "work"
    path.mkdir()
    # create: a relative --path is made absolute; the quota keeps droverd's default of 5 runners
    r = subprocess.run([DROVER, "--socket", d.socket, "project", "create", "alpha",
                        "--path", "work",
                        "--description", "first one", "--max-memory-mb", "256",
                        "--command", "sh -c 'sleep 1000'", "--restart", "on-failure",
                        "--max-restarts", "2", "--env", "A=1", "--tag", "t1", "--tag", "t2",
                        "--meta", "owner=me"],
                       env=d.env, cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"created project alpha ({path})\n"
    p = jrun(d, "project", "get", "alpha")["project"]
    assert p["path"] == str(path) and p["description"] == "first one"
    assert p["status"] == "PROJECT_STATUS_IDLE"
    assert p["quota"]["max_concurrent_runners"] == 5 and p["quota"]["max_memory_mb"] == 256
    c = p["config"]
    assert c["command"] == ["sh", "-c", "sleep 1000"]
    assert c["restart_policy"] == "RESTART_POLICY_ON_FAILURE" and c["max_restart_attempts"] == 2
    assert c["environment"] == {"A": "1"} and c["use_pipes"] is False
    assert p["tags"] == ["t1", "t2"] and p["metadata"] == {"owner": "me"}
    assert p["statistics"]["total_runners"] == 0
    # get, as text: everything, enums as words, statistics included
    out = run(d, "project", "get", "alpha", check=0).stdout
    assert out.startswith("project:\n  name: alpha\n")
    assert "  status: idle\n" in out and "    restart_policy: on-failure\n" in out
    assert "    command: sh -c sleep 1000\n" in out and "  tags: t1 t2\n" in out
    assert "  statistics:\n" in out and "    total_runners: 0\n" in out
    # ls
    project(d, tmp_path, "beta", "--command", "sleep 1000")
    out = run(d, "project", "ls", check=0).stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "RUNNERS", "SESSIONS", "TOKENS-TODAY", "PATH"]
    assert out[1].split() == ["alpha", "idle", "0/0", "0", "0", str(path)]
    assert out[2].split()[:3] == ["beta", "idle", "0/0"]
    j = jrun(d, "project", "ls")
    assert [x["name"] for x in j["projects"]] == ["alpha", "beta"] and j["total_count"] == 2
    assert "no projects" in run(d, "project", "ls", "--status", "archived", check=0).stdout
    # update: the mask is what the options name; a quota or config keeps what is not named
    r = run(d, "project", "update", "alpha", "--max-runners", "2", "--pipes", check=0)
    assert r.stdout == "updated project alpha: quota, config\n"
    p = jrun(d, "project", "get", "alpha")["project"]
    assert p["quota"]["max_concurrent_runners"] == 2 and p["quota"]["max_memory_mb"] == 256
    assert p["config"]["use_pipes"] is True and p["config"]["command"] == ["sh", "-c", "sleep 1000"]
    assert p["config"]["environment"] == {"A": "1"}
    assert p["description"] == "first one" and p["tags"] == ["t1", "t2"]
    r = run(d, "--json", "project", "update", "alpha", "--description", "renamed", "--tag", "",
            check=0)
    p = json.loads(r.stdout)["project"]
    assert p["description"] == "renamed" and p["tags"] == [] and p["metadata"] == {"owner": "me"}
    assert p["quota"]["max_concurrent_runners"] == 2 and p["config"]["use_pipes"] is True
    # errors: the server's status and message, exit 1; usage errors, exit 2
    r = run(d, "project", "create", "alpha", "--path", str(tmp_path / "other"), check=1)
    assert r.stderr.startswith("drover: CreateProject: ALREADY_EXISTS: ") and "alpha" in r.stderr
    r = run(d, "project", "get", "nosuch", check=1)
    assert r.stderr == "drover: GetProject: NOT_FOUND: project nosuch not found\n"
    r = run(d, "project", "update", "nosuch", "--max-runners", "1", check=1)
    assert "NOT_FOUND: project nosuch not found" in r.stderr
    run(d, "project", "update", "nosuch", "--description", "x", check=1)
    assert "--path DIR is required" in run(d, "project", "create", "gamma", check=2).stderr
    assert "nothing to change" in run(d, "project", "update", "alpha", check=2).stderr
    r = run(d, "project", "create", "gamma", "--path", "/tmp", "--max-runners", "x", check=2)
    assert "--max-runners wants a number" in r.stderr
    r = run(d, "project", "create", "gamma", "--path", "/tmp", "--restart", "sometimes", check=2)
    assert "one of never, on-failure, always" in r.stderr
    run(d, "project", "create", "gamma", "--path", "/tmp", "--command", "sh -c 'x", check=2)
    run(d, "project", "ls", "--status", "busy", check=2)
    run(d, "project", "get", check=2)
    # rm: archive, then delete
    r = run(d, "project", "rm", "--archive", "beta", check=0)
    assert r.stdout.startswith("archived project beta")
    out = run(d, "project", "ls", "--status", "archived", check=0).stdout.splitlines()
    assert out[1].split()[:2] == ["beta", "archived"]
    assert jrun(d, "project", "rm", "beta") == {"deleted": True, "archived": False,
                                                "stopped_runners": 0}
    run(d, "project", "get", "beta", check=1)
    run(d, "project", "rm", "beta", check=1)


def test_runner_commands(droverd, tmp_path):
    d = droverd
    # (with --keep-session, restart appends --continue: the shell's $1 here)
    path = project(d, tmp_path, "p", "--max-runners", "1", "--command", "sh -c 'exec sleep 1000' r")
    rid, sid = create_runner(d, "p", "--env", "X=1", "--meta", "team=a", "--model", "m1",
                             "--temperature", "0.5", "--max-tokens", "9")
    r = runner(d, rid[:6])  # a prefix names it
    assert r["id"] == rid and r["session_id"] == sid and r["status"] == "RUNNER_STATUS_RUNNING"
    assert r["command"] == ["sh", "-c", "exec sleep 1000", "r"]
    assert r["environment"] == {"X": "1"}
    assert r["metadata"] == {"team": "a"} and r["model"] == "m1"
    assert r["temperature"] == 0.5 and r["max_tokens"] == 9 and r["working_directory"] == path
    pid = r["pid"]
    assert pid > 0 and alive(pid)
    # quota exceeded: the server's message, exit 1
    r = run(d, "runner", "create", "p", check=1)
    assert r.stderr == \
        "drover: CreateRunner: RESOURCE_EXHAUSTED: quota exceeded: 1/1 runners active\n"
    r = run(d, "runner", "create", "nosuch", check=1)
    assert r.stderr == "drover: CreateRunner: NOT_FOUND: project nosuch not found\n"
    assert "--session needs --continue or --resume" in \
        run(d, "runner", "create", "p", "--session", sid, check=2).stderr
    assert "no command after '--'" in run(d, "runner", "create", "p", "--", check=2).stderr
    run(d, "runner", "create", "p", "--temperature", "warm", check=2)
    # ls
    out = run(d, "runner", "ls", check=0).stdout.splitlines()
    assert out[0].split() == ["ID", "PROJECT", "STATUS", "PID", "SESSION", "RESTARTS", "AGE",
                              "REASON"]
    row = out[1].split()
    assert row[:6] == [rid[:8], "p", "running", str(pid), sid[:8], "0"]
    j = jrun(d, "runner", "ls", "--project", "p")
    assert [x["id"] for x in j["runners"]] == [rid] and j["total_count"] == 1
    assert "no runners" in run(d, "runner", "ls", "--status", "failed", check=0).stdout
    assert "no runners" in run(d, "runner", "ls", "--project", "other", check=0).stdout
    run(d, "runner", "ls", "--status", "asleep", check=2)
    # get: text, and --metrics
    out = run(d, "runner", "get", rid[:8], check=0).stdout
    assert out.startswith(f"runner:\n  id: {rid}\n")
    assert "  status: running\n" in out and f"  pid: {pid}\n" in out
    assert f"session:\n  id: {sid}\n" in out
    g = jrun(d, "runner", "get", "--metrics", rid)
    assert g["metrics"]["runner_id"] == rid and g["session"]["id"] == sid
    # pause, resume
    r = run(d, "runner", "pause", rid[:8], check=0)
    assert r.stdout == f"paused runner {rid}: paused, pid {pid}\n"
    assert run(d, "runner", "ls", check=0).stdout.splitlines()[1].split()[2] == "paused"
    assert jrun(d, "runner", "resume", rid)["runner"]["status"] == "RUNNER_STATUS_RUNNING"
    # restart: same id, new pid
    r = run(d, "runner", "restart", "--keep-session", rid, check=0)
    m = re.fullmatch(rf"restarted runner {rid}: running, pid (\d+)\n", r.stdout)
    assert m and int(m.group(1)) != pid
    r = runner(d, rid)
    assert r["session_id"] == sid and r["status"] == "RUNNER_STATUS_RUNNING"
    assert r["command"][-1] == "--continue"
    # rm of a live runner needs --force
    r = run(d, "runner", "rm", rid, check=1)
    assert r.stderr.startswith("drover: DeleteRunner: FAILED_PRECONDITION: ")
    # stop, twice
    r = run(d, "runner", "stop", "--timeout", "5", rid, check=0)
    assert r.stdout == f"stopped runner {rid}: terminated, signal 15\n"
    r = run(d, "runner", "stop", rid, check=0)
    assert r.stdout.startswith(f"runner {rid} was not running: terminated")
    assert not alive(int(m.group(1)))
    # rm, and --force for a live one
    assert run(d, "runner", "rm", rid[:8], check=0).stdout == f"deleted runner {rid}\n"
    r = run(d, "runner", "get", rid, check=1)
    assert r.stderr == f"drover: GetRunner: NOT_FOUND: runner {rid} not found\n"
    assert "no runner 'abc'" in run(d, "runner", "get", "abc", check=1).stderr
    rid2, _ = create_runner(d, "p", "--", "sh", "-c", "exec sleep 999")
    assert runner(d, rid2)["command"] == ["sh", "-c", "exec sleep 999"]
    assert jrun(d, "runner", "rm", "--force", "--sessions", rid2) == {
        "runner_id": rid2, "deleted": True, "was_running": True}
    run(d, "runner", "stop", check=2)
    run(d, "runner", "pause", "a", "b", check=2)


def test_runner_attach(droverd, tmp_path):
    d = droverd
    project(d, tmp_path, "term", "--command", "sleep 1000")
    project(d, tmp_path, "piped", "--pipes", "--command", "sleep 1000")
    script = "sleep 0.5; echo out from runner; echo err from runner >&2; sleep 0.3; exit 3"
    # a terminal: its output, and the program's exit code
    rid, _ = create_runner(d, "term", "--", "sh", "-c", script)
    r = run(d, "runner", "attach", rid[:8], check=3, timeout=30)
    assert "out from runner" in r.stdout and "err from runner" in r.stdout
    # pipes: stdout to stdout, stderr to stderr
    rid2, _ = create_runner(d, "piped", "--", "sh", "-c", script)
    r = run(d, "runner", "attach", rid2, check=3, timeout=30)
    assert r.stdout == "out from runner\n" and "err from runner\n" in r.stderr
    # ended: nothing to attach to
    wait_until(lambda: runner(d, rid)["status"] == "RUNNER_STATUS_FAILED", what="exit")
    r = run(d, "runner", "attach", rid, check=1)
    assert r.stderr == f"drover: runner {rid} is not live: nothing to attach to (see drover " \
        "transcript)\n"
    run(d, "runner", "attach", "nosuch", check=1)


def test_runner_events(droverd, tmp_path):
    d = droverd
    project(d, tmp_path, "ev", "--command", "sleep 1000")
    rid, sid = create_runner(d, "ev")
    run(d, "runner", "stop", "--force", rid, check=0)
    # without -f: what droverd keeps, then it exits
    t = time.monotonic()
    lines = run(d, "runner", "events", check=0, timeout=10).stdout.splitlines()
    assert time.monotonic() - t < 5
    rows = [ln.split() for ln in lines]
    assert [r[2] for r in rows] == ["project-created", "session-created", "runner-started",
                                    "runner-stopped"]
    seqs = [int(r[0]) for r in rows]
    assert seqs == list(range(seqs[0], seqs[0] + 4))
    assert rows[2][3] == rid[:8] and rows[2][4] == "ev"
    assert lines[2].endswith("started (runner.started.ev)")
    assert lines[3].endswith(f"stopped (runner.stopped.{rid})")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rows[0][1])
    # --json: a JSON object a line, the payload unpacked
    out = run(d, "--json", "runner", "events", check=0).stdout
    evs = [json.loads(ln) for ln in out.splitlines()]
    assert [e["sequence"] for e in evs] == seqs
    assert evs[2]["event_type"] == "EVENT_TYPE_RUNNER_STARTED" and evs[2]["session_id"] == sid
    assert evs[2]["payload"]["@type"] == "type.googleapis.com/stratavore.v1.RunnerStartedPayload"
    assert evs[2]["payload"]["command"] == ["sleep", "1000"]
    assert evs[3]["payload"]["exit_signal"] == 9 and evs[3]["metadata"]["reason"] == "stopped"
    # filters, applied to the replay too; --since
    out = run(d, "runner", "events", "--type", "runner-stopped", "--type", "RUNNER_STARTED",
              check=0).stdout.splitlines()
    assert [ln.split()[2] for ln in out] == ["runner-started", "runner-stopped"]
    assert run(d, "runner", "events", "--runner", rid[:8], check=0).stdout.count("\n") == 3
    assert run(d, "runner", "events", "--project", "other", check=0).stdout == ""
    out = run(d, "runner", "events", "--since", str(seqs[2]), check=0).stdout.splitlines()
    assert [int(ln.split()[0]) for ln in out] == [seqs[3]]
    assert run(d, "runner", "events", "--since", str(seqs[3]), check=0).stdout == ""
    r = run(d, "runner", "events", "--since", "5", check=1)
    assert "StreamRunnerEvents: OUT_OF_RANGE: since_sequence 5 is not kept" in r.stderr
    assert "runner-paused" in run(d, "runner", "events", "--type", "idle", check=2).stderr
    # -f: events as they come (after --since first), until interrupted
    out_path = tmp_path / "events.out"
    with open(out_path, "w") as f:
        p = subprocess.Popen([DROVER, "--socket", d.socket, "runner", "events", "-f", "--since",
                              str(seqs[2]), "--project", "ev"], env=d.env, stdout=f,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: "runner-stopped" in out_path.read_text(), what="the replay")
        rid2, _ = create_runner(d, "ev")
        wait_until(lambda: f"runner-started     {rid2[:8]}" in out_path.read_text(),
                   what="a new event")
        assert p.poll() is None
    finally:
        p.terminate()
        p.wait(timeout=10)
    kinds = [ln.split()[2] for ln in out_path.read_text().splitlines()]
    assert kinds == ["runner-stopped", "session-created", "runner-started"]


def test_transcript(droverd, tmp_path):
    d = droverd
    project(d, tmp_path, "tp", "--pipes", "--command", "sleep 1000")
    _, sid = create_runner(d, "tp", "--", "sh", "-c",
                           "echo hello transcript; echo to stderr >&2; sleep 1000")
    wait_until(lambda: "to stderr" in run(d, "transcript", sid, check=0).stdout,
               what="the transcript")
    out = run(d, "transcript", sid[:8], check=0).stdout.splitlines()
    assert re.fullmatch(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] system: runner .* started pid \d+: "
                        r"sh -c .*", out[0])
    assert any(ln.endswith("] assistant: hello transcript") for ln in out)
    assert any(ln.endswith("] system: to stderr") for ln in out)
    md = run(d, "transcript", "--format", "markdown", sid, check=0).stdout
    assert "**assistant**" in md and "```\nhello transcript\n```" in md
    msgs = json.loads(run(d, "transcript", "--format", "json", sid, check=0).stdout)
    assert [m["content"] for m in msgs][1:] == ["hello transcript", "to stderr"]
    # a page: --limit, --offset; the rest is announced on stderr
    r = run(d, "transcript", "--limit", "1", "--offset", "1", sid, check=0)
    assert r.stdout.endswith("] assistant: hello transcript\n") and r.stdout.count("\n") == 1
    assert r.stderr == "drover: more messages follow: --offset 2\n"
    j = jrun(d, "transcript", "--limit", "2", sid)
    assert j["session_id"] == sid and len(j["messages"]) == 2 and j["has_more"] is True
    assert j["metadata"]["message_count"] == 3 and j["content_type"] == "text/plain"
    # errors
    assert "no session 'zzz'" in run(d, "transcript", "zzz", check=1).stderr
    r = run(d, "transcript", "00000000-0000-0000-0000-000000000000", check=1)
    assert r.stderr.startswith("drover: GetSessionTranscript: NOT_FOUND: ")
    run(d, "transcript", "--format", "pdf", sid, check=2)
    run(d, "transcript", check=2)


def test_help(droverd):
    d = droverd
    out = run(d, "--help", check=0).stdout
    for c in ("project", "runner", "transcript"):
        assert re.search(rf"^  {c} +Stratavore|^  {c} +Print a Stratavore", out, re.M), c
    out = run(d, "project", "--help", check=0).stdout
    assert out.startswith("Usage: drover project COMMAND [ARGS]...\n")
    for c in ("create NAME --path DIR", "ls", "get NAME", "update NAME", "rm "):
        assert f"\n  {c}" in out
    out = run(d, "runner", "-h", check=0).stdout
    for c in ("create", "ls", "get", "stop", "restart", "rm", "pause", "resume", "attach",
              "events"):
        assert f"\n  {c} " in out, c
    out = run(d, "runner", "events", "--help", check=0).stdout
    assert out.startswith("Usage: drover runner events [-f]") and "--since SEQ" in out
    assert "Usage: drover runner create PROJECT" in run(d, "runner", "create", "-h", check=0).stdout
    assert "Usage: drover transcript" in run(d, "transcript", "--help", check=0).stdout
    assert run(d, "runner", check=2).stderr.startswith("Usage: drover runner COMMAND")
    r = run(d, "runner", "fly", check=2)
    assert r.stderr == "drover: runner: unknown command 'fly' (see drover runner --help)\n"
    r = run(d, "project", "ls", "--bogus", check=2)
    assert "project ls: unknown option '--bogus'" in r.stderr
