"""Classification of python-ldap and socket failures into DirectoryError codes."""

from __future__ import annotations

import errno
from typing import Any

import ldap
import pytest

from ldapkeeper.directory import DirectoryError
from ldapkeeper.ldap.errors import (
    Phase,
    ad_bind_subcode,
    classify,
    classify_socket_error,
    is_wrong_password,
)

AD_INFO = "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data {}, v4563"


def ldap_error(kind: type[ldap.LDAPError], result: int, **details: Any) -> ldap.LDAPError:
    return kind({"result": result, "desc": details.pop("desc", kind.__name__), **details})


def classified(exc: ldap.LDAPError, phase: Phase = "operation", **kwargs: Any) -> DirectoryError:
    return classify(exc, phase=phase, endpoint="dc1.example.com:636", timeout=15, **kwargs)


def test_invalid_credentials_without_subcode() -> None:
    err = classified(ldap_error(ldap.INVALID_CREDENTIALS, 49), phase="bind")
    assert (err.code, err.message) == ("invalid_credentials", "Invalid credentials")


@pytest.mark.parametrize(
    ("subcode", "words"),
    [
        ("525", "user not found"),
        ("530", "not permitted to log on at this time"),
        ("531", "not permitted to log on at this workstation"),
        ("532", "password expired"),
        ("533", "account disabled"),
        ("701", "account expired"),
        ("773", "user must reset password"),
        ("775", "account locked"),
    ],
)
def test_ad_bind_subcodes_are_named_in_words(subcode: str, words: str) -> None:
    exc = ldap_error(ldap.INVALID_CREDENTIALS, 49, info=AD_INFO.format(subcode))
    err = classified(exc, phase="bind")
    assert err.code == "invalid_credentials"
    assert err.message == f"Invalid credentials ({words})"


def test_ad_52e_is_plain_invalid_credentials() -> None:
    exc = ldap_error(ldap.INVALID_CREDENTIALS, 49, info=AD_INFO.format("52e"))
    assert classified(exc, phase="bind").message == "Invalid credentials"


def test_ad_subcode_is_read_case_insensitively() -> None:
    assert ad_bind_subcode("... DATA 52E, v893") == "52e"


def test_wrong_password_is_52e_or_no_subcode() -> None:
    assert is_wrong_password(ldap_error(ldap.INVALID_CREDENTIALS, 49))
    assert is_wrong_password(ldap_error(ldap.INVALID_CREDENTIALS, 49, info=AD_INFO.format("52e")))


def test_locked_account_is_not_a_wrong_password() -> None:
    exc = ldap_error(ldap.INVALID_CREDENTIALS, 49, info=AD_INFO.format("775"))
    assert not is_wrong_password(exc)


def test_connection_refused_while_connecting() -> None:
    exc = ldap_error(ldap.SERVER_DOWN, -1, errno=errno.ECONNREFUSED, info="Connection refused")
    err = classified(exc, phase="connect")
    assert err.code == "connection_refused"
    assert "dc1.example.com:636" in err.message


def test_libldap_timeout_is_timeout() -> None:
    err = classified(ldap_error(ldap.TIMEOUT, -5, desc="Timed out"))
    assert err.code == "timeout"
    assert "15 s" in err.message


def test_python_ldap_timeout_without_details_is_timeout() -> None:
    assert classified(ldap.TIMEOUT()).code == "timeout"


def test_server_down_with_etimedout_is_timeout() -> None:
    exc = ldap_error(ldap.SERVER_DOWN, -1, errno=errno.ETIMEDOUT, info="Connection timed out")
    assert classified(exc, phase="tls").code == "timeout"


def test_server_down_mentioning_certificate_is_tls_error() -> None:
    exc = ldap_error(ldap.SERVER_DOWN, -1, info="TLS: peer cert untrusted or revoked (0x42)")
    err = classified(exc, phase="connect")
    assert err.code == "tls_error"
    assert "peer cert untrusted" in err.message


def test_connect_error_on_starttls_is_tls_error() -> None:
    exc = ldap_error(ldap.CONNECT_ERROR, -11, info="(unknown error code)")
    assert classified(exc, phase="tls").code == "tls_error"


def test_tls_error_carries_the_diagnosed_reason() -> None:
    exc = ldap_error(ldap.SERVER_DOWN, -1, errno=11, info="(unknown error code)")
    err = classified(exc, phase="tls", tls_reason="certificate verification failed: expired")
    assert err.message.endswith("certificate verification failed: expired")


def test_starttls_refused_by_server_is_tls_error() -> None:
    exc = ldap_error(ldap.PROTOCOL_ERROR, 2, info="unsupported extended operation")
    assert classified(exc, phase="tls").code == "tls_error"


def test_server_closing_during_bind_is_connection_refused() -> None:
    exc = ldap_error(ldap.SERVER_DOWN, -1, info="")
    err = classified(exc, phase="bind")
    assert err.code == "connection_refused"
    assert "closed the connection" in err.message


def test_constraint_violation_is_password_rejected() -> None:
    exc = ldap_error(ldap.CONSTRAINT_VIOLATION, 19, info="Password fails quality checking policy")
    err = classified(exc)
    assert err.code == "password_rejected"
    assert "quality checking" in err.message


def test_ppolicy_not_changed_is_unchanged() -> None:
    exc = ldap_error(
        ldap.CONSTRAINT_VIOLATION, 19, info="Password is not being changed from existing value"
    )
    assert classified(exc).code == "unchanged"


def test_ad_wrong_old_password_is_invalid_credentials() -> None:
    exc = ldap_error(
        ldap.CONSTRAINT_VIOLATION,
        19,
        info="00000056: Constraint violation - check_password_restrictions: wrong old password",
    )
    assert classified(exc).code == "invalid_credentials"


def test_ad_password_too_short_is_password_rejected() -> None:
    exc = ldap_error(
        ldap.CONSTRAINT_VIOLATION,
        19,
        info="0000052D: Constraint violation - check_password_restrictions: too short",
    )
    assert classified(exc).code == "password_rejected"


def test_openldap_wrong_old_password_is_invalid_credentials() -> None:
    exc = ldap_error(ldap.UNWILLING_TO_PERFORM, 53, info="unwilling to verify old password")
    assert classified(exc).code == "invalid_credentials"


def test_insufficient_access() -> None:
    assert classified(ldap_error(ldap.INSUFFICIENT_ACCESS, 50)).code == "insufficient_access"


def test_no_such_object() -> None:
    assert classified(ldap_error(ldap.NO_SUCH_OBJECT, 32)).code == "no_such_object"


def test_protocol_error_is_unsupported() -> None:
    exc = ldap_error(ldap.PROTOCOL_ERROR, 2, info="unknown extended operation")
    assert classified(exc).code == "unsupported"


def test_unclassified_result_is_operation_failed_with_server_text() -> None:
    exc = ldap_error(ldap.OTHER, 80, desc="Other (e.g., implementation specific) error", info="x")
    err = classified(exc)
    assert err.code == "operation_failed"
    assert "implementation specific" in err.message


def test_exception_without_details_is_operation_failed() -> None:
    assert classified(ldap.LDAPError("odd")).code == "operation_failed"


def test_socket_refused_is_connection_refused() -> None:
    err = classify_socket_error(ConnectionRefusedError(), endpoint="h:1", timeout=1)
    assert err.code == "connection_refused"


def test_socket_timeout_is_timeout() -> None:
    err = classify_socket_error(TimeoutError(), endpoint="h:1", timeout=2)
    assert (err.code, err.message) == ("timeout", "No answer from h:1 within 2 s")


def test_unreachable_network_is_connection_refused_with_reason() -> None:
    exc = OSError(errno.ENETUNREACH, "Network is unreachable")
    err = classify_socket_error(exc, endpoint="h:1", timeout=2)
    assert err.code == "connection_refused"
    assert "Network is unreachable" in err.message
