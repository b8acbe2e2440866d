"""`ldap://host[:port]` and `ldaps://host[:port]` URLs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit

from ldapkeeper.directory import DirectoryError

Scheme = Literal["ldap", "ldaps"]

DEFAULT_PORTS: dict[Scheme, int] = {"ldap": 389, "ldaps": 636}


@dataclass(frozen=True, slots=True)
class LdapUrl:
    """A parsed LDAP server URL: scheme, host (lower-case, no brackets) and port."""

    scheme: Scheme
    host: str
    port: int

    @property
    def implicit_tls(self) -> bool:
        """True for `ldaps://` (TLS from the first byte)."""
        return self.scheme == "ldaps"

    @property
    def netloc(self) -> str:
        """`host:port`, with brackets around an IPv6 literal."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def with_host(self, host: str) -> LdapUrl:
        """The same scheme and port on another host (referrals keep protocol and port)."""
        return replace(self, host=host.lower())

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}"


def parse_ldap_url(url: str) -> LdapUrl:
    """Parse `ldap://host[:port]` or `ldaps://host[:port]` (default ports 389 / 636).

    Raises:
        DirectoryError: code `invalid_input` for another scheme, user-info, a path other
            than `/`, a query, a fragment, a missing host or a bad port.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise DirectoryError("invalid_input", "The LDAP URL is malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in ("ldap", "ldaps"):
        raise DirectoryError("invalid_input", "The URL must start with ldap:// or ldaps://")
    if "@" in parts.netloc:
        raise DirectoryError("invalid_input", "The LDAP URL must not contain user information")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise DirectoryError("invalid_input", "The LDAP URL must not have a path or a query")
    host = parts.hostname
    if not host:
        raise DirectoryError("invalid_input", "The LDAP URL has no host")
    if port == 0:
        raise DirectoryError("invalid_input", "The LDAP URL has an invalid port")
    checked_scheme: Scheme = "ldaps" if scheme == "ldaps" else "ldap"
    return LdapUrl(checked_scheme, host, port or DEFAULT_PORTS[checked_scheme])
