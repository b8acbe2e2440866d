"""Validation of the create body's credentials (SPEC section 3), without any server."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ldapkeeper.connections.schemas import (
    AppConnectionPublic,
    LdapConnectionCreate,
    LdapCredentialsInput,
)
from tests.support.certs import Pki

DN = "CN=John,CN=Users,DC=example,DC=com"


def credentials(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "provider": "active-directory",
        "url": "ldaps://dc1.example.com:636",
        "dn": DN,
        "password": "Secret-1",
    }
    values.update(overrides)
    return values


def failing_paths(**overrides: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        LdapCredentialsInput.model_validate(credentials(**overrides))
    return [".".join(str(p) for p in error["loc"]) for error in caught.value.errors()]


@pytest.mark.parametrize(
    "url",
    [
        "ldap://dc1.example.com",
        "ldaps://dc1.example.com",
        "ldap://dc1.example.com:3389",
        "ldaps://[2001:db8::1]:636",
        "LDAPS://DC1.example.com/",
    ],
)
def test_ldap_and_ldaps_urls_are_accepted(url: str) -> None:
    assert LdapCredentialsInput.model_validate(credentials(url=url)).url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://dc1.example.com",
        "dc1.example.com:389",
        "ldap://user:pw@dc1.example.com",
        "ldap://dc1.example.com/dc=example,dc=com",
        "ldap://dc1.example.com?base",
        "ldap://dc1.example.com:0",
        "ldap://dc1.example.com:99999",
        "ldap://:389",
        "ldapi://%2fvar%2frun%2fslapd",
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    assert failing_paths(url=url) == ["url"]


def test_malformed_failover_url_is_refused_by_position() -> None:
    paths = failing_paths(failover_urls=["ldaps://dc2.example.com", "http://dc3"])
    assert paths == ["failover_urls.1"]


def test_more_than_ten_failover_urls_are_refused() -> None:
    assert failing_paths(failover_urls=["ldaps://dc2.example.com"] * 11) == ["failover_urls"]


def test_distinguished_name_is_accepted() -> None:
    assert LdapCredentialsInput.model_validate(credentials()).dn == DN


@pytest.mark.parametrize("dn", ["John", "CN=John,,DC=com", "=John", "CN=John,DC"])
def test_malformed_distinguished_name_is_refused(dn: str) -> None:
    assert failing_paths(dn=dn) == ["dn"]


def test_upn_is_accepted_with_active_directory() -> None:
    creds = LdapCredentialsInput.model_validate(credentials(dn="john@example.com"))
    assert creds.dn == "john@example.com"


def test_upn_is_refused_with_open_ldap() -> None:
    assert failing_paths(provider="open-ldap", dn="john@example.com") == ["dn"]


def test_unknown_provider_is_refused() -> None:
    assert "provider" in failing_paths(provider="novell")


def test_empty_password_is_refused() -> None:
    assert failing_paths(password="") == ["password"]


def test_password_is_kept_exactly() -> None:
    password = "  spaced \t pässwörd \u00a0"
    creds = LdapCredentialsInput.model_validate(credentials(password=password))
    assert creds.password.get_secret_value() == password


def test_password_is_not_in_the_repr() -> None:
    creds = LdapCredentialsInput.model_validate(credentials(password="Canary-repr-77"))
    assert "Canary-repr-77" not in repr(creds)


def test_reject_unauthorized_defaults_to_true() -> None:
    assert LdapCredentialsInput.model_validate(credentials()).ssl_reject_unauthorized is True


def test_pem_ca_certificate_is_accepted(pki: Pki) -> None:
    creds = LdapCredentialsInput.model_validate(credentials(ssl_certificate=pki.ca_pem))
    assert creds.ssl_certificate == pki.ca_pem


def test_pem_bundle_of_two_certificates_is_accepted(pki: Pki) -> None:
    bundle = pki.ca_pem + pki.other_ca.cert_pem
    creds = LdapCredentialsInput.model_validate(credentials(ssl_certificate=bundle))
    assert creds.ssl_certificate == bundle


@pytest.mark.parametrize(
    "pem",
    [
        "...",
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
    ],
)
def test_non_certificate_pem_is_refused(pem: str) -> None:
    assert failing_paths(ssl_certificate=pem) == ["ssl_certificate"]


def test_blank_certificate_means_none() -> None:
    creds = LdapCredentialsInput.model_validate(credentials(ssl_certificate="  \n"))
    assert creds.ssl_certificate is None


def test_start_tls_with_ldap_url_is_accepted() -> None:
    creds = LdapCredentialsInput.model_validate(
        credentials(url="ldap://dc1.example.com", start_tls=True)
    )
    assert creds.start_tls is True


def test_start_tls_with_ldaps_url_is_refused() -> None:
    assert failing_paths(start_tls=True) == ["start_tls"]


def test_camel_case_keys_are_read() -> None:
    creds = LdapCredentialsInput.model_validate(
        credentials(sslRejectUnauthorized=False, failoverUrls=["ldaps://dc2.example.com"])
    )
    assert (creds.ssl_reject_unauthorized, creds.failover_urls) == (
        False,
        ["ldaps://dc2.example.com"],
    )


def create_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "my-ldap-connection", "credentials": credentials()}
    body.update(overrides)
    return body


@pytest.mark.parametrize("name", ["", "My-LDAP", "ldap_1", "-ldap", "ldap-", "a" * 65, "ldap--1"])
def test_name_must_be_a_slug(name: str) -> None:
    with pytest.raises(ValidationError):
        LdapConnectionCreate.model_validate(create_body(name=name))


def test_description_longer_than_256_is_refused() -> None:
    with pytest.raises(ValidationError):
        LdapConnectionCreate.model_validate(create_body(description="x" * 257))


def test_method_other_than_simple_bind_is_refused() -> None:
    with pytest.raises(ValidationError):
        LdapConnectionCreate.model_validate(create_body(method="kerberos"))


def test_unknown_fields_are_ignored() -> None:
    body = LdapConnectionCreate.model_validate(create_body(isPlatformManagedCredentials=True))
    assert body.name == "my-ldap-connection"


def test_public_schema_has_no_password_field() -> None:
    fields = {
        *AppConnectionPublic.model_fields,
        *AppConnectionPublic.model_fields["credentials"].annotation.model_fields,  # type: ignore[union-attr]
    }
    assert not any("password" in name.lower() for name in fields)
