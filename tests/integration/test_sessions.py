"""Detachable sessions through both doors (the running-process socket and drover.v1.Sessions
over gRPC, one interface in sessclient.py): PTY and pipe sessions, attach with backlog, steal,
detach, input, resize, terminate outcomes, purge and bulk terminate, tees, a client that never
reads, and the drover CLI, including `drover attach` driven in tmux like a person would."""

import os
import signal
import subprocess
import time

import pytest

from conftest import DROVER, alive, rss_kb, sanitized, screen, tmux, wait_until  # noqa: F401
from rpclient import RpClient, rp
from sessclient import Error, door

DOORS = ["rp", "grpc"]
PATH = os.environ.get("PATH", "/usr/bin:/bin")


@pytest.fixture
def d(make_droverd):
    dd = make_droverd(start=False)
    dd.args += ["--rp-socket", dd.rp_socket]
    return dd.start()


@pytest.fixture(params=DOORS)
def c(request, d):
    cl = door(d, request.param)
    yield cl
    cl.close()


def spawn_pty(c, *argv, **kw):
    return c.call("spawn_pty", rp.SpawnPtySessionRequest(argv=list(argv), **kw))


def spawn_pipe(c, *argv, **kw):
    return c.call("spawn_pipe", rp.SpawnPipeSessionRequest(argv=list(argv), **kw))


def backlog(c, sid, stderr=False):
    return c.call("backlog", rp.GetSessionBacklogRequest(session_id=sid,
                                                         pipe_stream=2 if stderr else 1))


def wait_backlog(c, sid, needle, stderr=False):
    wait_until(lambda: needle in backlog(c, sid, stderr).backlog, what=f"{needle!r} in backlog")


def wait_exit(c, sid):
    wait_until(lambda: backlog(c, sid).exited, what=f"{sid} to exit")
    return backlog(c, sid)


def info(c, sid):
    for op, req in (("list_pty", rp.ListPtySessionsRequest()),
                    ("list_pipe", rp.ListPipeSessionsRequest())):
        for s in c.call(op, req).sessions:
            if s.session_id == sid:
                return s
    raise AssertionError(f"{sid} is not listed")


def read_until_end(a, limit=1000):
    """Frames until the terminal one: (output bytes, terminal frame)."""
    out = b""
    for _ in range(limit):
        f = a.next_frame()
        kind = f.WhichOneof("frame")
        if kind in ("output", "bytes"):
            out += getattr(f, kind)
        elif kind != "missed_bytes":
            return out, f
    raise AssertionError("no terminal frame")


def read_until(a, needle):
    out = b""
    while needle not in out:
        f = a.next_frame()
        kind = f.WhichOneof("frame")
        assert kind in ("output", "bytes"), f
        out += getattr(f, kind)
    return out


def code_of(fn):
    with pytest.raises(Error) as e:
        fn()
    return e.value


# ---- PTY -----------------------------------------------------------------------------------

def test_pty_attach_input_exit(c):
    s = spawn_pty(c, "sh", "-c", "echo ready; read x; echo got:$x; exit 3")
    assert s.session_id.startswith("pty-") and s.pid > 0 and s.created_at > 0
    wait_backlog(c, s.session_id, b"ready")
    a = c.attach_pty(session_id=s.session_id)
    assert a.response.backlog == b"ready\r\n"
    assert not a.response.backlog_truncated and a.response.bytes_missed == 0
    a.send(input=b"abc\n")
    out, end = read_until_end(a)
    assert b"got:abc" in out
    assert end.WhichOneof("frame") == "exit_code" and end.exit_code == 3
    assert a.ended()
    i = info(c, s.session_id)
    assert i.exited and i.exit_code == 3 and i.exited_at >= i.created_at
    assert i.termination_outcome == rp.TERMINATION_OUTCOME_NATURAL_EXIT
    e = code_of(lambda: c.attach_pty(session_id=s.session_id))
    assert e.code == "NOT_FOUND" and "already exited (exit_code=3" in e.message


def test_exit_code_zero_is_a_frame(c):
    s = spawn_pty(c, "sh", "-c", "read x")
    a = c.attach_pty(session_id=s.session_id)
    a.send(input=b"\n")
    _, end = read_until_end(a)
    assert end.WhichOneof("frame") == "exit_code" and end.exit_code == 0


def test_pty_defaults_env_and_originator(c):
    s = spawn_pty(c, "sh", "-c", 'stty size; echo "o=$RUNNING_PROCESS_ORIGINATOR f=$FOO"; '
                  'test -z "$HOME" && echo clean', env=[rp.KeyValue(key="FOO", value="bar"),
                                                     rp.KeyValue(key="PATH", value=PATH)],
                  clear_inherited_env=True)
    out = wait_exit(c, s.session_id).backlog
    expect = "client:pytest" if c.name == "rp" else "client:drover-grpc"
    assert b"24 80" in out and f"o={expect} f=bar".encode() in out and b"clean" in out
    i = info(c, s.session_id)
    assert (i.rows, i.cols, i.originator) == (24, 80, expect)
    s = spawn_pty(c, "sh", "-c", "stty size; pwd", rows=50, cols=132, cwd="/tmp",
                  originator="tool:1")
    out = wait_exit(c, s.session_id).backlog
    assert b"50 132" in out and b"/tmp" in out
    assert info(c, s.session_id).originator == "tool:1"


def test_bad_requests(c):
    assert code_of(lambda: spawn_pty(c)).code == "INVALID_ARGUMENT"
    e = code_of(lambda: spawn_pty(c, "/nonexistent/prog"))
    assert e.code == "NOT_FOUND" and "/nonexistent/prog" in e.message
    e = code_of(lambda: spawn_pipe(c, "sh", cwd="/nonexistent-dir"))
    assert "/nonexistent-dir" in e.message
    e = code_of(lambda: spawn_pty(c, "sh", env=[rp.KeyValue(key="A=B", value="x")]))
    assert e.code == "INVALID_ARGUMENT" and "A=B" in e.message
    for op, req in [("detach_pty", rp.DetachPtySessionRequest(session_id="nope")),
                    ("terminate_pty", rp.TerminatePtySessionRequest(session_id="nope")),
                    ("terminate_pipe", rp.TerminatePipeSessionRequest(session_id="nope")),
                    ("resize_pty", rp.ResizePtySessionRequest(session_id="nope")),
                    ("backlog", rp.GetSessionBacklogRequest(session_id="nope")),
                    ("write_stdin", rp.WritePipeStdinRequest(session_id="nope", data=b"x")),
                    ("detach_pipe", rp.DetachPipeStreamRequest(session_id="nope", stream=1))]:
        e = code_of(lambda: c.call(op, req))
        assert e.code == "NOT_FOUND" and "nope" in e.message, (op, e)
    assert code_of(lambda: c.attach_pty(session_id="nope")).code == "NOT_FOUND"
    assert code_of(lambda: c.attach_pipe(session_id="nope", stream=1)).code == "NOT_FOUND"
    # A pipe id is not a PTY session, and the other way round.
    p = spawn_pipe(c, "sleep", "30")
    t = spawn_pty(c, "sleep", "30")
    assert code_of(lambda: c.attach_pty(session_id=p.session_id)).code == "NOT_FOUND"
    assert code_of(lambda: c.call("write_stdin", rp.WritePipeStdinRequest(
        session_id=t.session_id, data=b"x"))).code == "NOT_FOUND"
    e = code_of(lambda: c.attach_pipe(session_id=p.session_id))
    assert e.code == "INVALID_ARGUMENT"
    c.call("bulk_terminate", rp.BulkTerminateSessionsRequest())


def test_second_attach_steal_and_detach(c):
    s = spawn_pty(c, "cat")
    a = c.attach_pty(session_id=s.session_id, rows=30, cols=90, is_tty=True, term="xterm-test")
    i = info(c, s.session_id)
    assert i.attached and i.attached_is_tty and i.attached_term == "xterm-test"
    assert (i.rows, i.cols) == (30, 90)
    e = code_of(lambda: c.attach_pty(session_id=s.session_id))
    assert e.code == "ALREADY_ATTACHED" and "already has an attached client" in e.message
    b = c.attach_pty(session_id=s.session_id, steal=True)
    _, end = read_until_end(a)
    assert end.WhichOneof("frame") == "stolen_by" and end.stolen_by == "peer"
    assert a.ended()
    b.send(input=b"ping\n")
    assert b"ping" in read_until(b, b"ping")
    c.call("detach_pty", rp.DetachPtySessionRequest(session_id=s.session_id))
    _, end = read_until_end(b)
    assert end.WhichOneof("frame") == "error" and end.error == "detached"
    assert b.ended()
    i = info(c, s.session_id)
    assert not i.attached and not i.exited and i.attached_term == ""
    # Idempotent.
    c.call("detach_pty", rp.DetachPtySessionRequest(session_id=s.session_id))
    c.call("terminate_pty", rp.TerminatePtySessionRequest(session_id=s.session_id, grace_ms=100))
    wait_exit(c, s.session_id)


def test_in_band_detach_and_backlog_replay(c):
    s = spawn_pty(c, "sh", "-c", "echo zero; read x; echo one; read y; echo two; sleep 60")
    wait_backlog(c, s.session_id, b"zero")
    a = c.attach_pty(session_id=s.session_id)
    assert b"zero" in a.response.backlog
    a.send(input=b"\n")
    read_until(a, b"one")
    a.send(detach=True)
    assert a.ended()  # a clean detach ends the stream without a frame
    wait_until(lambda: not info(c, s.session_id).attached)
    # While nobody is attached, the session runs on and its output is kept.
    b = c.attach_pty(session_id=s.session_id)
    # As upstream: an attach replays what came since the previous attach (what that client
    # saw live included), and consumes it; what came before is not replayed again.
    assert b"one" in b.response.backlog and b"zero" not in b.response.backlog
    b.send(input=b"\n")
    read_until(b, b"two")
    b.send(detach=True)
    assert b.ended()
    snap = backlog(c, s.session_id)
    assert b"two" in snap.backlog and snap.session_kind == "pty" and not snap.exited
    assert b"two" in backlog(c, s.session_id).backlog  # a snapshot does not consume
    c.call("terminate_pty", rp.TerminatePtySessionRequest(session_id=s.session_id, grace_ms=100))


def test_interrupt_and_resize(c):
    s = spawn_pty(c, "sh", "-c", "trap 'echo got-int' INT; echo ready; "
                  "while :; do read x && stty size; done")
    wait_backlog(c, s.session_id, b"ready")
    c.call("resize_pty", rp.ResizePtySessionRequest(session_id=s.session_id, rows=33, cols=111))
    assert (info(c, s.session_id).rows, info(c, s.session_id).cols) == (33, 111)
    a = c.attach_pty(session_id=s.session_id)
    a.send(input=b"\n")
    read_until(a, b"33 111")
    a.send(resize=rp.PtyResize(rows=40, cols=0))  # 0 keeps the columns
    a.send(input=b"\n")
    read_until(a, b"40 111")
    a.send(interrupt=True)
    read_until(a, b"got-int")
    a.close()
    p = spawn_pipe(c, "sleep", "30")
    c.call("resize_pty", rp.ResizePtySessionRequest(session_id=p.session_id, rows=5, cols=5))
    c.call("bulk_terminate", rp.BulkTerminateSessionsRequest())


def test_terminate_outcomes(c):
    soft = spawn_pty(c, "sleep", "60")
    a = c.attach_pty(session_id=soft.session_id)
    c.call("terminate_pty", rp.TerminatePtySessionRequest(session_id=soft.session_id,
                                                          grace_ms=10000))
    _, end = read_until_end(a)
    assert end.WhichOneof("frame") == "error" and end.error == "session terminated by request"
    b = wait_exit(c, soft.session_id)
    assert b.termination_outcome == rp.TERMINATION_OUTCOME_SOFT_EXIT and b.exit_code == -15
    stubborn = spawn_pipe(c, "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done")
    wait_backlog(c, stubborn.session_id, b"ready")
    c.call("terminate_pipe", rp.TerminatePipeSessionRequest(session_id=stubborn.session_id,
                                                            grace_ms=300))
    # The call answers at once; the program is still there until the grace period ends.
    assert not info(c, stubborn.session_id).exited
    b = wait_exit(c, stubborn.session_id)
    assert b.termination_outcome == rp.TERMINATION_OUTCOME_HARD_KILLED and b.exit_code == -9
    # Terminating an exited session is fine.
    c.call("terminate_pipe", rp.TerminatePipeSessionRequest(session_id=stubborn.session_id))


def test_terminate_kills_the_whole_tree(c):
    s = spawn_pty(c, "sh", "-c", "(setsid sh -c 'trap \"\" TERM; sleep 60' & echo orphan:$!); "
                  "sleep 60")
    wait_backlog(c, s.session_id, b"orphan:")
    out = backlog(c, s.session_id).backlog.decode()
    orphan = int(out.split("orphan:")[1].split()[0])
    assert alive(orphan)
    c.call("terminate_pty", rp.TerminatePtySessionRequest(session_id=s.session_id, grace_ms=200))
    wait_exit(c, s.session_id)
    wait_until(lambda: not alive(orphan), what="the double-forked orphan to die")


# ---- pipes ---------------------------------------------------------------------------------

def test_pipe_streams_are_byte_exact(c):
    s = spawn_pipe(c, "sh", "-c", "cat; printf 'E1' >&2; printf 'tail\\r\\nno-newline'")
    r = c.call("write_stdin", rp.WritePipeStdinRequest(session_id=s.session_id,
                                                       data=b"line1\nline2", close=True))
    assert r.bytes_written == 11
    b = wait_exit(c, s.session_id)
    assert b.backlog == b"line1\nline2tail\r\nno-newline" and b.session_kind == "pipe"
    assert backlog(c, s.session_id, stderr=True).backlog == b"E1"
    i = info(c, s.session_id)
    assert i.exited and i.exit_code == 0 and not i.merge_stderr_into_stdout


def test_pipe_write_after_close(c):
    s = spawn_pipe(c, "sh", "-c", "cat; sleep 60")
    c.call("write_stdin", rp.WritePipeStdinRequest(session_id=s.session_id, data=b"x",
                                                   close=True))
    e = code_of(lambda: c.call("write_stdin", rp.WritePipeStdinRequest(
        session_id=s.session_id, data=b"y")))
    assert e.code == "INVALID_ARGUMENT" and "closed" in e.message
    c.call("terminate_pipe", rp.TerminatePipeSessionRequest(session_id=s.session_id,
                                                            grace_ms=100))
    wait_exit(c, s.session_id)
    e = code_of(lambda: c.call("write_stdin", rp.WritePipeStdinRequest(
        session_id=s.session_id, data=b"y")))
    assert e.code == "NOT_FOUND" and "already exited" in e.message


def test_pipe_attach_streams(c):
    s = spawn_pipe(c, "sh", "-c", "read x; echo out:$x; echo err:$x >&2; read y")
    o = c.attach_pipe(session_id=s.session_id, stream=1)
    e = c.attach_pipe(session_id=s.session_id, stream=2)
    i = info(c, s.session_id)
    assert i.stdout_attached and i.stderr_attached
    assert code_of(lambda: c.attach_pipe(session_id=s.session_id, stream=1)).code == \
        "ALREADY_ATTACHED"
    c.call("write_stdin", rp.WritePipeStdinRequest(session_id=s.session_id, data=b"hi\n"))
    assert read_until(o, b"out:hi\n") == b"out:hi\n"
    assert read_until(e, b"err:hi\n") == b"err:hi\n"
    c.call("detach_pipe", rp.DetachPipeStreamRequest(session_id=s.session_id, stream=2))
    _, end = read_until_end(e)
    assert end.WhichOneof("frame") == "eof"
    c.call("write_stdin", rp.WritePipeStdinRequest(session_id=s.session_id, data=b"\n"))
    _, end = read_until_end(o)
    assert end.WhichOneof("frame") in ("eof", "exit_code")
    assert o.ended()


def test_pipe_merged_stderr(c):
    s = spawn_pipe(c, "sh", "-c", "echo a; echo b >&2; sleep 60", merge_stderr_into_stdout=True)
    e = code_of(lambda: c.attach_pipe(session_id=s.session_id, stream=2))
    assert e.code == "INVALID_ARGUMENT" and "merged" in e.message
    wait_backlog(c, s.session_id, b"b\n")
    assert backlog(c, s.session_id).backlog == b"a\nb\n"
    assert info(c, s.session_id).merge_stderr_into_stdout
    c.call("bulk_terminate", rp.BulkTerminateSessionsRequest())


def test_purge_and_bulk_terminate(c):
    a1 = spawn_pty(c, "sleep", "60", originator="a")
    a2 = spawn_pipe(c, "sleep", "60", originator="a")
    b1 = spawn_pipe(c, "sleep", "60", originator="b")
    r = c.call("bulk_terminate", rp.BulkTerminateSessionsRequest(older_than_secs=3600))
    assert (r.pty_terminated, r.pipe_terminated) == (0, 0)
    r = c.call("bulk_terminate", rp.BulkTerminateSessionsRequest(originator="a"))
    assert (r.pty_terminated, r.pipe_terminated) == (1, 1)
    wait_exit(c, a1.session_id)
    wait_exit(c, a2.session_id)
    # Grace 0 means 1 ms: SIGTERM, then SIGKILL right after (sleep may die of either).
    assert backlog(c, a1.session_id).termination_outcome in (
        rp.TERMINATION_OUTCOME_SOFT_EXIT, rp.TERMINATION_OUTCOME_HARD_KILLED)
    r = c.call("purge", rp.PurgeExitedSessionsRequest(originator="b"))
    assert (r.pty_purged, r.pipe_purged) == (0, 0)
    r = c.call("purge", rp.PurgeExitedSessionsRequest())
    assert (r.pty_purged, r.pipe_purged) == (1, 1)
    assert code_of(lambda: backlog(c, a1.session_id)).code == "NOT_FOUND"
    assert [s.session_id for s in c.call("list_pipe", rp.ListPipeSessionsRequest(
        originator="b")).sessions] == [b1.session_id]
    assert len(c.call("list_pty", rp.ListPtySessionsRequest(originator="b")).sessions) == 0
    c.call("terminate_pipe", rp.TerminatePipeSessionRequest(session_id=b1.session_id,
                                                            grace_ms=100))


# ---- tees ----------------------------------------------------------------------------------

def test_tee_files(c, tmp_path):
    s = spawn_pipe(c, "sh", "-c", "read go; cat; echo err >&2")
    paths = {k: tmp_path / f"{k}.log" for k in ("out", "err", "in")}
    paths["out"].write_bytes(b"old contents")
    paths["err"].write_bytes(b"kept:")
    handles = {}
    for k, stream, mode in (("out", rp.TEE_STREAM_KIND_STDOUT, rp.TEE_FILE_MODE_TRUNCATE),
                            ("err", rp.TEE_STREAM_KIND_STDERR, rp.TEE_FILE_MODE_APPEND),
                            ("in", rp.TEE_STREAM_KIND_STDIN, rp.TEE_FILE_MODE_APPEND)):
        r = c.call("register_tee", rp.RegisterSessionTeeRequest(
            session_id=s.session_id, session_kind=rp.TEE_SESSION_KIND_PIPE, stream=stream,
            sink_kind=rp.TEE_SINK_KIND_FILE, file_path=str(paths[k]).encode(), file_mode=mode))
        handles[k] = r.tee_handle
    assert sorted(handles.values()) == [1, 2, 3]
    c.call("write_stdin", rp.WritePipeStdinRequest(session_id=s.session_id,
                                                   data=b"go\nabc\x00\xff", close=True))
    wait_exit(c, s.session_id)
    wait_until(lambda: paths["err"].read_bytes() == b"kept:err\n", what="the stderr tee")
    wait_until(lambda: paths["out"].read_bytes() == b"abc\x00\xff", what="the stdout tee")
    assert paths["in"].read_bytes() == b"go\nabc\x00\xff"
    req = rp.GetSessionTeeStatusRequest(session_id=s.session_id,
                                        session_kind=rp.TEE_SESSION_KIND_PIPE,
                                        tee_handle=handles["err"])
    # The file is closed once its last write is done: the stream ended, the tee disconnected.
    st = wait_until(lambda: (lambda r: r if r.disconnected else None)(c.call("tee_status", req)),
                    what="the tee to close")
    assert st.stream == rp.TEE_STREAM_KIND_STDERR and st.missed_bytes == 0
    c.call("unregister_tee", rp.UnregisterSessionTeeRequest(
        session_id=s.session_id, session_kind=rp.TEE_SESSION_KIND_PIPE, tee_handle=handles["in"]))
    e = code_of(lambda: c.call("unregister_tee", rp.UnregisterSessionTeeRequest(
        session_id=s.session_id, session_kind=rp.TEE_SESSION_KIND_PIPE,
        tee_handle=handles["in"])))
    assert e.code == "NOT_FOUND" and "tee handle not found" in e.message


def test_tee_errors_and_pty(c, tmp_path):
    s = spawn_pty(c, "sh", "-c", "read x; echo seen:$x")
    base = dict(session_id=s.session_id, sink_kind=rp.TEE_SINK_KIND_FILE)
    for kw, words in [(dict(stream=rp.TEE_STREAM_KIND_STDOUT, file_path=b"/tmp/x"), "PTY"),
                      (dict(stream=rp.TEE_STREAM_KIND_PTY_OUTPUT, file_path=b""), "empty"),
                      (dict(stream=rp.TEE_STREAM_KIND_PTY_OUTPUT, file_path=b"/tmp/x",
                            sink_kind=rp.TEE_SINK_KIND_UNSPECIFIED), "file tee sinks")]:
        e = code_of(lambda: c.call("register_tee", rp.RegisterSessionTeeRequest(
            **{**base, **kw})))
        assert e.code == "INVALID_ARGUMENT" and words in e.message, e
    e = code_of(lambda: c.call("register_tee", rp.RegisterSessionTeeRequest(
        **base, session_kind=rp.TEE_SESSION_KIND_PIPE, stream=rp.TEE_STREAM_KIND_STDOUT,
        file_path=b"/tmp/x")))
    assert e.code == "NOT_FOUND" and "pipe session not found" in e.message
    e = code_of(lambda: c.call("register_tee", rp.RegisterSessionTeeRequest(
        **base, stream=rp.TEE_STREAM_KIND_PTY_OUTPUT, file_path=b"/nonexistent/dir/f")))
    assert "/nonexistent/dir/f" in e.message
    out = tmp_path / "pty.log"
    c.call("register_tee", rp.RegisterSessionTeeRequest(
        **base, stream=rp.TEE_STREAM_KIND_PTY_OUTPUT, file_path=str(out).encode(),
        suppress_missed_markers=True, backpressure=rp.TEE_BACKPRESSURE_BLOCK, queue_capacity=4))
    a = c.attach_pty(session_id=s.session_id)
    a.send(input=b"zz\n")
    read_until_end(a)
    wait_until(lambda: b"seen:zz" in out.read_bytes(), what="the PTY tee")


def test_tee_drops_oldest_into_a_slow_file(c, tmp_path):
    """A tee whose file does not keep up (a FIFO nobody reads yet) drops its oldest chunks and
    marks the gap in the file; the session is not held back. A FIFO without a reader is an error,
    not a hang."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    s = spawn_pipe(c, "sh", "-c", "read go; for i in $(seq 40); do head -c 5000 /dev/zero; "
                   "sleep 0.005; done; echo last")
    e = code_of(lambda: c.call("register_tee", rp.RegisterSessionTeeRequest(
        session_id=s.session_id, stream=rp.TEE_STREAM_KIND_STDOUT,
        sink_kind=rp.TEE_SINK_KIND_FILE, file_path=str(fifo).encode())))
    assert str(fifo) in e.message
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    h = c.call("register_tee", rp.RegisterSessionTeeRequest(
        session_id=s.session_id, stream=rp.TEE_STREAM_KIND_STDOUT,
        sink_kind=rp.TEE_SINK_KIND_FILE, file_path=str(fifo).encode(), queue_capacity=2))
    # Fill the FIFO so that the tee's writer blocks, then let the session write.
    os.set_blocking(reader, True)
    fill = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        while True:
            os.write(fill, b"F" * 65536)
    except BlockingIOError:
        pass
    c.call("write_stdin", rp.WritePipeStdinRequest(session_id=s.session_id, data=b"go\n"))
    assert wait_exit(c, s.session_id).exit_code == 0  # not held back by its tee
    os.close(fill)
    st = c.call("tee_status", rp.GetSessionTeeStatusRequest(
        session_id=s.session_id, tee_handle=h.tee_handle))
    assert st.missed_bytes > 0
    got = b""
    while True:
        chunk = os.read(reader, 1 << 16)
        if not chunk:
            break
        got += chunk
    os.close(reader)
    text = got.replace(b"F", b"").replace(b"\0", b"")
    assert b"[running-process tee missed" in text and text.endswith(b"last\n")
    missed = sum(int(x.split(b" ")[0]) for x in text.split(b"tee missed ")[1:])
    assert missed == st.missed_bytes


# ---- memory and slow clients ---------------------------------------------------------------

def test_client_that_never_reads_costs_only_the_ring(d):
    """A pipe session writes 1 GB while one client is attached and never reads: droverd's memory
    stays flat (the attachment is a position in the 1 MiB ring, not a queue), the session is not
    slowed, and the client, once it reads, is told how many bytes it missed."""
    rc = RpClient(d.rp_socket)
    s = rc.call(65, "spawn_pipe_session", rp.SpawnPipeSessionRequest(
        argv=["sh", "-c", "read go; head -c 1000000000 /dev/zero"])).spawn_pipe_session
    slow = RpClient(d.rp_socket, timeout=60)
    slow.sock.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 4096)
    r = slow.call(66, "attach_pipe_stream", rp.AttachPipeStreamRequest(session_id=s.session_id,
                                                                        stream=1))
    assert r.code == rp.STATUS_CODE_OK
    before = rss_kb(d.proc.pid)
    rc.call(70, "write_pipe_stdin", rp.WritePipeStdinRequest(session_id=s.session_id,
                                                             data=b"go\n"))
    peak = before
    while True:
        peak = max(peak, rss_kb(d.proc.pid))
        b = rc.call(71, "get_session_backlog", rp.GetSessionBacklogRequest(
            session_id=s.session_id)).get_session_backlog
        if b.exited:
            break
        time.sleep(0.05)
    assert b.exit_code == 0
    assert sanitized(d.proc.pid) or peak - before < 8 * 1024, f"droverd grew by {peak - before} kB"
    got, missed, end = 0, 0, None
    while end is None:
        n = int.from_bytes(slow.recv_exact(4), "big")
        f = rp.PipeStreamFrame()
        f.ParseFromString(slow.recv_exact(n))
        kind = f.WhichOneof("frame")
        if kind == "bytes":
            got += len(f.bytes)
        elif kind == "missed_bytes":
            missed += f.missed_bytes
        else:
            end = kind
    assert end in ("eof", "exit_code")
    assert missed > 0 and got + missed == 1000000000, (got, missed)


def test_grpc_client_that_never_reads(d):
    ch = d.channel()
    from drover.v1 import sessions_pb2_grpc as sg
    stub = sg.SessionsStub(ch)
    s = stub.SpawnPipe(rp.SpawnPipeSessionRequest(argv=["sh", "-c",
                                                        "read go; head -c 300000000 /dev/zero"]))
    it = stub.AttachPipe(rp.AttachPipeStreamRequest(session_id=s.session_id, stream=1))
    next(it)
    before = rss_kb(d.proc.pid)
    stub.WriteStdin(rp.WritePipeStdinRequest(session_id=s.session_id, data=b"go\n"))
    peak = before
    while not stub.GetBacklog(rp.GetSessionBacklogRequest(session_id=s.session_id)).exited:
        peak = max(peak, rss_kb(d.proc.pid))
        time.sleep(0.05)
    assert sanitized(d.proc.pid) or peak - before < 8 * 1024, f"droverd grew by {peak - before} kB"
    got = missed = 0
    for m in it:
        kind = m.frame.WhichOneof("frame")
        if kind == "bytes":
            got += len(m.frame.bytes)
        elif kind == "missed_bytes":
            missed += m.frame.missed_bytes
    assert missed > 0 and got + missed == 300000000


def test_attach_stream_survives_garbage_input_and_others_are_served(d):
    rc = RpClient(d.rp_socket)
    s = rc.call(60, "spawn_pty_session", rp.SpawnPtySessionRequest(
        argv=["cat"])).spawn_pty_session
    a = RpClient(d.rp_socket)
    assert a.call(61, "attach_pty_session", rp.AttachPtySessionRequest(
        session_id=s.session_id)).code == rp.STATUS_CODE_OK
    a.send_raw(b"\x00\x00\x00\x03\xff\xff\xff")  # not a PtyInputFrame: skipped
    a.send_raw(__import__("rpclient").frame(rp.PtyInputFrame(input=b"still\n").SerializeToString()))
    got = b""
    while b"still" not in got:
        n = int.from_bytes(a.recv_exact(4), "big")
        f = rp.PtyStreamFrame()
        f.ParseFromString(a.recv_exact(n))
        got += f.output
    assert rc.call(40, "ping", rp.PingRequest()).code == rp.STATUS_CODE_OK
    a.close()
    wait_until(lambda: not rc.call(63, "list_pty_sessions", rp.ListPtySessionsRequest())
               .list_pty_sessions.sessions[0].attached, what="the attachment to go")


def test_shutdown_kills_live_sessions(d):
    rc = RpClient(d.rp_socket)
    s = rc.call(60, "spawn_pty_session", rp.SpawnPtySessionRequest(
        argv=["sleep", "60"])).spawn_pty_session
    a = RpClient(d.rp_socket)
    a.call(61, "attach_pty_session", rp.AttachPtySessionRequest(session_id=s.session_id))
    assert alive(s.pid)
    assert d.stop() == 0
    wait_until(lambda: not alive(s.pid), what="the session to die with droverd")
    n = int.from_bytes(a.recv_exact(4), "big")
    f = rp.PtyStreamFrame()
    f.ParseFromString(a.recv_exact(n))
    assert f.WhichOneof("frame") == "error"


# ---- the CLI -------------------------------------------------------------------------------

def test_cli_run_pipe(d):
    r = d.cli("run", "--", "sh", "-c", "echo out; echo err >&2; exit 5")
    assert (r.returncode, r.stdout, r.stderr) == (5, "out\n", "err\n")
    r = subprocess.run([DROVER, "--socket", d.socket, "run", "--", "tr", "a-z", "A-Z"],
                       input="hello\n", capture_output=True, text=True, timeout=30, env=d.env)
    assert (r.returncode, r.stdout) == (0, "HELLO\n")
    r = d.cli("run", "--merge", "--", "sh", "-c", "echo a; echo b >&2")
    assert r.stdout == "a\nb\n" and r.stderr == ""
    r = d.cli("run", "--", "sh", "-c", "kill -9 $$")
    assert r.returncode == 137
    r = d.cli("run", "--", "/nonexistent/prog")
    assert r.returncode == 1 and "/nonexistent/prog" in r.stderr
    r = d.cli("run")
    assert r.returncode == 2


def test_cli_detached_session_lifecycle(d):
    r = d.cli("run", "--pty", "--detach", "--name", "job", "--", "sh", "-c",
              "echo started; read x; echo got:$x; exec sleep 60", check=0)
    # (exec: with sleep as sh's child, the tree's SIGTERM can reach sleep first, and sh then
    # exits 143 on its own before its signal lands.)
    sid = r.stdout.strip()
    assert sid.startswith("pty-")
    r = d.cli("sessions", check=0)
    assert sid in r.stdout and "job" in r.stdout and "running" in r.stdout
    d.cli("send", "--newline", "job", "hello", check=0)
    wait_until(lambda: "got:hello" in d.cli("backlog", "job").stdout)
    import json
    j = json.loads(d.cli("--json", "sessions", check=0).stdout)
    assert j[0]["id"] == sid and j[0]["kind"] == "pty" and not j[0]["exited"]
    r = d.cli("kill", "--grace", "100", "job", check=0)
    assert "terminating" in r.stdout
    wait_until(lambda: json.loads(d.cli("--json", "sessions").stdout)[0]["exited"])
    assert json.loads(d.cli("--json", "sessions").stdout)[0]["exit_code"] == -15
    r = d.cli("attach", "job")
    assert r.returncode == 1 and "already exited" in r.stderr
    r = d.cli("purge", check=0)
    assert "purged 1" in r.stdout
    r = d.cli("sessions", check=0)
    assert "no sessions" in r.stdout
    r = d.cli("kill", "nope")
    assert r.returncode == 1 and "no session 'nope'" in r.stderr


def test_cli_send_stdin_to_pipe(d):
    sid = d.cli("run", "--detach", "--", "sh", "-c", "cat; echo done", check=0).stdout.strip()
    p = subprocess.run([DROVER, "--socket", d.socket, "send", "--close", sid, "-"],
                       input=b"x" * 3000000, capture_output=True, timeout=60, env=d.env)
    assert p.returncode == 0, p.stderr
    wait_until(lambda: b"done" in subprocess.run(
        [DROVER, "--socket", d.socket, "backlog", sid], capture_output=True, env=d.env).stdout)
    out = subprocess.run([DROVER, "--socket", d.socket, "backlog", sid], capture_output=True,
                         env=d.env)
    # The ring keeps the newest 1 MiB; the rest was dropped and is said so.
    assert out.stdout.endswith(b"x" * 1000 + b"done\n") and len(out.stdout) == 1 << 20
    assert b"bytes were dropped" in out.stderr


def test_cli_attach_in_tmux(d, tmux):
    """Type, see the echo, resize, detach with Ctrl-\\, re-attach and see what happened while
    detached, then end the shell: the terminal comes back in its normal mode every time."""
    env = f"env DROVER_SOCKET={d.socket} "
    tmux("new-session", "-d", "-s", "t", "-x", "100", "-y", "30",
         env + f"{DROVER} run --pty --name sh -- env PS1=PROMPT: sh; echo RC=$?; "
         "echo MODE=$(stty -a | grep -o -- '-*icanon'); sleep 60")
    try:
        wait_until(lambda: "PROMPT:" in screen(tmux), what="a prompt")
    except AssertionError:
        raise AssertionError(f"no prompt; the screen shows:\n{screen(tmux)}")
    tmux("send-keys", "-t", "t", "echo typed-here; stty size", "Enter")
    wait_until(lambda: "30 100" in screen(tmux), what="the size seen by the session")
    assert "typed-here" in screen(tmux)
    tmux("resize-window", "-t", "t", "-x", "120", "-y", "40")
    tmux("send-keys", "-t", "t", "stty size", "Enter")
    wait_until(lambda: "40 120" in screen(tmux), what="the new size after SIGWINCH")
    tmux("send-keys", "-t", "t", "C-\\")
    wait_until(lambda: "[detached from pty-" in screen(tmux), what="the detach")
    wait_until(lambda: "RC=0" in screen(tmux), what="drover to exit after the detach")
    wait_until(lambda: "MODE=icanon" in screen(tmux), what="the terminal's normal mode back")
    d.cli("send", "--newline", "sh", "echo while-away", check=0)
    tmux("respawn-pane", "-k", "-t", "t",
         env + f"{DROVER} attach sh; echo RC=$?; sleep 60")
    wait_until(lambda: "while-away" in screen(tmux), what="the backlog on re-attach")
    tmux("send-keys", "-t", "t", "exit 7", "Enter")
    wait_until(lambda: "RC=7" in screen(tmux), what="the exit code of the session")


def test_grpc_attach_protocol_errors(d):
    import grpc
    from drover.v1 import sessions_pb2 as sp
    from drover.v1 import sessions_pb2_grpc as sg
    stub = sg.SessionsStub(d.channel())
    s = stub.SpawnPty(rp.SpawnPtySessionRequest(argv=["cat"]))

    def codes(msgs):
        try:
            list(stub.AttachPty(iter(msgs), timeout=10))
        except grpc.RpcError as e:
            return e.code(), e.details()
        return grpc.StatusCode.OK, ""

    code, msg = codes([sp.AttachPtyRequest(input=rp.PtyInputFrame(input=b"x"))])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "first message" in msg
    attach = sp.AttachPtyRequest(attach=rp.AttachPtySessionRequest(session_id=s.session_id))
    code, msg = codes([attach, attach])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "input" in msg
    code, msg = codes([])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "attach" in msg
    # The session is unharmed and free to attach again.
    code, _ = codes([attach, sp.AttachPtyRequest(input=rp.PtyInputFrame(detach=True))])
    assert code == grpc.StatusCode.OK
    stub.TerminatePty(rp.TerminatePtySessionRequest(session_id=s.session_id, grace_ms=100))
