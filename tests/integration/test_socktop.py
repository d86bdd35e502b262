"""socktop's agent protocol on /ws through python3-websockets: every command in both forms, the
768-byte rule both ways, the process list decoded with protoc-generated Python and checked
against /proc, per-process details and the journal, errors, the token, ordering, 200 clients,
and hostile clients (bad frames, oversized messages, a client that never reads) that cost
only their own connection."""

import asyncio
import gzip
import json
import os
import signal
import socket
import struct
import subprocess
import time

import pytest
import websockets

from conftest import DROVERD, free_port, rss_kb, sanitized, wait_until

from socktop import processes_pb2

LIMIT = 768


@pytest.fixture
def agent(make_droverd):
    port = free_port()
    d = make_droverd(extra_args=["--http", f"127.0.0.1:{port}"])
    d.url = f"ws://127.0.0.1:{port}/ws"
    d.port = port
    return d


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def decode(frame):
    """A reply as the TUI reads it: (kind, payload) with kind text, binary or gzip."""
    if isinstance(frame, str):
        return "text", frame
    if frame[:2] == b"\x1f\x8b":
        return "gzip", gzip.decompress(frame)
    return "binary", frame


async def ask(url, *requests):
    async with websockets.connect(url, max_size=None) as ws:
        out = []
        for r in requests:
            await ws.send(r)
            out.append(await ws.recv())
        return out


def as_json(frame):
    kind, payload = decode(frame)
    assert kind in ("text", "gzip"), kind
    size = len(payload.encode() if isinstance(payload, str) else payload)
    assert (kind == "text") == (size <= LIMIT), (kind, size)  # the rule is on the JSON's size
    return json.loads(payload)


def pids_in_proc():
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}


def test_metrics_both_forms(agent):
    a, b = run(ask(agent.url, "get_metrics", '{"type": "metrics"}'))
    for frame in (a, b):
        m = as_json(frame)
        for key in ("cpu_total", "cpu_per_core", "mem_total", "mem_used", "swap_total",
                    "swap_used", "hostname", "disks", "networks", "top_processes"):
            assert key in m, key
        assert len(m["cpu_per_core"]) == os.cpu_count()
        assert 0 <= m["cpu_total"] <= 100
        with open("/proc/meminfo") as f:
            assert m["mem_total"] == int(f.readline().split()[1]) * 1024
        assert m["hostname"] == socket.gethostname()
        assert any(n["name"] == "lo" and n["received"] >= 0 for n in m["networks"])
        assert m["disks"] == [] and m["top_processes"] == [] and m["gpus"] is None
        assert abs(m["sampled_at_ms"] - time.time() * 1000) < 10_000
    # Within the 250 ms TTL the two answers share one reading.
    assert as_json(a)["sampled_at_ms"] == as_json(b)["sampled_at_ms"]


def test_disks_both_forms(agent):
    a, b = run(ask(agent.url, "get_disks", '{"type":"disks"}'))
    for frame in (a, b):
        rows = as_json(frame)
        assert isinstance(rows, list)
        for r in rows:
            assert set(r) == {"name", "total", "available", "temperature", "is_partition"}
            assert r["total"] >= r["available"] >= 0
        # A partition comes right after its disk's row, which adds its partitions up.
        for i, r in enumerate(rows):
            if r["is_partition"]:
                parent = next(x for x in reversed(rows[:i]) if not x["is_partition"])
                assert r["name"].startswith(parent["name"])


def test_processes_protobuf(agent):
    a, b = run(ask(agent.url, "get_processes", '{"type":"processes"}'))
    for frame in (a, b):
        kind, payload = decode(frame)
        assert kind == ("gzip" if len(payload) > LIMIT else "binary")
        msg = processes_pb2.Processes.FromString(payload)
        assert msg.process_count == len(msg.rows)
        ours = {r.pid for r in msg.rows}
        now = pids_in_proc()
        assert agent.proc.pid in ours and 1 in ours
        # Processes come and go between the two readings; nearly all are the same.
        assert len(ours & now) >= 0.9 * max(len(ours), len(now)), (len(ours), len(now))
        for r in msg.rows:
            assert 0 <= r.cpu_usage <= 100.0001 and r.name
        me = next(r for r in msg.rows if r.pid == agent.proc.pid)
        assert me.name == "droverd" and me.mem_bytes > 1_000_000


def test_small_process_list_is_raw_protobuf(tmp_path):
    """In a PID namespace of its own droverd sees a handful of processes: the list fits in 768
    bytes and goes out as raw protobuf, not gzip."""
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"],
                           capture_output=True)
    if probe.returncode != 0:  # not root, or a container that forbids namespaces
        pytest.skip(f"no PID namespace here: {probe.stderr.decode().strip()}")
    port = free_port()
    p = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", DROVERD,
                          "--socket", str(tmp_path / "d.sock"), "--state-dir", str(tmp_path / "st"),
                          "--emergency-reserve-bytes", "65536", "--http", f"127.0.0.1:{port}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def up():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                return False
        wait_until(up, what="droverd in its PID namespace")
        kind, payload = decode(run(ask(f"ws://127.0.0.1:{port}/ws", "get_processes"))[0])
        assert kind == "binary"
        msg = processes_pb2.Processes.FromString(payload)
        assert 1 <= msg.process_count <= 10 and any(r.name == "droverd" for r in msg.rows)
    finally:
        # droverd is unshare's child (pid 1 inside): stop it by its pid out here.
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            for child in f.read().split():
                os.kill(int(child), signal.SIGTERM)
        assert p.wait(timeout=30) == 0


def test_process_details_and_journal(agent):
    child = subprocess.Popen(["sleep", "300"])
    # A process's CPU % is its CPU time over its age: a few milliseconds old, the exec alone
    # reads as tens of percent on a slow machine. Half a second makes one clock tick 2 %.
    time.sleep(0.5)
    try:
        me, kid, journal, missing, bad = run(ask(
            agent.url, f"get_process_metrics:{os.getpid()}", f"get_process_metrics:{child.pid}",
            f"get_journal_entries:{child.pid}", "get_process_metrics:999999999",
            "get_journal_entries:x"))
    finally:
        child.kill()
        child.wait()
    p = as_json(me)["process"]
    assert p["pid"] == os.getpid() and "python" in p["command"]
    assert p["parent_pid"] == os.getppid() and p["user_id"] == os.getuid()
    assert p["thread_count"] == len(p["threads"]) >= 1
    assert p["fd_count"] >= 3 and p["working_directory"] == os.getcwd()
    assert p["executable_path"].startswith("/usr/bin/python3")
    assert child.pid in [c["pid"] for c in p["child_processes"]]
    assert all(c["threads"] == [] and c["child_processes"] == [] for c in p["child_processes"])
    assert p["status"] in ("Running", "Sleeping")
    assert abs(p["start_time"] - time.time()) < 3600
    k = as_json(kid)["process"]
    assert k["name"] == "sleep" and k["command"] == "sleep 300" and k["status"] == "Sleeping"
    assert k["cpu_usage"] < 5 and k["mem_bytes"] > 0 and k["read_bytes"] is not None
    j = as_json(journal)
    assert isinstance(j["entries"], list) and j["total_count"] == len(j["entries"])
    assert j["truncated"] is False and j["cached_at"] > 0
    assert as_json(missing) == {"error": "Process 999999999 not found",
                                "request": "get_process_metrics", "pid": 999999999}
    e = as_json(bad)
    assert e["request"] == "get_journal_entries" and "not a process id" in e["error"]


def test_errors_order_and_no_unsolicited_frames(agent):
    async def go():
        async with websockets.connect(agent.url, max_size=None) as ws:
            reqs = ["get_metrics", "nonsense", "get_processes", "{bad json", '{"type":"x"}',
                    "get_disks"] * 5
            for r in reqs:  # pipelined: all sent before any reply is read
                await ws.send(r)
            await ws.send(b"\x00binary")
            replies = [await ws.recv() for _ in range(len(reqs) + 1)]
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.7)  # nothing unasked
            return reqs, replies
    reqs, replies = run(go())
    for r, frame in zip(reqs, replies):
        kind, payload = decode(frame)
        if r == "get_processes":
            assert kind in ("binary", "gzip")
            processes_pb2.Processes.FromString(payload)
        elif r == "get_metrics":
            assert "cpu_total" in json.loads(payload)
        elif r == "get_disks":
            assert isinstance(json.loads(payload), list)
        else:
            assert "error" in json.loads(payload), (r, payload)
    assert json.loads(replies[-1])["request"] == "binary"


def test_token(make_droverd):
    port = free_port()
    make_droverd(extra_args=["--http", f"127.0.0.1:{port}"], env={"SOCKTOP_TOKEN": "s3cret"})
    base = f"ws://127.0.0.1:{port}/ws"
    for url in (base, base + "?token=wrong", base + "?token=s3cre", base + "?token=s3cret2"):
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            run(ask(url, "get_metrics"))
        assert e.value.status_code == 401
    assert "cpu_total" in as_json(run(ask(base + "?token=s3cret", "get_metrics"))[0])
    # The configuration can set it too, and wins over the environment.
    port2 = free_port()
    make_droverd(extra_args=["--http", f"127.0.0.1:{port2}", "--socktop-token", "a b&c"],
                 env={"SOCKTOP_TOKEN": "other"})
    url = f"ws://127.0.0.1:{port2}/ws?token=a%20b%26c"
    assert "cpu_total" in as_json(run(ask(url, "get_metrics"))[0])


def test_200_clients(agent):
    async def one(i):
        async with websockets.connect(agent.url, max_size=None) as ws:
            await ws.send("get_metrics" if i % 2 else "get_processes")
            return decode(await ws.recv())[0]

    async def go():
        return await asyncio.gather(*(one(i) for i in range(200)))
    kinds = run(go())
    assert kinds.count("text") == 100 and len(kinds) == 200


def raw_ws(port):
    """A hand-made WebSocket handshake, for sending what no library would."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
    return s


def masked(opcode, payload, fin=True):
    mask = b"\x01\x02\x03\x04"
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def close_code(s):
    """Reads until the server's close frame; its status code (or None if the socket just ends)."""
    data = b""
    s.settimeout(10)
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        data += chunk
        while len(data) >= 2:
            n = data[1] & 0x7f
            off = 2 + (2 if n == 126 else 8 if n == 127 else 0)
            if n == 126 and len(data) >= 4:
                n = struct.unpack(">H", data[2:4])[0]
            elif n == 127 and len(data) >= 10:
                n = struct.unpack(">Q", data[2:10])[0]
            if len(data) < off + n:
                break
            if data[0] & 0x0f == 8:
                return struct.unpack(">H", data[off:off + 2])[0] if n >= 2 else 1005
            data = data[off + n:]


def test_hostile_clients(agent):
    # An unmasked frame is a protocol error (1002).
    s = raw_ws(agent.port)
    s.sendall(b"\x81\x0bget_metrics")
    assert close_code(s) == 1002
    # A message over the 4 KiB request limit: 1009.
    s = raw_ws(agent.port)
    s.sendall(masked(1, b"x" * 10000))
    assert close_code(s) == 1009
    # Garbage after the handshake.
    s = raw_ws(agent.port)
    s.sendall(b"\xff" * 64)
    assert close_code(s) in (1002, None)
    # A well-formed request on a hand-made connection works, fragmented in two.
    s = raw_ws(agent.port)
    s.sendall(masked(1, b"get_", fin=False) + masked(0, b"metrics"))
    s.settimeout(10)
    assert b"cpu_total" in s.recv(65536)
    s.close()
    # Not a WebSocket on /ws: 426; the handshake's version wrong: 426 with the version we speak.
    with socket.create_connection(("127.0.0.1", agent.port), timeout=10) as plain:
        plain.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
        assert plain.recv(100).startswith(b"HTTP/1.1 426")
    # A handshake http-parser does not take for an upgrade ("Connection: ,Upgrade", found by
    # fuzz-http1): refused with 400, never a 101 followed by frames parsed as requests.
    with socket.create_connection(("127.0.0.1", agent.port), timeout=10) as odd:
        odd.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                    b"Connection: ,Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        head = odd.recv(200)
        assert head.startswith(b"HTTP/1.1 400") and b"(Connection)" in head, head
    assert "cpu_total" in as_json(run(ask(agent.url, "get_metrics"))[0])


def test_client_that_never_reads(agent):
    s = raw_ws(agent.port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(0.2)
    req = masked(1, b"get_process_metrics:1") * 200
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3:
        try:
            s.send(req)
        except (socket.timeout, BlockingIOError):
            break
    rss = rss_kb(agent.proc.pid)
    assert sanitized(agent.proc.pid) or rss < 64 * 1024, rss
    assert "cpu_total" in as_json(run(ask(agent.url, "get_metrics"))[0])
    s.close()


def test_tls_certificate_made_once_and_pinned(make_droverd, tmp_path):
    import ssl
    port = free_port()
    cfg = tmp_path / "cfg"
    env = {"XDG_CONFIG_HOME": str(cfg)}
    args = ["--http", f"127.0.0.1:{port}", "--http-tls", "--http-tls-sans", "agent.test,10.9.8.7"]
    d = make_droverd(extra_args=args, env=env)
    cert, key = cfg / "drover" / "tls" / "cert.pem", cfg / "drover" / "tls" / "key.pem"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    pem = cert.read_text()
    info = ssl._ssl._test_decode_cert(str(cert))
    sans = {v for _, v in info["subjectAltName"]}
    assert {socket.gethostname(), "localhost", "127.0.0.1", "0:0:0:0:0:0:0:1", "agent.test",
            "10.9.8.7"} <= sans, sans

    async def served_cert():
        ctx = ssl.create_default_context(cafile=str(cert))
        async with websockets.connect(f"wss://localhost:{port}/ws", ssl=ctx) as ws:
            der = ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
            await ws.send("get_metrics")
            return der, await ws.recv()
    der, reply = run(served_cert())
    assert der == ssl.PEM_cert_to_DER_cert(pem)  # pinned byte for byte
    assert "cpu_total" in as_json(reply)

    # A plaintext client on the TLS port gets nothing useful, and costs nothing.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        try:
            got = s.recv(100)
        except ConnectionResetError:
            got = b""
        assert not got.startswith(b"HTTP/1.1 200")

    # Restarted: the same certificate, byte for byte, so pinned clients keep working.
    assert d.stop() == 0
    d.proc = None
    d2 = make_droverd(extra_args=args, env=env)
    assert cert.read_text() == pem
    assert run(served_cert())[0] == der
    assert d2.stop() == 0
    d2.proc = None

    # Half a pair is never overwritten: droverd refuses to start, saying which file is missing.
    key.unlink()
    d3 = make_droverd(extra_args=args, env=env, start=False)
    with pytest.raises(AssertionError):
        d3.start(timeout=5)
    d3.proc.wait(timeout=10)
    assert "exists without" in d3.read_log() and cert.read_text() == pem
    d3.proc = None
