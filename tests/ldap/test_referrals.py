"""Where a referral may lead: the pure decision."""

from __future__ import annotations

import pytest

from ldapkeeper.directory import DirectoryError
from ldapkeeper.ldap.referrals import (
    ReferralTarget,
    ReferralTrust,
    decide_referral,
    is_public_suffix_like,
    parse_referral,
    referral_urls,
)

URLS = ("ldaps://dc1.corp.example.com", "ldaps://10.0.0.9:636")
BIND_DN = "CN=svc,CN=Users,DC=corp,DC=example,DC=com"
TARGET = "CN=alice,CN=Users,DC=corp,DC=example,DC=com"


def trust(bind_name: str = BIND_DN, listed: tuple[str, ...] = ()) -> ReferralTrust:
    return ReferralTrust.build(urls=URLS, bind_name=bind_name, referral_hosts=listed)


def decide(
    url: str, *, t: ReferralTrust | None = None, visited: list[tuple[str, str]] | None = None
) -> ReferralTarget:
    return decide_referral(
        url,
        current_dn=TARGET,
        trust=t or trust(),
        visited=visited if visited is not None else [("dc1.corp.example.com", TARGET)],
    )


def refused(
    url: str, *, t: ReferralTrust | None = None, visited: list[tuple[str, str]] | None = None
) -> str:
    with pytest.raises(DirectoryError) as caught:
        decide(url, t=t, visited=visited)
    assert caught.value.code == "referral_refused"
    return caught.value.message


def test_host_under_the_bind_dn_domain_is_followed() -> None:
    target = decide("ldap://dc2.corp.example.com/CN=alice,CN=Users,DC=corp,DC=example,DC=com")
    assert target.host == "dc2.corp.example.com"
    assert target.dn == TARGET


def test_the_domain_itself_is_trusted() -> None:
    assert decide("ldap://corp.example.com/").host == "corp.example.com"


def test_referral_without_dn_keeps_the_current_dn() -> None:
    assert decide("ldap://dc2.corp.example.com").dn == TARGET


def test_percent_encoded_dn_is_decoded() -> None:
    target = decide("ldap://dc2.corp.example.com/CN=bob%20smith,DC=corp,DC=example,DC=com")
    assert target.dn == "CN=bob smith,DC=corp,DC=example,DC=com"


def test_own_url_host_is_trusted() -> None:
    t = trust(bind_name="cn=admin,o=acme")  # no dc= components: no domain trust
    assert decide("ldap://dc1.corp.example.com/o=acme", t=t).host == "dc1.corp.example.com"


def test_host_outside_the_domain_is_refused() -> None:
    assert "evil.example.net" in refused("ldap://evil.example.net/dc=corp,dc=example,dc=com")


def test_lookalike_suffix_is_refused() -> None:
    refused("ldap://evilcorp.example.com/")


def test_parent_domain_is_refused() -> None:
    refused("ldap://example.com/")


def test_upn_domain_is_trusted() -> None:
    t = trust(bind_name="svc@corp.example.com")
    assert decide("ldap://dc3.corp.example.com/", t=t).host == "dc3.corp.example.com"


def test_bare_public_suffix_from_the_dn_is_not_trusted() -> None:
    t = trust(bind_name="cn=admin,dc=com")
    refused("ldap://anything.com/", t=t)


def test_country_generic_second_level_is_not_trusted() -> None:
    t = trust(bind_name="cn=admin,dc=co,dc=uk")
    refused("ldap://attacker.co.uk/", t=t)


@pytest.mark.parametrize("domain", ["com", "local", "co.uk", "com.au", "ac.jp"])
def test_public_suffix_like_domains(domain: str) -> None:
    assert is_public_suffix_like(domain)


@pytest.mark.parametrize("domain", ["example.com", "corp.example.co.uk", "example.de"])
def test_registrable_domains_are_not_public_suffix_like(domain: str) -> None:
    assert not is_public_suffix_like(domain)


def test_listed_host_is_trusted() -> None:
    t = trust(listed=("gc.partner.example.org",))
    assert decide("ldap://GC.partner.example.org/", t=t).host == "gc.partner.example.org"


def test_ip_literal_is_refused_unless_listed() -> None:
    refused("ldap://192.0.2.10/")


def test_listed_ip_literal_is_trusted() -> None:
    t = trust(listed=("192.0.2.10",))
    assert decide("ldap://192.0.2.10/", t=t).host == "192.0.2.10"


def test_ip_literal_of_an_own_url_is_trusted() -> None:
    assert decide("ldap://10.0.0.9/").host == "10.0.0.9"


def test_odd_spelling_of_a_listed_ip_is_the_same_ip() -> None:
    t = trust(listed=("10.0.0.9",))
    assert decide("ldap://10.9/", t=t).host == "10.9"


def test_referral_back_to_a_visited_place_is_a_loop() -> None:
    assert "loop" in refused(f"ldap://DC1.corp.example.com/{TARGET.lower()}")


def test_more_than_ten_hops_are_refused() -> None:
    visited = [(f"dc{i}.corp.example.com", TARGET) for i in range(11)]
    assert "More than 10" in refused("ldap://dc99.corp.example.com/", visited=visited)


def test_tenth_hop_is_still_followed() -> None:
    visited = [(f"dc{i}.corp.example.com", TARGET) for i in range(10)]
    assert decide("ldap://dc99.corp.example.com/", visited=visited).host == "dc99.corp.example.com"


@pytest.mark.parametrize("url", ["http://dc2.corp.example.com/", "ldap:///dc=x", "garbage", ""])
def test_unusable_referral_is_refused(url: str) -> None:
    refused(url)


def test_parse_referral_returns_host_and_dn() -> None:
    assert parse_referral("ldaps://dc2.example.com:3269/dc=example,dc=com??sub") == (
        "dc2.example.com",
        "dc=example,dc=com",
    )


def test_referral_urls_reads_python_ldap_info() -> None:
    assert referral_urls("Referral:\nldap://dc2.example.com/dc=example,dc=com") == [
        "ldap://dc2.example.com/dc=example,dc=com"
    ]
