"""Services through running-process's SERVICE_* requests (runpm's protocol): start, stop,
restart, delete, list, describe, logs, flush, save and resurrect, and what survives droverd
itself stopping or being killed."""

import json
import os
import signal
import time

import pytest

from conftest import alive, wait_until
from rpclient import OK, RpClient, rp


@pytest.fixture
def d(make_droverd):
    d = make_droverd(start=False)
    d.args += ["--rp-socket", d.rp_socket]
    return d.start()


def start(c, name, cmd, **kw):
    cfg = rp.ServiceConfig(name=name, cmd=cmd, autorestart=kw.pop("autorestart", True), **kw)
    return c.call(rp.REQUEST_TYPE_SERVICE_START, "service_start", rp.ServiceStartRequest(config=cfg))


def describe(c, target):
    r = c.call(rp.REQUEST_TYPE_SERVICE_DESCRIBE, "service_describe",
               rp.ServiceDescribeRequest(target=target))
    return r


def target_call(c, type_, field, cls, target):
    return c.call(type_, field, cls(target=target))


def stop(c, target):
    return target_call(c, rp.REQUEST_TYPE_SERVICE_STOP, "service_stop", rp.ServiceStopRequest, target)


def test_start_list_describe_stop(d):
    with RpClient(d.rp_socket) as c:
        r = start(c, "web", ["sleep", "300"], cwd="/tmp")
        assert r.code == OK, r.message
        s = r.service_start.service
        assert (s.name, s.id, s.status) == ("web", 1, "online") and alive(s.pid)
        assert list(s.config.cmd) == ["sleep", "300"] and s.config.cwd == "/tmp"
        # upstream's zero-means-default settings
        assert (s.config.restart_delay_ms, s.config.kill_timeout_ms, s.config.min_uptime_ms) == \
            (500, 3000, 2000)
        r = start(c, "web", ["sleep", "1"])
        assert (r.code, r.message) == (rp.STATUS_CODE_INVALID_ARGUMENT, "service 'web' already exists")
        assert start(c, "", ["x"]).code == rp.STATUS_CODE_INVALID_ARGUMENT
        assert start(c, "x", []).code == rp.STATUS_CODE_INVALID_ARGUMENT

        ls = c.call(rp.REQUEST_TYPE_SERVICE_LIST).service_list.services
        assert [(x.name, x.status) for x in ls] == [("web", "online")]
        assert describe(c, "1").service_describe.service.pid == s.pid
        assert describe(c, "web").service_describe.service.id == 1
        r = describe(c, "nope")
        assert (r.code, r.message) == (rp.STATUS_CODE_NOT_FOUND, "no service matched 'nope'")

        r = stop(c, "web")
        assert (r.code, r.service_stop.stopped_count) == (OK, 1)
        assert not alive(s.pid)  # stopped means gone, when the reply comes
        assert describe(c, "web").service_describe.service.status == "stopped"
        assert stop(c, "web").service_stop.stopped_count == 0
        r = stop(c, "nope")
        assert (r.code, r.message) == (rp.STATUS_CODE_NOT_FOUND, "no service matched 'nope'")
        r = c.call(rp.REQUEST_TYPE_SERVICE_STOP)  # no payload: an empty target
        assert (r.code, r.message) == (rp.STATUS_CODE_NOT_FOUND, "no service matched ''")


def test_restart_crash_and_errored(d, tmp_path):
    with RpClient(d.rp_socket) as c:
        pid1 = start(c, "a", ["sleep", "300"]).service_start.service.pid
        r = target_call(c, rp.REQUEST_TYPE_SERVICE_RESTART, "service_restart",
                        rp.ServiceRestartRequest, "a")
        assert (r.code, r.service_restart.restarted_count) == (OK, 1)
        s = describe(c, "a").service_describe.service
        assert s.status == "online" and s.pid != pid1 and s.restart_count == 1
        assert not alive(pid1)

        # A crash is restarted after restart_delay_ms; errored after max_restarts.
        runs = tmp_path / "runs"
        r = start(c, "crash", ["sh", "-c", f"echo x >> {runs}; exit 3"], max_restarts=2,
                  restart_delay_ms=10)
        wait_until(lambda: describe(c, "crash").service_describe.service.status == "errored",
                   what="errored")
        s = describe(c, "crash").service_describe.service
        assert len(runs.read_text().splitlines()) == 3
        assert s.last_exit_code == 3 and s.pid == 0

        # autorestart off: stopped after its exit, code kept.
        start(c, "once", ["sh", "-c", "exit 5"], autorestart=False)
        wait_until(lambda: describe(c, "once").service_describe.service.last_exit_code == 5,
                   what="exit recorded")
        assert describe(c, "once").service_describe.service.status == "stopped"

        # A program that cannot start: errored, with the reason.
        r = start(c, "missing", ["/nonexistent/prog"])
        assert r.code == rp.STATUS_CODE_NOT_FOUND and "No such file" in r.message
        assert r.service_start.service.status == "errored"


def test_env_replaces_and_stop_all(d, tmp_path):
    out = tmp_path / "env"
    with RpClient(d.rp_socket) as c:
        r = start(c, "env", ["/bin/sh", "-c", f"env > {out}; exec sleep 300"],
                  env={"ONLY": "this"})
        assert r.code == OK
        wait_until(lambda: out.exists() and "ONLY" in out.read_text(), what="env")
        names = {l.split("=", 1)[0] for l in out.read_text().splitlines()}
        assert "ONLY" in names and "HOME" not in names  # upstream clears it
        start(c, "two", ["sleep", "300"])
        r = stop(c, "all")
        assert r.service_stop.stopped_count == 2
        assert all(x.status == "stopped" for x in c.call(rp.REQUEST_TYPE_SERVICE_LIST).service_list.services)


def test_logs_and_flush(d):
    script = ("printf 'one\\ntwo\\nthree\\n'; printf 'err1\\nerr2' >&2; "
              "head -c 5000 /dev/zero | tr '\\0' y; echo; exec sleep 300")
    with RpClient(d.rp_socket) as c:
        start(c, "log", ["sh", "-c", script])

        def logs(n=0):
            return c.call(rp.REQUEST_TYPE_SERVICE_LOGS, "service_logs",
                          rp.ServiceLogsRequest(target="log", lines=n)).service_logs.log_text

        wait_until(lambda: "yyy" in logs(), what="output")
        text = logs(2)
        assert text == ("[stdout] three\n[stdout] " + "y" * 4096 + "...(truncated)\n"
                        "[stderr] err1\n[stderr] err2\n")
        assert logs().startswith("[stdout] one\n[stdout] two\n")
        r = c.call(rp.REQUEST_TYPE_SERVICE_LOGS, "service_logs", rp.ServiceLogsRequest(target=""))
        assert r.code == rp.STATUS_CODE_NOT_FOUND
        r = c.call(rp.REQUEST_TYPE_SERVICE_FLUSH, "service_flush", rp.ServiceFlushRequest(target="log"))
        assert (r.code, r.service_flush.flushed_count) == (OK, 1)
        assert logs() == ""
        assert os.path.getsize(os.path.join(d.state_dir, "logs", "log-out.log")) == 0


def test_save_delete_resurrect(d):
    with RpClient(d.rp_socket) as c:
        start(c, "keep", ["sleep", "300"], max_restarts=4, env={"A": "1"})
        start(c, "idle", ["sleep", "300"])
        stop(c, "idle")
        r = c.call(rp.REQUEST_TYPE_SERVICE_SAVE)
        assert r.code == OK and r.service_save.service_count == 2
        path = r.service_save.snapshot_path
        assert path == os.path.join(d.state_dir, "services.snapshot.json")
        snap = json.load(open(path))
        assert snap["version"] == 1 and [s["name"] for s in snap["services"]] == ["keep", "idle"]
        assert snap["services"][0]["env"] == [["A", "1"]]
        assert snap["services"][0]["status"] == "online"

        r = target_call(c, rp.REQUEST_TYPE_SERVICE_DELETE, "service_delete",
                        rp.ServiceDeleteRequest, "all")
        assert r.service_delete.deleted_count == 2
        assert list(c.call(rp.REQUEST_TYPE_SERVICE_LIST).service_list.services) == []

        r = c.call(rp.REQUEST_TYPE_SERVICE_RESURRECT)
        assert (r.code, r.service_resurrect.restored_count) == (OK, 2)
        ls = {x.name: x for x in c.call(rp.REQUEST_TYPE_SERVICE_LIST).service_list.services}
        assert (ls["keep"].status, ls["keep"].id, ls["keep"].config.max_restarts) == ("online", 1, 4)
        assert (ls["idle"].status, ls["idle"].id) == ("stopped", 2)

        os.unlink(path)
        r = c.call(rp.REQUEST_TYPE_SERVICE_RESURRECT)
        assert r.code == rp.STATUS_CODE_NOT_FOUND
        assert r.message == f"no service matched 'no snapshot found at {path}'"
        open(path, "w").write('{"version": 2, "services": []}')
        assert c.call(rp.REQUEST_TYPE_SERVICE_RESURRECT).code == rp.STATUS_CODE_INVALID_ARGUMENT


def test_services_across_droverd_restarts(d):
    with RpClient(d.rp_socket) as c:
        old = start(c, "svc", ["sleep", "300"]).service_start.service.pid
    # kill -9: the next droverd adopts the service's process; nothing is restarted or doubled.
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    d.start()
    with RpClient(d.rp_socket) as c:
        s = describe(c, "svc").service_describe.service
        assert s.status == "online" and s.pid == old and alive(old)
        new = s.pid
    # A graceful stop stops the service; it stays stopped (it was not started with droverd).
    assert d.stop() == 0
    assert not alive(new)
    d.start()
    with RpClient(d.rp_socket) as c:
        assert describe(c, "svc").service_describe.service.status == "stopped"
