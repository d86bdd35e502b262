"""droverd as PID 1 of a PID namespace (`unshare --pid --fork --mount-proc`), as a container's
entrypoint is: it reaps every orphan (one at a time and in storms), a SIGTERM stops the services
dependents first and then sweeps the namespace, a service or an orphan that ignores SIGTERM is
SIGKILLed, shutdown_grace_ms bounds the whole stop, a crash during the stop is not restarted,
and the exit code says whether everything stopped by itself (0) or had to be killed (3).
superviz's end-to-end scenarios (restart policies, backoff, probes) run here too, under PID 1.

droverd's pids inside are the namespace's; out here each process has its host pid, found by
walking down from droverd's (every process of the namespace descends from its init)."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import DROVER, DROVERD, children_of, free_port, wait_until

EXIT_FORCED = 3


def _pidns_works():
    try:
        r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"],
                           capture_output=True, timeout=30)
    except FileNotFoundError:
        return "unshare is not installed"
    return None if r.returncode == 0 else r.stderr.decode().strip() or f"exit {r.returncode}"


_WHY = _pidns_works()
pytestmark = pytest.mark.skipif(_WHY is not None, reason=f"no PID namespace here: {_WHY}")


def stat_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


class Pid1:
    """droverd as PID 1: started through unshare, which waits for it and exits with its code."""

    def __init__(self, tmp, config, extra=()):
        self.tmp = str(tmp)
        os.makedirs(self.tmp, exist_ok=True)
        self.socket = os.path.join(self.tmp, "drover.sock")
        self.log_path = os.path.join(self.tmp, "droverd.log")
        conf = os.path.join(self.tmp, "drover.yaml")
        with open(conf, "w") as f:
            f.write(config)
        notify_path = os.path.join(self.tmp, "notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.settimeout(20)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(self.tmp, "xdg-run"),
                        XDG_STATE_HOME=os.path.join(self.tmp, "xdg-state"),
                        XDG_CONFIG_HOME=os.path.join(self.tmp, "xdg-config"),
                        DROVER_SOCKET=self.socket)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", DROVERD,
             "--socket", self.socket, "--state-dir", os.path.join(self.tmp, "state"),
             "--config", conf, "--log-level", "debug", "--emergency-reserve-bytes", "65536",
             *extra],
            env=dict(self.env, NOTIFY_SOCKET=notify_path), stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while "READY=1" not in (msg := notify.recv(4096).decode()):
                pass
            assert "MAINPID=1" in msg  # pid 1 in its namespace
        except socket.timeout:
            self.proc.kill()
            raise AssertionError("droverd never reported READY=1:\n" + self.read_log())
        finally:
            notify.close()
        kids = children_of(self.proc.pid)
        assert len(kids) == 1, kids
        self.pid = kids[0]  # droverd's host pid

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def cli(self, *args, check=0):
        r = subprocess.run([DROVER, "--socket", self.socket, *args], env=self.env,
                           capture_output=True, text=True, timeout=60)
        if check is not None:
            assert r.returncode == check, (r.returncode, r.stdout, r.stderr)
        return r

    def services(self):
        return {s["name"]: s for s in json.loads(self.cli("ls", "--json").stdout)}

    def inside(self):
        """Host pid -> state of every process of the namespace but droverd."""
        out, todo = {}, [self.pid]
        while todo:
            for c in children_of(todo.pop()):
                out[c] = stat_state(c)
                todo.append(c)
        return out

    def orphan(self, script):
        """Starts script inside the namespace as an orphan of nobody droverd spawned (nsenter's
        child backgrounds it and exits): droverd inherits it, outside any service's tree."""
        subprocess.run(["nsenter", "--target", str(self.pid), "--pid", "--", "sh", "-c",
                        f"(setsid sh -c \"{script}\" </dev/null >/dev/null 2>&1 &)"],
                       check=True, timeout=30)

    def zombies(self):
        return [p for p, st in self.inside().items() if st == "Z"]

    def no_lasting_zombie(self):
        """A child that just exited is a zombie until droverd's next turn: what matters is that
        every zombie seen is reaped soon."""
        seen = set(self.zombies())
        wait_until(lambda: not seen & set(self.zombies()), what=f"zombies {seen} reaped")

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Signals droverd (unshare does not pass signals on) and returns its exit code."""
        os.kill(self.pid, sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError("droverd did not stop:\n" + self.read_log())
        finally:
            self.log.close()

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # --kill-child takes the namespace along
            self.proc.wait()


@pytest.fixture
def pid1(tmp_path):
    made = []

    def make(config, extra=()):
        d = Pid1(tmp_path / f"p{len(made)}", config, extra)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def lines(path):
    try:
        with open(path) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def test_runs_as_pid1_and_reaps_orphans(pid1, tmp_path):
    """Orphans (a subshell's background child, its parent gone) are re-parented to droverd and
    reaped when they end, one at a time and 200 at once (a SIGCHLD storm)."""
    d = pid1("""services:
  - name: orphans
    cmd: [sh, -c, "for i in $(seq 20); do (sleep 0.2 &); done; exec sleep 300"]
  - name: storm
    cmd: [sh, -c, "sleep 0.5; for i in $(seq 200); do (true &); done; exec sleep 300"]
""")
    with open(f"/proc/{d.pid}/status") as f:
        nspid = next(x for x in f if x.startswith("NSpid:")).split()
    assert nspid[-1] == "1"
    wait_until(lambda: all(s["state"] == "online" for s in d.services().values()),
               what="services online")
    # The 20 sleepers were droverd's own children once their subshells ended.
    wait_until(lambda: len(d.inside()) == 2 and not d.zombies(), timeout=20,
               what="orphans reaped, only the two services left")
    assert d.stop() == 0


def test_restarts_leave_no_zombies(pid1, tmp_path):
    runs = tmp_path / "runs"
    d = pid1(f"""services:
  - name: flaky
    cmd: [sh, -c, "echo x >> {runs}; sleep 0.05 & exit 1"]
    restart_delay: 20ms
    restart_delay_max: 50ms
""")
    wait_until(lambda: len(lines(runs)) >= 10, timeout=30, what="10 runs")
    d.no_lasting_zombie()
    assert d.stop() == 0


def test_sigterm_stops_dependents_first_then_sweeps(pid1, tmp_path):
    """SIGTERM: web (which needs db) stops before db; an orphan that no service owns (droverd
    inherited it) hears SIGTERM from the sweep; all stopped by themselves: exit code 0."""
    order = tmp_path / "order"
    trap = "trap 'echo {n} >> " + str(order) + "; exit 0' TERM; while :; do sleep 0.05; done"
    d = pid1(f"""services:
  - name: db
    cmd: [sh, -c, "{trap.format(n='db')}"]
  - name: web
    cmd: [sh, -c, "{trap.format(n='web')}"]
    depends_on: [db]
""")
    wait_until(lambda: all(s["state"] == "online" for s in d.services().values()),
               what="services online")
    ready = tmp_path / "ready"
    d.orphan(f"trap 'echo orphan >> {order}; exit 0' TERM; touch {ready}; "
             "while :; do sleep 0.05; done")
    wait_until(ready.exists, what="the orphan")
    assert d.stop() == 0, d.read_log()
    got = lines(order)
    assert sorted(got) == ["db", "orphan", "web"], got
    assert got.index("web") < got.index("db")
    assert got[-1] == "orphan"  # the sweep comes after the services


def test_sigkill_fallback_for_a_service_that_ignores_sigterm(pid1):
    d = pid1("""services:
  - name: stubborn
    cmd: [sh, -c, "trap '' TERM; while :; do sleep 0.05; done"]
    kill_timeout: 500ms
  - name: polite
    cmd: [sleep, "300"]
""")
    wait_until(lambda: all(s["state"] == "online" for s in d.services().values()),
               what="services online")
    assert d.stop() == EXIT_FORCED
    assert "kill" in d.read_log().lower()


def test_grace_bounds_the_whole_stop(pid1):
    """kill_timeout 10 min, shutdown_grace_ms 1 s: the grace decides."""
    d = pid1("""services:
  - name: stubborn
    cmd: [sh, -c, "trap '' TERM; while :; do sleep 0.05; done"]
    kill_timeout: 600s
""", extra=("--shutdown-grace-ms", "1000"))
    wait_until(lambda: d.services()["stubborn"]["state"] == "online", what="online")
    assert d.stop(timeout=30) == EXIT_FORCED
    assert "shutdown_grace_ms, 1000 ms) ran out" in d.read_log()


def test_orphan_that_ignores_sigterm_is_killed(pid1, tmp_path):
    d = pid1("services: []\n", extra=("--shutdown-grace-ms", "1000"))
    ready = tmp_path / "ready"
    d.orphan(f"trap '' TERM; touch {ready}; while :; do sleep 0.05; done")
    wait_until(ready.exists, what="the orphan")
    assert d.stop(timeout=30) == EXIT_FORCED
    assert "ignored SIGTERM: killed" in d.read_log()


def test_a_crash_during_the_stop_is_not_restarted(pid1, tmp_path):
    """db waits (its stop deferred) while web takes its time to stop; db crashes meanwhile.
    Its restart policy would restart it; during a stop it must not."""
    runs, flag = tmp_path / "db-runs", tmp_path / "flag"
    d = pid1(f"""services:
  - name: db
    cmd: [sh, -c, "echo run >> {runs}; trap '' TERM; while [ ! -e {flag} ]; do sleep 0.02; done; exit 1"]
    restart_delay: 10ms
  - name: web
    cmd: [sh, -c, "trap 'touch {flag}; sleep 1; exit 0' TERM; while :; do sleep 0.05; done"]
    depends_on: [db]
""")
    wait_until(lambda: all(s["state"] == "online" for s in d.services().values()),
               what="services online")
    assert d.stop() == 0, d.read_log()
    assert lines(runs) == ["run"]


def test_restart_policies_backoff_and_probes(pid1, tmp_path):
    """superviz's scenarios under PID 1: always, on-failure with exit 1 and with exit 0, never,
    unless-stopped, max retries; an HTTP probe that passes, a TCP probe that fails and restarts
    its service."""
    port, dead = free_port(), free_port()
    t = tmp_path

    def svc(name, code, policy, more=""):
        return (f"  - name: {name}\n    cmd: [sh, -c, \"echo x >> {t / name}; sleep 0.05; "
                f"exit {code}\"]\n    restart: {{policy: {policy}, delay: 10ms, delay_max: 40ms"
                f"{more}}}\n")
    d = pid1("services:\n" + svc("always", 0, "always") + svc("onfail1", 1, "on-failure")
             + svc("onfail0", 0, "on-failure") + svc("never", 1, "never")
             + svc("unless", 0, "unless-stopped") + svc("retries", 1, "on-failure",
                                                       ", max_retries: 2")
             + f"""  - name: web
    cmd: [/usr/bin/python3, -m, http.server, "{port}", --bind, 127.0.0.1]
    probe: {{type: http, port: {port}, path: /, interval: 100ms}}
  - name: deaf
    cmd: [sleep, "300"]
    probe: {{type: tcp, port: {dead}, interval: 100ms, failure_threshold: 2}}
""")
    for name in ("always", "onfail1", "unless"):
        wait_until(lambda n=name: len(lines(t / n)) >= 4, timeout=30, what=f"{name} restarts")
    wait_until(lambda: d.services()["retries"]["state"] == "errored", timeout=30,
               what="retries given up")
    assert len(lines(t / "retries")) == 3  # the first run and 2 retries
    s = d.services()
    assert len(lines(t / "onfail0")) == 1 and s["onfail0"]["state"] == "stopped"
    assert len(lines(t / "never")) == 1 and s["never"]["state"] in ("stopped", "errored")
    wait_until(lambda: d.services()["web"].get("healthy") is True, timeout=30, what="web healthy")
    wait_until(lambda: d.services()["deaf"]["restarts"] >= 2, timeout=30,
               what="deaf restarted by its probe")
    d.no_lasting_zombie()
    assert d.stop() == 0, d.read_log()


def test_backoff_grows_to_its_maximum_and_resets(pid1, tmp_path):
    """A crash-looping service counts its restarts in a row (each one's delay doubles from it,
    up to delay_max: tests/unit covers the figures); after a run longer than min_uptime the
    count starts over."""
    runs, long_run = tmp_path / "runs", tmp_path / "long"
    d = pid1(f"""services:
  - name: loop
    cmd: [sh, -c, "date +%s.%N >> {runs}; if [ -e {long_run} ]; then rm {long_run}; sleep 1.5; fi; exit 1"]
    restart: {{policy: always, delay: 100ms, delay_max: 800ms}}
    min_uptime: 1s
""")
    wait_until(lambda: len(lines(runs)) >= 6, timeout=60, what="6 runs")
    s = d.services()["loop"]
    assert s["restarts"] >= 5
    open(long_run, "w").close()
    before = len(lines(runs))
    wait_until(lambda: len(lines(runs)) >= before + 3, timeout=60, what="runs after a long one")
    assert d.services()["loop"]["restarts"] < s["restarts"] + 3  # the count started over
    assert d.stop() == 0
