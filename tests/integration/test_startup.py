"""`drover startup [--user]`: droverd.service written with the droverd beside this drover, then
`systemctl daemon-reload` and `enable --now` (a stand-in systemctl on PATH records them here:
no systemd runs in the test); each unit passes `systemd-analyze verify`."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import BUILD, DROVER

DROVERD = os.path.join(BUILD, "src", "droverd")


def fake_systemctl(tmp_path, code=0):
    """A systemctl that appends its arguments to tmp_path/calls and exits with code."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    script = bindir / "systemctl"
    script.write_text(f"#!/bin/sh\necho \"$*\" >> {tmp_path / 'calls'}\nexit {code}\n")
    script.chmod(0o755)
    return dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")


def run(*args, env=None):
    return subprocess.run([DROVER, *args], env=env, capture_output=True, text=True, timeout=30)


def calls(tmp_path):
    p = tmp_path / "calls"
    return p.read_text().splitlines() if p.exists() else []


def test_print_shows_the_unit_and_does_nothing(tmp_path):
    env = fake_systemctl(tmp_path)
    r = run("startup", "--print", env=env)
    assert r.returncode == 0, r.stderr
    assert f"ExecStart={DROVERD}\n" in r.stdout and "Type=notify" in r.stdout
    assert "WantedBy=multi-user.target" in r.stdout and "@DROVERD@" not in r.stdout
    u = run("startup", "--print", "--user", env=env).stdout
    assert "WantedBy=default.target" in u and f"ExecStart={DROVERD}\n" in u
    assert calls(tmp_path) == []


@pytest.mark.parametrize("user", [False, True])
def test_writes_reloads_and_enables(tmp_path, user):
    env = fake_systemctl(tmp_path)
    units = tmp_path / "units"
    flag = ["--user"] if user else []
    r = run("--json", "startup", *flag, "--unit-dir", str(units), env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out == {"unit": str(units / "droverd.service"), "droverd": DROVERD, "user": user,
                   "enabled": True}
    text = (units / "droverd.service").read_text()
    assert f"ExecStart={DROVERD}\n" in text
    assert oct((units / "droverd.service").stat().st_mode & 0o777) == "0o644"
    pre = "--user " if user else ""
    assert calls(tmp_path) == [f"{pre}daemon-reload", f"{pre}enable --now droverd.service"]
    # Again: the unit is replaced, not doubled.
    assert run("startup", *flag, "--unit-dir", str(units), env=env).returncode == 0
    assert os.listdir(units) == ["droverd.service"]


def test_no_enable_and_a_failing_systemctl(tmp_path):
    env = fake_systemctl(tmp_path, code=1)
    units = tmp_path / "units"
    r = run("startup", "--unit-dir", str(units), "--no-enable", env=env)
    assert r.returncode == 0 and "systemctl enable --now droverd.service" in r.stdout
    assert calls(tmp_path) == []
    r = run("startup", "--unit-dir", str(units), env=env)
    assert r.returncode == 1 and "systemctl daemon-reload failed (exit 1)" in r.stderr
    assert (units / "droverd.service").exists()
    r = run("startup", "--unit-dir", "/proc/no/such/dir", env=env)
    assert r.returncode == 1 and "cannot write /proc/no/such/dir/droverd.service" in r.stderr


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not here")
@pytest.mark.parametrize("user", [False, True])
def test_units_verify(tmp_path, user):
    env = fake_systemctl(tmp_path)
    units = tmp_path / "units"
    flag = ["--user"] if user else []
    assert run("startup", *flag, "--unit-dir", str(units), "--no-enable", env=env).returncode == 0
    venv = dict(os.environ)
    if user:
        (tmp_path / "xdg").mkdir(mode=0o700)
        venv["XDG_RUNTIME_DIR"] = str(tmp_path / "xdg")
    r = subprocess.run(["systemd-analyze", *flag, "verify", "--man=no",
                        str(units / "droverd.service")], env=venv, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "droverd.service" not in r.stderr, r.stderr
