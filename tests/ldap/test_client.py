"""LdapDirectory against a real OpenLDAP slapd (RFC 3062 dialect, TLS, timeouts, failover)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from ldapkeeper.directory import BindCredentials, DirectoryError
from ldapkeeper.ldap import LdapDirectory
from tests.ldap.builders import creds_for, make_directory
from tests.support.blackhole import Blackhole, closed_port
from tests.support.certs import Pki
from tests.support.ldap_extra import StartTlsStaller
from tests.support.ldapclient import make_password
from tests.support.slapd import LdapUser, SlapdFactory, SlapdServer

pytestmark = pytest.mark.slapd

CANARY = "Canary-Pa55w0rd!"


def admin_creds(slapd: SlapdServer, **kwargs: Any) -> BindCredentials:
    return creds_for(slapd, slapd.admin_dn, slapd.admin_password, **kwargs)


def failure(action: Callable[..., object], **kwargs: Any) -> DirectoryError:
    with pytest.raises(DirectoryError) as caught:
        action(**kwargs)
    return caught.value


# -- binding ------------------------------------------------------------------------------


def test_check_binds_over_plain_ldap(slapd: SlapdServer, directory: LdapDirectory) -> None:
    latency = directory.check(creds=admin_creds(slapd, url=slapd.ldap_url, ca=None))
    assert 0 < latency < 5000


def test_check_binds_over_ldaps_with_the_ca(slapd: SlapdServer, directory: LdapDirectory) -> None:
    assert directory.check(creds=admin_creds(slapd)) > 0


def test_check_binds_with_starttls(slapd: SlapdServer, directory: LdapDirectory) -> None:
    assert directory.check(creds=admin_creds(slapd, url=slapd.ldap_url, start_tls=True)) > 0


def test_ldaps_without_the_ca_is_a_tls_error(slapd: SlapdServer, directory: LdapDirectory) -> None:
    err = failure(directory.check, creds=admin_creds(slapd, ca=None))
    assert err.code == "tls_error"
    assert "certificate" in err.message


def test_starttls_without_the_ca_is_a_tls_error(
    slapd: SlapdServer, directory: LdapDirectory
) -> None:
    err = failure(
        directory.check, creds=admin_creds(slapd, url=slapd.ldap_url, ca=None, start_tls=True)
    )
    assert err.code == "tls_error"


def test_ldaps_with_an_unrelated_ca_is_a_tls_error(
    slapd: SlapdServer, pki: Pki, directory: LdapDirectory
) -> None:
    err = failure(directory.check, creds=admin_creds(slapd, ca=pki.other_ca.cert_pem))
    assert err.code == "tls_error"


def test_wrong_host_name_is_a_tls_error(slapd: SlapdServer, directory: LdapDirectory) -> None:
    err = failure(directory.check, creds=admin_creds(slapd, url=slapd.url_wrong_host))
    assert err.code == "tls_error"
    assert "127.0.0.3" in err.message


def test_wrong_host_name_with_starttls_is_a_tls_error(
    slapd: SlapdServer, directory: LdapDirectory
) -> None:
    creds = admin_creds(slapd, url=slapd.ldap_url_wrong_host, start_tls=True)
    assert failure(directory.check, creds=creds).code == "tls_error"


def test_expired_certificate_is_a_tls_error(
    slapd_expired_cert: SlapdServer, directory: LdapDirectory
) -> None:
    creds = creds_for(
        slapd_expired_cert, slapd_expired_cert.admin_dn, slapd_expired_cert.admin_password
    )
    err = failure(directory.check, creds=creds)
    assert err.code == "tls_error"
    assert "expired" in err.message


def test_reject_unauthorized_false_binds_without_the_ca(
    slapd: SlapdServer, directory: LdapDirectory
) -> None:
    assert directory.check(creds=admin_creds(slapd, ca=None, verify=False)) > 0


def test_reject_unauthorized_false_binds_on_the_wrong_host_name(
    slapd: SlapdServer, directory: LdapDirectory
) -> None:
    creds = admin_creds(slapd, url=slapd.url_wrong_host, ca=None, verify=False)
    assert directory.check(creds=creds) > 0


def test_wrong_password_is_invalid_credentials(
    slapd: SlapdServer, directory: LdapDirectory
) -> None:
    err = failure(directory.check, creds=creds_for(slapd, slapd.admin_dn, CANARY))
    assert (err.code, err.message) == ("invalid_credentials", "Invalid credentials")


def test_wrong_password_never_appears_in_the_error(
    slapd: SlapdServer, directory: LdapDirectory
) -> None:
    err = failure(directory.check, creds=creds_for(slapd, f"uid={CANARY},dc=x", CANARY))
    assert CANARY not in str(err)
    assert CANARY not in repr(err)
    assert err.__context__ is None
    assert err.__cause__ is None


def test_empty_password_is_refused_before_any_anonymous_bind(
    slapd: SlapdServer, directory: LdapDirectory
) -> None:
    err = failure(directory.check, creds=creds_for(slapd, slapd.admin_dn, ""))
    assert err.code == "invalid_input"


def test_closed_port_is_connection_refused(directory: LdapDirectory) -> None:
    creds = BindCredentials(
        provider="open-ldap",
        url=f"ldap://127.0.0.1:{closed_port()}",
        dn="cn=x",
        password=SecretStr("x"),
    )
    assert failure(directory.check, creds=creds).code == "connection_refused"


def test_closed_ldaps_port_is_connection_refused(directory: LdapDirectory) -> None:
    creds = BindCredentials(
        provider="open-ldap",
        url=f"ldaps://127.0.0.1:{closed_port()}",
        dn="cn=x",
        password=SecretStr("x"),
    )
    assert failure(directory.check, creds=creds).code == "connection_refused"


def test_loopback_is_blocked_by_default(slapd: SlapdServer, tmp_path: Path) -> None:
    strict = LdapDirectory(ca_dir=tmp_path / "ca")
    err = failure(strict.check, creds=admin_creds(slapd))
    assert err.code == "blocked_address"


def test_plain_ldap_to_the_ldaps_port_fails_cleanly(
    slapd: SlapdServer, directory: LdapDirectory
) -> None:
    url = f"ldap://127.0.0.1:{slapd.ldaps_port}"
    assert failure(directory.check, creds=admin_creds(slapd, url=url)).code in (
        "connection_refused",
        "timeout",
    )


def test_ldaps_to_the_plain_port_is_a_tls_error(
    slapd: SlapdServer, directory: LdapDirectory
) -> None:
    url = f"ldaps://127.0.0.1:{slapd.ldap_port}"
    assert failure(directory.check, creds=admin_creds(slapd, url=url)).code == "tls_error"


# -- deadlines ----------------------------------------------------------------------------


def test_ldaps_to_a_silent_server_times_out_within_the_bound(
    blackhole: Blackhole, tmp_path: Path
) -> None:
    directory = make_directory(tmp_path, timeout=1.5)
    creds = BindCredentials("open-ldap", blackhole.ldaps_url, "cn=x", SecretStr("x"))
    started = time.monotonic()
    err = failure(directory.check, creds=creds)
    elapsed = time.monotonic() - started
    assert err.code == "timeout"
    assert elapsed < 1.5 + 1


def test_starttls_to_a_silent_server_times_out_within_the_bound(
    blackhole: Blackhole, tmp_path: Path
) -> None:
    directory = make_directory(tmp_path, timeout=1.5)
    creds = BindCredentials("open-ldap", blackhole.ldap_url, "cn=x", SecretStr("x"), start_tls=True)
    started = time.monotonic()
    assert failure(directory.check, creds=creds).code == "timeout"
    assert time.monotonic() - started < 1.5 + 1


def test_bind_to_a_silent_server_times_out_within_the_bound(
    blackhole: Blackhole, tmp_path: Path
) -> None:
    directory = make_directory(tmp_path, timeout=1.5)
    creds = BindCredentials("open-ldap", blackhole.ldap_url, "cn=x", SecretStr("x"))
    started = time.monotonic()
    assert failure(directory.check, creds=creds).code == "timeout"
    assert time.monotonic() - started < 1.5 + 1


def test_stalled_starttls_handshake_times_out_within_the_bound(
    starttls_staller: StartTlsStaller, tmp_path: Path
) -> None:
    # libldap waits forever here on its own; the adapter's watchdog ends it.
    directory = make_directory(tmp_path, timeout=1.5)
    creds = BindCredentials(
        "open-ldap", starttls_staller.ldap_url, "cn=x", SecretStr("x"), start_tls=True
    )
    started = time.monotonic()
    assert failure(directory.check, creds=creds).code == "timeout"
    assert time.monotonic() - started < 1.5 + 1


# -- failover -----------------------------------------------------------------------------


def test_failover_skips_a_closed_port_to_the_live_url(
    slapd: SlapdServer, directory: LdapDirectory
) -> None:
    dead = f"ldaps://127.0.0.1:{closed_port()}"
    creds = admin_creds(slapd, url=dead, failover=(slapd.ldaps_url,))
    assert directory.check(creds=creds) > 0


def test_failover_skips_a_silent_server(
    slapd: SlapdServer, blackhole: Blackhole, tmp_path: Path
) -> None:
    directory = make_directory(tmp_path, timeout=1.0)
    creds = admin_creds(slapd, url=blackhole.ldaps_url, failover=(slapd.ldaps_url,))
    assert directory.check(creds=creds) > 0


def test_wrong_password_is_not_retried_on_the_failover_url(
    slapd: SlapdServer, blackhole: Blackhole, directory: LdapDirectory
) -> None:
    creds = creds_for(slapd, slapd.admin_dn, "wrong", failover=(blackhole.ldaps_url,))
    assert failure(directory.check, creds=creds).code == "invalid_credentials"
    assert blackhole.accepted == 0


def test_tls_error_is_not_papered_over_by_the_failover_url(
    slapd: SlapdServer, directory: LdapDirectory
) -> None:
    creds = admin_creds(slapd, url=slapd.url_wrong_host, failover=(slapd.ldaps_url,))
    assert failure(directory.check, creds=creds).code == "tls_error"


def test_all_urls_down_reports_the_last_failure(directory: LdapDirectory) -> None:
    urls = [f"ldaps://127.0.0.1:{closed_port()}" for _ in range(3)]
    creds = BindCredentials(
        "open-ldap", urls[0], "cn=x", SecretStr("x"), failover_urls=tuple(urls[1:])
    )
    err = failure(directory.check, creds=creds)
    assert err.code == "connection_refused"
    assert urls[-1].removeprefix("ldaps://") in err.message


def test_failover_after_the_primary_server_stops(
    slapd_factory: SlapdFactory, directory: LdapDirectory
) -> None:
    other = slapd_factory()
    creds = creds_for(
        other, other.admin_dn, other.admin_password, failover=(other.ldap_url,), start_tls=True
    )
    other.stop()
    try:
        assert failure(directory.check, creds=creds).code == "connection_refused"
    finally:
        other.start()
    assert directory.check(creds=creds) > 0


# -- passwords (RFC 3062) -----------------------------------------------------------------


def test_admin_reset_sets_the_new_password(
    slapd: SlapdServer, ldap_user: LdapUser, directory: LdapDirectory
) -> None:
    new = make_password()
    directory.reset_password(
        creds=admin_creds(slapd), target_dn=ldap_user.dn, new_password=SecretStr(new)
    )
    assert slapd.can_bind(ldap_user.dn, new)
    assert not slapd.can_bind(ldap_user.dn, ldap_user.password)


def test_admin_reset_hashes_the_password(
    slapd: SlapdServer, ldap_user: LdapUser, directory: LdapDirectory
) -> None:
    new = make_password()
    directory.reset_password(
        creds=admin_creds(slapd), target_dn=ldap_user.dn, new_password=SecretStr(new)
    )
    stored = slapd.read_attrs(ldap_user.dn, "userPassword")["userPassword"][0]
    assert stored.startswith(b"{SSHA}")
    assert new.encode() not in stored


def test_admin_reset_works_over_starttls(
    slapd: SlapdServer, ldap_user: LdapUser, directory: LdapDirectory
) -> None:
    new = make_password()
    creds = admin_creds(slapd, url=slapd.ldap_url, start_tls=True)
    directory.reset_password(creds=creds, target_dn=ldap_user.dn, new_password=SecretStr(new))
    assert slapd.can_bind(ldap_user.dn, new)


def test_self_change_sets_the_new_password(
    slapd: SlapdServer, ldap_user: LdapUser, directory: LdapDirectory
) -> None:
    new = make_password()
    directory.change_own_password(
        creds=admin_creds(slapd),
        dn=ldap_user.dn,
        old_password=SecretStr(ldap_user.password),
        new_password=SecretStr(new),
    )
    assert slapd.can_bind(ldap_user.dn, new)
    assert not slapd.can_bind(ldap_user.dn, ldap_user.password)


def test_self_change_with_a_wrong_old_password_is_invalid_credentials(
    slapd: SlapdServer, ldap_user: LdapUser, directory: LdapDirectory
) -> None:
    err = failure(
        directory.change_own_password,
        creds=admin_creds(slapd),
        dn=ldap_user.dn,
        old_password=SecretStr(CANARY),
        new_password=SecretStr(make_password()),
    )
    assert err.code == "invalid_credentials"
    assert slapd.can_bind(ldap_user.dn, ldap_user.password)


def test_rotation_over_plain_ldap_is_refused_before_connecting(
    slapd: SlapdServer, ldap_user: LdapUser, blackhole: Blackhole, directory: LdapDirectory
) -> None:
    creds = admin_creds(slapd, url=blackhole.ldap_url)
    err = failure(
        directory.reset_password,
        creds=creds,
        target_dn=ldap_user.dn,
        new_password=SecretStr(make_password()),
    )
    assert err.code == "insecure_transport"
    assert err.message == "Password rotation requires an LDAPS or StartTLS connection"
    assert blackhole.accepted == 0


def test_self_change_over_plain_ldap_is_refused(
    slapd: SlapdServer, ldap_user: LdapUser, directory: LdapDirectory
) -> None:
    err = failure(
        directory.change_own_password,
        creds=admin_creds(slapd, url=slapd.ldap_url),
        dn=ldap_user.dn,
        old_password=SecretStr(ldap_user.password),
        new_password=SecretStr(make_password()),
    )
    assert err.code == "insecure_transport"
    assert slapd.can_bind(ldap_user.dn, ldap_user.password)


def test_user_resetting_someone_else_is_insufficient_access(
    slapd: SlapdServer, ldap_user: LdapUser, directory: LdapDirectory
) -> None:
    creds = creds_for(slapd, ldap_user.dn, ldap_user.password)
    err = failure(
        directory.reset_password,
        creds=creds,
        target_dn=slapd.admin_dn,
        new_password=SecretStr(make_password()),
    )
    assert err.code == "insufficient_access"
    assert slapd.can_bind(slapd.admin_dn, slapd.admin_password)


def test_reset_of_a_missing_entry_is_no_such_object(
    slapd: SlapdServer, directory: LdapDirectory
) -> None:
    err = failure(
        directory.reset_password,
        creds=admin_creds(slapd),
        target_dn=f"uid=nobody-here,{slapd.people_dn}",
        new_password=SecretStr(make_password()),
    )
    assert err.code == "no_such_object"


def test_new_password_never_appears_in_a_failed_reset(
    slapd: SlapdServer, directory: LdapDirectory
) -> None:
    err = failure(
        directory.reset_password,
        creds=admin_creds(slapd),
        target_dn=f"uid={CANARY},{slapd.people_dn}",
        new_password=SecretStr(CANARY),
    )
    assert CANARY not in str(err)


def test_ppolicy_refusal_is_password_rejected_and_the_old_password_still_binds(
    slapd_ppolicy: SlapdServer, ppolicy_user: LdapUser, directory: LdapDirectory
) -> None:
    short = "Ab1!"
    err = failure(
        directory.reset_password,
        creds=admin_creds(slapd_ppolicy),
        target_dn=ppolicy_user.dn,
        new_password=SecretStr(short),
    )
    assert err.code == "password_rejected"
    assert short not in err.message
    assert slapd_ppolicy.can_bind(ppolicy_user.dn, ppolicy_user.password)


def test_ppolicy_refuses_a_password_from_history(
    slapd_ppolicy: SlapdServer, ppolicy_user: LdapUser, directory: LdapDirectory
) -> None:
    creds = admin_creds(slapd_ppolicy)
    first, second = make_password(), make_password()
    for password in (first, second):
        directory.reset_password(
            creds=creds, target_dn=ppolicy_user.dn, new_password=SecretStr(password)
        )
    err = failure(
        directory.reset_password,
        creds=creds,
        target_dn=ppolicy_user.dn,
        new_password=SecretStr(first),
    )
    assert err.code == "password_rejected"
    assert slapd_ppolicy.can_bind(ppolicy_user.dn, second)


def test_ppolicy_repeated_change_to_the_current_value_is_unchanged(
    slapd_ppolicy: SlapdServer, ppolicy_user: LdapUser, directory: LdapDirectory
) -> None:
    creds = admin_creds(slapd_ppolicy)
    new = SecretStr(make_password())
    directory.reset_password(creds=creds, target_dn=ppolicy_user.dn, new_password=new)
    err = failure(
        directory.reset_password, creds=creds, target_dn=ppolicy_user.dn, new_password=new
    )
    assert err.code == "unchanged"


def test_active_directory_dialect_on_openldap_fails_without_fallback(
    slapd: SlapdServer, ldap_user: LdapUser, directory: LdapDirectory
) -> None:
    creds = admin_creds(slapd, provider="active-directory")
    err = failure(
        directory.reset_password,
        creds=creds,
        target_dn=ldap_user.dn,
        new_password=SecretStr(make_password()),
    )
    assert err.code == "operation_failed"
    assert "unicodePwd" in err.message
    assert slapd.can_bind(ldap_user.dn, ldap_user.password)


# -- verify_bind and names ----------------------------------------------------------------


def test_verify_bind_is_true_for_the_current_password(
    slapd: SlapdServer, ldap_user: LdapUser, directory: LdapDirectory
) -> None:
    assert directory.verify_bind(
        creds=admin_creds(slapd), dn=ldap_user.dn, password=SecretStr(ldap_user.password)
    )


def test_verify_bind_is_false_for_another_password(
    slapd: SlapdServer, ldap_user: LdapUser, directory: LdapDirectory
) -> None:
    assert not directory.verify_bind(
        creds=admin_creds(slapd), dn=ldap_user.dn, password=SecretStr("not-the-password")
    )


def test_verify_bind_raises_when_the_server_is_unreachable(directory: LdapDirectory) -> None:
    creds = BindCredentials(
        "open-ldap", f"ldaps://127.0.0.1:{closed_port()}", "cn=x", SecretStr("x")
    )
    err = failure(directory.verify_bind, creds=creds, dn="cn=x", password=SecretStr("y"))
    assert err.code == "connection_refused"


def test_resolve_dn_normalizes_a_dn_without_a_server(directory: LdapDirectory) -> None:
    creds = BindCredentials("open-ldap", "ldaps://192.0.2.1", "cn=x", SecretStr("x"))
    assert directory.resolve_dn(creds=creds, name="UID=Alice, OU=People,DC=Example,DC=Test") == (
        "uid=Alice,ou=People,dc=Example,dc=Test"
    )


def test_resolve_upn_on_openldap_is_unsupported(
    slapd: SlapdServer, directory: LdapDirectory
) -> None:
    err = failure(directory.resolve_dn, creds=admin_creds(slapd), name="alice@example.test")
    assert err.code == "unsupported"


def test_resolve_of_neither_dn_nor_upn_is_invalid_input(
    slapd: SlapdServer, directory: LdapDirectory
) -> None:
    err = failure(directory.resolve_dn, creds=admin_creds(slapd), name="just a name")
    assert err.code == "invalid_input"


# -- resources and concurrency ------------------------------------------------------------


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_no_descriptor_leaks_across_successes_and_failures(
    slapd: SlapdServer, directory: LdapDirectory
) -> None:
    good = [
        admin_creds(slapd),
        admin_creds(slapd, url=slapd.ldap_url, start_tls=True),
        admin_creds(slapd, url=slapd.ldap_url, ca=None),
    ]
    bad = [
        creds_for(slapd, slapd.admin_dn, "wrong"),
        admin_creds(slapd, ca=None),
        admin_creds(slapd, url=slapd.ldap_url, ca=None, start_tls=True),
    ]
    directory.check(creds=good[0])  # warm up lazily created threads and files
    before = _open_descriptors()
    for _ in range(20):
        for creds in good:
            directory.check(creds=creds)
        for creds in bad:
            with pytest.raises(DirectoryError):
                directory.check(creds=creds)
    assert _open_descriptors() <= before


def test_connections_with_different_cas_coexist_in_threads(
    slapd: SlapdServer, pki: Pki, directory: LdapDirectory
) -> None:
    trusted = admin_creds(slapd)
    untrusted = admin_creds(slapd, ca=pki.other_ca.cert_pem)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(creds: BindCredentials, expected: str) -> None:
        for _ in range(15):
            try:
                directory.check(creds=creds)
                got = "ok"
            except DirectoryError as err:
                got = err.code
            with lock:
                outcomes.append("match" if got == expected else f"{expected}->{got}")

    threads = [
        threading.Thread(target=run, args=(trusted, "ok")),
        threading.Thread(target=run, args=(untrusted, "tls_error")),
        threading.Thread(target=run, args=(trusted, "ok")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(outcomes) == {"match"}


def test_ca_bundle_is_written_once_with_private_modes(slapd: SlapdServer, tmp_path: Path) -> None:
    directory = make_directory(tmp_path)
    directory.check(creds=admin_creds(slapd))
    directory.check(creds=admin_creds(slapd))
    ca_dir = tmp_path / "ca"
    files = list(ca_dir.iterdir())
    assert len(files) == 1
    assert files[0].name.endswith(".pem")
    assert ca_dir.stat().st_mode & 0o777 == 0o700
    assert files[0].stat().st_mode & 0o777 == 0o600
