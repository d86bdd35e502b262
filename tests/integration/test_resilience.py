"""Never lose a service: a spawn that fails for want of descriptors is retried like a crash and
recovers; droverd takes its whole descriptor limit while its children get the one it was given;
connections never take the last descriptors; a stop that leaves escaped processes running says
so through every face."""

import os
import resource
import signal
import socket

import pytest

from conftest import alive, wait_until
from drover.v1 import services_pb2 as pb, services_pb2_grpc
from google.protobuf import wrappers_pb2
from rpclient import OK, RpClient, rp

RESERVE = 64  # daemon.c's FD_RESERVE
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def stub(d):
    return services_pb2_grpc.ServicesStub(d.channel())


def crash_loop(name, runs, max_restarts=1000):
    """A service that appends a line to runs and exits 1, restarted after 20 ms at first."""
    return pb.ServiceSpec(name=name, cmd=["sh", "-c", f"echo run >> {runs}; exit 1"],
                          max_restarts=max_restarts,
                          restart_delay_ms=wrappers_pb2.UInt32Value(value=20),
                          restart_delay_max_ms=wrappers_pb2.UInt32Value(value=100))


def lines(path):
    return len(path.read_text().splitlines()) if path.exists() else 0


def nofile(pid):
    """(soft, hard) from /proc/PID/limits."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no 'Max open files' line")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_spawn_failing_with_emfile_backs_off_and_recovers(droverd, tmp_path):
    runs = tmp_path / "runs"
    s = stub(droverd)
    svc = s.Start(pb.StartServiceRequest(spec=crash_loop("crash", runs)))
    assert svc.state in (pb.SERVICE_STATE_ONLINE, pb.SERVICE_STATE_BACKOFF)
    wait_until(lambda: lines(runs) >= 2, what="the service crash-looping")
    # Connections cannot fill droverd's table (the reserve keeps them out, see below): a soft
    # limit of 3 fills it instead. The channel above stays open and keeps answering.
    pid = droverd.proc.pid
    limit = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (3, limit[1]))
    try:
        def failing():
            g = s.Get(pb.ServiceTarget(target="crash"))
            return g if g.last_error == "Too many open files" else None
        g = wait_until(failing, what="a spawn failing with EMFILE")
        assert g.state == pb.SERVICE_STATE_BACKOFF and g.pid == 0
        before, ran = g.restarts_total, lines(runs)
        # It keeps retrying (each failure counts as a restart), and never gives up.
        wait_until(lambda: s.Get(pb.ServiceTarget(target="crash")).restarts_total >= before + 3,
                   what="retries under EMFILE")
        g = s.Get(pb.ServiceTarget(target="crash"))
        assert g.state in (pb.SERVICE_STATE_BACKOFF, pb.SERVICE_STATE_STARTING)
        assert g.last_error == "Too many open files" and lines(runs) == ran
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, limit)
    wait_until(lambda: lines(runs) >= ran + 2, what="the service running again")
    log = droverd.read_log()
    assert log.count("service 'crash' could not start: Too many open files; trying again") == 1
    assert "service 'crash' started (pid" in log
    s.Delete(pb.ServiceTarget(target="crash"))


def test_emfile_counts_against_max_restarts(droverd):
    s = stub(droverd)
    spec = pb.ServiceSpec(name="few", cmd=["sleep", "300"], max_restarts=3,
                          restart_delay_ms=wrappers_pb2.UInt32Value(value=20))
    assert s.Start(pb.StartServiceRequest(spec=spec)).state == pb.SERVICE_STATE_ONLINE
    pid = droverd.proc.pid
    limit = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (3, limit[1]))
    try:
        # The restart counts once, then each failed spawn: errored when the third is spent.
        g = s.Restart(pb.ServiceTarget(target="few")).services[0]
        assert g.state == pb.SERVICE_STATE_BACKOFF and g.last_error == "Too many open files"
        g = wait_until(lambda: (lambda g: g if g.state == pb.SERVICE_STATE_ERRORED else None)(
            s.Get(pb.ServiceTarget(target="few"))), what="errored after max_restarts")
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, limit)
    assert g.restarts == 3 and g.last_error == "Too many open files"


def test_permanent_spawn_error_stays_errored(droverd):
    s = stub(droverd)
    r = droverd.cli("start", "--name", "x", "--", "/nonexistent/prog")
    assert r.returncode == 1 and "No such file or directory" in r.stderr
    g = s.Get(pb.ServiceTarget(target="x"))
    assert (g.state, g.restarts_total) == (pb.SERVICE_STATE_ERRORED, 0)
    assert "service 'x' could not start: No such file or directory\n" in droverd.read_log()


def test_nofile_raised_and_children_get_the_original(make_droverd, tmp_path):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    soft = min(512, hard)
    d = make_droverd(start=False)
    d.args[:0] = ["sh", "-c", f'ulimit -Sn {soft} && exec "$0" "$@"']
    d.args += ["--rp-socket", d.rp_socket]
    d.start()
    assert nofile(d.proc.pid) == (hard, hard)

    r = d.cli("start", "--name", "svc", "--", "sleep", "300", check=0)
    pid = int(r.stdout.split("pid ")[1].rstrip(")\n"))
    assert nofile(pid) == (soft, hard)
    r = d.cli("run", "--", "sh", "-c", "ulimit -Sn; ulimit -Hn", check=0)
    assert r.stdout.split() == [str(soft), str(hard)]
    out = tmp_path / "daemon-limits"
    with RpClient(d.rp_socket) as c:
        r = c.call(rp.REQUEST_TYPE_SPAWN_DAEMON, "spawn_daemon",
                   rp.SpawnDaemonRequest(command=f"ulimit -Sn > {out}.tmp; mv {out}.tmp {out}"))
        assert r.code == OK, r.message
    wait_until(out.exists, what="the daemon child's limit")
    assert out.read_text().split() == [str(soft)]
    d.cli("delete", "all", check=0)


def h2_connect(path):
    """A gRPC connection that says hello: True when droverd answers (kept), False when it closes
    the connection at once (refused)."""
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(path)
    try:
        c.sendall(H2_PREFACE)
        if c.recv(9):
            return c
    except (ConnectionResetError, BrokenPipeError):
        pass
    c.close()
    return None


def test_reserve_refuses_connections_while_a_service_respawns(droverd, tmp_path):
    runs = tmp_path / "runs"
    stub(droverd).Start(pb.StartServiceRequest(spec=crash_loop("crash", runs)))
    wait_until(lambda: lines(runs) >= 1, what="a first run")
    pid = droverd.proc.pid
    limit = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (open_fds(pid) + RESERVE + 40, limit[1]))
    kept = []
    try:
        for _ in range(RESERVE + 100):
            c = h2_connect(droverd.socket)
            if c is None:
                break
            kept.append(c)
        else:
            raise AssertionError("droverd never refused a connection")
        assert kept, "the first connections fit"
        for _ in range(5):
            assert h2_connect(droverd.socket) is None
        assert droverd.read_log().count("new connections are refused") == 1
        # Spawning still finds descriptors: the service keeps running again and again.
        ran = lines(runs)
        wait_until(lambda: lines(runs) >= ran + 5, what="respawns past the reserve")
        assert "could not start" not in droverd.read_log()
    finally:
        for c in kept:
            c.close()
        resource.prlimit(pid, resource.RLIMIT_NOFILE, limit)
    c = wait_until(lambda: h2_connect(droverd.socket), what="connections accepted again")
    c.close()
    assert "new connections are accepted again" in droverd.read_log()
    droverd.cli("delete", "all", check=0)


# ---- stops that leave survivors ---------------------------------------------------------------

@pytest.fixture
def nocg(make_droverd):
    """droverd without cgroups, with the running-process door: the tree is what /proc says."""
    d = make_droverd(start=False, env={"DROVER_CGROUP": "none"})
    d.args += ["--rp-socket", d.rp_socket]
    return d.start()


def escaping(pidfile):
    """A service whose child starts a session of its own (a double fork, setsid) and writes its
    pid once it has; the main process sleeps."""
    return ["sh", "-c", f"setsid -f sh -c 'echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile};"
            f" exec sleep 300'; exec sleep 301"]


def ppid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def escaped(d, pidfile):
    """The escapee's pid, once droverd (its subreaper) has inherited it."""
    def ready():
        if not pidfile.exists():
            return None
        pid = int(pidfile.read_text())
        return pid if alive(pid) and ppid(pid) == d.proc.pid else None
    pid = wait_until(ready, what="the escaped process re-parented to droverd")
    pidfile.unlink()
    return pid


def test_stop_reports_survivors_through_every_face(nocg, tmp_path):
    d, pidfile, left = nocg, tmp_path / "escapee", []
    try:
        # The CLI warns, and the daemon logs the pids.
        d.cli("start", "--name", "esc", "--", *escaping(pidfile), check=0)
        left.append(escaped(d, pidfile))
        r = d.cli("stop", "esc", check=0)
        assert (f"drover: warning: service 'esc' stopped, but processes that left its tree still"
                f" run (1): {left[0]}\n") == r.stderr
        assert alive(left[0])
        assert f"service 'esc' stopped, but processes that left its tree still run (1): " \
            f"{left[0]}" in d.read_log()

        # drover.v1: Restart and Stop answer with them.
        s = stub(d)
        s.Start(pb.StartServiceRequest(target="esc"))
        left.append(escaped(d, pidfile))
        g = s.Restart(pb.ServiceTarget(target="esc")).services[0]
        assert (list(g.survivors), g.survivors_total) == ([left[1]], 1)
        assert g.state == pb.SERVICE_STATE_ONLINE
        left.append(escaped(d, pidfile))
        g = s.Stop(pb.ServiceTarget(target="esc")).services[0]
        assert (list(g.survivors), g.survivors_total) == ([left[2]], 1)
        assert list(s.Get(pb.ServiceTarget(target="esc")).survivors) == [left[2]]

        # running-process: OK, with a message naming them; Delete too.
        with RpClient(d.rp_socket) as c:
            s.Start(pb.StartServiceRequest(target="esc"))
            left.append(escaped(d, pidfile))
            r = c.call(rp.REQUEST_TYPE_SERVICE_STOP, "service_stop",
                       rp.ServiceStopRequest(target="esc"))
            assert (r.code, r.service_stop.stopped_count) == (OK, 1)
            assert r.message == ("service 'esc' stopped, but processes that left its tree still"
                                 f" run (1): {left[3]}")
            r = c.call(rp.REQUEST_TYPE_SERVICE_STOP, "service_stop",
                       rp.ServiceStopRequest(target="esc"))
            assert (r.code, r.message) == (OK, "")  # a stop that had nothing to stop
            s.Start(pb.StartServiceRequest(target="esc"))
            left.append(escaped(d, pidfile))
            r = c.call(rp.REQUEST_TYPE_SERVICE_DELETE, "service_delete",
                       rp.ServiceDeleteRequest(target="esc"))
            assert r.code == OK and r.message.endswith(f"(1): {left[4]}")
        assert all(alive(p) for p in left)
    finally:
        for p in left:
            os.kill(p, signal.SIGKILL)


def test_stop_of_a_whole_tree_reports_none(nocg, tmp_path):
    """Children in the service's session die with it: no survivors, no warning."""
    d = nocg
    d.cli("start", "--name", "tree", "--", "sh", "-c", "sleep 300 & exec sleep 301", check=0)
    wait_until(lambda: stub(d).Get(pb.ServiceTarget(target="tree")).processes == 2,
               what="two processes")
    r = d.cli("stop", "tree", check=0)
    assert r.stderr == ""
    g = stub(d).Get(pb.ServiceTarget(target="tree"))
    assert (list(g.survivors), g.survivors_total) == ([], 0)
    assert "left its tree" not in d.read_log()
    d.cli("delete", "all", check=0)


def test_children_killed_at_the_kill_timeout_are_no_survivors(nocg, tmp_path):
    """A child in a session of its own, ignoring SIGTERM like its parent: the kill timeout's
    SIGKILL reaches it by descent, and it is not reported even if it is still dying."""
    d, pidfile = nocg, tmp_path / "child"
    inner = f"echo \\$\\$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; exec sleep 300"
    d.cli("start", "--name", "stubborn", "--kill-timeout", "100", "--", "sh", "-c",
          f"trap '' TERM; setsid sh -c \"{inner}\" & exec sleep 301", check=0)
    wait_until(pidfile.exists, what="the child's pid")
    child = int(pidfile.read_text())
    r = d.cli("stop", "stubborn", check=0)
    assert r.stderr == ""
    g = stub(d).Get(pb.ServiceTarget(target="stubborn"))
    assert g.state == pb.SERVICE_STATE_STOPPED and g.survivors_total == 0
    wait_until(lambda: not alive(child), what="the child killed")
    d.cli("delete", "all", check=0)


def test_a_cgroup_holds_what_escapes_the_session(droverd, tmp_path):
    """With cgroups, the escaped process is still in the service's group: killed, no survivor."""
    if "contained with cgroups: none" in droverd.read_log():
        pytest.skip("no writable cgroup hierarchy here")
    pidfile = tmp_path / "escapee"
    droverd.cli("start", "--name", "esc", "--", *escaping(pidfile), check=0)
    pid = escaped(droverd, pidfile)
    r = droverd.cli("stop", "esc", check=0)
    assert r.stderr == ""
    assert stub(droverd).Get(pb.ServiceTarget(target="esc")).survivors_total == 0
    wait_until(lambda: not alive(pid), what="the escaped process killed with its cgroup")
    droverd.cli("delete", "all", check=0)
