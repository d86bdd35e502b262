"""drover ps, tree, kill-tree, zombies and spawn against a real droverd."""

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import alive, kill_group, wait_until


@pytest.fixture
def pids():
    started = []
    yield started
    for pid in started:
        kill_group(pid)


def test_spawn_ps_tree_kill_tree(droverd, pids, tmp_path):
    assert droverd.cli("ps", check=0).stdout == "no tracked processes\n"
    r = droverd.cli("spawn", "--cwd", str(tmp_path), "--env", "GREETING=hi there",
                    "--originator", "cli:1", "--", "sh", "-c", "echo \"$GREETING\" > out; "
                    "sleep 300 & sleep 301", check=0)
    assert r.stdout.startswith("started ")
    pid = int(r.stdout.split()[1].rstrip(":"))
    pids.append(pid)
    wait_until(lambda: (tmp_path / "out").exists() and (tmp_path / "out").read_text(),
               what="output")
    assert (tmp_path / "out").read_text() == "hi there\n"

    out = droverd.cli("ps", check=0).stdout.splitlines()
    assert out[0].split() == ["PID", "STATE", "UPTIME", "ORIGINATOR", "COMMAND"]
    assert out[1].split()[:4] == [str(pid), "alive", "0s", "cli:1"]
    rows = json.loads(droverd.cli("ps", "--json", check=0).stdout)
    assert [(x["pid"], x["state"], x["containment"]) for x in rows] == [(pid, "alive", "detached")]
    assert json.loads(droverd.cli("ps", "--originator", "cli", "--json", check=0).stdout)[0]["pid"] == pid
    assert json.loads(droverd.cli("ps", "--originator=nope", "--json", check=0).stdout) == []

    wait_until(lambda: "sleep" in droverd.cli("tree", str(pid), check=0).stdout, what="tree")
    tree = droverd.cli("tree", str(pid), check=0).stdout
    assert tree.startswith(f"sh (pid={pid}) /bin/sh -lc ") and "sleep (pid=" in tree
    j = json.loads(droverd.cli("tree", str(pid), "--json", check=0).stdout)
    assert j["found"] and j["tree"] == tree.rstrip("\n")

    r = droverd.cli("kill-tree", "--timeout", "5", str(pid), check=0)
    assert r.stdout.startswith("killed ") and f"in the tree of {pid}" in r.stdout
    wait_until(lambda: not alive(pid), what="root gone")
    assert droverd.cli("ps", check=0).stdout == "no tracked processes\n"
    assert droverd.cli("kill-tree", "999994", check=0).stdout == "no process 999994: nothing to kill\n"


def test_zombies_cli(droverd):
    from rpclient import RpClient  # noqa: F401  (generated messages are on sys.path)
    from drover.v1 import processes_pb2_grpc
    from running_process.daemon.v1 import daemon_pb2 as rp
    stub = processes_pb2_grpc.ProcessesStub(droverd.channel())
    stub.Register(rp.RegisterRequest(pid=999993, command="ghost", created_at=time.time()),
                  timeout=5)
    out = droverd.cli("zombies", check=0).stdout
    assert "999993   process 999993 no longer exists (ghost)" in out and "dry run" in out
    j = json.loads(droverd.cli("zombies", "--kill", "--json", check=0).stdout)
    assert j == [{"pid": 999993, "command": "ghost",
                  "reason": "process 999993 no longer exists", "killed": True}]
    assert droverd.cli("zombies", check=0).stdout == "no zombies among the tracked processes\n"


def test_process_cli_usage_errors(droverd):
    for args in (["tree"], ["tree", "abc"], ["tree", "0"], ["kill-tree", "-5"],
                 ["kill-tree", "--timeout", "99", "1"], ["kill-tree", "--timeout"],
                 ["spawn"], ["spawn", "--env", "NOEQUALS", "true"], ["zombies", "--kill=yes"],
                 ["ps", "extra"], ["ps", "--bogus"]):
        r = droverd.cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("drover: "), args
    r = droverd.cli("tree", "999992")
    assert (r.returncode, r.stderr) == (1, "drover: tree: no process 999992\n")
    r = droverd.cli("spawn", "--cwd", "/nonexistent-dir", "--", "true")
    assert r.returncode == 1 and "SpawnDaemon: NOT_FOUND" in r.stderr
    for c in ("ps", "tree", "kill-tree", "zombies", "spawn"):
        assert f"Usage: drover {c}" in droverd.cli(c, "--help", check=0).stdout
    assert "--timeout S" in droverd.cli("kill-tree", "--help", check=0).stdout
