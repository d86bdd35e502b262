"""droverd run as running-process-daemon: upstream's command line (start with --scope,
--socket-path and --db-path; stop, ping, status, list, tree, kill, kill-zombies) and upstream's
default paths, so running-process clients that start `running-process-daemon start` find it."""

import json
import os
import subprocess
import time

import pytest

from conftest import DROVERD, wait_until
from rpclient import OK, RpClient, rp


@pytest.fixture
def rpd(tmp_path):
    """The running-process-daemon name for droverd, and an environment with private XDG dirs."""
    exe = tmp_path / "bin" / "running-process-daemon"
    exe.parent.mkdir()
    exe.symlink_to(DROVERD)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path / "run"),
               XDG_STATE_HOME=str(tmp_path / "state"))
    os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700)
    started = []

    def run(*args, check=None):
        r = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True,
                           timeout=60)
        if check is not None:
            assert r.returncode == check, (args, r.stdout, r.stderr)
        return r

    def start(*args):
        p = subprocess.Popen([str(exe), "start", *args], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        started.append(p)
        return p

    yield run, start, tmp_path
    for p in started:
        if p.poll() is None:
            p.terminate()
        assert p.wait(30) == 0, p.stdout.read()


def test_default_paths_and_commands(rpd):
    run, start, tmp = rpd
    p = start()
    sock = tmp / "run" / "running-process" / "daemon.sock"
    wait_until(lambda: run("ping").returncode == 0, what="daemon answers")
    assert run("ping", check=0).stdout.startswith("pong (")
    assert os.stat(sock.parent).st_mode & 0o777 == 0o700
    st = run("status", check=0).stdout
    assert f"socket:            {sock}" in st
    assert f"database:          {tmp}/state/running-process/tracked-pids.sqlite3" in st
    assert "scope:             global" in st and "emergency reserve: armed" in st

    with RpClient(str(sock)) as c:
        r = c.call(rp.REQUEST_TYPE_REGISTER, "register", rp.RegisterRequest(
            pid=os.getpid(), created_at=time.time(), command="pytest", originator="py:1"))
        assert r.code == OK
    rows = json.loads(run("list", "--json", check=0).stdout)
    assert [(x["pid"], x["state"], x["originator"]) for x in rows] == [(os.getpid(), "alive", "py:1")]
    assert json.loads(run("list", "--json", "--originator", "zz", check=0).stdout) == []
    assert run("tree", str(os.getpid()), check=0).stdout.startswith("python3 (pid=")
    assert run("kill-zombies", "--dry-run", check=0).stdout == "no zombies\n"

    assert run("stop", check=0).stdout == "daemon stopped\n"
    assert p.wait(30) == 0
    assert not sock.exists()
    r = run("ping")
    assert r.returncode == 1 and "no daemon answers" in r.stderr


def test_scope_and_explicit_paths(rpd):
    run, start, tmp = rpd
    p = start("--scope", "dev")
    wait_until(lambda: run("ping", "--scope", "dev").returncode == 0, what="scoped daemon")
    st = run("status", "--scope", "dev", check=0).stdout
    assert "daemon-dev.sock" in st and "tracked-pids-dev.sqlite3" in st
    assert "scope:             dev" in st
    run("stop", "--scope", "dev", check=0)
    assert p.wait(30) == 0

    sock = tmp / "custom" / "d.sock"
    db = tmp / "db" / "x.sqlite3"
    p = start("--socket-path", str(sock), "--db-path", str(db))
    wait_until(lambda: run("ping", "--socket-path", str(sock)).returncode == 0, what="daemon")
    with RpClient(str(sock)) as c:
        s = c.call(rp.REQUEST_TYPE_STATUS).status
        assert (s.socket_path, s.db_path) == (str(sock), str(db))
    run("stop", "--socket-path", str(sock), check=0)
    assert p.wait(30) == 0


def test_usage_errors(rpd):
    run, _, _ = rpd
    assert run("bogus").returncode == 2
    assert run("tree").returncode == 2
    assert run("list", "--scope").returncode == 2
    assert run().returncode == 2
