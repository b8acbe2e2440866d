"""Network guard (SSRF): which addresses a directory connection may reach.

A connection's host is resolved and every address checked before anything is sent. The
approved addresses are returned so that the caller connects to exactly those (a second DNS
answer cannot swap in an internal address).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ldapkeeper.directory import DirectoryError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: `resolver(host, port)` returns the host's addresses as strings; it may raise OSError.
Resolver = Callable[[str, int], Sequence[str]]

_V4_BLOCKED = tuple(
    ipaddress.IPv4Network(cidr)
    for cidr in (
        "0.0.0.0/8",  # "this network", unspecified
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
    )
)

_V6_BLOCKED = tuple(
    ipaddress.IPv6Network(cidr)
    for cidr in (
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments (Teredo among them)
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")

#: Names that always mean "this machine" or "the container host".
_BLOCKED_NAMES = frozenset({"localhost", "host.docker.internal", "gateway.docker.internal"})

_HOST_CHARS = re.compile(r"[A-Za-z0-9._:%\-]+")
_DEC = re.compile(r"[0-9]+")
_OCT = re.compile(r"0[0-7]*")
_HEX = re.compile(r"0[xX][0-9A-Fa-f]+")


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """Which internal addresses may be reached anyway.

    `allow_internal` lifts the guard entirely
    (`LDAPKEEPER_ALLOW_INTERNAL_IP_CONNECTIONS`); `allowed_networks` lists CIDRs that are
    always allowed (`LDAPKEEPER_ALLOWED_NETWORKS`).
    """

    allow_internal: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(
        cls, *, allow_internal: bool = False, allowed_networks: Iterable[str] = ()
    ) -> NetworkPolicy:
        """Build a policy from setting strings; raises ValueError for a malformed CIDR."""
        networks = tuple(
            ipaddress.ip_network(cidr.strip(), strict=False)
            for cidr in allowed_networks
            if cidr.strip()
        )
        return cls(allow_internal=allow_internal, allowed_networks=networks)

    def permits(self, address: IPAddress) -> bool:
        """True when `address` may be connected to under this policy."""
        return self.allow_internal or self.in_allowed_network(address) or not is_internal(address)

    def in_allowed_network(self, address: IPAddress) -> bool:
        """True when `address` (or the IPv4 address it maps) is in an allowed network."""
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(
            candidate.version == network.version and candidate in network
            for candidate in candidates
            for network in self.allowed_networks
        )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried by a v4-compatible, 6to4 or Teredo (client) address."""
    if address in _V4_COMPATIBLE and int(address) > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def is_internal(address: IPAddress) -> bool:
    """True for loopback, private, link-local, CGNAT, multicast, reserved, unspecified and
    documentation addresses, IPv4 or IPv6, including IPv4 addresses embedded in IPv6."""
    if isinstance(address, ipaddress.IPv4Address):
        return (
            any(address in network for network in _V4_BLOCKED)
            or address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
        )
    # A v4-mapped address is that IPv4 address; a NAT64 address is translated to it.
    if address.ipv4_mapped is not None:
        return is_internal(address.ipv4_mapped)
    if address in _NAT64:
        return is_internal(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    embedded = _embedded_ipv4(address)
    if embedded is not None and is_internal(embedded):
        return True
    return (
        any(address in network for network in _V6_BLOCKED)
        or address.is_loopback
        or address.is_link_local
        or address.is_site_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_private
    )


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address `host` spells, or None for a name.

    Besides the standard forms this accepts what C's `inet_aton` (and so `getaddrinfo`)
    accepts: `127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1`; and `[...]` around IPv6.
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    return _parse_loose_ipv4(text)


def _parse_loose_ipv4(text: str) -> ipaddress.IPv4Address | None:
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        if _HEX.fullmatch(part):
            values.append(int(part[2:], 16))
        elif _OCT.fullmatch(part):
            values.append(int(part, 8))
        elif _DEC.fullmatch(part) and not part.startswith("0"):
            values.append(int(part))
        else:
            return None
    *leading, last = values
    if any(value > 0xFF for value in leading) or last >= 1 << (8 * (5 - len(values))):
        return None
    number = 0
    for index, value in enumerate(leading):
        number |= value << (24 - 8 * index)
    return ipaddress.IPv4Address(number | last)


def _is_blocked_name(name: str) -> bool:
    return name in _BLOCKED_NAMES or name.endswith(".localhost")


def system_resolver(timeout: float) -> Resolver:
    """A resolver backed by `socket.getaddrinfo`, abandoned after `timeout` seconds.

    getaddrinfo cannot be interrupted, so it runs in a daemon thread that is left to
    finish on its own when the deadline passes.
    """

    def resolve(host: str, port: int) -> Sequence[str]:
        outcome: list[Sequence[str] | BaseException] = []
        done = threading.Event()

        def lookup() -> None:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                outcome.append([str(info[4][0]) for info in infos])
            except (OSError, UnicodeError, ValueError) as exc:
                outcome.append(exc)
            finally:
                done.set()

        threading.Thread(target=lookup, name="ldap-dns", daemon=True).start()
        if not done.wait(timeout):
            raise socket.gaierror(f"no DNS answer within {timeout:g} s")
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    return resolve


def approve_host(
    host: str, port: int, *, policy: NetworkPolicy, resolver: Resolver
) -> tuple[IPAddress, ...]:
    """Resolve `host` and return its addresses if the policy permits every one of them.

    IP literals (in any spelling `getaddrinfo` accepts) are not passed to the resolver.
    The names `localhost`, `*.localhost` and `host.docker.internal` are refused unless the
    policy allows internal addresses or all of their addresses are in an allowed network.

    Raises:
        DirectoryError: `blocked_address` when any address (or the name) is refused;
            `dns_error` when the host is malformed, does not resolve or has no address.
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text or len(text) > 253 or not _HOST_CHARS.fullmatch(text):
        raise DirectoryError("dns_error", "The host name is not valid")
    name = text.lower().rstrip(".")
    literal = parse_ip_literal(text)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        addresses = _resolve(name, port, resolver, shown=text)
    for address in addresses:
        if not policy.permits(address):
            raise DirectoryError(
                "blocked_address",
                f"Connections to internal addresses are not allowed ({text} is {address})",
            )
    if (
        literal is None
        and _is_blocked_name(name)
        and not policy.allow_internal
        and not all(policy.in_allowed_network(address) for address in addresses)
    ):
        raise DirectoryError(
            "blocked_address", f"Connections to {text} are not allowed (internal host name)"
        )
    return tuple(dict.fromkeys(addresses))


def _resolve(name: str, port: int, resolver: Resolver, *, shown: str) -> list[IPAddress]:
    try:
        answers = list(resolver(name, port))
    except (OSError, UnicodeError, ValueError):
        answers = []
    addresses: list[IPAddress] = []
    for answer in answers:
        try:
            addresses.append(ipaddress.ip_address(answer))
        except ValueError:
            continue
    if not addresses:
        raise DirectoryError("dns_error", f"Could not resolve host {shown}")
    return addresses
