"""Referral chasing by hand: where a referral may lead (SPEC section 3).

libldap's automatic chasing is off (`OPT_REFERRALS = 0`): it would re-send the bind
credentials to whatever host a referral names. Here a referral is followed only to a
trusted host, keeping the connection's protocol and port, at most `MAX_HOPS` times, never
in a loop. The decision is a pure function; the client opens the new connection through
the network guard like any other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ldapkeeper.directory import DirectoryError
from ldapkeeper.ldap.guard import parse_ip_literal
from ldapkeeper.ldap.names import dn_domain, is_upn, normalize_dn, upn_domain
from ldapkeeper.ldap.urls import parse_ldap_url

MAX_HOPS = 10

#: Second-level labels under which a two-letter country code's names are registrable
#: (`co.uk`, `com.au`, `ac.jp`): such a pair is a public suffix, not a directory's domain.
_GENERIC_SECOND_LEVEL = frozenset(
    [
        "ac",
        "co",
        "com",
        "edu",
        "go",
        "gob",
        "gov",
        "govt",
        "int",
        "ltd",
        "mil",
        "mod",
        "ne",
        "net",
        "nhs",
        "nic",
        "or",
        "org",
        "plc",
        "police",
        "sch",
    ]
)


def is_public_suffix_like(domain: str) -> bool:
    """True for a domain too broad to trust: one label (`com`, `local`) or a country's
    generic second level (`co.uk`). A heuristic, not the Public Suffix List."""
    labels = domain.split(".")
    if len(labels) < 2:
        return True
    return len(labels) == 2 and len(labels[1]) == 2 and labels[0] in _GENERIC_SECOND_LEVEL


def _clean_host(host: str) -> str:
    return host.strip().lower().rstrip(".")


@dataclass(frozen=True, slots=True)
class ReferralTrust:
    """The hosts a connection's referrals may lead to.

    `own_hosts`: the hosts of the connection's URLs. `domains`: the directory's DNS domain
    (from the bind DN's `dc=` components or the bind UPN's domain); hosts in or under it
    are trusted. `listed_hosts`: `LDAPKEEPER_REFERRAL_HOSTS`. An IP literal is trusted only
    when it is one of the connection's own hosts or listed.
    """

    own_hosts: frozenset[str]
    domains: frozenset[str]
    listed_hosts: frozenset[str]

    @classmethod
    def build(
        cls, *, urls: Iterable[str], bind_name: str, referral_hosts: Iterable[str] = ()
    ) -> ReferralTrust:
        """The trust of a connection to `urls` binding as `bind_name` (a DN or a UPN)."""
        own = set()
        for url in urls:
            try:
                own.add(_clean_host(parse_ldap_url(url).host))
            except DirectoryError:
                continue
        domain = upn_domain(bind_name) if is_upn(bind_name) else dn_domain(bind_name)
        domains = {domain} if domain and not is_public_suffix_like(domain) else set()
        listed = {_clean_host(host) for host in referral_hosts if host.strip()}
        return cls(frozenset(own), frozenset(domains), frozenset(listed))

    def trusts(self, host: str) -> bool:
        """True when credentials may be sent to `host`."""
        name = _clean_host(host)
        literal = parse_ip_literal(name)
        if literal is not None:
            known = (parse_ip_literal(h) for h in self.own_hosts | self.listed_hosts)
            return literal in set(known)
        if name in self.own_hosts or name in self.listed_hosts:
            return True
        return any(name == domain or name.endswith("." + domain) for domain in self.domains)


@dataclass(frozen=True, slots=True)
class ReferralTarget:
    """Where to go next: a host (same protocol and port as now) and the DN to use there."""

    host: str
    dn: str


def parse_referral(url: str) -> tuple[str, str | None]:
    """The host and (unquoted) DN of an LDAP referral URL `ldap[s]://host[:port]/dn?...`.

    Raises:
        DirectoryError: `referral_refused` when it is not an LDAP URL with a host.
    """
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in ("ldap", "ldaps") or not host:
        raise DirectoryError("referral_refused", "The directory sent an unusable referral")
    dn = unquote(parts.path.lstrip("/")) or None
    return host, dn


def referral_urls(info: str) -> list[str]:
    """The URLs in python-ldap's REFERRAL message (`"Referral:\\nldap://..."`)."""
    return [line.strip() for line in info.splitlines() if "://" in line]


def decide_referral(
    url: str,
    *,
    current_dn: str,
    trust: ReferralTrust,
    visited: Iterable[tuple[str, str]],
    max_hops: int = MAX_HOPS,
) -> ReferralTarget:
    """Decide whether to follow a referral, and to which host and DN.

    `visited` holds the (host, DN) pairs already tried, the origin first; a referral back
    to one of them is a loop. The referral's own scheme and port are ignored: the next
    connection keeps the current protocol and port (no downgrade to plain LDAP).

    Raises:
        DirectoryError: `referral_refused` for an untrusted host, a loop, more than
            `max_hops` referrals or a malformed referral.
    """
    seen = list(visited)
    if len(seen) > max_hops:
        raise DirectoryError("referral_refused", f"More than {max_hops} referrals; giving up")
    host, dn = parse_referral(url)
    if not trust.trusts(host):
        raise DirectoryError(
            "referral_refused", f"Referral to {host} refused: not a trusted directory host"
        )
    target_dn = dn or current_dn
    key = (_clean_host(host), _normalized(target_dn))
    if key in {(_clean_host(h), _normalized(d)) for h, d in seen}:
        raise DirectoryError("referral_refused", f"Referral loop detected at {host}")
    return ReferralTarget(host=_clean_host(host), dn=target_dn)


def _normalized(dn: str) -> str:
    try:
        return normalize_dn(dn).lower()
    except DirectoryError:
        return dn.strip().lower()
