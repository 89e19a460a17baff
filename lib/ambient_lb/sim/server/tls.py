"""A throwaway TLS identity for the simulator: a self-signed certificate for 127.0.0.1.

Who calls it: ``sim/daemon.py`` and ``sim/in_process.py``. Why TLS on a loopback address: kubectl (client-go) sends a
kubeconfig's bearer token only to an ``https://`` server (``clientcmd`` merges user credentials
only when the transport is TLS), so a server that requires a token must speak TLS. The kubeconfig
carries the certificate as ``certificate-authority-data``, so nothing is skipped or trusted blindly.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsIdentity:
    """The API server's self-signed certificate and key (PEM)."""

    cert_pem: bytes
    key_pem: bytes

    def server_context(self) -> ssl.SSLContext:
        """An SSL context that serves with this certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        with tempfile.TemporaryDirectory(prefix="ambient-lb-tls-") as d:
            cert, key = Path(d) / "cert.pem", Path(d) / "key.pem"
            cert.write_bytes(self.cert_pem)
            key.touch(mode=0o600)
            key.write_bytes(self.key_pem)
            ctx.load_cert_chain(cert, key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts this certificate (for clients of the server)."""
        return ssl.create_default_context(cadata=self.cert_pem.decode())


def self_signed(common_name: str = "ambient-lb-sim", days: int = 365) -> TlsIdentity:
    """An EC P-256 key and a certificate valid for 127.0.0.1 and localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                       x509.DNSName("localhost")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days)).add_extension(san, critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return TlsIdentity(cert.public_bytes(serialization.Encoding.PEM),
                       key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
