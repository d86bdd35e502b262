#!/usr/bin/python3
"""PTY and pipe sessions side by side: droverd against dtach and tmux (abduco is not packaged
in Debian 12), each run here, now, with the same file. Prints one table; never fails (a peer
that is not installed is skipped: `bench/run-sessions` installs them).

Rows (MB = SIZE_MB, default 200; the file is lines of 99 'x' and a newline):
  raw pty        `cat FILE` on a PTY read by this script: what a PTY can carry here
  raw pty, 2 hops  the same through script(1), which relays one PTY to another: what an
                 attached client's path (session PTY, then the client's terminal) can carry
  detached       the session runs `cat FILE` with nobody attached, until it exits
  attached       the peer's client attached (itself on a PTY read by this script), until the
                 client exits
  pipe limit     `cat FILE | cat > /dev/null`
  drover pipe    `drover run -- cat FILE > /dev/null` (a pipe session, attached)
  ..., 1 core    the same with the supervisor, its client and the program pinned to one core
                 (taskset -c 0): a PTY's throughput on a multi-core machine depends on where the
                 scheduler puts the writer, the kernel's flush worker and the reader, and swings
                 by ±20 % from run to run; on one core it is steady within a few per cent, and
                 what is left is the work each reader does per byte
Each figure is MB/s, median of ROUNDS (default 5, interleaved: every row once, then again, so
a shared machine's drift hits every row alike); ratios are medians of the round-by-round ratios
(above 1: drover is faster); CPU time per 100 MB is read from /proc for droverd's rows and
for dtach's master when detached.
Every process started is stopped by pid.
"""

import os
import pty
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from metrics import cpu_ticks
from results import record

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
SIZE_MB = int(os.environ.get("SIZE_MB", "200"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
DROVERD = os.path.join(BUILD, "src", "droverd")
DROVER = os.path.join(BUILD, "src", "drover")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def on_pty(argv, env=None):
    """Runs argv on a new PTY (100x30), reading everything until it exits: seconds."""
    t0 = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env or os.environ)
    import fcntl
    import struct
    import termios
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    while True:
        try:
            if not os.read(fd, 1 << 16):
                break
        except OSError:  # EIO: the other side is closed
            break
    os.waitpid(pid, 0)
    os.close(fd)
    return time.monotonic() - t0


def pinned(fn):
    """fn() with this process (the raw PTY's reader, and the cat it forks) on core 0 alone."""
    was = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    try:
        return fn()
    finally:
        os.sched_setaffinity(0, was)


def wait_gone(path, step=0.001):
    while os.path.exists(path):
        time.sleep(step)


def cpu_s(pid):
    return cpu_ticks(pid) / os.sysconf("SC_CLK_TCK")


def mbps(seconds):
    return SIZE_MB * 1e6 / 1e6 / seconds


PIN = ["taskset", "-c", "0"]


class Drover:
    def __init__(self, tmp, pin=()):
        self.pin = list(pin)
        self.sock = os.path.join(tmp, f"drover{'-pinned' if pin else ''}.sock")
        self.proc = subprocess.Popen([*self.pin, DROVERD, "--socket", self.sock, "--state-dir",
                                      os.path.join(tmp, f"state{'-pinned' if pin else ''}"),
                                      "--log-level", "warning"])
        while not os.path.exists(self.sock):
            time.sleep(0.005)
        import grpc
        from drover.v1 import sessions_pb2_grpc as sg
        self.ch = grpc.insecure_channel("unix:" + self.sock)
        self.stub = sg.SessionsStub(self.ch)

    def detached(self, path):
        from running_process.daemon.v1 import daemon_pb2 as rp
        t0 = time.monotonic()
        s = self.stub.SpawnPty(rp.SpawnPtySessionRequest(argv=["cat", path]))
        wait_gone(f"/proc/{s.pid}")  # as cheap a wait as dtach's: no RPC while it runs
        return time.monotonic() - t0

    def attached(self, path):
        return on_pty([*self.pin, DROVER, "--socket", self.sock, "run", "--pty", "--", "cat",
                       path])

    def pipe(self, path):
        t0 = time.monotonic()
        subprocess.run([DROVER, "--socket", self.sock, "run", "--", "cat", path],
                       stdout=subprocess.DEVNULL, check=True)
        return time.monotonic() - t0

    def stop(self):
        self.ch.close()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def dtach_master(sock):
    """The pid of the dtach master serving sock (dtach -n has forked it and exited)."""
    want = b"dtach\0-n\0" + sock.encode() + b"\0"
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if d.isdigit() and f.read().startswith(want):
                    return int(d)
        except OSError:
            pass
    return None


def dtach_detached(tmp, path, pin=()):
    """Seconds, and the master's CPU seconds (read until it exits)."""
    sock = os.path.join(tmp, "dtach.sock")
    t0 = time.monotonic()
    subprocess.run([*pin, "dtach", "-n", sock, "-z", "cat", path], check=True)
    pid, cpu = dtach_master(sock), 0.0
    while os.path.exists(sock):
        try:
            cpu = cpu_s(pid) if pid else 0.0
        except (OSError, IndexError):
            pass
        time.sleep(0.001)
    return time.monotonic() - t0, cpu if pid else None


def dtach_attached(tmp, path, pin=()):
    return on_pty([*pin, "dtach", "-c", os.path.join(tmp, "dtach-a.sock"), "-z", "cat", path])


def tmux_detached(tmp, path):
    sock = os.path.join(tmp, "tmux.sock")
    t0 = time.monotonic()
    subprocess.run(["tmux", "-S", sock, "-f", "/dev/null", "new-session", "-d", "-x", "100",
                    "-y", "30", f"cat {path}; tmux -S {sock} wait-for -S done"], check=True)
    subprocess.run(["tmux", "-S", sock, "wait-for", "done"], check=True)
    t = time.monotonic() - t0
    subprocess.run(["tmux", "-S", sock, "kill-server"], stderr=subprocess.DEVNULL)
    return t


def tmux_attached(tmp, path):
    return on_pty(["tmux", "-S", os.path.join(tmp, "tmux-a.sock"), "-f", "/dev/null",
                   "new-session", f"cat {path}"], env=dict(os.environ, TERM="xterm"))


def main():
    tmp = tempfile.mkdtemp(prefix="drover-sessbench-")
    path = os.path.join(tmp, "data")
    line = b"x" * 99 + b"\n"
    with open(path, "wb") as f:
        block = line * 10000
        for _ in range(SIZE_MB * 1000000 // len(block)):
            f.write(block)
    sys.path.insert(0, tempfile.mkdtemp())
    import conftest  # noqa: F401  (generates the Python stubs)

    def pipe_limit():
        t0 = time.monotonic()
        subprocess.run(f"cat {path} | cat > /dev/null", shell=True, check=True)
        return time.monotonic() - t0

    d = Drover(tmp)
    dp = Drover(tmp, PIN)
    cases = [("raw pty", lambda: on_pty(["cat", path]))]
    if shutil.which("script"):  # a plain relay between two PTYs: the attached rows' limit
        cases.append(("raw pty, 2 hops",
                      lambda: on_pty(["script", "-q", "-c", f"cat {path}", "/dev/null"])))
    cases += [("drover detached", lambda: d.detached(path)),
              ("drover attached", lambda: d.attached(path))]
    if shutil.which("dtach"):
        cases += [("dtach detached", lambda: dtach_detached(tmp, path)),
                  ("dtach attached", lambda: dtach_attached(tmp, path))]
    if shutil.which("tmux"):
        cases += [("tmux detached", lambda: tmux_detached(tmp, path)),
                  ("tmux attached", lambda: tmux_attached(tmp, path))]
    cases += [("drover pipe", lambda: d.pipe(path)), ("pipe limit", pipe_limit),
              ("raw pty, 1 core", lambda: pinned(lambda: on_pty(["cat", path]))),
              ("drover detached, 1 core", lambda: dp.detached(path)),
              ("drover attached, 1 core", lambda: dp.attached(path))]
    if shutil.which("dtach"):
        cases += [("dtach detached, 1 core", lambda: dtach_detached(tmp, path, PIN)),
                  ("dtach attached, 1 core", lambda: dtach_attached(tmp, path, PIN))]
    # Rounds are interleaved (every row once, then again): a shared machine's drift hits every
    # row alike, so the ratios hold even when the absolute figures wander.
    times = {name: [] for name, _ in cases}
    cpu = {name: 0.0 for name, _ in cases}
    try:
        for _ in range(ROUNDS):
            for name, fn in cases:
                pid = (dp if "1 core" in name else d).proc.pid
                c0 = cpu_s(pid)
                t = fn()
                if isinstance(t, tuple):  # a peer that reports its own CPU time
                    t, c = t
                    cpu[name] = None if c is None or cpu[name] is None else cpu[name] + c
                else:
                    cpu[name] += cpu_s(pid) - c0
                times[name].append(t)
    finally:
        d.stop()
        dp.stop()
    rows = [(name, statistics.median(times[name]),
             cpu[name] / ROUNDS / (SIZE_MB / 100)
             if name.startswith("drover") or (name.startswith("dtach detached") and cpu[name])
             else None)
            for name, _ in cases]
    shutil.rmtree(tmp, ignore_errors=True)
    record("sessions", {"size_mb": SIZE_MB, "rounds": ROUNDS,
                        "rows": {name: {"seconds": times[name], "cpu_s_per_100mb": c}
                                 for name, _, c in rows}})

    print(f"{SIZE_MB} MB through a session, median of {ROUNDS} ({os.cpu_count()} cores)")
    print(f"{'row':<24} {'MB/s':>8} {'seconds':>8} {'CPU s/100 MB':>13}")
    for name, secs, c in rows:
        print(f"{name:<24} {mbps(secs):8.1f} {secs:8.3f} "
              f"{'' if c is None else f'{c:13.3f}'}")
    # Ratios pair by pair: each round's drover time against the other row's in the same round.
    def ratio(a, b):
        if b not in times:
            return
        r = [tb / ta for ta, tb in zip(times[a], times[b])]
        print(f"{a} / {b}: x{statistics.median(r):.2f} "
              f"(rounds: {' '.join(f'{x:.2f}' for x in r)})")
    for mode in ("detached", "attached"):
        for peer in ("dtach", "tmux"):
            ratio(f"drover {mode}", f"{peer} {mode}")
    ratio("drover detached", "raw pty")
    ratio("drover attached", "raw pty, 2 hops")
    ratio("drover pipe", "pipe limit")
    for mode in ("detached", "attached"):
        ratio(f"drover {mode}, 1 core", f"dtach {mode}, 1 core")
    ratio("drover detached, 1 core", "raw pty, 1 core")


if __name__ == "__main__":
    main()
