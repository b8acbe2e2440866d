"""DNs and UPNs."""

from __future__ import annotations

import pytest

from ldapkeeper.directory import DirectoryError
from ldapkeeper.ldap.names import (
    dn_domain,
    is_dn,
    is_upn,
    normalize_dn,
    same_dn,
    upn_domain,
)


def test_normalize_lowercases_types_and_drops_spaces() -> None:
    assert normalize_dn("CN=John Smith , OU=People,DC=Example,DC=com") == (
        "cn=John Smith,ou=People,dc=Example,dc=com"
    )


def test_normalize_keeps_escapes_valid() -> None:
    assert (
        normalize_dn(r"cn=Smith\, John,dc=example,dc=com") == r"cn=Smith\, John,dc=example,dc=com"
    )


def test_normalize_orders_multivalued_rdn() -> None:
    assert normalize_dn("uid=a+cn=b,dc=x") == normalize_dn("cn=b+uid=a,dc=x")


def test_same_dn_ignores_case_and_spaces() -> None:
    assert same_dn(
        "CN=Svc Rotate,CN=Users,DC=corp,DC=example", "cn=svc  rotate, cn=users,dc=CORP,dc=example"
    )


def test_same_dn_tells_different_entries_apart() -> None:
    assert not same_dn("cn=alice,dc=example,dc=com", "cn=bob,dc=example,dc=com")


def test_same_dn_distinguishes_parent_from_child() -> None:
    assert not same_dn("dc=example,dc=com", "cn=alice,dc=example,dc=com")


@pytest.mark.parametrize("text", ["", "not a dn", "alice@example.com", "=alice,dc=x"])
def test_non_dn_is_invalid_input(text: str) -> None:
    assert not is_dn(text)
    with pytest.raises(DirectoryError) as caught:
        normalize_dn(text)
    assert caught.value.code == "invalid_input"


@pytest.mark.parametrize("name", ["alice@example.com", "svc.rotate@corp.example.test"])
def test_upns_are_recognized(name: str) -> None:
    assert is_upn(name)


@pytest.mark.parametrize(
    "name", ["cn=alice,dc=example,dc=com", "alice", "alice@localhost", "a b@example.com", "@x.com"]
)
def test_non_upns_are_not_recognized(name: str) -> None:
    assert not is_upn(name)


def test_upn_domain_is_lowercase() -> None:
    assert upn_domain("Alice@Corp.Example.COM") == "corp.example.com"


def test_dn_domain_joins_dc_components() -> None:
    assert dn_domain("CN=Alice,OU=Staff,DC=Corp,DC=Example,DC=com") == "corp.example.com"


def test_dn_without_dc_has_no_domain() -> None:
    assert dn_domain("cn=admin,o=example") is None
