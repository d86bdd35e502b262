#!/usr/bin/python3
"""Services side by side: droverd against s6, runit, supervisord and pm2, each run here, now, on
the same machine, with the same services. Prints one table; never fails (a peer that is not
installed is skipped: `bench/run-peers` installs them).

Rows (N = SERVICES, default 50; every service is `sleep 3600`):
  start N      from the command that starts them until every one runs
  stop N       from the command that stops them until every one has exited
  restart      after SIGKILL of the service's process with restart delay 0: until the new one
               runs (it writes its own start time), median and p99 of ROUNDS (default 20)
  status N     the peer's status command listing N services (median of 20 runs)
  pss N        proportional set size of the supervisor's own processes with N services (the
               services themselves not counted)
  log          LOG_LINES (default 2,000,000) lines of 97 bytes written as fast as the service
               can: wall time until all are in the log, lines lost, supervisor RSS growth

Each supervisor runs in a private directory under a temporary root and is stopped by pid
(its whole process tree) at the end.
"""

import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

from results import record

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
N = int(os.environ.get("SERVICES", "50"))
ROUNDS = int(os.environ.get("ROUNDS", "20"))
LOG_LINES = int(os.environ.get("LOG_LINES", "2000000"))
PM2 = os.environ.get("PM2", os.path.expanduser("~/.cache/drover-bench/pm2/node_modules/.bin/pm2"))
LINE = "x" * 96  # + "\n": 97 bytes
WRITER = f"yes {LINE} | head -n {LOG_LINES}"
STAMP = "date +%s%N >> {0}; exec sleep 3600"


def run(*argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def wait_for(pred, timeout=60, step=0.0005):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(step)


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                pass
    return kids


def tree(pid):
    kids, out, todo = children_map(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def proc_field_kb(pids, file, field):
    """The sum of one "Field: N kB" line of /proc/PID/FILE over pids (gone ones count 0)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/{file}") as f:
                total += next(int(l.split()[1]) for l in f if l.startswith(field))
        except (FileNotFoundError, StopIteration, PermissionError):
            pass
    return total


def pss_kb(pids):
    return proc_field_kb(pids, "smaps_rollup", "Pss:")


def rss_kb(pids):
    return proc_field_kb(pids, "status", "VmRSS:")


def kill_tree(pid):
    for p in reversed(tree(pid)):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def terminate(proc):
    """SIGTERM (a graceful stop of every service), SIGKILL of the tree if it takes too long."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        proc.wait()


def median_ms(fn, times=20):
    v = []
    for _ in range(times):
        t = time.monotonic()
        fn()
        v.append((time.monotonic() - t) * 1000)
    return statistics.median(v)


def count_lines(paths):
    n = 0
    for p in paths:
        with open(p, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                n += b.count(b"\n")
    return n


def stamps(path):
    try:
        with open(path) as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


class Peer:
    """One supervisor. Subclasses: setup (write N services + the crashy and writer ones), start
    the daemon, and the operations."""
    name = "?"
    pid = None

    def __init__(self, root):
        self.dir = os.path.join(root, self.name)
        os.makedirs(self.dir)
        self.stamps = os.path.join(self.dir, "starts")

    def own_pids(self):
        """The supervisor's processes, not the services'."""
        return [p for p in tree(self.pid) if comm(p) not in ("sleep", "sh", "yes", "head")]

    def restart_latency(self):
        self.up(["crashy"])
        wait_for(lambda: len(stamps(self.stamps)) >= 1, timeout=10)
        lat = []
        for _ in range(ROUNDS):
            n = len(stamps(self.stamps))
            time.sleep(1.1)  # a stable service: past the 1 s "died too soon" throttles
            pid = self.service_pid("crashy")
            killed = time.time_ns()
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: len(stamps(self.stamps)) > n, timeout=30)
            lat.append((stamps(self.stamps)[-1] - killed) / 1e6)
        self.down(["crashy"])
        lat.sort()
        return statistics.median(lat), lat[min(len(lat) - 1, int(len(lat) * 0.99))]

    def service_pid(self, name):
        """The pid of the service's sleep (the process the service execs into)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for p in tree(self.pid):
                if comm(p) == "sleep":
                    with open(f"/proc/{p}/cmdline", "rb") as f:
                        if f.read().split(b"\0")[1] == b"3601":
                            return p
            time.sleep(0.001)
        raise TimeoutError


def svc_names():
    return [f"s{i}" for i in range(N)]


class Drover(Peer):
    name = "drover"

    def setup(self):
        self.sock = os.path.join(self.dir, "d.sock")
        self.cli = [os.path.join(BUILD, "src", "drover"), "--socket", self.sock]
        lines = ["services:"]
        for n in svc_names():
            lines += [f"  - name: {n}", "    cmd: [sleep, \"3600\"]"]
        with open(os.path.join(self.dir, "eco.yaml"), "w") as f:
            f.write("\n".join(lines) + "\n")
        p = subprocess.Popen([os.path.join(BUILD, "src", "droverd"), "--socket", self.sock,
                              "--state-dir", os.path.join(self.dir, "state"), "--log-level",
                              "warning"], start_new_session=True)
        self.pid = p.pid
        self.proc = p
        wait_for(lambda: run(*self.cli, "ping").returncode == 0, timeout=10, step=0.01)

    def start_all(self):
        run(*self.cli, "start", os.path.join(self.dir, "eco.yaml"), check=True)
        wait_for(lambda: all(s["state"] == "online" for s in self.ls()))

    def ls(self):
        return json.loads(run(*self.cli, "ls", "--json", check=True).stdout)

    def stop_all(self):
        run(*self.cli, "stop", "all", check=True)  # answers once every one has exited

    def status(self):
        run(*self.cli, "ls", check=True)

    def up(self, names):
        run(*self.cli, "start", "--name", "crashy", "--restart-delay", "0", "sh", "-c",
            STAMP.format(self.stamps).replace("3600", "3601"), check=True)

    def down(self, names):
        run(*self.cli, "delete", "crashy", check=True)

    def log_run(self):
        run(*self.cli, "delete", "all", check=True)
        run(*self.cli, "start", "--name", "writer", "--no-autorestart", "sh", "-c", WRITER,
            check=True)
        return os.path.join(self.dir, "state", "logs", "writer-out.log"), lambda: [
            os.path.join(self.dir, "state", "logs", "writer-out.log")]

    def stop(self):
        terminate(self.proc)


def write_script(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


class ScanDir(Peer):
    """s6 and runit: a scan directory of service directories, each with a run script and a
    down file (so that nothing starts before it is asked to); the writer has a logger."""

    def service(self, name, script, log=False):
        d = os.path.join(self.scan, name)
        os.makedirs(d)
        write_script(os.path.join(d, "run"), f"#!/bin/sh\nexec {script}\n")
        open(os.path.join(d, "down"), "w").close()
        if log:
            self.logs = os.path.join(self.dir, "logs")
            os.makedirs(self.logs)
            os.makedirs(os.path.join(d, "log"))
            write_script(os.path.join(d, "log", "run"), f"#!/bin/sh\nexec {self.logger()}\n")

    def setup(self):
        self.scan = os.path.join(self.dir, "scan")
        os.makedirs(self.scan)
        for n in svc_names():
            self.service(n, "sleep 3600")
        self.service("crashy", f"sh -c '{STAMP.format(self.stamps)}'".replace("3600", "3601"))
        self.service("writer", f"sh -c '{WRITER}; exec sleep 3601'", log=True)
        self.proc = subprocess.Popen(self.daemon_argv(), start_new_session=True)
        self.pid = self.proc.pid
        for n in svc_names() + ["crashy", "writer"]:
            wait_for(lambda: self.ready(os.path.join(self.scan, n)), step=0.005)

    def dirs(self, names):
        return [os.path.join(self.scan, n) for n in names]

    def log_run(self):
        self.up(["writer"])
        return None, lambda: [os.path.join(self.logs, f) for f in os.listdir(self.logs)
                              if f == "current" or f.startswith("@")]

    def stop(self):
        self.shutdown()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        kill_tree(self.pid)
        self.proc.wait()


class S6(ScanDir):
    name = "s6"

    def logger(self):
        return f"s6-log n1000 s100000000 {self.logs}"

    def daemon_argv(self):
        return ["s6-svscan", self.scan]

    def ready(self, d):
        return run("s6-svok", d).returncode == 0

    def start_all(self):
        for d in self.dirs(svc_names()):
            run("s6-svc", "-u", d, check=True)
        run("s6-svwait", "-u", "-a", *self.dirs(svc_names()), check=True)

    def stop_all(self):
        for d in self.dirs(svc_names()):
            run("s6-svc", "-d", d, check=True)
        run("s6-svwait", "-D", "-a", *self.dirs(svc_names()), check=True)

    def status(self):
        for d in self.dirs(svc_names()):  # s6-svstat takes one service directory
            run("s6-svstat", d, check=True)

    def up(self, names):
        for d in self.dirs(names):
            run("s6-svc", "-u", d, check=True)

    def down(self, names):
        for d in self.dirs(names):
            run("s6-svc", "-wD", "-d", d, check=True)

    def shutdown(self):
        run("s6-svscanctl", "-t", self.scan)


class Runit(ScanDir):
    name = "runit"

    def logger(self):
        with open(os.path.join(self.logs, "config"), "w") as f:
            f.write("s100000000\nn1000\n")
        return f"svlogd {self.logs}"

    def daemon_argv(self):
        return ["runsvdir", "-P", self.scan]

    def ready(self, d):
        return os.path.exists(os.path.join(d, "supervise", "ok"))

    def start_all(self):
        run("sv", "-w", "30", "start", *self.dirs(svc_names()), check=True)

    def stop_all(self):
        run("sv", "-w", "30", "stop", *self.dirs(svc_names()), check=True)

    def status(self):
        run("sv", "status", *self.dirs(svc_names()), check=True)

    def up(self, names):
        run("sv", "up", *self.dirs(names), check=True)

    def down(self, names):
        run("sv", "-w", "30", "stop", *self.dirs(names))

    def shutdown(self):
        run("sv", "-w", "10", "stop", *self.dirs(svc_names() + ["crashy", "writer"]))
        self.proc.send_signal(signal.SIGHUP)  # runsvdir: HUP stops the runsv processes


class Supervisord(Peer):
    name = "supervisord"

    def setup(self):
        conf = os.path.join(self.dir, "supervisord.conf")
        self.sock = os.path.join(self.dir, "s.sock")
        parts = [f"""[unix_http_server]
file={self.sock}
[supervisord]
logfile={self.dir}/supervisord.log
pidfile={self.dir}/supervisord.pid
childlogdir={self.dir}
nodaemon=true
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://{self.sock}
"""]
        for n in svc_names():
            parts.append(f"[program:{n}]\ncommand=sleep 3600\nautostart=false\nstartsecs=0\n")
        stamp = STAMP.format(self.stamps).replace("%", "%%")  # supervisord %-formats commands
        parts.append(f"[program:crashy]\ncommand=sh -c '{stamp}'\n"
                     "autostart=false\nstartsecs=0\nautorestart=true\n".replace("3600", "3601"))
        parts.append(f"[program:writer]\ncommand=sh -c '{WRITER}; exec sleep 3601'\n"
                     f"autostart=false\nstartsecs=0\nstdout_logfile={self.dir}/writer.log\n"
                     "stdout_logfile_maxbytes=0\n")
        with open(conf, "w") as f:
            f.write("\n".join(parts))
        self.ctl = ["supervisorctl", "-c", conf]
        p = subprocess.Popen(["supervisord", "-c", conf], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = p.pid
        self.proc = p
        wait_for(lambda: run(*self.ctl, "pid").stdout.strip().isdigit(), timeout=20, step=0.01)

    def start_all(self):
        run(*self.ctl, "start", *svc_names())  # answers once they run (startsecs=0)

    def stop_all(self):
        run(*self.ctl, "stop", *svc_names())

    def status(self):
        run(*self.ctl, "status")

    def up(self, names):
        run(*self.ctl, "start", *names)

    def down(self, names):
        run(*self.ctl, "stop", *names)

    def log_run(self):
        self.up(["writer"])
        return None, lambda: [os.path.join(self.dir, "writer.log")]

    def stop(self):
        terminate(self.proc)


class Pm2(Peer):
    name = "pm2"

    def setup(self):
        self.env = dict(os.environ, PM2_HOME=os.path.join(self.dir, "home"))
        apps = [{"name": n, "script": "sleep", "args": "3600", "interpreter": "none",
                 "autorestart": True} for n in svc_names()]
        with open(os.path.join(self.dir, "eco.config.js"), "w") as f:
            f.write("module.exports = " + json.dumps({"apps": apps}) + ";\n")
        run(PM2, "ping", env=self.env, check=True)  # starts the daemon
        with open(os.path.join(self.dir, "home", "pm2.pid")) as f:
            self.pid = int(f.read())

    def pm2(self, *args, check=True):
        return run(PM2, *args, env=self.env, check=check)

    def jlist(self):
        return json.loads(self.pm2("jlist").stdout)

    def start_all(self):
        self.pm2("start", os.path.join(self.dir, "eco.config.js"))
        wait_for(lambda: sum(a["pm2_env"]["status"] == "online" and a["pid"] > 0
                             for a in self.jlist()) == N)

    def stop_all(self):
        pids = [a["pid"] for a in self.jlist()]
        self.pm2("stop", "all")
        wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids if p))

    def status(self):
        self.pm2("ls")

    def up(self, names):
        self.pm2("delete", "all")
        self.pm2("start", "sh", "--name", "crashy", "--restart-delay", "0", "--", "-c",
                 STAMP.format(self.stamps).replace("3600", "3601"))

    def down(self, names):
        self.pm2("delete", "crashy")

    def log_run(self):
        out = os.path.join(self.dir, "writer.log")
        self.pm2("start", "sh", "--name", "writer", "--no-autorestart", "-o", out, "-e",
                 os.path.join(self.dir, "writer.err"), "--", "-c", WRITER)
        return None, lambda: [out]

    def stop(self):
        self.pm2("kill", check=False)
        kill_tree(self.pid)


def have(peer):
    need = {"drover": os.path.join(BUILD, "src", "droverd"), "s6": "s6-svscan",
            "runit": "runsvdir", "supervisord": "supervisord", "pm2": PM2}[peer.name]
    return shutil.which(need) is not None or os.access(need, os.X_OK)


def measure(peer):
    r = {}
    peer.setup()
    try:
        t = time.monotonic()
        peer.start_all()
        r["start"] = (time.monotonic() - t) * 1000
        r["status"] = median_ms(peer.status)
        r["pss"] = pss_kb(peer.own_pids()) / 1024
        t = time.monotonic()
        peer.stop_all()
        r["stop"] = (time.monotonic() - t) * 1000
        r["restart"] = peer.restart_latency()
        base = rss_kb(peer.own_pids())
        peak = base
        t = time.monotonic()
        _, files = peer.log_run()
        deadline = t + 120
        lines = 0
        while time.monotonic() < deadline:
            peak = max(peak, rss_kb(peer.own_pids()))
            lines = count_lines(files()) if files() else 0
            if lines >= LOG_LINES:
                break
            time.sleep(0.02)
        r["log"] = (time.monotonic() - t, LOG_LINES - lines, (peak - base) / 1024)
    finally:
        peer.stop()
    return r


def main():
    root = tempfile.mkdtemp(prefix="drover-peers-")
    results = {}
    try:
        only = os.environ.get("PEERS", "drover,s6,runit,supervisord,pm2").split(",")
        for cls in (c for c in (Drover, S6, Runit, Supervisord, Pm2) if c.name in only):
            peer = cls(root)
            if not have(peer):
                print(f"({peer.name} is not installed: skipped; bench/run-peers installs it)")
                continue
            try:
                results[peer.name] = measure(peer)
            except Exception as e:  # a peer that misbehaves is reported, not fatal
                print(f"({peer.name} failed: {type(e).__name__} {e})")
    finally:
        shutil.rmtree(root, ignore_errors=True)

    names = list(results)
    record("services", {"n": N, "log_lines": LOG_LINES, "rounds": ROUNDS, "peers": results})
    print(f"\n{'':34}" + "".join(f"{n:>14}" for n in names))

    def row(label, fn):
        print(f"{label:34}" + "".join(f"{fn(results[n]):>14}" for n in names))

    row(f"start {N} (ms)", lambda r: f"{r['start']:.1f}")
    row(f"stop {N} (ms)", lambda r: f"{r['stop']:.1f}")
    row("restart after SIGKILL, median (ms)", lambda r: f"{r['restart'][0]:.2f}")
    row("restart after SIGKILL, p99 (ms)", lambda r: f"{r['restart'][1]:.2f}")
    row(f"status with {N} (ms, median)", lambda r: f"{r['status']:.2f}")
    row(f"supervisor PSS with {N} (MB)", lambda r: f"{r['pss']:.1f}")
    row(f"log {LOG_LINES} lines: wall (s)", lambda r: f"{r['log'][0]:.2f}")
    row("log: lines lost", lambda r: f"{r['log'][1]}")
    row("log: supervisor RSS growth (MB)", lambda r: f"{r['log'][2]:.1f}")
    if "drover" in results:
        d = results["drover"]
        print("\nratios, best peer / drover (above 1: drover ahead)")
        for key, label, get in (("start", "start", lambda r: r["start"]),
                                ("stop", "stop", lambda r: r["stop"]),
                                ("restart", "restart median", lambda r: r["restart"][0]),
                                ("status", "status", lambda r: r["status"]),
                                ("pss", "PSS", lambda r: r["pss"]),
                                ("log", "log wall", lambda r: r["log"][0])):
            peers = [(get(results[n]), n) for n in names if n != "drover"]
            if peers:
                best, who = min(peers)
                print(f"  {label:16} {best / max(get(d), 1e-9):6.2f}  (best peer: {who})")


if __name__ == "__main__":
    main()
