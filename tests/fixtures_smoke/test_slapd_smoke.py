"""Smoke tests: the slapd fixtures start real servers that behave as the notes say."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import ldap  # type: ignore[import-untyped, unused-ignore]
import pytest
from tests.support import ldapclient
from tests.support.blackhole import Blackhole, closed_port
from tests.support.procs import skip_or_fail
from tests.support.slapd import LdapUser, SlapdServer

pytestmark = pytest.mark.slapd


def test_bind_over_plain_ldap(slapd: SlapdServer, ldap_user: LdapUser) -> None:
    assert slapd.can_bind(ldap_user.dn, ldap_user.password, url=slapd.ldap_url)


def test_bind_over_ldaps_with_ca(slapd: SlapdServer, ldap_user: LdapUser) -> None:
    assert slapd.can_bind(ldap_user.dn, ldap_user.password)


def test_bind_over_starttls(slapd: SlapdServer, ldap_user: LdapUser) -> None:
    outcome = slapd.try_bind(ldap_user.dn, ldap_user.password, url=slapd.ldap_url, starttls=True)
    assert outcome.ok, outcome


def test_wrong_password_is_49(slapd: SlapdServer, ldap_user: LdapUser) -> None:
    assert not slapd.can_bind(ldap_user.dn, ldap_user.password + "x")


def _libldap_tls_log(url: str, who: str, password: str, ca_path: Path | None) -> str:
    """The TLS lines libldap logs (`ldapwhoami -d 1`) for one bind: the failure's reason."""
    ldapwhoami = shutil.which("ldapwhoami")
    if ldapwhoami is None:
        skip_or_fail("ldapwhoami (ldap-utils) is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LDAP")}
    env["LDAPNOINIT"] = "1"  # ignore ldap.conf / .ldaprc: only the CA given here
    cmd = [ldapwhoami, "-d", "1", "-x", "-H", url, "-D", who, "-w", password]
    if ca_path is not None:
        cmd += ["-o", f"TLS_CACERT={ca_path}"]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=10, check=False)
    return "\n".join(line for line in run.stderr.splitlines() if line.startswith("TLS"))


def test_ldaps_without_ca_fails(slapd: SlapdServer) -> None:
    outcome = ldapclient.try_bind(
        slapd.ldaps_url, slapd.admin_dn, slapd.admin_password, ca_path=None
    )
    assert (outcome.ok, outcome.result) == (False, -1)  # SERVER_DOWN: handshake refused
    log = _libldap_tls_log(slapd.ldaps_url, slapd.admin_dn, slapd.admin_password, None)
    assert "peer cert untrusted" in log


def test_ldaps_wrong_host_fails_name_check(slapd: SlapdServer) -> None:
    outcome = slapd.try_bind(slapd.admin_dn, slapd.admin_password, url=slapd.url_wrong_host)
    assert (outcome.ok, outcome.result) == (False, -1)
    log = _libldap_tls_log(
        slapd.url_wrong_host, slapd.admin_dn, slapd.admin_password, slapd.ca_path
    )
    assert "hostname (127.0.0.3) does not match" in log


def test_starttls_wrong_host_fails_name_check(slapd: SlapdServer) -> None:
    with pytest.raises(ldap.CONNECT_ERROR):
        ldapclient.open_connection(slapd.ldap_url_wrong_host, ca_path=slapd.ca_path, starttls=True)


def test_ldaps_expired_certificate_fails(slapd_expired_cert: SlapdServer) -> None:
    outcome = slapd_expired_cert.try_bind(
        slapd_expired_cert.admin_dn, slapd_expired_cert.admin_password
    )
    assert not outcome.ok
    assert outcome.result == -1


def test_admin_resets_other_password(slapd: SlapdServer, ldap_user: LdapUser) -> None:
    new_password = ldapclient.make_password()
    with ldapclient.bound(
        slapd.ldaps_url, slapd.admin_dn, slapd.admin_password, ca_path=slapd.ca_path
    ) as conn:
        conn.passwd_s(ldap_user.dn, None, new_password)
    assert slapd.can_bind(ldap_user.dn, new_password)
    assert not slapd.can_bind(ldap_user.dn, ldap_user.password)
    stored = slapd.read_attrs(ldap_user.dn, "userPassword")["userPassword"]
    assert stored[0].startswith(b"{SSHA}")


def test_user_cannot_reset_another_users_password(slapd: SlapdServer) -> None:
    pw_a, pw_b = ldapclient.make_password(), ldapclient.make_password()
    dn_a = slapd.add_user(f"a-{time.time_ns()}", pw_a)
    dn_b = slapd.add_user(f"b-{time.time_ns()}", pw_b)
    with (
        ldapclient.bound(slapd.ldaps_url, dn_a, pw_a, ca_path=slapd.ca_path) as conn,
        pytest.raises(ldap.INSUFFICIENT_ACCESS),  # result 50
    ):
        conn.passwd_s(dn_b, None, ldapclient.make_password())
    assert slapd.can_bind(dn_b, pw_b)


def test_ppolicy_refuses_short_password(slapd_ppolicy: SlapdServer) -> None:
    dn = slapd_ppolicy.add_user(f"pp-{time.time_ns()}", ldapclient.make_password())
    with (
        ldapclient.bound(
            slapd_ppolicy.ldaps_url,
            slapd_ppolicy.admin_dn,
            slapd_ppolicy.admin_password,
            ca_path=slapd_ppolicy.ca_path,
        ) as conn,
        pytest.raises(ldap.CONSTRAINT_VIOLATION) as excinfo,  # result 19
    ):
        conn.passwd_s(dn, None, "short")
    assert "quality" in excinfo.value.args[0].get("info", "")


def test_stop_and_start_keep_data_and_ports(slapd_private: SlapdServer) -> None:
    password = ldapclient.make_password()
    dn = slapd_private.add_user("outage", password)
    ports = (slapd_private.ldap_port, slapd_private.ldaps_port)
    slapd_private.stop()
    with pytest.raises(ldap.SERVER_DOWN):
        slapd_private.can_bind(dn, password)
    slapd_private.start()
    assert (slapd_private.ldap_port, slapd_private.ldaps_port) == ports
    assert slapd_private.can_bind(dn, password)


def test_blackhole_accepts_and_never_answers(blackhole: Blackhole) -> None:
    with socket.create_connection((blackhole.host, blackhole.port), timeout=1) as sock:
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(1)


def test_closed_port_refuses() -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", closed_port()), timeout=1).close()
