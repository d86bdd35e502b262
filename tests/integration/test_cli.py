"""The drover CLI against a real droverd: output, --json, exit codes."""

import json
import os

from conftest import DROVER


def test_ping(droverd):
    r = droverd.cli("ping", check=0)
    assert r.stdout.startswith(f"pong from droverd at {droverd.socket} in ")
    j = json.loads(droverd.cli("--json", "ping", check=0).stdout)
    assert j["socket"] == droverd.socket and j["rtt_ms"] > 0 and j["server_time"].endswith("Z")


def test_status(droverd):
    r = droverd.cli("status", check=0)
    assert f"(pid {droverd.proc.pid})" in r.stdout
    assert droverd.socket in r.stdout and droverd.state_dir in r.stdout
    for args in (["--json", "status"], ["status", "--json"]):
        j = json.loads(droverd.cli(*args, check=0).stdout)
        assert j["pid"] == droverd.proc.pid
        assert j["version"] == "0.1.0"
        assert j["state_dir"] == droverd.state_dir
        assert j["config_path"] is None
        assert j["open_connections"] == 1 and j["rss_bytes"] > 0


def test_shutdown(droverd):
    r = droverd.cli("shutdown", check=0)
    assert r.stdout.strip() == f"droverd (pid {droverd.proc.pid}) has shut down"
    assert droverd.wait() == 0
    assert not os.path.exists(droverd.socket)


def test_shutdown_returns_once_droverd_exited_and_a_restart_works_at_once(make_droverd):
    d = make_droverd()
    for _ in range(3):
        d.cli("shutdown", check=0)
        assert d.proc.poll() == 0  # exited before the CLI returned: no wait needed
        d.log.close()
        d.start()  # the socket and its lock are free at once
        assert d.cli("ping").returncode == 0


def test_no_daemon(tmp_path):
    sock = str(tmp_path / "none.sock")
    import subprocess
    for cmd in (["ping"], ["status"], ["shutdown"]):
        r = subprocess.run([DROVER, "--socket", sock, *cmd], capture_output=True, text=True)
        assert r.returncode == 1
        assert r.stderr.count("\n") == 1
        assert f"no droverd answers at {sock}" in r.stderr
        assert f"start one with: droverd --socket {sock}" in r.stderr


def test_usage_and_help(droverd):
    assert droverd.cli("nonsense", check=2).stderr.startswith("drover: unknown command 'nonsense'")
    droverd.cli("ping", "--bogus", check=2)
    droverd.cli("ping", "extra", check=2)
    assert "Usage: drover status" in droverd.cli("status", "--help", check=0).stdout
    assert "Commands:" in droverd.cli("--help", check=0).stdout
    for c in ("ping", "status", "shutdown"):
        assert f"Usage: drover {c}" in droverd.cli(c, "-h", check=0).stdout
    import subprocess
    assert subprocess.run([DROVER], capture_output=True).returncode == 2


def test_socket_from_environment(droverd):
    import subprocess
    r = subprocess.run([DROVER, "ping"], env=droverd.env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
