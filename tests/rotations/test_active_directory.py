"""Rotations against a real Samba AD DC (root only; the fixture skips elsewhere and fails
under CI=true): unicodePwd resets and self-changes, UPNs, a bind account rotating itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ldap  # type: ignore[import-untyped, unused-ignore]
import pytest
from tests.support.app import Api
from tests.support.rotations import (
    create_connection,
    create_rotation,
    rotation_body,
    stored_secret,
)
from tests.support.samba import AdUser, SambaServer

ROTATIONS = "/api/v2/secret-rotations/ldap-password"


def ad_connection(api: Api, samba: SambaServer, *, dn: str, password: str) -> dict[str, Any]:
    return create_connection(
        api,
        url=samba.ldaps_url,
        dn=dn,
        password=password,
        ca_pem=samba.ca_pem,
        provider="active-directory",
        name=f"ad-{abs(hash(dn)) % 10**8}",
    )


@pytest.fixture
def admin_connection(api: Api, samba_ad: SambaServer) -> dict[str, Any]:
    """Bound as Administrator (by DN)."""
    return ad_connection(api, samba_ad, dn=samba_ad.admin_dn, password=samba_ad.admin_password)


@pytest.fixture
def domain_admin(samba_ad: SambaServer, samba_user: AdUser) -> AdUser:
    """A user with a userPrincipalName in Domain Admins. (The built-in Administrator has
    no userPrincipalName attribute: its implicit UPN binds but cannot be searched for.)"""
    group = f"CN=Domain Admins,{samba_ad.users_dn}"
    with samba_ad.admin_connection() as conn:
        conn.modify_s(group, [(ldap.MOD_ADD, "member", [samba_user.dn.encode()])])
    return samba_user


def check(api: Api, connection_id: str) -> dict[str, Any]:
    response = api.client.post(
        f"/api/v1/app-connections/ldap/{connection_id}/check", headers=api.admin
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def rotate_now(api: Api, rotation_id: str) -> dict[str, Any]:
    response = api.client.post(f"{ROTATIONS}/{rotation_id}/rotate-secrets", headers=api.admin)
    assert response.status_code == 200, response.text
    rotation: dict[str, Any] = response.json()["secretRotation"]
    return rotation


def test_admin_reset_replaces_the_password(
    api: Api, samba_ad: SambaServer, samba_user: AdUser, admin_connection: dict[str, Any]
) -> None:
    create_rotation(api, rotation_body(api, admin_connection["id"], samba_user.dn))
    assert samba_ad.can_bind(samba_user.dn, stored_secret(api, "LDAP_PASSWORD"))
    assert not samba_ad.can_bind(samba_user.dn, samba_user.password)


def test_target_principal_changes_its_own_password(
    api: Api, samba_ad: SambaServer, samba_user: AdUser, admin_connection: dict[str, Any]
) -> None:
    body = rotation_body(
        api,
        admin_connection["id"],
        samba_user.dn,
        method="target-principal",
        temporary_password=samba_user.password,
    )
    rotation = create_rotation(api, body)
    first = stored_secret(api, "LDAP_PASSWORD")
    rotate_now(api, rotation["id"])
    second = stored_secret(api, "LDAP_PASSWORD")
    assert samba_ad.can_bind(samba_user.dn, second)
    assert not samba_ad.can_bind(samba_user.dn, first)


def test_upn_target_is_resolved_to_its_dn(
    api: Api, samba_ad: SambaServer, samba_user: AdUser, admin_connection: dict[str, Any]
) -> None:
    create_rotation(api, rotation_body(api, admin_connection["id"], samba_user.upn))
    assert stored_secret(api, "LDAP_DN").lower() == samba_user.dn.lower()
    assert samba_ad.can_bind(samba_user.upn, stored_secret(api, "LDAP_PASSWORD"))


@pytest.fixture
def self_rotation(api: Api, samba_ad: SambaServer, samba_user: AdUser) -> dict[str, Any]:
    """A plain user's connection rotating that user's own password (connection-principal)."""
    connection = ad_connection(api, samba_ad, dn=samba_user.dn, password=samba_user.password)
    rotation = create_rotation(api, rotation_body(api, connection["id"], samba_user.dn))
    return {"connection": connection, "rotation": rotation}


def test_bind_account_rotating_itself_changes_its_password(
    api: Api, samba_ad: SambaServer, samba_user: AdUser, self_rotation: dict[str, Any]
) -> None:
    assert not samba_ad.can_bind(samba_user.dn, samba_user.password)
    assert samba_ad.can_bind(samba_user.dn, stored_secret(api, "LDAP_PASSWORD"))


def test_bind_account_rotating_itself_keeps_its_connection_working(
    api: Api, self_rotation: dict[str, Any]
) -> None:
    rotate_now(api, self_rotation["rotation"]["id"])
    assert check(api, self_rotation["connection"]["id"])["status"] == "ok"


def test_bind_account_given_as_upn_is_recognised_as_the_target(
    api: Api, samba_ad: SambaServer, samba_user: AdUser
) -> None:
    """The connection binds with the UPN, the rotation names the DN: still a self-change,
    so the connection's password follows."""
    connection = ad_connection(api, samba_ad, dn=samba_user.upn, password=samba_user.password)
    create_rotation(api, rotation_body(api, connection["id"], samba_user.dn))
    assert check(api, connection["id"])["status"] == "ok"
    assert samba_ad.can_bind(samba_user.upn, stored_secret(api, "LDAP_PASSWORD"))


def test_revoke_through_a_upn_bind_account_locks_the_target_out(
    api: Api, samba_ad: SambaServer, domain_admin: AdUser
) -> None:
    connection = ad_connection(api, samba_ad, dn=domain_admin.upn, password=domain_admin.password)
    target = samba_ad.add_user(f"t{domain_admin.sam}", "Initial-Passw0rd-x")
    rotation = create_rotation(api, rotation_body(api, connection["id"], target))
    stored = stored_secret(api, "LDAP_PASSWORD")
    response = api.client.delete(
        f"{ROTATIONS}/{rotation['id']}",
        params={"revokeGeneratedCredentials": "true"},
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    assert not samba_ad.can_bind(target, stored)


@pytest.fixture
def samba_down(samba_ad: SambaServer) -> Iterator[SambaServer]:
    """Call ``.stop()`` in the test; Samba is started again afterwards."""
    yield samba_ad
    samba_ad.start()


def test_unreachable_directory_while_resolving_the_bind_upn_is_a_clean_failure(
    api: Api, samba_down: SambaServer, domain_admin: AdUser
) -> None:
    """Choosing reset or self-change resolves a UPN bind name on the directory; when it is
    down that is a recorded failure (400 and history), not a server error."""
    connection = ad_connection(api, samba_down, dn=domain_admin.upn, password=domain_admin.password)
    target = samba_down.add_user(f"t{domain_admin.sam}", "Initial-Passw0rd-x")
    rotation = create_rotation(api, rotation_body(api, connection["id"], target))
    samba_down.stop()
    response = api.client.post(f"{ROTATIONS}/{rotation['id']}/rotate-secrets", headers=api.admin)
    assert response.status_code == 400, response.text
    history = api.client.get(f"{ROTATIONS}/{rotation['id']}/history", headers=api.admin).json()
    assert [h["status"] for h in history["history"]] == ["failed", "success"]
