"""baaaht's conversation through baaaht's own client stack: @grpc/grpc-js and @grpc/proto-loader
(npm, tests/node/package-lock.json) loading proto/baaaht/*.proto at run time, as baaaht's
TypeScript assistant does. tests/node/baaaht-conversation.js runs a scripted assistant, a TUI-like
client and the gateway's StreamChat against droverd's --baaaht-socket and exits 0 when every
check passed. node and npm come with the project's set-up (scripts/install-deps): missing, the
test fails rather than skips."""

import fcntl
import os
import shutil
import subprocess

import pytest

from conftest import ROOT

NODE_DIR = os.path.join(ROOT, "tests", "node")
SCRIPT = os.path.join(NODE_DIR, "baaaht-conversation.js")
LOCK = os.path.join(NODE_DIR, "package-lock.json")


def tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: scripts/install-deps installs Debian's nodejs and npm "
                    f"(run it as root, or apt-get install nodejs npm)", pytrace=False)
    return path


def node_modules():
    """npm ci in tests/node when node_modules is missing or older than package-lock.json. The
    lock file itself is flock'ed, so that concurrent runs install once."""
    npm = tool("npm")
    stamp = os.path.join(NODE_DIR, "node_modules", ".package-lock.json")  # npm writes it last
    with open(LOCK) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if (os.path.exists(stamp) and os.path.getmtime(stamp) >= os.path.getmtime(LOCK)
                    and os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@grpc", "grpc-js"))
                    and os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@grpc",
                                                   "proto-loader"))):
                return
            r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                               capture_output=True, text=True, timeout=600)
            assert r.returncode == 0, f"npm ci failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def test_conversation_through_grpc_js(make_droverd, tmp_path):
    node = tool("node")
    node_modules()
    sock = str(tmp_path / "bh" / "baaaht-grpc.sock")
    d = make_droverd(extra_args=["--baaaht-socket", sock])
    try:
        r = subprocess.run([node, SCRIPT, sock], cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"node ran over 60 s:\n{e.stdout}\n{e.stderr}\n"
                             f"droverd's log:\n{d.read_log()[-20000:]}")
    assert r.returncode == 0, (f"node exited {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n"
                               f"{r.stderr}\n--- droverd's log (end)\n{d.read_log()[-20000:]}")
    assert r.stdout.rstrip().endswith(
        "ok - conversation through @grpc/grpc-js and @grpc/proto-loader passed"), r.stdout
