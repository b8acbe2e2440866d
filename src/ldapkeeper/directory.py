"""The directory port: what the rest of ldapkeeper knows about LDAP servers.

Types, typed errors and the `DirectoryClient` protocol. Nothing here imports python-ldap;
the adapter in `ldapkeeper.ldap` implements the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Protocol, get_args

from pydantic import SecretStr

Provider = Literal["active-directory", "open-ldap"]

ErrorCode = Literal[
    # Binding (SPEC section 3, `details.code` of a failed create / check).
    "invalid_credentials",
    "tls_error",
    "connection_refused",
    "timeout",
    "dns_error",
    "blocked_address",
    # Password changes (SPEC section 4).
    "password_rejected",
    "insufficient_access",
    "no_such_object",
    "unchanged",
    "unsupported",
    "referral_refused",
    "ambiguous_target",
    "insecure_transport",
    # Input the adapter cannot use (a malformed URL or DN that validation let through).
    "invalid_input",
    # Anything else the directory answered.
    "operation_failed",
]

ERROR_CODES: frozenset[str] = frozenset(get_args(ErrorCode))

#: Failures that say nothing about the credentials: the server could not be reached.
UNREACHABLE_CODES: frozenset[ErrorCode] = frozenset({"connection_refused", "timeout", "dns_error"})

INSECURE_TRANSPORT_MESSAGE = "Password rotation requires an LDAPS or StartTLS connection"


class DirectoryError(Exception):
    """A directory operation failed; `code` is machine-readable, `message` is redacted.

    The message never holds a password: the adapter passes every message through its
    redaction with the passwords involved before raising.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(code, message)
        self.code: ErrorCode = code
        self.message = message

    @property
    def unreachable(self) -> bool:
        """True when the server could not be reached (worth retrying later)."""
        return self.code in UNREACHABLE_CODES

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"DirectoryError(code={self.code!r}, message={self.message!r})"


@dataclass(frozen=True, slots=True)
class BindCredentials:
    """How to reach a directory and whom to bind as (a stored LDAP App Connection).

    `url` and every `failover_urls` entry are `ldap://host[:port]` or `ldaps://host[:port]`.
    `start_tls` upgrades `ldap://` URLs before binding. `ssl_certificate` is a PEM bundle
    of CA certificates to trust instead of the system store.
    """

    provider: Provider
    url: str
    dn: str
    password: SecretStr
    ssl_reject_unauthorized: bool = True
    ssl_certificate: str | None = field(default=None, repr=False)
    start_tls: bool = False
    failover_urls: tuple[str, ...] = ()

    @property
    def urls(self) -> tuple[str, ...]:
        """`url` then the failover URLs, in the order they are tried."""
        return (self.url, *self.failover_urls)

    def as_identity(self, dn: str, password: SecretStr) -> BindCredentials:
        """The same server settings, binding as someone else."""
        return replace(self, dn=dn, password=password)


def uses_secure_transport(creds: BindCredentials) -> bool:
    """True when every URL of `creds` is `ldaps://` or upgraded with StartTLS."""
    return all(url.strip().lower().startswith("ldaps://") or creds.start_tls for url in creds.urls)


def require_secure_transport(creds: BindCredentials) -> None:
    """Refuse password changes over a connection that would send passwords in clear.

    Raises:
        DirectoryError: code `insecure_transport` when some URL is plain `ldap://`
            without StartTLS.
    """
    if not uses_secure_transport(creds):
        raise DirectoryError("insecure_transport", INSECURE_TRANSPORT_MESSAGE)


class DirectoryClient(Protocol):
    """Synchronous directory operations (callers run them in a worker thread).

    Every method raises `DirectoryError` on failure, with a redacted message.
    """

    def check(self, *, creds: BindCredentials) -> float:
        """Bind with `creds` on a new connection; return the latency in milliseconds."""
        ...

    def resolve_dn(self, *, creds: BindCredentials, name: str) -> str:
        """Turn a DN or (Active Directory) a UPN into a normalized DN.

        A UPN is searched for under the RootDSE's `defaultNamingContext`, binding with
        `creds`; it must match exactly one entry (`ambiguous_target` otherwise).
        """
        ...

    def reset_password(
        self, *, creds: BindCredentials, target_dn: str, new_password: SecretStr
    ) -> None:
        """Bind with `creds` and set `target_dn`'s password (administrative reset)."""
        ...

    def change_own_password(
        self,
        *,
        creds: BindCredentials,
        dn: str,
        old_password: SecretStr,
        new_password: SecretStr,
    ) -> None:
        """Bind as `dn` with `old_password` (server settings from `creds`) and change it."""
        ...

    def verify_bind(self, *, creds: BindCredentials, dn: str, password: SecretStr) -> bool:
        """Simple-bind as `dn` with `password` (server settings from `creds`).

        Returns True when the bind succeeds and False when the directory answers that the
        password is wrong; raises `DirectoryError` for anything else (unreachable server,
        locked or disabled account, ...), since then nothing is known about the password.
        """
        ...

    def normalize_dn(self, dn: str) -> str:
        """A DN in one canonical spelling (attribute types lower-cased, no extra spaces)."""
        ...

    def same_dn(self, a: str, b: str) -> bool:
        """True when two DNs name the same entry (case- and whitespace-insensitive)."""
        ...
