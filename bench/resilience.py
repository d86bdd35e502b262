#!/usr/bin/python3
"""What happens to services when something happens to droverd: for each event, how many services
were restarted, how many definitions were lost, how many services ran twice, and how many bytes of
a writer's log were lost or doubled. Prints one table; the answer drover aims at is zeros.

Events: an upgrade in place, one SIGKILL, twenty SIGKILLs at random instants of a restore, a full
state disk (needs root: an 8 MiB tmpfs), and descriptor exhaustion (a crash-looping service under
EMFILE). Every process it starts is stopped by pid.

    BUILD=build bench/resilience.py"""

import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("BUILD", "build")
DROVERD = os.path.join(BUILD, "src", "droverd")
DROVER = os.path.join(BUILD, "src", "drover")
WRITER = "i=0; while :; do echo $i; i=$((i+1)); sleep 0.01; done"


class Droverd:
    def __init__(self, tmp, state=None):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "drover.sock")
        self.state = state or os.path.join(tmp, "state")
        self.args = [DROVERD, "--socket", self.sock, "--state-dir", self.state,
                     "--log-level", "warning", "--emergency-reserve-bytes", "1048576"]
        self.proc = None

    def start(self, wait=True):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        while wait and self.cli("ping").returncode != 0:
            if self.proc.poll() is not None:
                sys.exit("droverd did not start")
            time.sleep(0.01)

    def cli(self, *args):
        return subprocess.run([DROVER, "--socket", self.sock, *args], capture_output=True,
                              text=True, timeout=60)

    def ls(self):
        r = self.cli("--json", "ls")
        return {s["name"]: s for s in json.loads(r.stdout)} if r.returncode == 0 else {}

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)


def running(tag):
    """argv[1] -> pids of `sleep TAG...` processes."""
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")[:-1]
        except OSError:
            continue
        if len(argv) == 2 and argv[0] == b"sleep" and argv[1].startswith(tag.encode()):
            out.setdefault(argv[1].decode(), []).append(int(p))
    return out


def populate(d, n, tag):
    for i in range(n):
        d.cli("start", "--name", f"s{i}", "--", "sleep", f"{tag}{i:03d}")
    d.cli("start", "--name", "writer", "--", "sh", "-c", WRITER)
    while len(d.ls()) < n + 1:
        time.sleep(0.01)
    time.sleep(0.2)


def measure(d, n, tag, before):
    """(restarted, lost, doubled, log bytes lost or doubled) against the pids before."""
    deadline = time.monotonic() + 30
    now = d.ls()
    while time.monotonic() < deadline and any(s["state"] not in ("online", "stopped")
                                              for s in now.values()):
        time.sleep(0.05)
        now = d.ls()
    names = [f"s{i}" for i in range(n)] + ["writer"]
    lost = sum(1 for x in names if x not in now)
    restarted = sum(1 for x in names if x in now and now[x]["pid"] != before.get(x))
    procs = running(tag)
    doubled = sum(1 for v in procs.values() if len(v) > 1)
    log = now.get("writer", {}).get("stdout_log")
    d.cli("stop", "writer")
    bad = 0
    if log:
        with open(log) as f:
            seq = [int(x) for x in f.read().split()]
        bad = sum(len(str(x)) + 1 for i, x in enumerate(seq) if x != i) + \
            sum(len(str(i)) + 1 for i in range(len(seq), max(seq, default=-1) + 1))
    return restarted, lost, doubled, bad


def scenario(name, n, tag, event, state=None):
    with tempfile.TemporaryDirectory() as tmp:
        d = Droverd(tmp, state(tmp) if state else None)
        d.start()
        try:
            populate(d, n, tag)
            before = {k: v["pid"] for k, v in d.ls().items()}
            event(d)
            return (name,) + measure(d, n, tag, before)
        finally:
            d.stop()
            for pids in running(tag).values():
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
            if state:
                subprocess.run(["umount", d.state])


def upgrade(d):
    r = d.cli("upgrade", "--binary", os.path.abspath(DROVERD))
    if r.returncode != 0:
        sys.exit(f"upgrade failed: {r.stderr}")


def one_crash(d):
    d.kill9()
    time.sleep(0.2)
    d.start()


def repeated(d):
    rng = random.Random(1)
    for _ in range(20):
        d.kill9()
        d.start(wait=False)
        time.sleep(rng.uniform(0, 0.15))
    d.kill9()
    d.start()


def full_disk(d):
    filler = os.path.join(d.state, "filler")
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    d.cli("stop", "s0")  # refused: the disk is full
    d.kill9()
    os.unlink(filler)
    d.start()


def emfile(d):
    d.cli("start", "--name", "crashy", "--restart-delay", "50", "--", "sh", "-c", "exit 1")
    soft, hard = resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (8, hard))
    time.sleep(1.0)  # the crash loop meets EMFILE for a while
    resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (soft, hard))
    time.sleep(0.5)


def tmpfs(tmp):
    path = os.path.join(tmp, "small")
    os.mkdir(path)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", path], check=True)
    return path


def main():
    rows = [scenario("upgrade in place", 20, "810", upgrade),
            scenario("one SIGKILL", 20, "820", one_crash),
            scenario("20 SIGKILLs during restores", 50, "830", repeated)]
    if os.geteuid() == 0:
        rows.append(scenario("full state disk (8 MiB)", 20, "840", full_disk, tmpfs))
    rows.append(scenario("EMFILE", 20, "850", emfile))
    print(f"{'event':30} {'restarted':>10} {'defs lost':>10} {'doubled':>8} {'log bytes':>10}")
    for r in rows:
        print(f"{r[0]:30} {r[1]:>10} {r[2]:>10} {r[3]:>8} {r[4]:>10}")


if __name__ == "__main__":
    main()
