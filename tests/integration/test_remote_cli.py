"""The drover CLI against a droverd's TCP door, as from another machine: `--host HOST:PORT` over
TLS (`--tls-ca`), with bearer tokens (`--token`, `--token-file`, $DROVER_TOKEN), client
certificates (`--cert`, `--key`), plaintext on loopback (`--plaintext`), $DROVER_HOST; and a
clear error for each way it can fail: nobody listening, an untrusted certificate, a plaintext
door spoken to in TLS, a missing or wrong token, a read token asked to control, no client
certificate where one is required, bad files, conflicting options."""
import json
import os
import subprocess

import pytest

from conftest import DROVER, free_port, wait_until
from test_auth import new_token, pki, tls_droverd  # noqa: F401 (fixtures)


def remote(*args, env=None):
    """The CLI with no local droverd to fall back on (a socket path nobody listens on)."""
    e = dict(os.environ, DROVER_SOCKET="/nonexistent/drover.sock")
    for k in ("DROVER_HOST", "DROVER_TOKEN", "DROVER_TLS_CA"):
        e.pop(k, None)
    e.update(env or {})
    return subprocess.run([DROVER, *args], env=e, capture_output=True, text=True, timeout=60)


def test_tls_and_tokens(tls_droverd, pki, tmp_path):
    d, port, read_tok, ctl_tok = tls_droverd
    ca = pki["ca"][0]
    base = ["--host", f"127.0.0.1:{port}", "--tls-ca", ca]
    # No token: droverd's own refusal, named.
    r = remote(*base, "ls")
    assert r.returncode == 1 and "UNAUTHENTICATED" in r.stderr and "Bearer" in r.stderr
    r = remote(*base, "--token", "drv_" + "A" * 43, "ls")
    assert r.returncode == 1 and "unknown token" in r.stderr
    # A read token lists and reads status, and may not start a service.
    r = remote(*base, "--token", read_tok, "--json", "status")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["pid"] == d.proc.pid
    r = remote(*base, "--token", read_tok, "start", "--name", "web", "--", "sleep", "300")
    assert r.returncode == 1 and "PERMISSION_DENIED" in r.stderr and "needs control" in r.stderr
    # A control token from a file, by name (localhost is in the certificate): it starts one.
    tok_file = tmp_path / "ctl.token"
    tok_file.write_text(ctl_tok + "\n")
    r = remote("--host", f"localhost:{port}", "--tls-ca", ca, "--token-file", str(tok_file),
               "start", "--name", "web", "--", "sh", "-c", "echo hello-remote; exec sleep 300")
    assert r.returncode == 0, r.stderr
    wait_until(lambda: "online" in d.cli("ls").stdout, what="web online")
    # The environment variables do the same as the options.
    env = {"DROVER_HOST": f"127.0.0.1:{port}", "DROVER_TLS_CA": ca, "DROVER_TOKEN": ctl_tok}
    r = remote("--json", "ls", env=env)
    assert r.returncode == 0 and [s["name"] for s in json.loads(r.stdout)] == ["web"], r.stderr
    assert remote("stop", "web", env=env).returncode == 0
    r = remote("ping", env=env)
    assert r.returncode == 0 and f"127.0.0.1:{port}" in r.stdout
    # A server stream over TLS: the service's output.
    wait_until(lambda: "hello-remote" in remote("logs", "web", env=env).stdout, what="its log")
    audit = (tmp_path / "audit.log").read_text()
    assert "door=tcp" in audit and "who=token:deploy call=/drover.v1.Services/Start result=OK" \
        in audit


def test_tls_errors(tls_droverd, pki, tmp_path):
    d, port, read_tok, _ = tls_droverd
    # The system's CAs do not know the test CA; nor does another CA.
    for ca in ([], ["--tls-ca", pki["rogue"][0]]):
        r = remote("--host", f"127.0.0.1:{port}", *ca, "--token", read_tok, "ls")
        assert r.returncode == 1 and "certificate is not trusted" in r.stderr, r.stderr
    # A name the certificate does not carry.
    r = remote("--host", f"[::1]:{port}", "--tls-ca", pki["ca"][0], "ls")
    assert r.returncode == 1 and "cannot reach droverd at [::1]" in r.stderr
    # Nobody listening.
    r = remote("--host", f"127.0.0.1:{free_port()}", "--tls-ca", pki["ca"][0], "ls")
    assert r.returncode == 1 and "Connection refused" in r.stderr
    # Files that are not there, a token file without a token, options that do not go together.
    r = remote("--host", f"127.0.0.1:{port}", "--tls-ca", str(tmp_path / "none.pem"), "ls")
    assert r.returncode == 1 and "cannot read the CA file" in r.stderr
    (tmp_path / "empty").write_text("\n")
    r = remote("--host", f"127.0.0.1:{port}", "--token-file", str(tmp_path / "empty"), "ls")
    assert r.returncode == 2 and "holds no token" in r.stderr
    for bad, says in ((["--tls-ca", "x", "ls"], "go with --host"),
                      (["--host", "h:1", "--socket", "s", "ls"], "give one"),
                      (["--host", "nocolon", "ls"], "not HOST:PORT"),
                      (["--host", "h:1", "--key", "k", "ls"], "--key goes with --cert")):
        r = remote(*bad)
        assert r.returncode in (1, 2) and says in r.stderr, (bad, r.stderr)
    # TLS spoken to a plaintext door.
    port2 = free_port()
    d2 = d.__class__(str(tmp_path / "plain"), ["--grpc-tcp", f"127.0.0.1:{port2}",
                                               "--grpc-tcp-plaintext", "--grpc-tcp-anonymous",
                                               "read"])
    d2.start()
    try:
        r = remote("--host", f"127.0.0.1:{port2}", "--tls-ca", pki["ca"][0], "ls")
        assert r.returncode == 1 and "TLS handshake" in r.stderr and "--plaintext" in r.stderr
        r = remote("--host", f"127.0.0.1:{port2}", "--plaintext", "--json", "status")
        assert r.returncode == 0 and json.loads(r.stdout)["pid"] == d2.proc.pid, r.stderr
    finally:
        assert d2.stop() == 0


def test_mtls(make_droverd, pki):
    port = free_port()
    make_droverd(extra_args=[
        "--grpc-tcp", f"127.0.0.1:{port}", "--grpc-tls-cert", pki["server"][0],
        "--grpc-tls-key", pki["server"][1], "--grpc-tls-client-ca", pki["ca"][0]])
    base = ["--host", f"127.0.0.1:{port}", "--tls-ca", pki["ca"][0]]
    r = remote(*base, "ls")  # no client certificate: the server's alert says so
    assert r.returncode == 1 and "asked for a client certificate" in r.stderr, r.stderr
    r = remote(*base, "--cert", pki["client"][0], "--key", pki["server"][1], "ls")
    assert r.returncode == 1 and "does not match" in r.stderr
    r = remote(*base, "--cert", pki["client"][0], "--key", pki["client"][1],
               "start", "--name", "m", "--", "sleep", "300")
    assert r.returncode == 0, r.stderr
    r = remote(*base, "--cert", pki["client"][0], "--key", pki["client"][1], "--json", "ls")
    assert r.returncode == 0 and json.loads(r.stdout)[0]["name"] == "m"
