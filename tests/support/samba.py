"""Fixture that runs a real Samba AD DC (LDAP service only) on its own loopback address."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
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
from tests.support.certs import Pki
from tests.support.ldapclient import BindOutcome
from tests.support.procs import (
    die_with_parent,
    port_is_free,
    skip_or_fail,
    stop_process,
    wait_until_listening,
)

pytest_plugins = ["tests.support.certs"]

REALM = "EXAMPLE.TEST"
DNS_DOMAIN = "example.test"
NETBIOS_DOMAIN = "EXAMPLE"
BASE_DN = "DC=example,DC=test"
LDAP_PORT = 389  # fixed in Samba's source: one instance per address
LDAPS_PORT = 636
#: Loopback addresses tried in order (127.0.0.3 is slapd's "wrong host" address).
CANDIDATE_HOSTS = ["127.0.0.2", *(f"127.0.0.{i}" for i in range(4, 40))]
TEMPLATE_FORMAT = "v1"  # bump when the provisioning options change
START_TIMEOUT = 60.0
SAMBA_TOOL_TIMEOUT = 300.0
UAC_ACCOUNTDISABLE = 0x2
UAC_NORMAL_ACCOUNT = 0x200


@dataclass(frozen=True)
class AdUser:
    """A user on the test Samba AD DC."""

    dn: str
    password: str
    sam: str
    upn: str


class SambaUnavailableError(RuntimeError):
    """Samba could not be provisioned or started here."""


def _run(cmd: list[str], *, timeout: float = SAMBA_TOOL_TIMEOUT) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise SambaUnavailableError(
            f"{' '.join(cmd[:3])} ... failed ({done.returncode}):\n{done.stdout[-2000:]}"
            f"{done.stderr[-3000:]}"
        )
    return done.stdout


def samba_version(samba_bin: str) -> str:
    """E.g. "4.17.12-Debian"."""
    out = _run([samba_bin, "--version"], timeout=30).strip()
    return re.sub(r"[^A-Za-z0-9.+_-]", "_", out.removeprefix("Version").strip())


def _cache_root() -> Path:
    """Where the template and the address locks live (`LDAPKEEPER_TEST_CACHE_DIR`, or /tmp)."""
    root = Path(os.environ.get("LDAPKEEPER_TEST_CACHE_DIR", "/tmp"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def _provision(target: Path, samba_tool: str, admin_password: str, host: str = "127.0.0.2") -> None:
    """Provision a never-started domain into `target` (takes a few seconds)."""
    _run(
        [
            samba_tool,
            "domain",
            "provision",
            f"--targetdir={target}",
            f"--realm={REALM}",
            f"--domain={NETBIOS_DOMAIN}",
            "--server-role=dc",
            "--dns-backend=NONE",
            "--use-rfc2307",
            f"--adminpass={admin_password}",
            f"--host-ip={host}",
            f"--option=interfaces={host}",
            "--option=bind interfaces only=yes",
            "--option=server services=ldap",
        ]
    )
    conf = target / "etc" / "smb.conf"
    _run(
        [
            samba_tool,
            "domain",
            "passwordsettings",
            "set",
            "-s",
            str(conf),
            "--min-pwd-age=0",
            "--history-length=0",
        ]
    )
    password_file = target / "ldapkeeper-admin-password"
    password_file.touch(mode=0o600)
    password_file.write_text(admin_password)


def _template(samba_tool: str, version: str) -> Path | None:
    """The cached provisioned template (made once per Samba version); None if unusable."""
    root = _cache_root()
    template = root / f"ldapkeeper-samba-template-{version}-{TEMPLATE_FORMAT}"
    lock_path = root / f"{template.name}.lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if template.exists():
            if template.stat().st_uid != os.geteuid():
                return None  # someone else's directory: do not trust it
            if (template / "ldapkeeper-admin-password").exists():
                return template
            shutil.rmtree(template)
        building = root / f"{template.name}.building-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(mode=0o700)
        try:
            _provision(building, samba_tool, ldapclient.make_password())
            conf = building / "etc" / "smb.conf"
            conf.write_text(conf.read_text().replace(str(building), str(template)))
            building.rename(template)
        finally:
            shutil.rmtree(building, ignore_errors=True)
        return template


def _rewrite_conf(conf: Path, old_dir: Path, new_dir: Path, settings: dict[str, str]) -> None:
    """Point the copied smb.conf at `new_dir` and set `settings` in [global]."""
    lines = conf.read_text().replace(str(old_dir), str(new_dir)).splitlines()
    keys = {k.lower() for k in settings}
    out: list[str] = []
    section = ""
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.lower()
            out.append(line)
            if section == "[global]":
                out += [f"\t{k} = {v}" for k, v in settings.items()]
            continue
        key = stripped.split("=", 1)[0].strip().lower()
        if section == "[global]" and "=" in stripped and key in keys:
            continue
        out.append(line)
    conf.write_text("\n".join(out) + "\n")


def _claim_address(lock_dir: Path) -> tuple[str, IO[str]]:
    """A loopback address whose ports 389/636 are free, with a lock held for the session."""
    for host in CANDIDATE_HOSTS:
        lock = open(lock_dir / f"ldapkeeper-samba-{host}.lock", "a")  # noqa: SIM115
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        if port_is_free(host, LDAP_PORT) and port_is_free(host, LDAPS_PORT):
            return host, lock
        lock.close()
    raise SambaUnavailableError("no loopback address with free ports 389/636")


class SambaServer:
    """A Samba AD DC child process (`samba -i -M single`), LDAP service only."""

    def __init__(
        self,
        directory: Path,
        *,
        samba_bin: str,
        host: str,
        admin_password: str,
        pki: Pki,
    ) -> None:
        self.directory = directory
        self.host = host
        self.ldap_port = LDAP_PORT
        self.ldaps_port = LDAPS_PORT
        self.realm = REALM
        self.dns_domain = DNS_DOMAIN
        self.netbios_domain = NETBIOS_DOMAIN
        self.base_dn = BASE_DN
        self.users_dn = f"CN=Users,{BASE_DN}"
        self.admin_dn = f"CN=Administrator,{self.users_dn}"
        self.admin_upn = f"Administrator@{DNS_DOMAIN}"
        self.admin_password = admin_password
        self.ca_path: Path = pki.ca_path
        self.ca_pem: str = pki.ca_pem
        self.cert = pki.issue(f"samba-{host}", ips=[host])
        self.conf_path = directory / "etc" / "smb.conf"
        self.log_path = directory / "samba.log"
        self.startup_seconds: float | None = None
        self._samba_bin = samba_bin
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def ldap_url(self) -> str:
        return f"ldap://{self.host}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.host}"

    def configure(self, template_dir: Path) -> None:
        """Rewrite smb.conf (copied from `template_dir`) for this directory and address."""
        run = self.directory / "run"
        run.mkdir(exist_ok=True)
        _rewrite_conf(
            self.conf_path,
            template_dir,
            self.directory,
            {
                # With a netmask Samba takes the address as given; a bare 127.0.0.2 is
                # "not an interface" (lo only carries 127.0.0.1/8) and nothing listens.
                "interfaces": f"{self.host}/8",
                "bind interfaces only": "yes",
                "server services": "ldap",
                "tls enabled": "yes",
                "tls certfile": str(self.cert.cert_path),
                "tls keyfile": str(self.cert.key_path),
                "tls cafile": str(self.ca_path),
                "pid directory": str(run),
                "ncalrpc dir": str(run / "ncalrpc"),
                "winbindd socket directory": str(run / "winbindd"),
                "ldap server require strong auth": "no",
                "log file": str(self.directory / "log.%m"),
                "panic action": "",
            },
        )

    # -- process control -----------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start (or restart) Samba; wait until the Administrator can bind over ldaps."""
        if self.is_running:
            return
        began = time.monotonic()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            [self._samba_bin, "-i", "-M", "single", "-s", str(self.conf_path)],
            stdin=subprocess.PIPE,  # samba -i exits when its stdin closes
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        try:
            wait_until_listening(
                self._proc,
                [(self.host, LDAP_PORT), (self.host, LDAPS_PORT)],
                timeout=START_TIMEOUT,
                what="samba",
                log_path=self.log_path,
            )
            self._wait_for_bind(began + START_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def _wait_for_bind(self, deadline: float) -> None:
        while True:
            outcome = self.try_bind(self.admin_dn, self.admin_password)
            if outcome.ok:
                return
            if time.monotonic() > deadline:
                raise SambaUnavailableError(f"Administrator cannot bind: {outcome}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop Samba (its ports then refuse connections); start() brings it back."""
        if self._proc is not None:
            if self._proc.stdin is not None:
                with contextlib.suppress(OSError):
                    self._proc.stdin.close()
            stop_process(self._proc)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- directory helpers ---------------------------------------------------------------

    def admin_connection(self) -> AbstractContextManager[Any]:
        """A python-ldap connection bound as Administrator over ldaps (referrals off)."""
        return ldapclient.bound(
            self.ldaps_url, self.admin_dn, self.admin_password, ca_path=self.ca_path
        )

    def user_dn(self, sam: str) -> str:
        return f"CN={ldap.dn.escape_dn_chars(sam)},{self.users_dn}"

    def upn(self, sam: str) -> str:
        return f"{sam}@{self.dns_domain}"

    def add_user(self, sam: str, password: str) -> str:
        """Create an enabled user (CN = sAMAccountName) under CN=Users; return its DN."""
        dn = self.user_dn(sam)
        entry = [
            ("objectClass", [b"top", b"person", b"organizationalPerson", b"user"]),
            ("cn", [sam.encode()]),
            ("sAMAccountName", [sam.encode()]),
            ("userPrincipalName", [self.upn(sam).encode()]),
            ("unicodePwd", [ldapclient.ad_password_value(password)]),
            ("userAccountControl", [str(UAC_NORMAL_ACCOUNT).encode()]),
        ]
        with self.admin_connection() as conn:
            conn.add_s(dn, entry)
        return dn

    def delete_user(self, sam: str) -> None:
        with self.admin_connection() as conn:
            conn.delete_s(self.user_dn(sam))

    def _uac(self, conn: Any, dn: str) -> int:
        result = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["userAccountControl"])
        value: bytes = result[0][1]["userAccountControl"][0]
        return int(value)

    def disable_user(self, sam: str) -> None:
        """Set ACCOUNTDISABLE: binds then fail with 49 / "data 533"."""
        dn = self.user_dn(sam)
        with self.admin_connection() as conn:
            uac = self._uac(conn, dn) | UAC_ACCOUNTDISABLE
            conn.modify_s(dn, [(ldap.MOD_REPLACE, "userAccountControl", [str(uac).encode()])])

    def enable_user(self, sam: str) -> None:
        dn = self.user_dn(sam)
        with self.admin_connection() as conn:
            uac = self._uac(conn, dn) & ~UAC_ACCOUNTDISABLE
            conn.modify_s(dn, [(ldap.MOD_REPLACE, "userAccountControl", [str(uac).encode()])])

    def set_must_change_password(self, sam: str) -> None:
        """pwdLastSet=0: binds then fail with 49 / "data 773"."""
        with self.admin_connection() as conn:
            conn.modify_s(self.user_dn(sam), [(ldap.MOD_REPLACE, "pwdLastSet", [b"0"])])

    def set_password(self, sam: str, password: str) -> None:
        """Administrative reset: one `replace unicodePwd`."""
        with self.admin_connection() as conn:
            conn.modify_s(
                self.user_dn(sam),
                [(ldap.MOD_REPLACE, "unicodePwd", [ldapclient.ad_password_value(password)])],
            )

    def read_attrs(self, dn: str, *attrs: str) -> dict[str, list[bytes]]:
        """Read attributes of one entry as Administrator."""
        with self.admin_connection() as conn:
            result = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", list(attrs) or None)
        entry: dict[str, list[bytes]] = dict(result[0][1])
        return entry

    def try_bind(self, who: str, password: str, *, url: str | None = None) -> BindOutcome:
        """Bind as a DN or UPN (ldaps with the CA by default); `info` holds "data 533" etc."""
        return ldapclient.try_bind(url or self.ldaps_url, who, password, ca_path=self.ca_path)

    def can_bind(self, who: str, password: str, *, url: str | None = None) -> bool:
        """Real simple bind as a DN or UPN: True, or False on error 49 (other errors raise)."""
        return ldapclient.can_bind(url or self.ldaps_url, who, password, ca_path=self.ca_path)

    def __repr__(self) -> str:
        return f"SambaServer({self.ldaps_url}, {self.directory})"


def _find(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/local/sbin")


def start_samba(directory: Path, pki: Pki) -> tuple[SambaServer, IO[str]]:
    """Copy (or make) the provisioned template into `directory` and start Samba there.

    Returns the server and the address lock, to be closed after the server stops.
    """
    samba_bin, samba_tool = _find("samba"), _find("samba-tool")
    if samba_bin is None or samba_tool is None:
        raise SambaUnavailableError(
            "samba / samba-tool not installed (apt-get install samba-ad-dc)"
        )
    template = _template(samba_tool, samba_version(samba_bin))
    target = directory / "dc"
    if template is None:
        target.mkdir(mode=0o700)
        _provision(target, samba_tool, ldapclient.make_password())
        template = target
    else:
        shutil.copytree(template, target, symlinks=True)
    admin_password = (target / "ldapkeeper-admin-password").read_text()
    host, lock = _claim_address(_cache_root())
    try:
        server = SambaServer(
            target, samba_bin=samba_bin, host=host, admin_password=admin_password, pki=pki
        )
        server.configure(template)
        server.start()
    except BaseException:
        lock.close()
        raise
    return server, lock


@pytest.fixture(scope="session")
def samba_ad(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SambaServer]:
    """A Samba 4 AD DC (realm EXAMPLE.TEST) on its own loopback address, ldap:// + ldaps://."""
    if os.geteuid() != 0:
        pytest.skip("Samba AD DC needs real root (provisioning fails without it)")
    try:
        server, lock = start_samba(tmp_path_factory.mktemp("samba"), pki)
    except (SambaUnavailableError, RuntimeError, OSError, subprocess.SubprocessError) as exc:
        skip_or_fail(f"Samba AD DC did not start: {exc}")
    try:
        yield server
    finally:
        server.stop()
        lock.close()


@pytest.fixture
def samba_user(samba_ad: SambaServer) -> AdUser:
    """A fresh enabled AD user with a random password on `samba_ad`."""
    sam = f"u{os.urandom(5).hex()}"
    password = ldapclient.make_password()
    dn = samba_ad.add_user(sam, password)
    return AdUser(dn=dn, password=password, sam=sam, upn=samba_ad.upn(sam))
