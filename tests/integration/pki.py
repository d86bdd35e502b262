"""Certificates for TLS tests and benchmarks (python3-cryptography): a CA, and certificates it
signs, with the names and validity asked for."""

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)


def pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def make_cert(cn, issuer=None, issuer_key=None, ca=False, sans=(), not_before=None,
              not_after=None):
    """A P-256 key and a certificate for CN (self-signed unless issuer and issuer_key are
    given); sans are DNS names or IP addresses."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "drover tests")])
    b = (x509.CertificateBuilder().subject_name(name)
         .issuer_name(issuer.subject if issuer else name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(not_before or NOW - datetime.timedelta(minutes=5))
         .not_valid_after(not_after or NOW + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        names = []
        for s in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(s)))
            except ValueError:
                names.append(x509.DNSName(s))
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return key, b.sign(issuer_key or key, hashes.SHA256())


def write_pki(d):
    """ca, server (localhost, 127.0.0.1) and client (CN=deployer) under directory d (a
    pathlib.Path); returns {name: (cert path, key path)}."""
    ca_key, ca = make_cert("drover test CA", ca=True)
    out = {}
    for name, (key, cert) in {
        "ca": (ca_key, ca),
        "server": make_cert("localhost", ca, ca_key, sans=("localhost", "127.0.0.1")),
        "client": make_cert("deployer", ca, ca_key),
    }.items():
        (d / f"{name}.key").write_bytes(pem_key(key))
        (d / f"{name}.pem").write_bytes(pem_cert(cert))
        out[name] = (str(d / f"{name}.pem"), str(d / f"{name}.key"))
    return out
