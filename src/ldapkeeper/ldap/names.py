"""Distinguished names and user principal names."""

from __future__ import annotations

import re

import ldap
import ldap.dn
import ldap.filter

from ldapkeeper.directory import DirectoryError

_UPN = re.compile(r"[^@\s=,+\"\\<>;]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_SPACES = re.compile(r"\s+")


def is_upn(name: str) -> bool:
    """True for `user@domain.tld` (a user principal name, Active Directory's bind name)."""
    return _UPN.fullmatch(name.strip()) is not None


def upn_domain(name: str) -> str | None:
    """The domain of a UPN, lower-case, or None when `name` is not one."""
    match = _UPN.fullmatch(name.strip())
    return match.group(1).lower() if match else None


def parse_dn(dn: str) -> list[list[tuple[str, str, int]]]:
    """Parse a DN into RDNs of (type, value, flags).

    Raises:
        DirectoryError: `invalid_input` when `dn` is empty or not a DN.
    """
    try:
        rdns = ldap.dn.str2dn(dn.strip())
    except (ldap.DECODING_ERROR, ValueError, TypeError):
        rdns = []
    if not rdns:
        raise DirectoryError("invalid_input", "Not a valid distinguished name")
    return rdns


def is_dn(name: str) -> bool:
    """True when `name` parses as a non-empty DN."""
    try:
        parse_dn(name)
    except DirectoryError:
        return False
    return True


def normalize_dn(dn: str) -> str:
    """One spelling of `dn`: attribute types lower-case, values as given, no extra spaces,
    multi-valued RDNs in a fixed order.

    Raises:
        DirectoryError: `invalid_input` when `dn` is not a DN.
    """
    rdns = [
        sorted((kind.lower(), value, flags) for kind, value, flags in rdn) for rdn in parse_dn(dn)
    ]
    return ldap.dn.dn2str(rdns)


def _comparable(dn: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    return tuple(
        tuple(
            sorted(
                (kind.lower(), _SPACES.sub(" ", value.strip()).casefold()) for kind, value, _ in rdn
            )
        )
        for rdn in parse_dn(dn)
    )


def same_dn(a: str, b: str) -> bool:
    """True when `a` and `b` name the same entry, ignoring case and insignificant spaces.

    Raises:
        DirectoryError: `invalid_input` when either is not a DN.
    """
    return _comparable(a) == _comparable(b)


def dn_domain(dn: str) -> str | None:
    """The DNS domain spelled by a DN's `dc=` components (`dc=corp,dc=example,dc=com` is
    `corp.example.com`), or None when the DN has none."""
    try:
        rdns = parse_dn(dn)
    except DirectoryError:
        return None
    labels = [value.lower() for rdn in rdns for kind, value, _ in rdn if kind.lower() == "dc"]
    return ".".join(labels) or None


def equality_filter(attribute: str, value: str) -> str:
    """The search filter ``(attribute=value)`` matching ``value`` literally: ``*``, ``(``,
    ``)``, ``\\`` and NUL in it are escaped (RFC 4515), so no value widens the search."""
    return f"({attribute}={ldap.filter.escape_filter_chars(value)})"
