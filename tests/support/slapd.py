"""Fixtures that run private OpenLDAP slapd servers on loopback (real servers, no mocks)."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import ldap  # type: ignore[import-untyped, unused-ignore]
import ldap.dn  # type: ignore[import-untyped, unused-ignore]
import pytest

from tests.support import ldapclient
from tests.support.certs import CertFiles, Pki
from tests.support.ldapclient import BindOutcome
from tests.support.procs import (
    die_with_parent,
    free_port,
    port_is_free,
    skip_or_fail,
    stop_process,
    wait_until_listening,
)

pytest_plugins = ["tests.support.certs"]

BASE_DN = "dc=example,dc=test"
HOST = "127.0.0.1"
#: A second loopback address slapd also listens on; the certificate does not name it.
WRONG_HOST = "127.0.0.3"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
START_TIMEOUT = 15.0


def find_binary(name: str) -> str | None:
    """`name` on PATH or in the sbin directories (often missing from a non-root PATH)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/usr/local/sbin:/sbin"
    return shutil.which(name, path=path)


def ssha(password: str) -> str:
    """An OpenLDAP `{SSHA}` hash (so no cleartext userPassword is ever stored)."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt, usedforsecurity=False).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


@dataclass(frozen=True)
class PpolicyConfig:
    """Attributes of the default `pwdPolicy` entry (ppolicy overlay)."""

    min_length: int = 8
    check_quality: int = 2
    in_history: int = 3
    max_failure: int = 0
    lockout: bool = False
    lockout_duration: int = 0


@dataclass(frozen=True)
class LdapUser:
    """A user entry on a test slapd."""

    dn: str
    password: str
    uid: str


class SlapdServer:
    """A private slapd child process with its own config, data, ports and certificate."""

    def __init__(
        self,
        directory: Path,
        *,
        slapd_bin: str,
        slapadd_bin: str,
        pki: Pki,
        cert: CertFiles,
        ppolicy: PpolicyConfig | None = None,
    ) -> None:
        self.directory = directory
        self.host = HOST
        self.base_dn = BASE_DN
        self.people_dn = f"ou=people,{BASE_DN}"
        self.groups_dn = f"ou=groups,{BASE_DN}"
        self.admins_group_dn = f"cn=pwadmins,{self.groups_dn}"
        self.policy_dn: str | None = f"cn=default,ou=policies,{BASE_DN}" if ppolicy else None
        self.root_dn = f"cn=admin,{BASE_DN}"
        self.root_password = ldapclient.make_password()
        self.admin_dn = f"uid=pwadmin,{self.people_dn}"
        self.admin_password = ldapclient.make_password()
        self.ppolicy = ppolicy
        self.ca_path: Path = pki.ca_path
        self.ca_pem: str = pki.ca_pem
        self.cert = cert
        self.conf_path = directory / "slapd.conf"
        self.log_path = directory / "slapd.log"
        self.startup_seconds: float | None = None
        self._slapd_bin = slapd_bin
        self._slapadd_bin = slapadd_bin
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._pick_ports()
        (directory / "data").mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(self._config())
        self._load(self._base_ldif())

    # -- addresses -----------------------------------------------------------------------

    @property
    def ldap_url(self) -> str:
        return f"ldap://{self.host}:{self.ldap_port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.host}:{self.ldaps_port}"

    @property
    def url_wrong_host(self) -> str:
        """ldaps:// on an address the certificate does not name (host-name check fails)."""
        return f"ldaps://{WRONG_HOST}:{self.wrong_ldaps_port}"

    @property
    def ldap_url_wrong_host(self) -> str:
        """ldap:// on that address, for STARTTLS host-name tests."""
        return f"ldap://{WRONG_HOST}:{self.wrong_ldap_port}"

    def _pick_ports(self) -> None:
        self.ldap_port = free_port(HOST)
        self.ldaps_port = free_port(HOST)
        self.wrong_ldap_port = free_port(WRONG_HOST)
        self.wrong_ldaps_port = free_port(WRONG_HOST)

    def _endpoints(self) -> list[tuple[str, int]]:
        return [
            (HOST, self.ldap_port),
            (HOST, self.ldaps_port),
            (WRONG_HOST, self.wrong_ldap_port),
            (WRONG_HOST, self.wrong_ldaps_port),
        ]

    def _listen_urls(self) -> str:
        return " ".join(
            f"{scheme}://{host}:{port}/"
            for (host, port), scheme in zip(
                self._endpoints(), ["ldap", "ldaps", "ldap", "ldaps"], strict=True
            )
        )

    # -- configuration -------------------------------------------------------------------

    def _config(self) -> str:
        d = self.directory
        lines = [f"include {SCHEMA_DIR / s}.schema" for s in ("core", "cosine", "inetorgperson")]
        lines += [
            f"include {SCHEMA_DIR / 'nis.schema'}",
            f"modulepath {MODULE_DIR}",
            "moduleload back_mdb",
        ]
        if self.ppolicy:
            lines.append("moduleload ppolicy")
        lines += [
            f"pidfile {d / 'slapd.pid'}",
            f"argsfile {d / 'slapd.args'}",
            f"TLSCACertificateFile {self.ca_path}",
            f"TLSCertificateFile {self.cert.cert_path}",
            f"TLSCertificateKeyFile {self.cert.key_path}",
            "password-hash {SSHA}",
            "",
            "database mdb",
            "maxsize 67108864",
            f'suffix "{BASE_DN}"',
            f'rootdn "{self.root_dn}"',
            f"rootpw {ssha(self.root_password)}",
            f"directory {d / 'data'}",
            "index objectClass eq",
            "index uid eq",
        ]
        if self.ppolicy:
            lines += [
                "overlay ppolicy",
                f'ppolicy_default "{self.policy_dn}"',
                "ppolicy_hash_cleartext",
                "ppolicy_use_lockout",
            ]
        lines += [
            "access to attrs=userPassword"
            f' by self =xw by group.exact="{self.admins_group_dn}" write'
            " by anonymous auth by * none",
            "access to * by self read by users read by * none",
            "",
        ]
        return "\n".join(lines)

    def _base_ldif(self) -> str:
        entries = [
            f"dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\n"
            "o: Example\n",
            f"dn: {self.people_dn}\nobjectClass: organizationalUnit\nou: people\n",
            f"dn: {self.groups_dn}\nobjectClass: organizationalUnit\nou: groups\n",
            f"dn: {self.admin_dn}\nobjectClass: inetOrgPerson\nuid: pwadmin\ncn: pwadmin\n"
            f"sn: pwadmin\nuserPassword: {ssha(self.admin_password)}\n",
            f"dn: {self.admins_group_dn}\nobjectClass: groupOfNames\ncn: pwadmins\n"
            f"member: {self.admin_dn}\n",
        ]
        if self.ppolicy:
            p = self.ppolicy
            entries += [
                f"dn: ou=policies,{BASE_DN}\nobjectClass: organizationalUnit\nou: policies\n",
                f"dn: {self.policy_dn}\nobjectClass: organizationalRole\nobjectClass: pwdPolicy\n"
                "cn: default\npwdAttribute: userPassword\n"
                f"pwdMinLength: {p.min_length}\npwdCheckQuality: {p.check_quality}\n"
                f"pwdInHistory: {p.in_history}\npwdMaxFailure: {p.max_failure}\n"
                f"pwdLockout: {'TRUE' if p.lockout else 'FALSE'}\n"
                f"pwdLockoutDuration: {p.lockout_duration}\n"
                "pwdAllowUserChange: TRUE\npwdMustChange: FALSE\npwdSafeModify: FALSE\n",
            ]
        return "\n".join(entries)

    def _load(self, ldif: str) -> None:
        ldif_path = self.directory / "base.ldif"
        ldif_path.write_text(ldif)
        subprocess.run(
            [self._slapadd_bin, "-q", "-f", str(self.conf_path), "-l", str(ldif_path)],
            check=True,
            capture_output=True,
            timeout=60,
        )

    # -- process control -----------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, *, _first: bool = False) -> None:
        """Start (or restart) slapd on the same ports with the same data; wait until ready."""
        if self.is_running:
            return
        attempts = 3 if _first else 1
        for attempt in range(attempts):
            if attempt and not all(port_is_free(h, p) for h, p in self._endpoints()):
                self._pick_ports()  # lost a race for a port: take new ones
            began = time.monotonic()
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            self._proc = subprocess.Popen(
                [self._slapd_bin, "-d", "0", "-f", str(self.conf_path), "-h", self._listen_urls()],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
            try:
                wait_until_listening(
                    self._proc,
                    self._endpoints(),
                    timeout=START_TIMEOUT,
                    what="slapd",
                    log_path=self.log_path,
                )
            except RuntimeError:
                self.stop()
                if attempt + 1 == attempts:
                    raise
                continue
            self.startup_seconds = time.monotonic() - began
            return

    def stop(self) -> None:
        """Stop slapd (connections are then refused); data and ports are kept for start()."""
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- directory helpers ---------------------------------------------------------------

    def root_connection(self) -> AbstractContextManager[Any]:
        """A python-ldap connection bound as the rootDN over ldap:// (setup only)."""
        return ldapclient.bound(self.ldap_url, self.root_dn, self.root_password, ca_path=None)

    def user_dn(self, uid: str) -> str:
        return f"uid={ldap.dn.escape_dn_chars(uid)},{self.people_dn}"

    def add_user(self, uid: str, password: str) -> str:
        """Create an inetOrgPerson under ou=people with an {SSHA} password; return its DN."""
        dn = self.user_dn(uid)
        entry = [
            ("objectClass", [b"inetOrgPerson"]),
            ("uid", [uid.encode()]),
            ("cn", [uid.encode()]),
            ("sn", [uid.encode()]),
            ("userPassword", [ssha(password).encode()]),
        ]
        with self.root_connection() as conn:
            conn.add_s(dn, entry)
        return dn

    def delete_user(self, dn: str) -> None:
        with self.root_connection() as conn:
            conn.delete_s(dn)

    def set_password(self, dn: str, password: str) -> None:
        """Set a password as the rootDN (bypasses ppolicy), via Password Modify."""
        with self.root_connection() as conn:
            conn.passwd_s(dn, None, password)

    def read_attrs(self, dn: str, *attrs: str) -> dict[str, list[bytes]]:
        """Read attributes (operational ones too, if named) as the rootDN."""
        with self.root_connection() as conn:
            result = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", list(attrs) or None)
        entry: dict[str, list[bytes]] = dict(result[0][1])
        return entry

    def try_bind(
        self, dn: str, password: str, *, url: str | None = None, starttls: bool = False
    ) -> BindOutcome:
        """Bind on a new connection (ldaps with the CA by default) and report the outcome."""
        return ldapclient.try_bind(
            url or self.ldaps_url, dn, password, ca_path=self.ca_path, starttls=starttls
        )

    def can_bind(self, dn: str, password: str, *, url: str | None = None) -> bool:
        """Real simple bind (ldaps with the CA by default): True, or False on error 49."""
        return ldapclient.can_bind(url or self.ldaps_url, dn, password, ca_path=self.ca_path)

    def __repr__(self) -> str:
        return f"SlapdServer({self.ldap_url}, {self.ldaps_url}, ppolicy={bool(self.ppolicy)})"


class SlapdFactory:
    """Starts extra slapd servers (e.g. with another certificate); all stopped at session end."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> None:
        self._tmp = tmp_path_factory
        self._pki = pki
        self.servers: list[SlapdServer] = []

    def __call__(
        self, *, ppolicy: PpolicyConfig | None = None, cert: CertFiles | None = None
    ) -> SlapdServer:
        slapd_bin = find_binary("slapd")
        slapadd_bin = find_binary("slapadd")
        if slapd_bin is None or slapadd_bin is None:
            skip_or_fail("OpenLDAP slapd is not installed (apt-get install slapd ldap-utils)")
        server = SlapdServer(
            self._tmp.mktemp("slapd"),
            slapd_bin=slapd_bin,
            slapadd_bin=slapadd_bin,
            pki=self._pki,
            cert=cert or self._pki.server,
            ppolicy=ppolicy,
        )
        self.servers.append(server)
        server.start(_first=True)
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture(scope="session")
def slapd_factory(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SlapdFactory]:
    """Call it to start another private slapd: `slapd_factory(ppolicy=..., cert=...)`."""
    factory = SlapdFactory(tmp_path_factory, pki)
    yield factory
    factory.stop_all()


@pytest.fixture(scope="session")
def slapd(slapd_factory: SlapdFactory) -> SlapdServer:
    """OpenLDAP with ACLs (self-change, pwadmins reset), ldap:// + STARTTLS and ldaps://."""
    return slapd_factory()


@pytest.fixture(scope="session")
def slapd_ppolicy(slapd_factory: SlapdFactory) -> SlapdServer:
    """Like `slapd`, plus the ppolicy overlay (min length 8, quality 2, history 3)."""
    return slapd_factory(ppolicy=PpolicyConfig())


@pytest.fixture(scope="session")
def slapd_expired_cert(slapd_factory: SlapdFactory, pki: Pki) -> SlapdServer:
    """Like `slapd`, but its TLS certificate (trusted CA, right names) has expired."""
    return slapd_factory(cert=pki.expired)


@pytest.fixture
def slapd_private(slapd_factory: SlapdFactory) -> Iterator[SlapdServer]:
    """A slapd for this test alone (~50 ms): stop()/start() it without disturbing others."""
    server = slapd_factory()
    yield server
    server.stop()


def _unique_uid(prefix: str) -> str:
    return f"{prefix}-{os.urandom(4).hex()}"


@pytest.fixture
def ldap_user(slapd: SlapdServer) -> LdapUser:
    """A fresh user with a random password on `slapd`."""
    uid = _unique_uid("user")
    password = ldapclient.make_password()
    return LdapUser(dn=slapd.add_user(uid, password), password=password, uid=uid)


@pytest.fixture
def ppolicy_user(slapd_ppolicy: SlapdServer) -> LdapUser:
    """A fresh user with a random password on `slapd_ppolicy`."""
    uid = _unique_uid("user")
    password = ldapclient.make_password()
    return LdapUser(dn=slapd_ppolicy.add_user(uid, password), password=password, uid=uid)
