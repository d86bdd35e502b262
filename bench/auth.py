#!/usr/bin/python3
"""What access control costs: droverd's gRPC doors side by side, through python3-grpcio.

1. Unary calls (drover.v1.Admin/Ping), N per door on one channel (default 2000) split into
   ROUNDS rounds (default 5) that take turns between the doors, after a warm-up:
   the unix socket (peer credentials), TCP plaintext with a static token, TLS with a static
   token, TLS with JWTs (HS256, ES256, RS256), and mTLS (client certificate). p50/p99 latency
   as the client sees it, and droverd's own CPU per call (from /proc/PID/schedstat, in ns), which
   is the figure the client's overhead does not blur. Figures are medians of the rounds, so a
   burst of noise on a shared machine hits one round of every door, not one door.
2. Handshakes: a new channel per call, H times (default 200): connect, TLS handshake, one call.
   p50 wall time and droverd CPU per connection, plaintext vs TLS vs mTLS.
3. Memory: droverd's RSS with no TCP door, with a TLS door configured, and after the handshakes
   (OpenSSL is loaded only when a TLS door or a JWT key is configured).
Prints figures; never fails. Every droverd started here is stopped by pid.
"""

import os
import pathlib
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
N = int(os.environ.get("N", "2000"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
H = int(os.environ.get("H", "200"))
DROVERD = os.path.join(BUILD, "src", "droverd")
DROVER = os.path.join(BUILD, "src", "drover")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import grpc  # noqa: E402
import jwt  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402

from conftest import free_port, rss_kb  # noqa: E402  (importing it generates the stubs)
from drover.v1 import admin_pb2, admin_pb2_grpc  # noqa: E402
from pki import write_pki  # noqa: E402
from metrics import pct  # noqa: E402  (bench/metrics.py)


def cpu_ns(pid):
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


class Daemon:
    def __init__(self, tmp, name, args):
        self.dir = tmp / name
        self.dir.mkdir()
        self.sock = str(self.dir / "drover.sock")
        env = dict(os.environ, XDG_CONFIG_HOME=str(self.dir / "conf"),
                   XDG_STATE_HOME=str(self.dir / "state"), XDG_RUNTIME_DIR=str(self.dir / "run"))
        self.log = open(self.dir / "log", "wb")
        self.p = subprocess.Popen([DROVERD, "--socket", self.sock, "--state-dir",
                                   str(self.dir / "state"), "--emergency-reserve-bytes", "0",
                                   "--log-level", "warning", *args],
                                  stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 20
        while not os.path.exists(self.sock):
            if self.p.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"droverd {name} did not start: "
                                 f"{(self.dir / 'log').read_text()}")
            time.sleep(0.02)
        time.sleep(0.1)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def unary_round(d, stub, metadata, n):
    """n calls: (p50 µs, p99 µs, droverd CPU µs per call)."""
    req = admin_pb2.PingRequest()
    lat = []
    c0 = cpu_ns(d.p.pid)
    for _ in range(n):
        t = time.perf_counter()
        stub.Ping(req, metadata=metadata)
        lat.append(time.perf_counter() - t)
    return pct(lat, 0.5) * 1e6, pct(lat, 0.99) * 1e6, (cpu_ns(d.p.pid) - c0) / n / 1e3


def handshakes(d, target, creds, metadata, n):
    lat = []
    c0 = cpu_ns(d.p.pid)
    for _ in range(n):
        t = time.perf_counter()
        ch = grpc.secure_channel(target, creds) if creds else grpc.insecure_channel(target)
        admin_pb2_grpc.AdminStub(ch).Ping(admin_pb2.PingRequest(), metadata=metadata)
        lat.append(time.perf_counter() - t)
        ch.close()
    return pct(lat, 0.5) * 1e3, (cpu_ns(d.p.pid) - c0) / n / 1e3


def main():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="drover-bench-auth-"))
    pki = write_pki(tmp)
    ca = open(pki["ca"][0], "rb").read()
    tls = grpc.ssl_channel_credentials(root_certificates=ca)
    mtls = grpc.ssl_channel_credentials(root_certificates=ca,
                                        private_key=open(pki["client"][1], "rb").read(),
                                        certificate_chain=open(pki["client"][0], "rb").read())
    # Credentials: a static token, an HS256 secret, an ES256 and an RS256 key.
    tok = subprocess.run([DROVER, "token", "new", "bench", "--scopes", "read", "--file",
                          str(tmp / "tokens")], capture_output=True, text=True,
                         check=True).stdout.strip()
    secret = b"bench-secret-bench-secret-bench-secret"
    (tmp / "secret").write_bytes(secret)
    eck = ec.generate_private_key(ec.SECP256R1())
    rsak = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for name, k in (("ec.pub", eck), ("rsa.pub", rsak)):
        (tmp / name).write_bytes(k.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    claims = {"sub": "bench", "exp": int(time.time()) + 3600, "scope": "read"}
    jwts = {"HS256": jwt.encode(claims, secret, algorithm="HS256"),
            "ES256": jwt.encode(claims, eck, algorithm="ES256"),
            "RS256": jwt.encode(claims, rsak, algorithm="RS256")}

    def bearer(t):
        return (("authorization", "Bearer " + t),)

    daemons = []
    try:
        bare = Daemon(tmp, "bare", [])
        daemons.append(bare)
        rss_bare = rss_kb(bare.p.pid)
        p_tls, p_plain, p_mtls = free_port(), free_port(), free_port()
        d_tls = Daemon(tmp, "tls", ["--grpc-tcp", f"127.0.0.1:{p_tls}", "--grpc-tls-cert",
                                    pki["server"][0], "--grpc-tls-key", pki["server"][1],
                                    "--auth-tokens", str(tmp / "tokens"), "--jwt-secret",
                                    str(tmp / "secret"), "--jwt-public-key", str(tmp / "ec.pub")])
        daemons.append(d_tls)
        rss_tls_idle = rss_kb(d_tls.p.pid)
        d_plain = Daemon(tmp, "plain", ["--grpc-tcp", f"127.0.0.1:{p_plain}",
                                        "--grpc-tcp-plaintext", "--auth-tokens",
                                        str(tmp / "tokens"), "--jwt-public-key",
                                        str(tmp / "rsa.pub")])
        d_mtls = Daemon(tmp, "mtls", ["--grpc-tcp", f"127.0.0.1:{p_mtls}", "--grpc-tls-cert",
                                      pki["server"][0], "--grpc-tls-key", pki["server"][1],
                                      "--grpc-tls-client-ca", pki["ca"][0]])
        daemons += [d_plain, d_mtls]

        print(f"droverd {BUILD}; {N} unary Ping calls per door on one channel "
              f"(python3-grpcio client)\n")
        print(f"{'door':34} {'p50 µs':>8} {'p99 µs':>8} {'droverd CPU µs/call':>20}")
        rows = [
            ("unix socket (SO_PEERCRED)", bare, f"unix:{bare.sock}", None, ()),
            ("TCP plaintext + static token", d_plain, f"127.0.0.1:{p_plain}", None, bearer(tok)),
            ("TCP plaintext + JWT RS256", d_plain, f"127.0.0.1:{p_plain}", None,
             bearer(jwts["RS256"])),
            ("TLS + static token", d_tls, f"localhost:{p_tls}", tls, bearer(tok)),
            ("TLS + JWT HS256", d_tls, f"localhost:{p_tls}", tls, bearer(jwts["HS256"])),
            ("TLS + JWT ES256", d_tls, f"localhost:{p_tls}", tls, bearer(jwts["ES256"])),
            ("mTLS (client certificate)", d_mtls, f"localhost:{p_mtls}", mtls, ()),
        ]
        chans, stubs = [], []
        for name, d, target, creds, md in rows:
            ch = grpc.secure_channel(target, creds) if creds else grpc.insecure_channel(target)
            chans.append(ch)
            stubs.append(admin_pb2_grpc.AdminStub(ch))
            unary_round(d, stubs[-1], md, 200)  # warm-up: connection, handshake, caches
        results = [[] for _ in rows]
        for _ in range(ROUNDS):
            for i, (name, d, target, creds, md) in enumerate(rows):
                results[i].append(unary_round(d, stubs[i], md, max(1, N // ROUNDS)))
        base = None
        for (name, *_), res in zip(rows, results):
            p50, p99, cpu = (statistics.median(r[k] for r in res) for k in range(3))
            base = base or (p50, cpu)
            print(f"{name:34} {p50:8.0f} {p99:8.0f} {cpu:20.1f}   "
                  f"(×{p50 / base[0]:.2f} latency, ×{cpu / base[1]:.2f} CPU of unix)")
        for ch in chans:
            ch.close()
        print(f"\nNew connection per call, {H} times: connect + handshake + one Ping")
        print(f"{'door':34} {'p50 ms':>8} {'droverd CPU µs/connection':>26}")
        for name, d, target, creds, md in [
                ("unix socket", bare, f"unix:{bare.sock}", None, ()),
                ("TCP plaintext + token", d_plain, f"127.0.0.1:{p_plain}", None, bearer(tok)),
                ("TLS + token", d_tls, f"localhost:{p_tls}", tls, bearer(tok)),
                ("mTLS", d_mtls, f"localhost:{p_mtls}", mtls, ())]:
            p50, cpu = handshakes(d, target, creds, md, H)
            print(f"{name:34} {p50:8.2f} {cpu:26.0f}")

        print("\nRSS (VmRSS, kB)")
        print(f"  no TCP door, no credentials:          {rss_bare:6d}")
        print(f"  TLS door + tokens + JWT keys, idle:   {rss_tls_idle:6d}   "
              f"(+{rss_tls_idle - rss_bare} kB)")
        print(f"  the same after {N + 200} calls and {H} handshakes: {rss_kb(d_tls.p.pid):6d}")
        print(f"  mTLS door after {N + 200} calls and {H} handshakes: {rss_kb(d_mtls.p.pid):6d}")
        print(f"  no TCP door, after {N + 200 + H} unix calls: {rss_kb(bare.p.pid):6d}")
    finally:
        for d in daemons:
            d.stop()
        subprocess.run(["rm", "-rf", str(tmp)])


if __name__ == "__main__":
    main()
