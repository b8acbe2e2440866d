"""Parsing of ldap:// and ldaps:// URLs."""

from __future__ import annotations

import pytest

from ldapkeeper.directory import DirectoryError
from ldapkeeper.ldap.urls import LdapUrl, parse_ldap_url


def test_ldap_url_defaults_to_port_389() -> None:
    assert parse_ldap_url("ldap://dc1.example.com") == LdapUrl("ldap", "dc1.example.com", 389)


def test_ldaps_url_defaults_to_port_636() -> None:
    assert parse_ldap_url("ldaps://dc1.example.com/") == LdapUrl("ldaps", "dc1.example.com", 636)


def test_explicit_port_and_case_are_normalized() -> None:
    assert parse_ldap_url("LDAPS://DC1.Example.COM:3269") == LdapUrl(
        "ldaps", "dc1.example.com", 3269
    )


def test_ipv6_literal_keeps_brackets_in_netloc() -> None:
    url = parse_ldap_url("ldaps://[2001:db8::1]:636")
    assert url.host == "2001:db8::1"
    assert str(url) == "ldaps://[2001:db8::1]:636"


def test_with_host_keeps_scheme_and_port() -> None:
    url = parse_ldap_url("ldaps://dc1.example.com:1636").with_host("DC2.example.com")
    assert str(url) == "ldaps://dc2.example.com:1636"


@pytest.mark.parametrize(
    "url",
    [
        "http://dc1.example.com",
        "ldapi:///var/run/slapd.sock",
        "ldap://user:pw@dc1.example.com",
        "ldap://dc1.example.com/dc=example,dc=com",
        "ldap://dc1.example.com?x",
        "ldap://dc1.example.com#f",
        "ldap://",
        "ldap://dc1.example.com:99999",
        "ldap://dc1.example.com:0",
        "ldap://dc1.example.com:port",
        "dc1.example.com",
    ],
)
def test_malformed_urls_are_invalid_input(url: str) -> None:
    with pytest.raises(DirectoryError) as caught:
        parse_ldap_url(url)
    assert caught.value.code == "invalid_input"
