"""The running-process door: droverd's --rp-socket, driven by a raw-socket client that frames
protoc-generated DaemonRequest messages exactly as running-process's Rust client does. Every
request type's success and error paths, the framing's edge cases, and the process core behind
them (identity checks, kill-tree with orphans, detached daemons)."""

import os
import signal
import socket
import sqlite3
import stat
import struct
import subprocess
import threading
import time

import pytest

from conftest import alive, children_of, kill_group, wait_until
from rpclient import OK, RpClient, frame, rp


@pytest.fixture
def rpd(make_droverd):
    return make_droverd(extra_args=["--rp-socket", "rp/daemon.sock"], start=False)


def start_rp(make_droverd, *extra, config=None):
    d = make_droverd(start=False, config=config)
    d.args += ["--rp-socket", d.rp_socket, *extra]
    return d.start()


@pytest.fixture
def d(make_droverd):
    return start_rp(make_droverd)


def client(d, **kw):
    return RpClient(d.rp_socket, **kw)


@pytest.fixture
def procs():
    """Processes a test starts; killed by pid at the end."""
    started = []
    yield started
    for p in started:
        kill_group(p if isinstance(p, int) else p.pid)
        if not isinstance(p, int):
            p.wait()


def start_time(pid):
    """The process's start time in seconds since the epoch, as /proc gives it."""
    with open(f"/proc/{pid}/stat") as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/stat") as f:
        btime = next(int(l.split()[1]) for l in f if l.startswith("btime "))
    return btime + ticks / os.sysconf("SC_CLK_TCK")


# ---- framing -------------------------------------------------------------------------------

def test_exact_ping_bytes_answered(d):
    before = time.time()
    with client(d) as c:
        c.send_raw(frame(bytes.fromhex("080110281801220178c20200")))
        r = c.recv_response()
    assert r.request_id == 1 and r.code == OK
    assert r.HasField("ping")
    assert before - 1 <= r.ping.server_time_ms / 1000 <= time.time() + 1


def test_persistent_connection_and_ids(d):
    with client(d) as c:
        for i in range(1, 11):
            r = c.call(rp.REQUEST_TYPE_PING, "ping", rp.PingRequest())
            assert (r.request_id, r.code) == (i, OK)


def test_frame_split_byte_by_byte(d):
    with client(d) as c:
        data = c.request_bytes(rp.REQUEST_TYPE_PING, "ping", rp.PingRequest(), id_=77)
        for b in data:
            c.send_raw(bytes([b]))
        assert c.recv_response().request_id == 77


def test_pipelined_requests_answered_in_order(d):
    with client(d) as c:
        c.send_raw(b"".join(c.request_bytes(rp.REQUEST_TYPE_PING, "ping", rp.PingRequest(),
                                            id_=i) for i in range(1, 201)))
        assert [c.recv_response().request_id for _ in range(200)] == list(range(1, 201))


def test_oversized_frame_replied_then_closed(d):
    with client(d) as c:
        c.send_raw(struct.pack(">I", 5 << 20) + b"x" * 100)
        r = c.recv_response()
        assert (r.request_id, r.code) == (0, rp.STATUS_CODE_INVALID_ARGUMENT)
        assert "frame decode error" in r.message and "5242880" in r.message
        assert c.at_eof()
    with client(d) as c:  # everyone else is fine
        assert c.call(rp.REQUEST_TYPE_PING, "ping", rp.PingRequest()).code == OK


def test_garbage_frame_replied_and_connection_goes_on(d):
    with client(d) as c:
        c.send_raw(frame(b"\xff\xff\xff\xff\xff"))
        r = c.recv_response()
        assert (r.request_id, r.code) == (0, rp.STATUS_CODE_INVALID_ARGUMENT)
        assert "protobuf decode error" in r.message
        assert c.call(rp.REQUEST_TYPE_PING, "ping", rp.PingRequest()).code == OK


def test_unknown_unspecified_unimplemented_and_missing_payload(d):
    with client(d) as c:
        r = c.call(0)
        assert (r.code, r.message) == (rp.STATUS_CODE_UNKNOWN_REQUEST, "unspecified request type")
        r = c.call(99)
        assert (r.code, r.message) == (rp.STATUS_CODE_UNKNOWN_REQUEST, "unknown request type: 99")
        for t, name in [(rp.REQUEST_TYPE_REGISTER, "register"),
                        (rp.REQUEST_TYPE_SPAWN_PTY_SESSION, "spawn_pty_session"),
                        (rp.REQUEST_TYPE_WRITE_PIPE_STDIN, "write_pipe_stdin"),
                        (rp.REQUEST_TYPE_KILL_TREE, "kill_tree"),
                        (rp.REQUEST_TYPE_GET_PROCESS_TREE, "get_process_tree")]:
            r = c.call(t)
            assert (r.code, r.message) == (rp.STATUS_CODE_INVALID_ARGUMENT, f"missing {name} payload")
        # Requests without fields need no payload.
        assert c.call(rp.REQUEST_TYPE_LIST_ACTIVE).code == OK
        assert c.call(rp.REQUEST_TYPE_PING).code == OK
        assert c.call(rp.REQUEST_TYPE_LIST_PTY_SESSIONS).code == OK
        assert c.call(rp.REQUEST_TYPE_PURGE_EXITED_SESSIONS).code == OK
    # An attach without its payload answers, then closes: the connection was to become a stream.
    with client(d) as c:
        r = c.call(rp.REQUEST_TYPE_ATTACH_PTY_SESSION)
        assert (r.code, r.message) == (rp.STATUS_CODE_INVALID_ARGUMENT,
                                       "missing attach_pty_session payload")
        assert c.at_eof()


def test_client_that_never_reads_stalls_only_itself(d):
    hog = client(d)
    hog.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    burst = hog.request_bytes(rp.REQUEST_TYPE_STATUS, "status", rp.StatusRequest()) * 20000

    def flood():
        try:
            hog.sock.sendall(burst)
        except OSError:
            pass

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    time.sleep(0.3)
    with client(d, timeout=5) as c:
        t0 = time.monotonic()
        for _ in range(20):
            assert c.call(rp.REQUEST_TYPE_PING, "ping", rp.PingRequest()).code == OK
        assert time.monotonic() - t0 < 5
    hog.close()
    t.join(5)


def test_idle_connection_closed(make_droverd):
    d = start_rp(make_droverd, "--rp-idle-timeout-ms", "200")
    with client(d) as c:
        assert c.call(rp.REQUEST_TYPE_PING, "ping", rp.PingRequest()).code == OK
        t0 = time.monotonic()
        assert c.at_eof()
        assert 0.1 < time.monotonic() - t0 < 5


def test_socket_directory_made_private(make_droverd, tmp_path):
    rpdir = tmp_path / "shared"
    rpdir.mkdir(mode=0o755)
    os.chmod(rpdir, 0o755)
    d = make_droverd(start=False)
    d.rp_socket = str(rpdir / "daemon.sock")
    d.args += ["--rp-socket", d.rp_socket]
    d.start()
    assert stat.S_IMODE(os.stat(rpdir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(d.rp_socket).st_mode) == 0o600


# ---- registry ------------------------------------------------------------------------------

def register(c, pid, command="sleep 60", originator="", created_at=None, kind="subprocess"):
    return c.call(rp.REQUEST_TYPE_REGISTER, "register", rp.RegisterRequest(
        pid=pid, created_at=created_at if created_at is not None else time.time(), kind=kind,
        command=command, cwd="/tmp", originator=originator))


def list_active(c):
    r = c.call(rp.REQUEST_TYPE_LIST_ACTIVE, "list_active", rp.ListActiveRequest())
    assert r.code == OK
    return list(r.list_active.processes)


def test_register_list_unregister(d, procs):
    p = subprocess.Popen(start_new_session=True, args=["sleep", "60"])
    procs.append(p)
    with client(d) as c:
        r = register(c, p.pid, originator="tool:42", created_at=start_time(p.pid))
        assert r.code == OK and r.HasField("register")
        assert register(c, 999999, command="fake", originator="other:1").code == OK
        rows = list_active(c)
        assert [x.pid for x in rows] == [p.pid, 999999]
        me = rows[0]
        assert me.state == rp.PROCESS_STATE_ALIVE
        assert me.parent_alive  # pytest is alive
        assert me.command == "sleep 60" and me.cwd == "/tmp" and me.kind == "subprocess"
        assert me.containment == "contained"
        assert abs(me.last_validated_at - time.time()) < 5
        assert 0 <= me.uptime_seconds < 5
        assert abs(me.created_at - start_time(p.pid)) < 0.01
        assert rows[1].state == rp.PROCESS_STATE_DEAD and not rows[1].parent_alive

        r = c.call(rp.REQUEST_TYPE_LIST_BY_ORIGINATOR, "list_by_originator",
                   rp.ListByOriginatorRequest(tool="tool"))
        assert [x.pid for x in r.list_by_originator.processes] == [p.pid]
        r = c.call(rp.REQUEST_TYPE_LIST_BY_ORIGINATOR, "list_by_originator",
                   rp.ListByOriginatorRequest(tool="too"))
        assert list(r.list_by_originator.processes) == []

        st = c.call(rp.REQUEST_TYPE_STATUS, "status", rp.StatusRequest()).status
        assert st.tracked_process_count == 2

        r = c.call(rp.REQUEST_TYPE_UNREGISTER, "unregister", rp.UnregisterRequest(pid=p.pid))
        assert r.code == OK
        r = c.call(rp.REQUEST_TYPE_UNREGISTER, "unregister", rp.UnregisterRequest(pid=p.pid))
        assert (r.code, r.message) == (rp.STATUS_CODE_NOT_FOUND, f"pid {p.pid} not found in registry")
        assert [x.pid for x in list_active(c)] == [999999]


def test_register_errors(d):
    with client(d) as c:
        r = register(c, 0)
        assert (r.code, r.message) == (rp.STATUS_CODE_INVALID_ARGUMENT, "pid must be > 0")
        r = register(c, 1234, command="")
        assert (r.code, r.message) == (rp.STATUS_CODE_INVALID_ARGUMENT, "command must not be empty")
        assert list_active(c) == []


def test_zombie_state_and_reregister_replaces(d, procs):
    p = subprocess.Popen(start_new_session=True, args=["true"])
    wait_until(lambda: not alive(p.pid) and os.path.exists(f"/proc/{p.pid}"), what="zombie")
    with client(d) as c:
        assert register(c, p.pid, command="true").code == OK
        assert list_active(c)[0].state == rp.PROCESS_STATE_ZOMBIE
        assert register(c, p.pid, command="true again", created_at=1.0).code == OK
        rows = list_active(c)
        assert len(rows) == 1 and rows[0].command == "true again"
        p.wait()
        assert list_active(c)[0].state == rp.PROCESS_STATE_DEAD


def test_kill_zombies_dry_run_then_for_real(d, procs):
    p = subprocess.Popen(start_new_session=True, args=["sleep", "60"])
    procs.append(p)
    with client(d) as c:
        assert register(c, 999998, command="ghost").code == OK
        assert register(c, p.pid, command="sleep 60").code == OK
        r = c.call(rp.REQUEST_TYPE_KILL_ZOMBIES, "kill_zombies", rp.KillZombiesRequest(dry_run=True))
        assert r.code == OK
        z = list(r.kill_zombies.zombies)
        assert [(x.pid, x.command, x.reason, x.killed) for x in z] == \
            [(999998, "ghost", "process 999998 no longer exists", False)]
        assert len(list_active(c)) == 2
        r = c.call(rp.REQUEST_TYPE_KILL_ZOMBIES, "kill_zombies", rp.KillZombiesRequest())
        assert [(x.pid, x.killed) for x in r.kill_zombies.zombies] == [(999998, True)]
        assert [x.pid for x in list_active(c)] == [p.pid]
        assert alive(p.pid)


def test_reused_pid_never_signalled(d, procs):
    """A row whose pid now belongs to another process: reported and dropped, never killed."""
    p = subprocess.Popen(start_new_session=True, args=["true"])
    p.wait()
    victim_pid = p.pid
    with client(d) as c:
        assert register(c, victim_pid, command="old", created_at=time.time() - 3600).code == OK
        try:
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(victim_pid - 1))
        except OSError:
            pytest.skip("cannot steer pid allocation here (needs CAP_SYS_ADMIN)")
        q = subprocess.Popen(start_new_session=True, args=["sleep", "60"])
        procs.append(q)
        if q.pid != victim_pid:
            pytest.skip("another process took the pid first")
        r = c.call(rp.REQUEST_TYPE_KILL_ZOMBIES, "kill_zombies", rp.KillZombiesRequest())
        (z,) = r.kill_zombies.zombies
        assert z.pid == victim_pid and not z.killed
        assert z.reason.startswith(f"PID {victim_pid} reused: registered creation_time=")
        assert list_active(c) == []
        time.sleep(0.1)
        assert alive(q.pid)


def test_recovery_drops_gone_and_reused_rows(make_droverd, procs):
    p = subprocess.Popen(start_new_session=True, args=["sleep", "60"])
    q = subprocess.Popen(start_new_session=True, args=["sleep", "60"])
    procs += [p, q]
    d = start_rp(make_droverd)
    with client(d) as c:
        for pid in (p.pid, q.pid, 999997):
            assert register(c, pid, command="x").code == OK
    assert d.stop() == 0
    db = sqlite3.connect(os.path.join(d.state_dir, "drover.sqlite3"))
    db.execute("UPDATE tracked_processes SET start_ticks = 1 WHERE pid = ?", (q.pid,))
    db.commit()
    db.close()
    d.start()
    with client(d) as c:
        assert [x.pid for x in list_active(c)] == [p.pid]
    assert alive(q.pid)


# ---- process tree and kill-tree -------------------------------------------------------------

def test_get_process_tree_text(d, procs, tmp_path):
    script = "sleep 61 & sleep 62 & wait"
    p = subprocess.Popen(start_new_session=True, args=["sh", "-c", script])
    procs.append(p)
    def kids():
        pids = sorted(int(x) for x in open(f"/proc/{p.pid}/task/{p.pid}/children").read().split())
        names = [open(f"/proc/{k}/comm").read().strip() for k in pids]
        return pids if names == ["sleep", "sleep"] else None

    kids = wait_until(kids, what="two sleeping children")
    with client(d) as c:
        r = c.call(rp.REQUEST_TYPE_GET_PROCESS_TREE, "get_process_tree",
                   rp.GetProcessTreeRequest(pid=p.pid))
        assert r.code == OK
        assert r.get_process_tree.tree_display.split("\n") == [
            f"sh (pid={p.pid}) sh -c {script}",
            f"├── sleep (pid={kids[0]})",
            f"└── sleep (pid={kids[1]})",
        ]
        r = c.call(rp.REQUEST_TYPE_GET_PROCESS_TREE, "get_process_tree",
                   rp.GetProcessTreeRequest(pid=999996))
        assert (r.code, r.get_process_tree.tree_display) == (OK, "Process 999996 not found")


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def spawn_daemon(c, command, **kw):
    return c.call(rp.REQUEST_TYPE_SPAWN_DAEMON, "spawn_daemon",
                  rp.SpawnDaemonRequest(command=command, **kw))


def test_kill_tree_takes_double_forked_orphan(d, procs, tmp_path):
    pidfile = tmp_path / "orphan.pid"
    with client(d) as c:
        r = spawn_daemon(c, f"sleep 300 & (sleep 301 & echo $! > {pidfile}); sleep 302")
        assert r.code == OK, r.message
        root = r.spawn_daemon.pid
        procs.append(root)
        wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="orphan")
        orphan = int(pidfile.read_text())
        procs.append(orphan)
        assert alive(orphan)
        # The shell forks its last sleep after the subshell is gone: wait for it, so that the
        # tree has its four processes when it is killed.
        wait_until(lambda: [comm(x) for x in children_of(root)] == ["sleep", "sleep"],
                   what="both sleeps of the root (the subshell gone)")
        # The orphan's parent is gone: it is not a descendant of root any more.
        ppid = int(open(f"/proc/{orphan}/stat").read().rsplit(")", 1)[1].split()[1])
        assert ppid != root
        # OK means nothing survived the timeout (survivors make it ERROR).
        r = c.call(rp.REQUEST_TYPE_KILL_TREE, "kill_tree", rp.KillTreeRequest(pid=root))
        assert r.code == OK, r.message
        assert r.kill_tree.processes_killed >= 4
        for pid in (root, orphan):
            # Gone, and reaped: droverd, their subreaper, leaves no zombie behind.
            wait_until(lambda: not os.path.exists(f"/proc/{pid}"), timeout=5, what=f"{pid} reaped")
        assert all(x.pid != root for x in list_active(c))


def test_kill_tree_of_foreign_tree_and_missing_pid(d, procs):
    p = subprocess.Popen(start_new_session=True, args=["sh", "-c", "sleep 300 & sh -c 'sleep 301 & wait' & wait"])
    procs.append(p)
    wait_until(lambda: len(open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()) == 2,
               what="children")
    with client(d) as c:
        r = c.call(rp.REQUEST_TYPE_KILL_TREE, "kill_tree",
                   rp.KillTreeRequest(pid=p.pid, timeout_seconds=100))
        assert r.code == OK
        assert r.kill_tree.processes_killed >= 3
        p.wait(5)
        assert p.returncode == -signal.SIGKILL
        r = c.call(rp.REQUEST_TYPE_KILL_TREE, "kill_tree", rp.KillTreeRequest(pid=999995))
        assert (r.code, r.kill_tree.processes_killed) == (OK, 0)
        r = c.call(rp.REQUEST_TYPE_KILL_TREE, "kill_tree", rp.KillTreeRequest(pid=0))
        assert r.code == rp.STATUS_CODE_INVALID_ARGUMENT


# ---- SPAWN_DAEMON, STATUS, SHUTDOWN ---------------------------------------------------------

def test_spawn_daemon_env_and_registration(d, procs, tmp_path):
    out = tmp_path / "env.txt"
    with client(d, client_name="my-tool") as c:
        r = spawn_daemon(c, f"  env > {out}; sleep 60  ", cwd=str(tmp_path),
                         env=[rp.KeyValue(key="A", value="1"), rp.KeyValue(key="A", value="2"),
                              rp.KeyValue(key="B", value="x y")])
        assert r.code == OK, r.message
        s = r.spawn_daemon
        procs.append(s.pid)
        assert s.command == f"env > {out}; sleep 60"
        assert (s.cwd, s.originator, s.containment) == (str(tmp_path), "my-tool", "detached")
        assert abs(s.created_at - start_time(s.pid)) < 0.02
        wait_until(lambda: out.exists() and "B=" in out.read_text(), what="env file")
        env = dict(l.split("=", 1) for l in out.read_text().splitlines() if "=" in l)
        assert env["A"] == "2" and env["B"] == "x y"
        assert env["RUNNING_PROCESS_ORIGINATOR"] == "my-tool"
        assert env["RUNNING_PROCESS_IS_DAEMON"] == "1"
        assert "PATH" in env  # inherited by default
        sid = int(open(f"/proc/{s.pid}/stat").read().rsplit(")", 1)[1].split()[3])
        assert sid == s.pid  # its own session
        rows = list_active(c)
        assert [(x.pid, x.containment, x.originator) for x in rows] == \
            [(s.pid, "detached", "my-tool")]
        os.kill(s.pid, signal.SIGTERM)
        wait_until(lambda: list_active(c) == [], what="row dropped at exit")

        out.unlink()
        r = spawn_daemon(c, f"env > {out}", clear_inherited_env=True, originator="o:1",
                         env=[rp.KeyValue(key="ONLY", value="me")])
        assert r.code == OK
        wait_until(lambda: out.exists() and "ONLY" in out.read_text(), what="env file")
        env = dict(l.split("=", 1) for l in out.read_text().splitlines() if "=" in l)
        assert env["ONLY"] == "me" and env["RUNNING_PROCESS_ORIGINATOR"] == "o:1"
        assert "HOME" not in env


def test_spawn_daemon_errors(d):
    with client(d) as c:
        r = spawn_daemon(c, "   ")
        assert (r.code, r.message) == (rp.STATUS_CODE_INVALID_ARGUMENT, "command must not be empty")
        r = spawn_daemon(c, "true", cwd="/nonexistent-dir")
        assert r.code == rp.STATUS_CODE_NOT_FOUND and "/nonexistent-dir" in r.message
        r = spawn_daemon(c, "true", env=[rp.KeyValue(key="A=B", value="1")])
        assert r.code == rp.STATUS_CODE_INVALID_ARGUMENT and "A=B" in r.message


def test_status_fields(d):
    with client(d) as c:
        r = c.call(rp.REQUEST_TYPE_STATUS, "status", rp.StatusRequest())
        s = r.status
        assert r.code == OK and s.version
        assert s.active_connections == 1
        assert s.socket_path == d.rp_socket
        assert s.db_path == os.path.join(d.state_dir, "drover.sqlite3")
        assert (s.scope, s.scope_hash) == ("global", "")
        assert s.scope_cwd == os.getcwd()
        assert s.emergency_reserve == "armed"
        assert os.path.getsize(os.path.join(d.state_dir, "emergency-reserve.bin")) == 65536
        with client(d) as c2:
            c2.call(rp.REQUEST_TYPE_PING)
            assert c.call(rp.REQUEST_TYPE_STATUS).status.active_connections == 2


def test_shutdown_replies_first_and_daemons_survive(d, procs):
    with client(d) as c:
        r = spawn_daemon(c, "sleep 120")
        child = r.spawn_daemon.pid
        procs.append(child)
        r = c.call(rp.REQUEST_TYPE_SHUTDOWN, "shutdown", rp.ShutdownRequest(graceful=True))
        assert (r.code, r.message) == (OK, "shutting down")
        assert r.HasField("shutdown")
    assert d.wait(10) == 0
    assert alive(child)
    assert not os.path.exists(d.rp_socket)


# ---- the same operations over gRPC (drover.v1.Processes) ------------------------------------

def test_processes_over_grpc(d, procs):
    import grpc
    from drover.v1 import processes_pb2_grpc

    stub = processes_pb2_grpc.ProcessesStub(d.channel())
    p = subprocess.Popen(start_new_session=True, args=["sh", "-c", "sleep 300 & wait"])
    procs.append(p)
    stub.Register(rp.RegisterRequest(pid=p.pid, created_at=time.time(), command="sh",
                                     originator="gtool:1"), timeout=5)
    rows = stub.ListActive(rp.ListActiveRequest(), timeout=5).processes
    assert [(x.pid, x.state) for x in rows] == [(p.pid, rp.PROCESS_STATE_ALIVE)]
    rows = stub.ListByOriginator(rp.ListByOriginatorRequest(tool="gtool"), timeout=5).processes
    assert [x.pid for x in rows] == [p.pid]
    with client(d) as c:  # both doors see one registry
        assert [x.pid for x in list_active(c)] == [p.pid]
    # The child is sh's fork until it has exec'd sleep: wait for the tree to show sleep.
    def tree():
        t = stub.GetProcessTree(rp.GetProcessTreeRequest(pid=p.pid), timeout=5).tree_display
        return t if "└── sleep (pid=" in t else None
    text = wait_until(tree, what="sleep under sh")
    assert text.startswith(f"sh (pid={p.pid}) sh -c sleep 300 & wait\n└── sleep (pid=")

    with pytest.raises(grpc.RpcError) as e:
        stub.Register(rp.RegisterRequest(pid=0, command="x"), timeout=5)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details() == "pid must be > 0"

    r = stub.KillTree(rp.KillTreeRequest(pid=p.pid), timeout=10)
    assert r.processes_killed == 2
    p.wait(5)
    assert list(stub.ListActive(rp.ListActiveRequest(), timeout=5).processes) == []
    with pytest.raises(grpc.RpcError) as e:
        stub.Unregister(rp.UnregisterRequest(pid=p.pid), timeout=5)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND

    s = stub.SpawnDaemon(rp.SpawnDaemonRequest(command="sleep 100"), timeout=5)
    procs.append(s.pid)
    assert s.originator == "drover-grpc" and s.containment == "detached"
    z = stub.KillZombies(rp.KillZombiesRequest(dry_run=True), timeout=5)
    assert list(z.zombies) == []

    from drover.v1 import admin_pb2, admin_pb2_grpc
    st = admin_pb2_grpc.AdminStub(d.channel()).Status(admin_pb2.StatusRequest(), timeout=5)
    assert st.tracked_process_count == 1
    assert st.rp_socket_path == d.rp_socket
    assert st.db_path.endswith("drover.sqlite3") and st.emergency_reserve == "armed"


def test_connection_limit_answers_then_closes(make_droverd):
    d = start_rp(make_droverd, "--rp-max-connections", "1")
    with client(d) as first:
        assert first.call(rp.REQUEST_TYPE_PING).code == OK
        with client(d) as second:
            r = second.call(rp.REQUEST_TYPE_PING)
            assert r.code == rp.STATUS_CODE_UNAVAILABLE and "too many connections" in r.message
            assert second.at_eof()
        assert first.call(rp.REQUEST_TYPE_STATUS).status.active_connections == 1

    def ping_ok():  # the slot is free again once droverd has seen the first one go
        with client(d) as c:
            return c.call(rp.REQUEST_TYPE_PING).code == OK

    wait_until(ping_ok, what="slot freed")


def test_periodic_zombie_pass(make_droverd, procs):
    d = start_rp(make_droverd, "--zombie-pass-interval-ms", "100")
    p = subprocess.Popen(start_new_session=True, args=["sleep", "60"])
    procs.append(p)
    with client(d) as c:
        assert register(c, 999991, command="ghost").code == OK
        assert register(c, p.pid, command="sleep 60").code == OK
        wait_until(lambda: [x.pid for x in list_active(c)] == [p.pid], what="ghost dropped")
    assert alive(p.pid)


def test_emergency_reserve_released_on_full_disk(make_droverd, tmp_path):
    """On a full file system the reserve beside the database is given up so the write that
    failed can be retried: REGISTER still succeeds, and STATUS says "released"."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs CAP_SYS_ADMIN)")
    try:
        d = start_rp(make_droverd, "--db-path", str(mnt / "db.sqlite3"),
                     "--emergency-reserve-bytes", str(1 << 20))
        with client(d) as c:
            assert c.call(rp.REQUEST_TYPE_STATUS).status.emergency_reserve == "armed"
            fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT)
            try:  # fill every byte that is left, 4 KiB at a time
                while True:
                    os.write(fd, b"\0" * 4096)
            except OSError:
                pass
            finally:
                os.close(fd)
            for i in range(8):  # rows big enough to need new pages
                r = register(c, 990000 + i, command="x" * 60000)
                assert r.code == OK, r.message
            s = c.call(rp.REQUEST_TYPE_STATUS).status
            assert s.emergency_reserve == "released"
            assert not (mnt / "emergency-reserve.bin").exists()
            assert len(list_active(c)) == 8
        assert d.stop() == 0
    finally:
        subprocess.run(["umount", "-l", str(mnt)])
