"""Credentials for the test servers, and an adapter with a given timeout."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from ldapkeeper.directory import BindCredentials, Provider
from ldapkeeper.ldap import LdapDirectory, NetworkPolicy
from ldapkeeper.ldap.guard import Resolver

#: Test servers listen on loopback, which the network guard refuses by default.
LOOPBACK = NetworkPolicy.from_settings(allowed_networks=["127.0.0.0/8"])


class TestServer(Protocol):
    """What `slapd` and `samba_ad` have in common for building credentials."""

    @property
    def ldaps_url(self) -> str: ...

    ca_pem: str


def make_directory(
    tmp_path: Path, *, timeout: float = 5.0, resolver: Resolver | None = None
) -> LdapDirectory:
    """The adapter, allowed to reach 127.0.0.0/8, with CA files under `tmp_path`."""
    return LdapDirectory(
        ca_dir=tmp_path / "ca", network_policy=LOOPBACK, timeout_seconds=timeout, resolver=resolver
    )


def creds_for(
    server: TestServer,
    dn: str,
    password: str,
    *,
    provider: Provider = "open-ldap",
    url: str | None = None,
    ca: str | None = "server",
    verify: bool = True,
    start_tls: bool = False,
    failover: tuple[str, ...] = (),
) -> BindCredentials:
    """Credentials for `server`: ldaps with its CA unless told otherwise."""
    return BindCredentials(
        provider=provider,
        url=url or server.ldaps_url,
        dn=dn,
        password=SecretStr(password),
        ssl_reject_unauthorized=verify,
        ssl_certificate=server.ca_pem if ca == "server" else ca,
        start_tls=start_tls,
        failover_urls=failover,
    )
