"""The network guard as a pure function: a fake resolver, no DNS, no network."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ldapkeeper.directory import DirectoryError
from ldapkeeper.ldap.guard import (
    NetworkPolicy,
    approve_host,
    is_internal,
    parse_ip_literal,
)

STRICT = NetworkPolicy()
PUBLIC_IP = "203.0.114.7"  # outside every blocked range


class FakeResolver:
    """Answers from a table; unknown names fail like getaddrinfo does. Records the calls."""

    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = table or {}
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


def approve(
    host: str, policy: NetworkPolicy = STRICT, dns: dict[str, list[str]] | None = None
) -> list[str]:
    resolver = FakeResolver(dns)
    return [str(ip) for ip in approve_host(host, 636, policy=policy, resolver=resolver)]


def blocked_code(
    host: str, policy: NetworkPolicy = STRICT, dns: dict[str, list[str]] | None = None
) -> str:
    with pytest.raises(DirectoryError) as caught:
        approve(host, policy, dns)
    return caught.value.code


# -- addresses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.255.254",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # CGNAT
        "100.127.255.255",
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "198.18.0.1",
        "192.0.2.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "fec0::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::1",  # local-use NAT64
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        "::127.0.0.1",  # v4-compatible
        "2001:db8::1",
        "100::1",
    ],
)
def test_internal_addresses_are_internal(address: str) -> None:
    assert is_internal(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", PUBLIC_IP, "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses_are_not_internal(address: str) -> None:
    assert not is_internal(ipaddress.ip_address(address))


def test_public_address_literal_is_approved_without_dns() -> None:
    resolver = FakeResolver()
    approved = approve_host("8.8.8.8", 636, policy=STRICT, resolver=resolver)
    assert [str(ip) for ip in approved] == ["8.8.8.8"]
    assert resolver.calls == []


def test_loopback_literal_is_blocked() -> None:
    assert blocked_code("127.0.0.1") == "blocked_address"


def test_ipv6_loopback_in_brackets_is_blocked() -> None:
    assert blocked_code("[::1]") == "blocked_address"


@pytest.mark.parametrize(
    "spelling",
    ["2130706433", "0x7f000001", "0X7F000001", "127.1", "127.0.1", "0177.0.0.1", "0x7f.1"],
)
def test_odd_spellings_of_loopback_are_blocked(spelling: str) -> None:
    assert parse_ip_literal(spelling) == ipaddress.IPv4Address("127.0.0.1")
    assert blocked_code(spelling) == "blocked_address"


def test_v4_mapped_loopback_in_brackets_is_blocked() -> None:
    assert blocked_code("[::ffff:127.0.0.1]") == "blocked_address"


def test_v4_mapped_loopback_in_hex_is_blocked() -> None:
    assert blocked_code("::ffff:7f00:1") == "blocked_address"


def test_octal_and_decimal_mixed_metadata_address_is_blocked() -> None:
    assert blocked_code("0251.0376.0251.0376") == "blocked_address"  # 169.254.169.254


def test_zero_address_is_blocked() -> None:
    assert blocked_code("0") == "blocked_address"


def test_invalid_octal_is_a_name_not_an_address() -> None:
    assert parse_ip_literal("08.0.0.1") is None


def test_too_large_last_part_is_not_an_address() -> None:
    assert parse_ip_literal("1.16777216") is None


# -- names --------------------------------------------------------------------------------


def test_name_with_public_address_is_approved() -> None:
    assert approve("dc1.example.com", dns={"dc1.example.com": [PUBLIC_IP]}) == [PUBLIC_IP]


def test_name_is_blocked_when_any_address_is_internal() -> None:
    assert (
        blocked_code("dc1.example.com", dns={"dc1.example.com": [PUBLIC_IP, "10.0.0.5"]})
        == "blocked_address"
    )


def test_name_resolving_to_v4_mapped_internal_address_is_blocked() -> None:
    assert blocked_code("evil.example.com", dns={"evil.example.com": ["::ffff:10.0.0.1"]}) == (
        "blocked_address"
    )


def test_duplicate_answers_are_returned_once() -> None:
    assert approve("dc1.example.com", dns={"dc1.example.com": [PUBLIC_IP, PUBLIC_IP]}) == [
        PUBLIC_IP
    ]


@pytest.mark.parametrize(
    "name", ["localhost", "LOCALHOST", "localhost.", "db.localhost", "host.docker.internal"]
)
def test_internal_names_are_blocked_even_with_public_answers(name: str) -> None:
    table = {name.lower().rstrip("."): [PUBLIC_IP]}
    resolver = FakeResolver(table)
    with pytest.raises(DirectoryError) as caught:
        approve_host(name, 389, policy=STRICT, resolver=resolver)
    assert caught.value.code == "blocked_address"


def test_unknown_name_is_a_dns_error() -> None:
    assert blocked_code("nowhere.invalid") == "dns_error"


def test_name_without_addresses_is_a_dns_error() -> None:
    assert blocked_code("empty.example.com", dns={"empty.example.com": []}) == "dns_error"


@pytest.mark.parametrize("host", ["", "   ", "dc1 example.com", "a/b", "user@host", "x" * 300])
def test_malformed_host_is_a_dns_error(host: str) -> None:
    assert blocked_code(host) == "dns_error"


def test_resolver_that_raises_unicode_error_gives_dns_error() -> None:
    def broken(host: str, port: int) -> Sequence[str]:
        raise UnicodeError("label empty or too long")

    with pytest.raises(DirectoryError) as caught:
        approve_host("a..b", 389, policy=STRICT, resolver=broken)
    assert caught.value.code == "dns_error"


# -- policy -------------------------------------------------------------------------------


def test_allow_internal_lets_loopback_through() -> None:
    assert approve("127.0.0.1", NetworkPolicy(allow_internal=True)) == ["127.0.0.1"]


def test_allow_internal_lets_localhost_through() -> None:
    assert approve(
        "localhost", NetworkPolicy(allow_internal=True), dns={"localhost": ["127.0.0.1"]}
    ) == ["127.0.0.1"]


def test_allowed_network_lets_its_addresses_through() -> None:
    policy = NetworkPolicy.from_settings(allowed_networks=["10.20.0.0/16"])
    assert approve("10.20.3.4", policy) == ["10.20.3.4"]


def test_allowed_network_does_not_open_other_internal_addresses() -> None:
    policy = NetworkPolicy.from_settings(allowed_networks=["10.20.0.0/16"])
    assert blocked_code("10.21.0.1", policy) == "blocked_address"


def test_allowed_network_covers_v4_mapped_spelling() -> None:
    policy = NetworkPolicy.from_settings(allowed_networks=["127.0.0.0/8"])
    assert approve("::ffff:127.0.0.1", policy) == ["::ffff:7f00:1"]


def test_localhost_is_allowed_when_its_addresses_are_in_an_allowed_network() -> None:
    policy = NetworkPolicy.from_settings(allowed_networks=["127.0.0.0/8", "::1/128"])
    assert approve("localhost", policy, dns={"localhost": ["127.0.0.1", "::1"]}) == [
        "127.0.0.1",
        "::1",
    ]


def test_localhost_stays_blocked_when_one_address_is_outside_allowed_networks() -> None:
    policy = NetworkPolicy.from_settings(allowed_networks=["127.0.0.0/8"])
    assert (
        blocked_code("localhost", policy, dns={"localhost": ["127.0.0.1", "::1"]})
        == "blocked_address"
    )


def test_policy_from_settings_skips_blank_entries() -> None:
    policy = NetworkPolicy.from_settings(allowed_networks=["", " 10.0.0.0/8 "])
    assert [str(n) for n in policy.allowed_networks] == ["10.0.0.0/8"]


def test_policy_from_settings_refuses_a_malformed_cidr() -> None:
    with pytest.raises(ValueError, match="does not appear to be"):
        NetworkPolicy.from_settings(allowed_networks=["10.0.0.0/33x"])


def test_blocked_message_names_host_and_address() -> None:
    with pytest.raises(DirectoryError) as caught:
        approve("dc.example.com", dns={"dc.example.com": ["192.168.1.10"]})
    assert "192.168.1.10" in caught.value.message
    assert "dc.example.com" in caught.value.message


# -- robustness ---------------------------------------------------------------------------


def outcome(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address] | str:
    """The approved addresses, or the error code."""
    resolver = FakeResolver({"public.example": [PUBLIC_IP]})
    try:
        return list(approve_host(host, 389, policy=STRICT, resolver=resolver))
    except DirectoryError as err:
        return err.code


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_host_strings_raise_nothing_but_directory_error(host: str) -> None:
    result = outcome(host)
    if isinstance(result, str):
        assert result in ("blocked_address", "dns_error")
    else:
        assert result
        assert not any(is_internal(address) for address in result)


@settings(max_examples=300, deadline=None)
@given(st.ip_addresses())
def test_every_internal_literal_is_blocked_and_every_other_approved(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    expected = "blocked_address" if is_internal(address) else [address]
    assert outcome(str(address)) == expected
