"""The port: credentials, errors and the transport rule for rotations."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from pydantic import SecretStr

from ldapkeeper.directory import (
    INSECURE_TRANSPORT_MESSAGE,
    BindCredentials,
    DirectoryClient,
    DirectoryError,
    require_secure_transport,
    uses_secure_transport,
)
from ldapkeeper.ldap import LdapDirectory


def creds(url: str, *, start_tls: bool = False, failover: tuple[str, ...] = ()) -> BindCredentials:
    return BindCredentials(
        provider="open-ldap",
        url=url,
        dn="cn=admin,dc=example,dc=com",
        password=SecretStr("s3cret-value"),
        start_tls=start_tls,
        failover_urls=failover,
    )


def test_repr_of_credentials_hides_the_password() -> None:
    assert "s3cret-value" not in repr(creds("ldaps://dc1.example.com"))


def test_urls_lists_primary_then_failovers() -> None:
    c = creds("ldaps://a.example.com", failover=("ldaps://b.example.com",))
    assert c.urls == ("ldaps://a.example.com", "ldaps://b.example.com")


def test_ldaps_is_secure_transport() -> None:
    require_secure_transport(creds("ldaps://dc1.example.com"))


def test_starttls_is_secure_transport() -> None:
    require_secure_transport(creds("ldap://dc1.example.com", start_tls=True))


def test_plain_ldap_is_refused_for_rotation() -> None:
    with pytest.raises(DirectoryError) as caught:
        require_secure_transport(creds("ldap://dc1.example.com"))
    assert caught.value.code == "insecure_transport"
    assert caught.value.message == INSECURE_TRANSPORT_MESSAGE
    assert (
        INSECURE_TRANSPORT_MESSAGE == "Password rotation requires an LDAPS or StartTLS connection"
    )


def test_plain_failover_url_makes_transport_insecure() -> None:
    assert not uses_secure_transport(
        creds("ldaps://a.example.com", failover=("ldap://b.example.com",))
    )


def test_directory_error_str_is_its_message() -> None:
    err = DirectoryError("timeout", "No answer")
    assert str(err) == "No answer"
    assert err.unreachable


def test_directory_error_survives_pickling() -> None:
    err = pickle.loads(pickle.dumps(DirectoryError("tls_error", "bad cert")))  # noqa: S301
    assert (err.code, err.message) == ("tls_error", "bad cert")


def test_invalid_credentials_is_not_unreachable() -> None:
    assert not DirectoryError("invalid_credentials", "x").unreachable


def test_ldap_directory_implements_the_port(tmp_path: Path) -> None:
    client: DirectoryClient = LdapDirectory(ca_dir=tmp_path / "ca")
    assert client.same_dn("CN=A,DC=x", "cn=a,dc=X")
