"""Turn python-ldap and socket failures into `DirectoryError`s with redacted messages."""

from __future__ import annotations

import errno
import re
from collections.abc import Iterable
from typing import Any, Literal

import ldap

from ldapkeeper.directory import DirectoryError, ErrorCode
from ldapkeeper.ldap.redaction import Secret, redact

#: Where a failure happened: establishing the connection, negotiating TLS (ldaps handshake
#: or StartTLS), binding, or a later operation.
Phase = Literal["connect", "tls", "bind", "operation"]

#: Active Directory's bind sub-codes (`data 52e` in the diagnostic message), in words.
AD_BIND_REASONS: dict[str, str] = {
    "525": "user not found",
    "52e": "invalid credentials",
    "530": "not permitted to log on at this time",
    "531": "not permitted to log on at this workstation",
    "532": "password expired",
    "533": "account disabled",
    "701": "account expired",
    "773": "user must reset password",
    "775": "account locked",
}

_AD_DATA = re.compile(r"\bdata ([0-9a-f]{3,8})\b", re.IGNORECASE)
#: AD / Samba: "00000056: Constraint violation ..." is a wrong current password.
_AD_WRONG_OLD_PASSWORD = re.compile(r"\b0*56:", re.IGNORECASE)
_TLS_HINTS = re.compile(
    r"certificate|\bcert\b|tls|ssl|handshake|x509|gnutls|verif|issuer|self[- ]signed",
    re.IGNORECASE,
)

# LDAP result codes (RFC 4511) and libldap's negative client codes.
_SERVER_DOWN = -1
_TIMEOUT = -5
_CONNECT_ERROR = -11
_PROTOCOL_ERROR = 2
_TIME_LIMIT_EXCEEDED = 3
_STRONG_AUTH_REQUIRED = 8
_REFERRAL = 10
_UNAVAILABLE_CRITICAL_EXTENSION = 12
_CONFIDENTIALITY_REQUIRED = 13
_CONSTRAINT_VIOLATION = 19
_NO_SUCH_OBJECT = 32
_INVALID_DN_SYNTAX = 34
_INVALID_CREDENTIALS = 49
_INSUFFICIENT_ACCESS = 50
_UNWILLING_TO_PERFORM = 53


def ldap_details(exc: ldap.LDAPError) -> tuple[int | None, str, str, int | None]:
    """`(result code, desc, info, errno)` from a python-ldap exception (any may be empty)."""
    payload: Any = exc.args[0] if exc.args else None
    # python-ldap raises some (TIMEOUT from its own result() deadline) without details;
    # each exception class carries its result code as `errnum`.
    class_code: Any = getattr(type(exc), "errnum", None)
    fallback = class_code if isinstance(class_code, int) else None
    if not isinstance(payload, dict):
        return fallback, str(payload or type(exc).__name__), "", None
    result = payload.get("result")
    code = result if isinstance(result, int) else fallback
    errnum = payload.get("errno")
    return (
        code,
        str(payload.get("desc") or ""),
        str(payload.get("info") or ""),
        errnum if isinstance(errnum, int) else None,
    )


def ad_bind_subcode(info: str) -> str | None:
    """The Active Directory sub-code (`52e`, `775`, ...) in a bind diagnostic, lower-case."""
    match = _AD_DATA.search(info)
    if match is None:
        return None
    code = match.group(1).lower().lstrip("0") or "0"
    return code


def is_wrong_password(exc: ldap.LDAPError) -> bool:
    """True when a bind failed only because the password is wrong (49, AD `52e` or none).

    Other AD sub-codes (locked, disabled, expired, must change) are not "wrong password":
    AD reports some of them whatever the password, so they prove nothing about it.
    """
    code, _, info, _ = ldap_details(exc)
    return code == _INVALID_CREDENTIALS and ad_bind_subcode(info) in (None, "52e")


def _invalid_credentials_message(info: str) -> str:
    subcode = ad_bind_subcode(info)
    reason = AD_BIND_REASONS.get(subcode or "")
    if reason is None or subcode == "52e":
        return "Invalid credentials"
    return f"Invalid credentials ({reason})"


def _server_said(desc: str, info: str) -> str:
    if info and info != "(unknown error code)":
        return f"{desc}: {info}" if desc else info
    return desc or "unknown error"


def classify(
    exc: ldap.LDAPError,
    *,
    phase: Phase,
    endpoint: str,
    timeout: float,
    secrets: Iterable[Secret] = (),
    tls_reason: str | None = None,
) -> DirectoryError:
    """Map a python-ldap exception to a `DirectoryError` whose message is redacted.

    `endpoint` (`host:port`) and `timeout` make messages precise; `tls_reason` is what a
    TLS diagnosis found (libldap's own TLS messages are often empty).
    """
    code, desc, info, errnum = ldap_details(exc)
    error_code: ErrorCode
    if code in (_TIMEOUT, _TIME_LIMIT_EXCEEDED) or errnum == errno.ETIMEDOUT:
        error_code, message = "timeout", f"No answer from {endpoint} within {timeout:g} s"
    elif code in (_SERVER_DOWN, _CONNECT_ERROR):
        error_code, message = _connection_failure(phase, endpoint, info, errnum, tls_reason)
    elif phase == "tls":
        error_code = "tls_error"
        message = f"StartTLS with {endpoint} failed: {tls_reason or _server_said(desc, info)}"
    elif code == _INVALID_CREDENTIALS:
        error_code, message = "invalid_credentials", _invalid_credentials_message(info)
    elif code == _CONSTRAINT_VIOLATION:
        error_code, message = _constraint_violation(info or desc)
    elif code == _INSUFFICIENT_ACCESS:
        error_code = "insufficient_access"
        message = f"The bind account may not do this: {_server_said(desc, info)}"
    elif code == _NO_SUCH_OBJECT:
        error_code, message = "no_such_object", f"No such entry: {_server_said(desc, info)}"
    elif code in (_PROTOCOL_ERROR, _UNAVAILABLE_CRITICAL_EXTENSION):
        error_code = "unsupported"
        message = f"The directory does not support this operation: {_server_said(desc, info)}"
    elif code == _UNWILLING_TO_PERFORM and "old password" in info.lower():
        error_code, message = "invalid_credentials", "The current password is not correct"
    elif code in (_STRONG_AUTH_REQUIRED, _CONFIDENTIALITY_REQUIRED):
        error_code = "operation_failed"
        message = f"The directory requires a secure connection: {_server_said(desc, info)}"
    elif code == _REFERRAL:
        error_code = "referral_refused"
        message = f"The directory answered with a referral: {_server_said(desc, info)}"
    elif code == _INVALID_DN_SYNTAX:
        error_code, message = "invalid_input", f"Invalid DN: {_server_said(desc, info)}"
    else:
        error_code = "operation_failed"
        message = f"The directory refused the operation: {_server_said(desc, info)}"
    return DirectoryError(error_code, redact(message, *secrets))


def _connection_failure(
    phase: Phase, endpoint: str, info: str, errnum: int | None, tls_reason: str | None
) -> tuple[ErrorCode, str]:
    if phase == "tls" or tls_reason or (info and _TLS_HINTS.search(info)):
        detail = tls_reason or (info if info and info != "(unknown error code)" else None)
        return "tls_error", f"TLS negotiation with {endpoint} failed: {detail or 'no detail'}"
    if phase == "connect":
        if errnum == errno.ECONNREFUSED:
            return "connection_refused", f"Connection refused by {endpoint}"
        return "connection_refused", f"Cannot connect to {endpoint}: {info or 'server down'}"
    return "connection_refused", f"{endpoint} closed the connection"


def _constraint_violation(text: str) -> tuple[ErrorCode, str]:
    if "not being changed from existing value" in text.lower():
        return "unchanged", "The password already has this value"
    if _AD_WRONG_OLD_PASSWORD.search(text):
        return "invalid_credentials", "The current password is not correct"
    return "password_rejected", f"The directory refused the new password: {text}"


def classify_socket_error(exc: OSError, *, endpoint: str, timeout: float) -> DirectoryError:
    """Map a failed TCP connect to `connection_refused` or `timeout`."""
    if isinstance(exc, TimeoutError) or exc.errno == errno.ETIMEDOUT:
        return DirectoryError("timeout", f"No answer from {endpoint} within {timeout:g} s")
    if isinstance(exc, ConnectionRefusedError):
        return DirectoryError("connection_refused", f"Connection refused by {endpoint}")
    reason = exc.strerror or type(exc).__name__
    return DirectoryError("connection_refused", f"Cannot connect to {endpoint}: {reason}")
