"""Deleting a rotation: its secrets, revoking the account, and the connection it used."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.app import Api
from tests.support.rotations import (
    create_rotation,
    rotation_body,
    slapd_admin_connection,
    stored_secret,
)
from tests.support.slapd import LdapUser, SlapdServer

ROTATIONS = "/api/v2/secret-rotations/ldap-password"
CONNECTIONS = "/api/v1/app-connections/ldap"
WHERE = {"environment": "dev", "secretPath": "/ldap", "type": "shared"}


@pytest.fixture
def rotation(api: Api, slapd: SlapdServer, ldap_user: LdapUser) -> dict[str, Any]:
    connection = slapd_admin_connection(api, slapd)
    return create_rotation(api, rotation_body(api, connection["id"], ldap_user.dn))


def delete(api: Api, rotation_id: str, **flags: str) -> Any:
    return api.client.delete(f"{ROTATIONS}/{rotation_id}", params=flags, headers=api.admin)


def secret_status(api: Api, name: str) -> int:
    response = api.client.get(
        f"/api/v3/secrets/raw/{name}",
        params={"workspaceId": api.project_id, "environment": "dev", "secretPath": "/ldap"},
        headers=api.admin,
    )
    status: int = response.status_code
    return status


def test_delete_answers_the_deleted_rotation(api: Api, rotation: dict[str, Any]) -> None:
    response = delete(api, rotation["id"])
    assert response.status_code == 200, response.text
    assert response.json()["secretRotation"]["id"] == rotation["id"]
    gone = api.client.get(f"{ROTATIONS}/{rotation['id']}", headers=api.admin)
    assert gone.status_code == 404


def test_delete_secrets_removes_the_mapped_secrets(api: Api, rotation: dict[str, Any]) -> None:
    delete(api, rotation["id"], deleteSecrets="true")
    assert [secret_status(api, n) for n in ("LDAP_DN", "LDAP_PASSWORD")] == [404, 404]


def test_delete_keeps_the_secrets_as_editable_ones(api: Api, rotation: dict[str, Any]) -> None:
    delete(api, rotation["id"])
    response = api.client.patch(
        "/api/v3/secrets/raw/LDAP_PASSWORD",
        json={"workspaceId": api.project_id, **WHERE, "secretValue": "now-mine"},
        headers=api.admin,
    )
    assert response.status_code == 200, response.text


def test_revoke_locks_the_account_out_of_every_stored_password(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser, rotation: dict[str, Any]
) -> None:
    api.client.post(f"{ROTATIONS}/{rotation['id']}/rotate-secrets", headers=api.admin)
    generated = api.client.get(
        f"{ROTATIONS}/{rotation['id']}/generated-credentials", headers=api.admin
    ).json()["generatedCredentials"]
    known = {c["password"] for c in generated} | {
        stored_secret(api, "LDAP_PASSWORD"),
        ldap_user.password,
    }
    response = delete(api, rotation["id"], revokeGeneratedCredentials="true")
    assert response.status_code == 200, response.text
    assert [p for p in known if slapd.can_bind(ldap_user.dn, p)] == []


def test_revoke_of_a_target_principal_rotation_locks_it_out(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    connection = slapd_admin_connection(api, slapd)
    body = rotation_body(
        api,
        connection["id"],
        ldap_user.dn,
        method="target-principal",
        temporary_password=ldap_user.password,
    )
    rotation = create_rotation(api, body)
    stored = stored_secret(api, "LDAP_PASSWORD")
    delete(api, rotation["id"], revokeGeneratedCredentials="true")
    assert not slapd.can_bind(ldap_user.dn, stored)


def test_deleting_a_connection_in_use_is_refused(api: Api, rotation: dict[str, Any]) -> None:
    response = api.client.delete(f"{CONNECTIONS}/{rotation['connectionId']}", headers=api.admin)
    assert response.status_code == 400
    body = response.json()
    assert body["details"]["code"] == "connection_in_use"
    assert "secret rotation" in body["message"]


def test_connection_can_be_deleted_once_its_rotation_is(api: Api, rotation: dict[str, Any]) -> None:
    delete(api, rotation["id"])
    response = api.client.delete(f"{CONNECTIONS}/{rotation['connectionId']}", headers=api.admin)
    assert response.status_code == 200, response.text
