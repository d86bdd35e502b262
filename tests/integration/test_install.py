"""`make install`'s layout (`meson install --destdir`): the programs, the systemd units with the
installed droverd's path, man pages that render, and completions that complete; all generated
from the programs and deploy/systemd/, so a new command or setting is in them at once."""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    d = tmp_path_factory.mktemp("root")
    r = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--destdir", str(d)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    prefix = subprocess.run(["meson", "introspect", "--buildoptions", BUILD], capture_output=True,
                            text=True, timeout=60).stdout
    p = next(o["value"] for o in json.loads(prefix) if o["name"] == "prefix")
    return d, p


def test_programs_and_units(root):
    d, prefix = root
    base = str(d) + prefix
    for prog in ("drover", "droverd"):
        assert os.access(f"{base}/bin/{prog}", os.X_OK)
    system = open(f"{base}/lib/systemd/system/droverd.service").read()
    user = open(f"{base}/lib/systemd/user/droverd.service").read()
    for unit in (system, user):
        assert f"ExecStart={prefix}/bin/droverd\n" in unit and "Type=notify" in unit
    assert "WantedBy=multi-user.target" in system and "WantedBy=default.target" in user
    r = subprocess.run([f"{base}/bin/droverd", "--version"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("droverd ")


def test_man_pages_render(root):
    d, prefix = root
    man = str(d) + prefix + "/share/man"
    if not shutil.which("man"):
        pytest.skip("man is not installed")
    for page, says in (("man1/drover.1", ["startup", "--host", "EXIT STATUS"]),
                       ("man8/droverd.8", ["--shutdown-grace-ms", "EXIT STATUS", "PID 1"]),
                       ("man5/drover.yaml.5", ["shutdown_grace_ms", "max_connections"])):
        r = subprocess.run(["man", "--warnings", "-l", f"{man}/{page}"], capture_output=True,
                           text=True, timeout=60, env=dict(os.environ, MANWIDTH="100",
                                                            MAN_KEEP_FORMATTING="0"))
        assert r.returncode == 0 and not r.stderr.strip(), (page, r.stderr)
        text = re.sub(".\x08", "", r.stdout).replace("\u2010", "-").replace("\u2011", "-")
        for word in says:
            assert word in text, (page, word)


def test_bash_completion(root):
    d, prefix = root
    comp = str(d) + prefix + "/share/bash-completion/completions/drover.bash"
    script = f"""source {comp}
COMP_WORDS=(drover st); COMP_CWORD=1; _drover; echo "${{COMPREPLY[*]}}"
COMP_WORDS=(drover --ho); COMP_CWORD=1; _drover; echo "${{COMPREPLY[*]}}"
COMP_WORDS=(drover --json startup --u); COMP_CWORD=3; _drover; echo "${{COMPREPLY[*]}}"
"""
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                         timeout=30).stdout.splitlines()
    assert set(out[0].split()) >= {"start", "stop", "status", "startup"}
    assert out[1].split() == ["--host"]
    assert "--user" in out[2].split() and "--unit-dir" in out[2].split()
    zsh = open(str(d) + prefix + "/share/zsh/vendor-completions/_drover").read()
    assert zsh.startswith("#compdef drover") and "'startup:" in zsh
