"""Minimal python-ldap helpers for the test servers' own use (not the project's adapter)."""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ldap  # type: ignore[import-untyped, unused-ignore]

DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class BindOutcome:
    """Result of one simple bind: `ok`, or the LDAP result code and server diagnostic."""

    ok: bool
    result: int | None = None
    desc: str = ""
    info: str = ""


def open_connection(
    url: str,
    *,
    ca_path: Path | None,
    starttls: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> Any:
    """An unbound LDAPObject with per-connection TLS options (CA file, demand, no referrals)."""
    conn: Any = ldap.initialize(url)
    conn.protocol_version = 3
    conn.set_option(ldap.OPT_REFERRALS, 0)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, timeout)
    conn.set_option(ldap.OPT_TIMEOUT, timeout)
    conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
    if ca_path is not None:
        conn.set_option(ldap.OPT_X_TLS_CACERTFILE, str(ca_path))
    conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
    if starttls:
        conn.start_tls_s()
    return conn


@contextmanager
def bound(
    url: str,
    who: str,
    password: str,
    *,
    ca_path: Path | None,
    starttls: bool = False,
) -> Iterator[Any]:
    """A connection bound as `who`; unbound on exit."""
    conn = open_connection(url, ca_path=ca_path, starttls=starttls)
    try:
        conn.simple_bind_s(who, password)
        yield conn
    finally:
        conn.unbind_s()


def error_details(exc: BaseException) -> BindOutcome:
    """Turn a python-ldap exception into a failed BindOutcome."""
    details: dict[str, Any] = {}
    if exc.args and isinstance(exc.args[0], dict):
        details = exc.args[0]
    result = details.get("result")
    return BindOutcome(
        ok=False,
        result=result if isinstance(result, int) else None,
        desc=str(details.get("desc", type(exc).__name__)),
        info=str(details.get("info", "")),
    )


def try_bind(
    url: str,
    who: str,
    password: str,
    *,
    ca_path: Path | None,
    starttls: bool = False,
) -> BindOutcome:
    """One simple bind on a new connection; any LDAP error becomes a failed outcome."""
    if password == "":
        return BindOutcome(ok=False, desc="empty password (would be an unauthenticated bind)")
    try:
        with bound(url, who, password, ca_path=ca_path, starttls=starttls):
            return BindOutcome(ok=True, result=0)
    except ldap.LDAPError as exc:
        return error_details(exc)


def can_bind(
    url: str,
    who: str,
    password: str,
    *,
    ca_path: Path | None,
    starttls: bool = False,
) -> bool:
    """True on success, False on invalid credentials (49); other errors are raised.

    Raising on e.g. "server down" keeps `assert not can_bind(...)` from passing vacuously.
    """
    if password == "":
        return False
    try:
        with bound(url, who, password, ca_path=ca_path, starttls=starttls):
            return True
    except ldap.INVALID_CREDENTIALS:
        return False


def ad_password_value(password: str) -> bytes:
    """The `unicodePwd` value: UTF-16LE of the password in double quotes."""
    return f'"{password}"'.encode("utf-16-le")


def make_password(length: int = 24) -> str:
    """A random password with upper, lower, digit and symbol (meets AD complexity)."""
    alphabet = string.ascii_letters + string.digits
    core = "".join(secrets.choice(alphabet) for _ in range(max(length - 4, 1)))
    required = [
        secrets.choice(string.ascii_uppercase),
        secrets.choice(string.ascii_lowercase),
        secrets.choice(string.digits),
        secrets.choice("-_.!"),
    ]
    chars = list(core) + required
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)
