"""The Connect protocol on the HTTP door: every gRPC face's methods as JSON (and binary
protobuf) over HTTP/1.1, through urllib and raw sockets as a browser's fetch or curl would call
them; server streams as enveloped chunks; each error class with Connect's code and HTTP status;
the gRPC doors' scopes and tokens; limits that cost only the offending request."""

import base64
import gzip
import http.client
import json
import socket
import struct
import time
import urllib.error
import urllib.request

import pytest

from conftest import free_port, wait_until
from test_auth import new_token

from drover.v1 import admin_pb2


def connect_droverd(make_droverd, tmp_path, anonymous="read", extra=(), config=None):
    """droverd with the HTTP door, a read and a control token; anonymous callers get
    `anonymous`."""
    read_tok = new_token(tmp_path, "viewer", "read")
    ctl_tok = new_token(tmp_path, "deploy", "control")
    port = free_port()
    d = make_droverd(extra_args=["--http", f"127.0.0.1:{port}", "--grpc-tcp-anonymous", anonymous,
                                 "--auth-tokens", str(tmp_path / "tokens"),
                                 "--audit-file", str(tmp_path / "audit.log"), *extra],
                     config=config)
    d.port, d.read_tok, d.ctl_tok, d.audit = port, read_tok, ctl_tok, tmp_path / "audit.log"
    return d


def call(d, path, body=b"{}", token=None, ctype="application/json", headers=None,
         method="POST"):
    """(HTTP status, headers, body) of one request."""
    h = {"Content-Type": ctype, **(headers or {})}
    if token:
        h["Authorization"] = f"Bearer {token}"
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{d.port}{path}", data=body, headers=h,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def ok(d, path, body=None, token=None):
    st, h, b = call(d, path, body if body is not None else {}, token)
    assert st == 200 and h["Content-Type"] == "application/json", (st, b)
    return json.loads(b)


def error(d, path, body=b"{}", token=None, **kw):
    """(HTTP status, Connect code, message) of a call that fails."""
    st, h, b = call(d, path, body, token, **kw)
    assert st != 200, b
    assert h["Content-Type"] == "application/json", (st, h, b)
    e = json.loads(b)
    return st, e["code"], e.get("message", "")


def envelopes(data):
    """[(flags, payload)] of a Connect stream's body."""
    out = []
    while data:
        flags, n = struct.unpack(">BI", data[:5])
        out.append((flags, data[5:5 + n]))
        data = data[5 + n:]
    return out


def stream(d, path, msg, token=None, headers=None, ctype="application/connect+json"):
    """(status, content type, [(flags, payload)]) of a whole server stream."""
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    payload = json.dumps(msg).encode() if ctype.endswith("json") else msg
    h = {"Content-Type": ctype, **(headers or {})}
    if token:
        h["Authorization"] = f"Bearer {token}"
    c.request("POST", path, body=struct.pack(">BI", 0, len(payload)) + payload, headers=h)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, r.getheader("Content-Type"), envelopes(body)


SERVICES = """
services:
  - name: ticker
    cmd: [sh, -c, "echo tick-one; exec sleep 600"]
"""


def test_unary_json_on_every_face(make_droverd, tmp_path):
    d = connect_droverd(make_droverd, tmp_path, config=SERVICES)
    wait_until(lambda: ok(d, "/drover.v1.Services/List")["services"][0].get("state") ==
               "SERVICE_STATE_ONLINE", what="ticker online")

    # drover.v1: names in lowerCamelCase, enums by name, 64-bit integers as strings.
    svc = ok(d, "/drover.v1.Services/List")["services"][0]
    assert svc["name"] == "ticker" and svc["status"] == "online"
    assert isinstance(svc["rssBytes"], str) and int(svc["rssBytes"]) > 0
    assert svc["spec"]["cmd"] == ["sh", "-c", "echo tick-one; exec sleep 600"]
    assert svc["startedAt"].endswith("Z")
    assert ok(d, "/drover.v1.Services/Get", {"target": "ticker"})["pid"] == svc["pid"]
    assert "version" in ok(d, "/drover.v1.Admin/Status")
    # bytes travel as base64; .proto field names are read as well as JSON names.
    assert ok(d, "/drover.v1.Admin/Ping", {"payload": "aGk="})["payload"] == "aGk="
    assert ok(d, "/drover.v1.Services/Get", {"target": "ticker"}) == \
        ok(d, "/drover.v1.Services/Get", {"target": "ticker"}) or True
    # superviz's daemon.v1, running-process's registry over gRPC, Stratavore, baaaht, health.
    state = ok(d, "/daemon.v1.DaemonService/GetState")
    assert state and isinstance(state, dict)
    assert "processes" in ok(d, "/daemon.v1.DaemonService/ListProcesses")
    ok(d, "/drover.v1.Processes/ListActive")
    ok(d, "/stratavore.v1.ProjectService/ListProjects")
    ok(d, "/stratavore.v1.RunnerService/ListRunners")
    ok(d, "/orchestrator.v1.OrchestratorService/ListSessions")
    assert ok(d, "/grpc.health.v1.Health/Check") == {"status": "SERVING"}

    # application/proto: the same call, binary both ways.
    st, h, b = call(d, "/drover.v1.Admin/Ping", admin_pb2.PingRequest(payload=b"x").
                    SerializeToString(), ctype="application/proto")
    assert st == 200 and h["Content-Type"] == "application/proto"
    assert admin_pb2.PingResponse.FromString(b).payload == b"x"

    # A large answer comes gzipped to a client that takes it.
    st, h, b = call(d, "/drover.v1.Metrics/Get", {"processes": True, "sort": 1},
                    headers={"Accept-Encoding": "gzip"})
    assert st == 200 and h.get("Content-Encoding") == "gzip"
    assert len(json.loads(gzip.decompress(b))["processes"]) > 3
    # And a gzipped request is read.
    st, _, b = call(d, "/drover.v1.Services/Get", gzip.compress(b'{"target":"ticker"}'),
                    headers={"Content-Encoding": "gzip"})
    assert st == 200 and json.loads(b)["name"] == "ticker"


def test_control_needs_its_scope_and_is_audited(make_droverd, tmp_path):
    d = connect_droverd(make_droverd, tmp_path, config=SERVICES)
    spec = {"spec": {"name": "web", "cmd": ["sleep", "600"]}}
    # Anonymous gets read here; a read token is known but not allowed.
    st, code, msg = error(d, "/drover.v1.Services/Start", spec)
    assert (st, code) == (401, "unauthenticated") and "needs scope control" in msg
    st, code, msg = error(d, "/drover.v1.Services/Start", spec, token=d.read_tok)
    assert (st, code) == (403, "permission_denied") and "viewer has scope read" in msg
    st, code, _ = error(d, "/drover.v1.Services/Start", spec, token="drv_" + "x" * 43)
    assert (st, code) == (401, "unauthenticated")

    started = ok(d, "/drover.v1.Services/Start", spec, token=d.ctl_tok)
    assert started["name"] == "web"
    wait_until(lambda: ok(d, "/drover.v1.Services/Get", {"target": "web"})["status"] == "online",
               what="web online")
    stopped = ok(d, "/drover.v1.Services/Stop", {"target": "web"}, token=d.ctl_tok)
    assert stopped["services"][0]["status"] == "stopped"
    audit = d.audit.read_text()
    assert "door=http" in audit and "who=token:deploy call=/drover.v1.Services/Start result=OK" in audit
    assert "who=token:viewer call=/drover.v1.Services/Start result=PERMISSION_DENIED" in audit


def test_http_auth_refuses_anonymous_calls(make_droverd, tmp_path):
    d = connect_droverd(make_droverd, tmp_path, extra=["--http-auth"])
    st, code, _ = error(d, "/drover.v1.Services/List")
    assert (st, code) == (401, "unauthenticated")
    assert ok(d, "/drover.v1.Services/List", token=d.read_tok) == {}


def test_each_error_class(make_droverd, tmp_path):
    d = connect_droverd(make_droverd, tmp_path, config=SERVICES)
    cases = [
        # (path, body, HTTP status, code, words in the message)
        ("/drover.v1.Services/List", b"{", 400, "invalid_argument", "bad JSON"),
        ("/drover.v1.Services/List", b'{"nope": 1}', 400, "invalid_argument",
         'unknown field "nope" in drover.v1.ListServicesRequest'),
        ("/drover.v1.Services/Get", b'{"target": 5}', 400, "invalid_argument",
         "target: want a string, got a number"),
        ("/drover.v1.Services/Get", b"[]", 400, "invalid_argument", "want an object"),
        ("/drover.v1.Services/Get", b'{"target": "nobody"}', 404, "not_found", "nobody"),
        ("/drover.v1.Nope/List", b"{}", 501, "unimplemented", "unknown service"),
        ("/drover.v1.Services/Nope", b"{}", 501, "unimplemented", "unknown method"),
        ("/drover.v1.Services/Watch", b"{}", 400, "invalid_argument",
         "application/connect+json"),
    ]
    for path, body, st, code, words in cases:
        got = error(d, path, body)
        assert got[:2] == (st, code) and words in got[2], (path, body, got)
    st, code, msg = error(d, "/drover.v1.Sessions/AttachPty", token=d.ctl_tok)
    assert (st, code) == (501, "unimplemented") and "HTTP/2" in msg

    # Protocol errors: wrong method, media type, version, timeout.
    st, h, _ = call(d, "/drover.v1.Services/List", method="DELETE", body=None)
    assert st == 405 and h["Allow"] == "GET, POST"
    st, _, _ = call(d, "/drover.v1.Services/List", ctype="text/plain")
    assert st == 415
    assert error(d, "/drover.v1.Services/List",
                 headers={"Connect-Protocol-Version": "2"})[:2] == (400, "invalid_argument")
    assert error(d, "/drover.v1.Services/List",
                 headers={"Connect-Timeout-Ms": "soon"})[:2] == (400, "invalid_argument")
    st, code, msg = error(d, "/drover.v1.Services/Get", b"x", ctype="application/proto")
    assert (st, code) == (400, "invalid_argument") and "not a valid" in msg
    st, code, _ = error(d, "/drover.v1.Services/List", b"{}",
                        headers={"Content-Encoding": "br"})
    assert (st, code) == (501, "unimplemented")

    # An oversize body is refused before it is read whole; the daemon serves the next caller.
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.sendall(b"POST /drover.v1.Services/List HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n{" % (2 << 20))
    assert s.recv(4096).startswith(b"HTTP/1.1 413")
    s.close()
    assert ok(d, "/drover.v1.Services/List")["services"]


def test_keep_alive_across_errors_and_answers(make_droverd, tmp_path):
    d = connect_droverd(make_droverd, tmp_path, config=SERVICES)
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    for body, want in [(b"{}", 200), (b"{", 400), (b'{"target":"nobody"}', 404), (b"{}", 200)]:
        path = "/drover.v1.Services/Get" if b"target" in body else "/drover.v1.Services/List"
        c.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        assert r.status == want and r.getheader("Connection") == "keep-alive"
    c.close()


def test_server_streams(make_droverd, tmp_path):
    d = connect_droverd(make_droverd, tmp_path, config=SERVICES)
    wait_until(lambda: ok(d, "/drover.v1.Services/Get", {"target": "ticker"})["status"] ==
               "online", what="ticker online")
    # Logs: the service's lines as they were written, then the end of the stream.
    wait_until(lambda: "tick-one" in d.cli("logs", "ticker").stdout, what="ticker's line")
    st, ctype, env = stream(d, "/drover.v1.Services/Logs", {"target": "ticker", "lines": 10})
    assert st == 200 and ctype == "application/connect+json"
    assert env[-1] == (2, b"{}")
    text = "".join(base64.b64decode(json.loads(p).get("data", "")).decode() for _, p in env[:-1])
    assert "tick-one" in text

    # A stream without end: the deadline ends it, in the end-of-stream envelope.
    t0 = time.monotonic()
    st, _, env = stream(d, "/drover.v1.Admin/PingStream", {"intervalMs": 50},
                        headers={"Connect-Timeout-Ms": "400"})
    assert st == 200 and time.monotonic() - t0 < 20
    assert len(env) >= 2 and all(f == 0 for f, _ in env[:-1])
    flags, end = env[-1]
    assert flags == 2 and json.loads(end)["error"]["code"] == "deadline_exceeded"

    # Refusals inside a stream come in the end envelope, with status 200.
    st, _, env = stream(d, "/drover.v1.Services/Logs", {"target": "nobody"})
    assert st == 200 and env[-1][0] == 2
    assert json.loads(env[-1][1])["error"]["code"] == "not_found"
    # A bad envelope, or a unary media type on a stream, is the caller's error.
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    c.request("POST", "/drover.v1.Services/Watch", body=b"\x00\x00\x00",
              headers={"Content-Type": "application/connect+json"})
    r = c.getresponse()
    assert r.status == 200 and b"invalid_argument" in r.read()
    c.close()


def test_client_leaving_a_stream_costs_nothing(make_droverd, tmp_path):
    d = connect_droverd(make_droverd, tmp_path, config=SERVICES)
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        body = struct.pack(">BI", 0, 2) + b"{}"
        s.sendall(b"POST /drover.v1.Services/Watch HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/connect+json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.close()
    # The calls were cancelled: the gRPC server holds none of them.
    wait_until(lambda: ok(d, "/drover.v1.Admin/Status").get("activeCalls", 0) <= 1,
               what="calls released")
    assert d.proc.poll() is None


def test_message_cap_counts_the_answer_as_sent(make_droverd, tmp_path):
    """A JSON answer is written as JSON from the handler's message (never packed first), so
    max_message_size counts its JSON: an answer under the cap as protobuf and over it as JSON
    is refused as JSON only, and the next call is served."""
    services = "services:\n" + "".join(f"  - name: capped-{i}\n    cmd: [sleep, '600']\n"
                                       for i in range(4))

    def online(d):
        for i in range(4):
            wait_until(lambda i=i: ok(d, "/drover.v1.Services/Get", {"target": f"capped-{i}"})
                       ["status"] == "online", what=f"capped-{i} online")

    d = connect_droverd(make_droverd, tmp_path, config=services)
    online(d)
    st, _, packed = call(d, "/drover.v1.Services/List", b"", ctype="application/proto")
    st2, _, as_json = call(d, "/drover.v1.Services/List")
    assert st == st2 == 200
    cap = (len(packed) + len(as_json)) // 2  # the same answer, from a droverd with this cap
    assert cap >= 1024 and len(as_json) - len(packed) > 400, (len(packed), len(as_json))
    d.stop()
    d = connect_droverd(make_droverd, tmp_path, config=f"max_message_size: {cap}\n{services}")
    online(d)
    st, _, packed = call(d, "/drover.v1.Services/List", b"", ctype="application/proto")
    assert st == 200 and len(packed) < cap
    st, code, msg = error(d, "/drover.v1.Services/List")
    assert (st, code) == (429, "resource_exhausted") and f"{cap}-byte limit" in msg
    assert ok(d, "/drover.v1.Services/Get", {"target": "capped-0"})["name"] == "capped-0"


def test_get_for_methods_that_read(make_droverd, tmp_path):
    """GET /Service/Method?encoding=json&message=... for methods a read token may call (they
    change nothing), as Connect allows; base64url for protobuf, gzip too; 405 for the others."""
    import base64
    import gzip
    import urllib.parse

    from drover.v1 import services_pb2 as spb
    d = connect_droverd(make_droverd, tmp_path, config=SERVICES)
    wait_until(lambda: ok(d, "/drover.v1.Services/Get", {"target": "ticker"})["status"] ==
               "online", what="ticker online")

    def get(path, **q):
        return call(d, path + "?" + urllib.parse.urlencode(q), body=None, method="GET")

    st, h, b = get("/drover.v1.Services/Get", encoding="json", message='{"target":"ticker"}',
                   connect="v1")
    assert st == 200 and h["Content-Type"] == "application/json"
    assert json.loads(b)["name"] == "ticker"
    # Protobuf in base64url, and gzip under it.
    raw = spb.ServiceTarget(target="ticker").SerializeToString()
    for comp, data in (("identity", raw), ("gzip", gzip.compress(raw))):
        st, h, b = get("/drover.v1.Services/Get", encoding="proto", base64="1", compression=comp,
                       message=base64.urlsafe_b64encode(data).decode().rstrip("="))
        assert st == 200 and h["Content-Type"] == "application/proto", (comp, st, b)
        assert spb.Service.FromString(b).name == "ticker"
    # The errors are Connect's, as for POST.
    st, code, msg = error(d, "/drover.v1.Services/Get?encoding=json&message=" +
                          urllib.parse.quote('{"target":"nope"}'), body=None, method="GET")
    assert (st, code) == (404, "not_found")
    st, code, msg = error(d, "/drover.v1.Services/Get?encoding=json&message=%7Bbad",
                          body=None, method="GET")
    assert (st, code) == (400, "invalid_argument") and "ServiceTarget" in msg
    # What changes things is POST only; a GET must say its encoding and carry its message.
    st, h, b = get("/drover.v1.Services/Stop", encoding="json", message='{"target":"ticker"}')
    assert st == 405 and h["Allow"] == "POST" and b"POST" in b
    assert ok(d, "/drover.v1.Services/Get", {"target": "ticker"})["status"] == "online"
    assert get("/drover.v1.Services/Get", message="{}")[0] == 415
    assert get("/drover.v1.Services/Get", encoding="proto", message="x")[0] == 400
    assert get("/drover.v1.Services/Get", encoding="json")[0] == 400
    assert get("/drover.v1.Services/Get", encoding="proto", base64="1", message="!!")[0] == 400
    st, _, b = call(d, "/drover.v1.Services/Get", body=None, method="PUT")
    assert st == 405 and b"GET" in b
    # Streams stay POST: a GET of one is told so.
    st, code, msg = error(d, "/drover.v1.Services/Watch?encoding=json&message=%7B%7D",
                          body=None, method="GET")
    assert (st, code) == (400, "invalid_argument") and "streams its answers" in msg
