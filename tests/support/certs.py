"""Throw-away certificate authorities and server certificates for test directory servers."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class CertFiles:
    """A certificate and its private key, as PEM files and strings."""

    name: str
    cert_path: Path
    key_path: Path
    cert_pem: str
    key_pem: str
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Pki:
    """The session's certificates: one trusted CA, server certs it signed, an unrelated CA."""

    directory: Path
    ca: CertFiles
    server: CertFiles
    expired: CertFiles
    other_ca: CertFiles

    @property
    def ca_path(self) -> Path:
        return self.ca.cert_path

    @property
    def ca_pem(self) -> str:
        return self.ca.cert_pem

    def issue(
        self,
        name: str,
        *,
        ips: Sequence[str] = (),
        dns_names: Sequence[str] = (),
        expired: bool = False,
    ) -> CertFiles:
        """Issue one more server certificate from the trusted CA."""
        return issue_server_cert(
            self.ca, self.directory, name, ips=ips, dns_names=dns_names, expired=expired
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write(
    directory: Path,
    name: str,
    cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
) -> CertFiles:
    directory.mkdir(parents=True, exist_ok=True)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    cert_path = directory / f"{name}.crt"
    key_path = directory / f"{name}.key"
    cert_path.write_text(cert_pem)
    key_path.touch(mode=0o600)
    key_path.chmod(0o600)  # Samba refuses a key file readable by others.
    key_path.write_text(key_pem)
    return CertFiles(name, cert_path, key_path, cert_pem, key_pem, cert, key)


def make_ca(directory: Path, name: str, common_name: str) -> CertFiles:
    """Create a self-signed CA certificate valid from yesterday for ten years."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _ONE_DAY)
        .not_valid_after(now + 3650 * _ONE_DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _write(directory, name, cert, key)


def issue_server_cert(
    ca: CertFiles,
    directory: Path,
    name: str,
    *,
    ips: Sequence[str] = (),
    dns_names: Sequence[str] = (),
    expired: bool = False,
) -> CertFiles:
    """Issue a TLS server certificate signed by `ca` with the given subjectAltNames."""
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    sans += [x509.DNSName(dns) for dns in dns_names]
    common_name = (list(dns_names) + list(ips) + [name])[0]
    now = _now()
    if expired:
        not_before, not_after = now - 60 * _ONE_DAY, now - _ONE_DAY
    else:
        not_before, not_after = now - _ONE_DAY, now + 365 * _ONE_DAY
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca.private_key, hashes.SHA256())
    return _write(directory, name, cert, key)


def make_pki(directory: Path) -> Pki:
    """Create a CA, a server cert for 127.0.0.1/localhost, an expired one, and a stranger CA."""
    ca = make_ca(directory, "ca", "ldapkeeper test CA")
    server = issue_server_cert(ca, directory, "server", ips=["127.0.0.1"], dns_names=["localhost"])
    expired = issue_server_cert(
        ca, directory, "server-expired", ips=["127.0.0.1"], dns_names=["localhost"], expired=True
    )
    other_ca = make_ca(directory, "other-ca", "unrelated test CA")
    return Pki(directory, ca, server, expired, other_ca)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Session-wide throw-away PKI (files in a tmp dir)."""
    return make_pki(tmp_path_factory.mktemp("pki"))
