"""Who may talk to droverd: TLS and mTLS on the TCP door, bearer tokens (static and JWT), peer
credentials on the unix socket, scopes per method, audit lines, and the HTTP door's tokens.

Everything goes through real clients: python3-grpcio with real TLS credentials, PyJWT for
tokens (an implementation independent of ours), python3-cryptography for the certificates, and
clients run as another user with setpriv."""

import datetime
import hashlib
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import textwrap
import time
import urllib.error
import urllib.request

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conftest import DROVER, free_port, wait_until
from pki import NOW, make_cert, pem_cert, pem_key

from drover.v1 import admin_pb2, admin_pb2_grpc, services_pb2, services_pb2_grpc
import health_pb2
import health_pb2_grpc

# ---- certificates ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for localhost, a client certificate it signed, one from
    another CA, and an expired one."""
    d = tmp_path_factory.mktemp("pki")
    ca_key, ca = make_cert("drover test CA", ca=True)
    rogue_key, rogue = make_cert("rogue CA", ca=True)
    files = {}

    def save(name, key, cert):
        (d / f"{name}.key").write_bytes(pem_key(key))
        (d / f"{name}.pem").write_bytes(pem_cert(cert))
        files[name] = (str(d / f"{name}.pem"), str(d / f"{name}.key"))

    save("ca", ca_key, ca)
    save("server", *make_cert("localhost", ca, ca_key, sans=("localhost", "127.0.0.1")))
    save("client", *make_cert("deployer", ca, ca_key))
    save("reader", *make_cert("monitor", ca, ca_key))
    save("rogue", *make_cert("deployer", rogue, rogue_key))
    save("expired", *make_cert("deployer", ca, ca_key,
                               not_before=NOW - datetime.timedelta(days=3),
                               not_after=NOW - datetime.timedelta(days=1)))
    files["dir"] = d
    return files


def read(path):
    with open(path, "rb") as f:
        return f.read()


def tls_channel(port, pki, client=None):
    creds = grpc.ssl_channel_credentials(
        root_certificates=read(pki["ca"][0]),
        private_key=read(pki[client][1]) if client else None,
        certificate_chain=read(pki[client][0]) if client else None)
    return grpc.secure_channel(f"localhost:{port}", creds)


def bearer(token):
    return (("authorization", f"Bearer {token}"),)


def status_code(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except grpc.RpcError as e:
        return e.code(), e.details()
    return grpc.StatusCode.OK, ""


# ---- tokens ---------------------------------------------------------------------------------

def new_token(tmp_path, name, scopes):
    """A token made by `drover token new`, appended to tmp_path/tokens."""
    path = tmp_path / "tokens"
    made = not path.exists()
    r = subprocess.run([DROVER, "token", "new", name, "--scopes", scopes, "--file", str(path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert token.startswith("drv_") and len(token) == 47
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert f"{name} {scopes if scopes != 'control' else 'read,control'} sha256:{digest}" in \
        path.read_text()
    if made:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    return token


@pytest.fixture
def tls_droverd(make_droverd, tmp_path, pki):
    """droverd with a TLS TCP door, a tokens file with a read and a control token, and an
    audit file. Returns (droverd, port, read token, control token)."""
    read_tok = new_token(tmp_path, "ci", "read")
    ctl_tok = new_token(tmp_path, "deploy", "control")
    port = free_port()
    d = make_droverd(extra_args=[
        "--grpc-tcp", f"127.0.0.1:{port}", "--grpc-tls-cert", pki["server"][0],
        "--grpc-tls-key", pki["server"][1], "--auth-tokens", str(tmp_path / "tokens"),
        "--audit-file", str(tmp_path / "audit.log")])
    d.audit = tmp_path / "audit.log"
    return d, port, read_tok, ctl_tok


def test_tls_door_tokens_and_scopes(tls_droverd, pki):
    d, port, read_tok, ctl_tok = tls_droverd
    ch = tls_channel(port, pki)
    admin = admin_pb2_grpc.AdminStub(ch)
    svc = services_pb2_grpc.ServicesStub(ch)
    try:
        # No credential: UNAUTHENTICATED, saying what is needed.
        code, msg = status_code(admin.Status, admin_pb2.StatusRequest())
        assert code == grpc.StatusCode.UNAUTHENTICATED and "Bearer" in msg
        # A wrong token, a malformed header: UNAUTHENTICATED.
        code, msg = status_code(admin.Status, admin_pb2.StatusRequest(),
                                metadata=bearer("drv_" + "A" * 43))
        assert code == grpc.StatusCode.UNAUTHENTICATED and "unknown token" in msg
        code, msg = status_code(admin.Status, admin_pb2.StatusRequest(),
                                metadata=(("authorization", "Basic Zm9vOmJhcg=="),))
        assert code == grpc.StatusCode.UNAUTHENTICATED and "Bearer TOKEN" in msg
        # Health checks need nothing (load balancers and kubelets do not carry tokens).
        hs = health_pb2_grpc.HealthStub(ch)
        assert hs.Check(health_pb2.HealthCheckRequest()).status == \
            health_pb2.HealthCheckResponse.SERVING
        # A read token reads, and cannot start a service.
        st = admin.Status(admin_pb2.StatusRequest(), metadata=bearer(read_tok))
        assert st.pid == d.proc.pid
        start = services_pb2.StartServiceRequest(
            spec=services_pb2.ServiceSpec(name="web", cmd=["sleep", "1000"]))
        code, msg = status_code(svc.Start, start, metadata=bearer(read_tok))
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert "token:ci has scope read" in msg and "needs control" in msg
        assert "web" not in d.cli("ls").stdout
        # A control token can.
        svc.Start(start, metadata=bearer(ctl_tok))
        wait_until(lambda: "online" in d.cli("ls").stdout, what="web online")
        svc.Delete(services_pb2.ServiceTarget(target="web"), metadata=bearer(ctl_tok))
    finally:
        ch.close()
    # The audit file names who did what, never the token itself.
    text = d.audit.read_text()
    assert "door=tcp" in text
    assert "who=token:deploy call=/drover.v1.Services/Start result=OK" in text
    assert "who=token:ci call=/drover.v1.Services/Start result=PERMISSION_DENIED" in text
    assert "who=anonymous call=/drover.v1.Admin/Status result=UNAUTHENTICATED" in text
    assert "who=invalid-token" in text
    assert read_tok not in text and ctl_tok not in text
    assert read_tok not in d.read_log() and ctl_tok not in d.read_log()
    # Read calls that succeed are not audited (only control calls and refusals).
    assert "who=token:ci call=/drover.v1.Admin/Status result=OK" not in text


def test_plaintext_client_and_alpn_refused(tls_droverd, pki):
    d, port, read_tok, _ = tls_droverd
    # A plaintext gRPC client on the TLS port gets nowhere.
    ch = grpc.insecure_channel(f"127.0.0.1:{port}")
    code, _ = status_code(admin_pb2_grpc.AdminStub(ch).Status, admin_pb2.StatusRequest(),
                          metadata=bearer(read_tok), timeout=5)
    assert code == grpc.StatusCode.UNAVAILABLE
    ch.close()
    # A TLS client that offers only http/1.1 fails the handshake (gRPC needs h2).
    ctx = ssl.create_default_context(cafile=pki["ca"][0])
    ctx.set_alpn_protocols(["http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="localhost")
    # TLS 1.1 is refused; TLS 1.2 with h2 is accepted and negotiates h2.
    ctx = ssl.create_default_context(cafile=pki["ca"][0])
    ctx.set_alpn_protocols(["h2"])
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.version() == "TLSv1.2" and s.selected_alpn_protocol() == "h2"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki["ca"][0])
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="localhost")
    assert d.proc.poll() is None


def test_mtls(make_droverd, tmp_path, pki):
    port = free_port()
    d = make_droverd(extra_args=[
        "--grpc-tcp", f"127.0.0.1:{port}", "--grpc-tls-cert", pki["server"][0],
        "--grpc-tls-key", pki["server"][1], "--grpc-tls-client-ca", pki["ca"][0],
        "--audit-file", str(tmp_path / "audit.log")])
    # Without a client certificate, with one from another CA, or an expired one: the handshake
    # fails, so nothing is ever asked.
    for client in (None, "rogue", "expired"):
        ch = tls_channel(port, pki, client)
        code, _ = status_code(admin_pb2_grpc.AdminStub(ch).Status, admin_pb2.StatusRequest(),
                              timeout=5)
        assert code == grpc.StatusCode.UNAVAILABLE, client
        ch.close()
    # The CA's client: every scope by default, its subject in the audit line.
    ch = tls_channel(port, pki, "client")
    try:
        assert admin_pb2_grpc.AdminStub(ch).Status(admin_pb2.StatusRequest()).pid == d.proc.pid
        svc = services_pb2_grpc.ServicesStub(ch)
        svc.Start(services_pb2.StartServiceRequest(
            spec=services_pb2.ServiceSpec(name="m", cmd=["sleep", "1000"])))
        svc.Delete(services_pb2.ServiceTarget(target="m"))
    finally:
        ch.close()
    text = (tmp_path / "audit.log").read_text()
    assert "who=cert:O=drover tests,CN=deployer call=/drover.v1.Services/Start result=OK" in text
    assert d.proc.poll() is None


def test_mtls_client_scopes(make_droverd, pki):
    """grpc_tls_client_scopes: read makes certificates read-only; a token still adds control."""
    port = free_port()
    d = make_droverd(extra_args=[
        "--grpc-tcp", f"127.0.0.1:{port}", "--grpc-tls-cert", pki["server"][0],
        "--grpc-tls-key", pki["server"][1], "--grpc-tls-client-ca", pki["ca"][0],
        "--grpc-tls-client-scopes", "read"])
    ch = tls_channel(port, pki, "reader")
    try:
        assert admin_pb2_grpc.AdminStub(ch).Status(admin_pb2.StatusRequest()).pid == d.proc.pid
        code, msg = status_code(admin_pb2_grpc.AdminStub(ch).Shutdown, admin_pb2.ShutdownRequest())
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert "cert:O=drover tests,CN=monitor has scope read" in msg
    finally:
        ch.close()
    assert d.proc.poll() is None


# ---- JWT ------------------------------------------------------------------------------------

SECRET = b"0123456789abcdef0123456789abcdef-hs256-test-secret"


@pytest.fixture(scope="module")
def jwt_keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("jwt")
    (d / "secret").write_bytes(SECRET + b"\n")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    other_ec = ec.generate_private_key(ec.SECP256R1())
    for name, k in (("rsa", rsa_key), ("ec", ec_key)):
        (d / f"{name}.pub").write_bytes(k.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return {"dir": d, "rsa": rsa_key, "ec": ec_key, "other_ec": other_ec}


def claims(**kw):
    now = int(time.time())
    c = {"sub": "alice", "iss": "https://auth.test", "aud": "drover", "exp": now + 300,
         "nbf": now - 10, "scope": "read"}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


def jwt_droverd(make_droverd, jwt_keys, key_arg, key_file):
    port = free_port()
    d = make_droverd(extra_args=[
        "--grpc-tcp", f"127.0.0.1:{port}", "--grpc-tcp-plaintext", key_arg,
        str(jwt_keys["dir"] / key_file), "--jwt-issuer", "https://auth.test",
        "--jwt-audience", "drover", "--jwt-leeway-s", "60"])
    return d, grpc.insecure_channel(f"127.0.0.1:{port}")


def check_token(ch, token, want, method="Status"):
    admin = admin_pb2_grpc.AdminStub(ch)
    req = admin_pb2.StatusRequest() if method == "Status" else admin_pb2.ShutdownRequest()
    # Shutdown is only ever refused here: no test token that reaches it has scope control.
    code, msg = status_code(getattr(admin, method), req, metadata=bearer(token))
    assert code == want, (code, msg)
    return msg


@pytest.mark.parametrize("alg", ["HS256", "RS256", "ES256"])
def test_jwt(make_droverd, jwt_keys, alg):
    key_arg, key_file, key = {
        "HS256": ("--jwt-secret", "secret", SECRET),
        "RS256": ("--jwt-public-key", "rsa.pub", jwt_keys["rsa"]),
        "ES256": ("--jwt-public-key", "ec.pub", jwt_keys["ec"]),
    }[alg]
    d, ch = jwt_droverd(make_droverd, jwt_keys, key_arg, key_file)
    OK, UNAUTH, DENIED = (grpc.StatusCode.OK, grpc.StatusCode.UNAUTHENTICATED,
                          grpc.StatusCode.PERMISSION_DENIED)
    now = int(time.time())
    try:
        sign = lambda c, k=key, a=alg: jwt.encode(c, k, algorithm=a)  # noqa: E731
        check_token(ch, sign(claims()), OK)
        check_token(ch, sign(claims(aud=["other", "drover"])), OK)
        check_token(ch, sign(claims(exp=now - 30)), OK)  # within the 60 s leeway
        assert "expired" in check_token(ch, sign(claims(exp=now - 120)), UNAUTH)
        assert "not valid for another" in check_token(ch, sign(claims(nbf=now + 600)), UNAUTH)
        assert "audience" in check_token(ch, sign(claims(aud="someone-else")), UNAUTH)
        assert "issuer" in check_token(ch, sign(claims(iss="https://evil.test")), UNAUTH)
        assert "no exp" in check_token(ch, sign(claims(exp=None)), UNAUTH)
        # Signed by someone else, or tampered with after signing.
        other = {"HS256": b"another-secret-another-secret-another-secret",
                 "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
                 "ES256": jwt_keys["other_ec"]}[alg]
        assert "signature" in check_token(ch, sign(claims(), other), UNAUTH)
        h, p, s = sign(claims()).split(".")
        forged = jwt.utils.base64url_encode(
            jwt.utils.base64url_decode(p).replace(b'"read"', b'"control"')).decode()
        assert "signature" in check_token(ch, f"{h}.{forged}.{s}", UNAUTH)
        # alg "none", and an algorithm we were not configured for.
        unsigned = jwt.encode(claims(), None, algorithm="none")
        assert "not accepted" in check_token(ch, unsigned, UNAUTH)
        if alg != "HS256":
            # The public key used as an HMAC secret: the classic confusion.
            pub = (jwt_keys["dir"] / key_file).read_bytes()
            h = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}').decode()
            p = jwt.utils.base64url_encode(
                __import__("json").dumps(claims(scope="read control")).encode()).decode()
            import hmac as _hmac
            mac = _hmac.new(pub, f"{h}.{p}".encode(), "sha256").digest()
            confused = f"{h}.{p}.{jwt.utils.base64url_encode(mac).decode()}"
            assert "HS256 tokens are not accepted" in check_token(ch, confused, UNAUTH)
        # Garbage.
        for junk in ("a.b.c", "....", "x" * 9000, "eyJhbGciOiJIUzI1NiJ9..", "%%%.$$$.###"):
            check_token(ch, junk, UNAUTH)
        # Scopes: read cannot shut down; scp arrays and space-separated scope both count.
        assert "jwt:alice has scope read" in check_token(ch, sign(claims()), DENIED, "Shutdown")
        check_token(ch, sign(claims(scope=None, scp=["read"])), OK)
        check_token(ch, sign(claims(scope="")), DENIED)
    finally:
        ch.close()
    assert d.proc.poll() is None


# ---- peer credentials on the unix socket -----------------------------------------------------

# Clients run as another user need root to switch to it (setpriv), and the read group needs
# root to hand the socket to a group droverd's user is not in.
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as nobody")

NOBODY_CLIENT = textwrap.dedent("""
    import sys, grpc
    ch = grpc.insecure_channel("unix:" + sys.argv[1])
    for path in sys.argv[2:]:
        call = ch.unary_unary(path)
        try:
            call(b"", timeout=10)
            print(path, "OK", "")
        except grpc.RpcError as e:
            print(path, e.code().name, e.details())
""")


@pytest.fixture
def open_dir():
    """A directory other users can reach (pytest's own are 0700)."""
    d = tempfile.mkdtemp(prefix="drover-auth-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_nobody(sock, *paths, gid="nogroup"):
    script = os.path.join(os.path.dirname(os.path.dirname(sock)), "client.py")
    with open(script, "w") as f:
        f.write(NOBODY_CLIENT)
    os.chmod(script, 0o644)
    r = subprocess.run(["setpriv", "--reuid=nobody", f"--regid={gid}", "--clear-groups",
                        "/usr/bin/python3", script, sock, *paths],
                       capture_output=True, text=True, timeout=60, cwd="/")
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines():
        path, code, msg = (line.split(" ", 2) + [""])[:3]
        out[path] = (code, msg)
    return out


@as_root
def test_peer_credentials_refuse_other_uid(make_droverd, open_dir):
    sock = os.path.join(open_dir, "run", "drover.sock")
    d = make_droverd(extra_args=["--socket", sock])
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(sock)).st_mode) == 0o700
    # The file modes keep others out; open them up, as a careless admin might, and the socket
    # still refuses them by their credentials.
    os.chmod(os.path.dirname(sock), 0o755)
    os.chmod(sock, 0o666)
    out = as_nobody(sock, "/drover.v1.Admin/Status", "/drover.v1.Admin/Shutdown",
                    "/grpc.health.v1.Health/Check")
    assert out["/drover.v1.Admin/Status"][0] == "PERMISSION_DENIED"
    assert "uid:65534 may not use this socket" in out["/drover.v1.Admin/Status"][1]
    assert out["/drover.v1.Admin/Shutdown"][0] == "PERMISSION_DENIED"
    assert out["/grpc.health.v1.Health/Check"][0] == "OK"
    assert d.proc.poll() is None
    assert "door=unix peer=unix:pid=" in d.read_log()
    # droverd's own user (root here) is unaffected.
    assert d.cli("status", socket_path=sock).returncode == 0


@as_root
def test_read_group(make_droverd, open_dir):
    sock = os.path.join(open_dir, "run", "drover.sock")
    d = make_droverd(extra_args=["--socket", sock, "--socket-read-group", "nogroup"])
    st, dst = os.stat(sock), os.stat(os.path.dirname(sock))
    assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == 65534
    assert stat.S_IMODE(dst.st_mode) == 0o750 and dst.st_gid == 65534
    out = as_nobody(sock, "/drover.v1.Admin/Status", "/drover.v1.Services/List",
                    "/drover.v1.Admin/Shutdown", "/drover.v1.Services/Resurrect")
    assert out["/drover.v1.Admin/Status"][0] == "OK"
    assert out["/drover.v1.Services/List"][0] == "OK"
    assert out["/drover.v1.Admin/Shutdown"][0] == "PERMISSION_DENIED"
    assert "uid:65534 has scope read" in out["/drover.v1.Admin/Shutdown"][1]
    assert out["/drover.v1.Services/Resurrect"][0] == "PERMISSION_DENIED"
    assert d.proc.poll() is None
    # A member by a supplementary group only counts too (SO_PEERGROUPS).
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=daemon", "--groups=nogroup",
                        "/usr/bin/python3", os.path.join(open_dir, "client.py"), sock,
                        "/drover.v1.Admin/Status"], capture_output=True, text=True, timeout=60)
    assert r.stdout.startswith("/drover.v1.Admin/Status OK"), (r.stdout, r.stderr)
    # Another group's member is refused.
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=daemon", "--clear-groups",
                        "/usr/bin/python3", os.path.join(open_dir, "client.py"), sock,
                        "/drover.v1.Admin/Status"], capture_output=True, text=True, timeout=60)
    assert "PERMISSION_DENIED" in r.stdout or "UNAVAILABLE" in r.stdout, (r.stdout, r.stderr)


@as_root
def test_rp_door_refuses_other_uid(make_droverd, open_dir):
    """The running-process socket checks credentials too: another uid's requests get an error
    naming why, and the daemon goes on serving."""
    rp = os.path.join(open_dir, "rp", "daemon.sock")
    d = make_droverd(extra_args=["--rp-socket", rp])
    os.chmod(os.path.dirname(rp), 0o755)
    os.chmod(rp, 0o666)
    # DaemonRequest{id=7, type=STATUS(42), status={}} in the 4-byte big-endian framing.
    body = bytes([0x08, 0x07, 0x10, 42, 0xd2, 0x02, 0x00])
    script = os.path.join(open_dir, "rp.py")
    with open(script, "w") as f:
        f.write(textwrap.dedent("""
            import socket, struct, sys
            s = socket.socket(socket.AF_UNIX)
            s.connect(sys.argv[1])
            s.sendall(struct.pack(">I", len(sys.argv[2]) // 2) + bytes.fromhex(sys.argv[2]))
            n = struct.unpack(">I", s.recv(4))[0]
            data = b""
            while len(data) < n:
                data += s.recv(n - len(data))
            sys.stdout.write(data.decode("latin-1"))
        """))
    os.chmod(script, 0o644)
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        "/usr/bin/python3", script, rp, body.hex()],
                       capture_output=True, text=True, timeout=60)
    assert "permission denied: uid:65534 may not use this socket" in r.stdout, r
    assert d.proc.poll() is None
    assert "door=running-process" in d.read_log()


# ---- door rules ------------------------------------------------------------------------------

def refused_start(make_droverd, args, text):
    d = make_droverd(extra_args=args, start=False)
    with pytest.raises(AssertionError):
        d.start(timeout=5)
    d.proc.wait(timeout=10)
    assert d.proc.returncode != 0
    assert text in d.read_log(), d.read_log()
    d.proc = None


def test_plaintext_needs_explicit_config(make_droverd):
    port = free_port()
    refused_start(make_droverd, ["--grpc-tcp", f"127.0.0.1:{port}"],
                  "grpc_tcp_plaintext: true to serve plaintext on loopback")
    refused_start(make_droverd, ["--grpc-tcp", f"0.0.0.0:{port}", "--grpc-tcp-plaintext"],
                  "refusing plaintext gRPC on non-loopback")
    refused_start(make_droverd, ["--grpc-tcp", f"127.0.0.1:{port}", "--grpc-tcp-plaintext",
                                 "--grpc-tls-client-ca", "/nonexistent.pem"],
                  "grpc_tls_client_ca needs TLS")
    refused_start(make_droverd, ["--grpc-tcp-anonymous", "admin"], "unknown scope 'admin'")
    # Loopback plaintext, said explicitly: served, and still nobody gets in without a token.
    d = make_droverd(extra_args=["--grpc-tcp", f"127.0.0.1:{port}", "--grpc-tcp-plaintext"])
    ch = grpc.insecure_channel(f"127.0.0.1:{port}")
    code, _ = status_code(admin_pb2_grpc.AdminStub(ch).Status, admin_pb2.StatusRequest())
    assert code == grpc.StatusCode.UNAUTHENTICATED
    ch.close()
    d.stop()
    d.proc = None
    # Remote plaintext only with grpc_tcp_plaintext_remote.
    d = make_droverd(extra_args=["--grpc-tcp", f"0.0.0.0:{free_port()}",
                                 "--grpc-tcp-plaintext-remote"])
    assert "gRPC (plaintext)" in d.read_log()


def test_generated_certificate(make_droverd, tmp_path):
    """grpc_tls: true makes a self-signed pair once and serves with it."""
    port = free_port()
    d = make_droverd(extra_args=["--grpc-tcp", f"127.0.0.1:{port}", "--grpc-tls",
                                 "--grpc-tcp-anonymous", "read"])
    cert = os.path.join(d.env["XDG_CONFIG_HOME"], "drover", "tls", "grpc-cert.pem")
    key = os.path.join(d.env["XDG_CONFIG_HOME"], "drover", "tls", "grpc-key.pem")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    ch = grpc.secure_channel(f"localhost:{port}",
                             grpc.ssl_channel_credentials(root_certificates=read(cert)))
    try:
        assert admin_pb2_grpc.AdminStub(ch).Status(admin_pb2.StatusRequest()).pid == d.proc.pid
        # Anonymous callers may read; to do more they must say who they are.
        code, msg = status_code(admin_pb2_grpc.AdminStub(ch).Shutdown,
                                admin_pb2.ShutdownRequest())
        assert code == grpc.StatusCode.UNAUTHENTICATED and "needs scope control" in msg
    finally:
        ch.close()
    assert "gRPC (TLS)" in d.read_log()


def test_tokens_file_errors_and_reload(make_droverd, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("ci read sha256:1234\n")
    refused_start(make_droverd, ["--auth-tokens", str(tokens)], f"{tokens}:1: the digest")
    tokens.write_text("ci admin sha256:" + "0" * 64 + "\n")
    refused_start(make_droverd, ["--auth-tokens", str(tokens)], "unknown scope 'admin'")
    tokens.write_text("")
    port = free_port()
    d = make_droverd(extra_args=["--grpc-tcp", f"127.0.0.1:{port}", "--grpc-tcp-plaintext",
                                 "--auth-tokens", str(tokens)])
    tok = new_token(tmp_path, "late", "read")
    ch = grpc.insecure_channel(f"127.0.0.1:{port}")
    admin = admin_pb2_grpc.AdminStub(ch)
    try:
        assert status_code(admin.Status, admin_pb2.StatusRequest(),
                           metadata=bearer(tok))[0] == grpc.StatusCode.UNAUTHENTICATED
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: status_code(admin.Status, admin_pb2.StatusRequest(),
                                       metadata=bearer(tok))[0] == grpc.StatusCode.OK,
                   what="the new token accepted after SIGHUP")
        # A broken file on reload keeps the tokens that worked.
        tokens.write_text(tokens.read_text() + "oops\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "keeping the current configuration" in d.read_log(),
                   what="the reload refused")
        assert status_code(admin.Status, admin_pb2.StatusRequest(),
                           metadata=bearer(tok))[0] == grpc.StatusCode.OK
    finally:
        ch.close()



def mapped_openssl(pid):
    """The OpenSSL libraries droverd has mapped, by name."""
    with open(f"/proc/{pid}/maps") as f:
        return {lib for line in f for lib in ("libcrypto", "libssl") if f"/{lib}.so" in line}


def test_openssl_loaded_only_when_configured(make_droverd, tmp_path):
    # Nothing configured: neither library is mapped, even after calls.
    d = make_droverd(subdir="plain")
    d.cli("ls", check=0)
    assert mapped_openssl(d.proc.pid) == set()
    # A tokens file needs libcrypto (digests), not libssl.
    tokens = tmp_path / "tokens"
    tokens.write_text("")
    d = make_droverd(extra_args=["--auth-tokens", str(tokens)], subdir="tokens")
    assert mapped_openssl(d.proc.pid) == {"libcrypto"}
    # A TLS door needs both.
    port = free_port()
    d = make_droverd(extra_args=["--grpc-tcp", f"127.0.0.1:{port}", "--grpc-tls"], subdir="tls")
    assert mapped_openssl(d.proc.pid) == {"libcrypto", "libssl"}

# ---- the HTTP door ----------------------------------------------------------------------------

def http_get(url, token=None):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_http_auth(make_droverd, tmp_path):
    read_tok = new_token(tmp_path, "prom", "read")
    none_tok = new_token(tmp_path, "nothing", "none")
    port = free_port()
    d = make_droverd(extra_args=["--http", f"127.0.0.1:{port}", "--http-auth",
                                 "--auth-tokens", str(tmp_path / "tokens")])
    base = f"http://127.0.0.1:{port}"
    assert http_get(base + "/healthz")[0] == 200
    code, body = http_get(base + "/metrics")
    assert code == 401 and b"token is required" in body
    assert http_get(base + "/metrics", "drv_wrong")[0] == 401
    assert http_get(base + "/metrics", none_tok)[0] == 403
    code, body = http_get(base + "/metrics", read_tok)
    assert code == 200 and b"node_load1" in body
    code, _ = http_get(f"{base}/metrics?token={read_tok}")
    assert code == 200
    # socktop's /ws takes the same token as ?token= (what socktop sends).
    import asyncio
    import websockets

    async def ask(url):
        async with websockets.connect(url) as ws:
            await ws.send("get_metrics")
            return await asyncio.wait_for(ws.recv(), 10)

    assert "cpu_total" in asyncio.run(ask(f"ws://127.0.0.1:{port}/ws?token={read_tok}"))
    with pytest.raises(Exception):
        asyncio.run(ask(f"ws://127.0.0.1:{port}/ws"))
    log = d.read_log()
    assert "door=http" in log and "who=token:nothing call=/metrics" in log
