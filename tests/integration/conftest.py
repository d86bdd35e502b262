"""Fixtures for the integration suite: the real droverd in a temporary directory, driven by
real clients (python3-grpcio, the drover CLI, raw sockets).

droverd is started with NOTIFY_SOCKET pointing at a datagram socket of ours, and the fixture
waits for READY=1: readiness, never a fixed sleep. Every droverd started here is stopped by pid
at the end, and must exit 0 (an ASan build exits non-zero on any error it finds)."""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import grpc
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("DROVER_BUILD_DIR", os.path.join(ROOT, "build")))
DROVERD = os.path.join(BUILD, "src", "droverd")
DROVER = os.path.join(BUILD, "src", "drover")
GRPC_PROTO = "/usr/share/grpc-proto"


def _generate_stubs(out):
    """protoc-generated Python messages and stubs. The health and reflection protos are compiled
    from their own folders, so that their modules do not collide with grpcio's `grpc` package."""
    from grpc_tools import protoc

    # The two reflection files share a name; Python's descriptor pool needs distinct ones.
    src = os.path.join(out, "src")
    os.makedirs(src)
    for version in ("v1", "v1alpha"):
        shutil.copy(os.path.join(GRPC_PROTO, f"grpc/reflection/{version}/reflection.proto"),
                    os.path.join(src, f"reflection_{version}.proto"))
    jobs = [
        (os.path.join(ROOT, "proto"), "drover/v1/admin.proto"),
        (os.path.join(ROOT, "proto"), "running_process/daemon/v1/daemon.proto"),
        (os.path.join(ROOT, "proto"), "drover/v1/processes.proto"),
        (os.path.join(ROOT, "proto"), "drover/v1/services.proto"),
        (os.path.join(ROOT, "proto"), "drover/v1/sessions.proto"),
        (os.path.join(ROOT, "proto"), "daemon/v1/daemon.proto"),
        (os.path.join(ROOT, "proto"), "drover/v1/metrics.proto"),
        (os.path.join(ROOT, "proto"), "drover/v1/containers.proto"),
        (os.path.join(ROOT, "proto"), "socktop/processes.proto"),
        (os.path.join(ROOT, "proto"), "stratavore/v1/stratavore.proto"),
        *[(os.path.join(ROOT, "proto", "baaaht"), f"{n}.proto")
          for n in ("common", "orchestrator", "agent", "gateway", "llm", "tool")],
        (os.path.join(GRPC_PROTO, "grpc/health/v1"), "health.proto"),
        (src, "reflection_v1.proto"),
        (src, "reflection_v1alpha.proto"),
    ]
    wkt = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    for include, name in jobs:
        args = ["protoc", f"-I{include}", f"-I{wkt}", "-I/usr/include",
                f"--python_out={out}", f"--grpc_python_out={out}", name]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed for {name}")


_GEN = tempfile.mkdtemp(prefix="drover-pb-")
atexit.register(shutil.rmtree, _GEN, True)
_generate_stubs(_GEN)
sys.path.insert(0, _GEN)


class Droverd:
    """A running droverd: its pid, socket, directories and log."""

    def __init__(self, tmp, extra_args=(), config=None, env=None):
        self.tmp = tmp
        os.makedirs(tmp, exist_ok=True)
        self.socket = os.path.join(tmp, "run", "drover.sock")
        self.rp_socket = os.path.join(tmp, "rp", "daemon.sock")
        self.state_dir = os.path.join(tmp, "state")
        self.log_path = os.path.join(tmp, "droverd.log")
        self.env = dict(os.environ)
        self.env.update({
            "XDG_RUNTIME_DIR": os.path.join(tmp, "xdg-run"),
            "XDG_STATE_HOME": os.path.join(tmp, "xdg-state"),
            "XDG_CONFIG_HOME": os.path.join(tmp, "xdg-config"),
            "DROVER_SOCKET": self.socket,
        })
        self.env.update(env or {})
        # A small emergency reserve: each test's state directory would otherwise hold 32 MiB.
        self.args = [DROVERD, "--socket", self.socket, "--state-dir", self.state_dir,
                     "--log-level", "debug", "--emergency-reserve-bytes", "65536", *extra_args]
        if config is not None:
            path = os.path.join(tmp, "drover.yaml")
            with open(path, "w") as f:
                f.write(config)
            self.args += ["--config", path]
        self.proc = None
        self._channels = []

    def start(self, timeout=20):
        notify_path = os.path.join(self.tmp, "notify.sock")
        if os.path.exists(notify_path):
            os.unlink(notify_path)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.settimeout(timeout)
        env = dict(self.env, NOTIFY_SOCKET=notify_path)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            while True:
                msg = notify.recv(4096).decode()
                if "READY=1" in msg:
                    assert f"MAINPID={self.proc.pid}" in msg
                    break
        except socket.timeout:
            self.proc.kill()
            raise AssertionError(f"droverd never reported READY=1:\n{self.read_log()}")
        finally:
            notify.close()
        return self

    def channel(self, **options):
        ch = grpc.insecure_channel(f"unix:{self.socket}", options=list(options.items()))
        self._channels.append(ch)
        return ch

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def cli(self, *args, socket_path=None, check=None):
        """Runs the drover CLI against this daemon; returns the CompletedProcess."""
        cmd = [DROVER, "--socket", socket_path or self.socket, *args]
        r = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)
        if check is not None:
            assert r.returncode == check, (r.returncode, r.stdout, r.stderr)
        return r

    def wait(self, timeout=30):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        """SIGTERM by pid, then wait; returns the exit code."""
        for ch in self._channels:
            ch.close()
        self._channels = []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"droverd ignored SIGTERM:\n{self.read_log()}")
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def make_droverd(tmp_path):
    """Factory: make_droverd(extra_args=..., config=...) returns a started Droverd. Each one is
    stopped by pid at the end of the test and must have exited 0."""
    started = []

    def make(extra_args=(), config=None, env=None, start=True, subdir="d"):
        d = Droverd(str(tmp_path / f"{subdir}{len(started)}"), extra_args, config, env)
        started.append(d)
        return d.start() if start else d

    yield make
    for d in started:
        if d.proc is None:
            continue
        code = d.stop()
        assert code == 0, f"droverd exited {code}:\n{d.read_log()}"


@pytest.fixture
def droverd(make_droverd):
    return make_droverd()


def alive(pid):
    """Whether pid runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone, also between the open and the read
        return False


def children_of(pid):
    """The pids whose parent is pid, from /proc/PID/task/PID/children ([] once it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def kill_group(pid):
    """SIGKILLs the process group pid leads (every process a test starts leads its own: spawned
    daemons have their own session, Popen gets start_new_session=True), else just pid."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
            return
        except ProcessLookupError:
            continue
        except PermissionError:
            return


def drain_streams(calls, daemon=False):
    """Reads each server stream of calls on a thread of its own, counting messages until the
    stream ends or is cancelled. Returns (counts, threads): counts[i] is calls[i]'s so far."""
    got = [0] * len(calls)

    def drain(i, c):
        try:
            for _ in c:
                got[i] += 1
        except grpc.RpcError:
            pass
    threads = [threading.Thread(target=drain, args=(i, c), daemon=daemon)
               for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    return got, threads


def wait_until(predicate, timeout=10.0, what="condition"):
    """Re-checks predicate until it holds; for state that settles after an event we caused."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def tmux(tmp_path):
    """A private tmux server (its own socket): tmux("new-session", ...) runs a tmux command."""
    sock = str(tmp_path / "tmux.sock")

    def t(*args):
        return subprocess.run(["tmux", "-S", sock, *args], capture_output=True, text=True,
                              timeout=10)
    yield t
    t("kill-server")


def screen(tmux, target="t"):
    """What the pane shows now."""
    return tmux("capture-pane", "-p", "-t", target).stdout


def sanitized(pid):
    """ASan keeps freed memory in quarantine: RSS says nothing about leaks or bounds there."""
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid, field="VmRSS:"):
    """pid's resident memory in kB; field="RssAnon:" for its own (written) memory only, which
    code pages coming back after droverd's start-up trim do not count in."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))
