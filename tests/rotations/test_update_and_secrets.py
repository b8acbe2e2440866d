"""What may change on a rotation, and the secrets it owns."""

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
WHERE = {"environment": "dev", "secretPath": "/ldap", "type": "shared"}


@pytest.fixture
def rotation(api: Api, slapd: SlapdServer, ldap_user: LdapUser) -> dict[str, Any]:
    connection = slapd_admin_connection(api, slapd)
    return create_rotation(api, rotation_body(api, connection["id"], ldap_user.dn))


def patch(api: Api, rotation_id: str, body: dict[str, Any]) -> Any:
    return api.client.patch(f"{ROTATIONS}/{rotation_id}", json=body, headers=api.admin)


def test_dn_cannot_be_changed(api: Api, slapd: SlapdServer, rotation: dict[str, Any]) -> None:
    response = patch(api, rotation["id"], {"parameters": {"dn": slapd.user_dn("someone-else")}})
    assert response.status_code == 400
    assert response.json()["message"] == "parameters.dn cannot be changed"


def test_rotation_method_cannot_be_changed(api: Api, rotation: dict[str, Any]) -> None:
    response = patch(api, rotation["id"], {"parameters": {"rotationMethod": "target-principal"}})
    assert response.status_code == 400
    assert response.json()["message"] == "parameters.rotationMethod cannot be changed"


def test_renaming_a_mapping_renames_the_secret(api: Api, rotation: dict[str, Any]) -> None:
    before = stored_secret(api, "LDAP_PASSWORD")
    response = patch(
        api, rotation["id"], {"secretsMapping": {"dn": "LDAP_DN", "password": "SVC_PASSWORD"}}
    )
    assert response.status_code == 200, response.text
    assert stored_secret(api, "SVC_PASSWORD") == before
    old = api.client.get(
        "/api/v3/secrets/raw/LDAP_PASSWORD",
        params={"workspaceId": api.project_id, **WHERE},
        headers=api.admin,
    )
    assert old.status_code == 404


def test_next_rotation_writes_the_renamed_secret(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser, rotation: dict[str, Any]
) -> None:
    patch(api, rotation["id"], {"secretsMapping": {"dn": "SVC_DN", "password": "SVC_PASSWORD"}})
    api.client.post(f"{ROTATIONS}/{rotation['id']}/rotate-secrets", headers=api.admin)
    assert slapd.can_bind(ldap_user.dn, stored_secret(api, "SVC_PASSWORD"))


def test_rotation_managed_secret_refuses_a_hand_edit(api: Api, rotation: dict[str, Any]) -> None:
    response = api.client.patch(
        "/api/v3/secrets/raw/LDAP_PASSWORD",
        json={"workspaceId": api.project_id, **WHERE, "secretValue": "typed-by-hand"},
        headers=api.admin,
    )
    assert response.status_code == 400
    assert "managed by a secret rotation" in response.json()["message"]


def test_rotation_managed_secret_refuses_a_hand_delete(api: Api, rotation: dict[str, Any]) -> None:
    response = api.client.request(
        "DELETE",
        "/api/v3/secrets/raw/LDAP_DN",
        json={"workspaceId": api.project_id, **WHERE},
        headers=api.admin,
    )
    assert response.status_code == 400


def test_mapping_onto_an_existing_secret_is_refused(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    created = api.client.post(
        "/api/v3/secrets/raw/LDAP_PASSWORD",
        json={"workspaceId": api.project_id, **WHERE, "secretValue": "mine"},
        headers=api.admin,
    )
    assert created.status_code == 200, created.text
    connection = slapd_admin_connection(api, slapd)
    response = api.client.post(
        ROTATIONS, json=rotation_body(api, connection["id"], ldap_user.dn), headers=api.admin
    )
    assert response.status_code == 400
    assert slapd.can_bind(ldap_user.dn, ldap_user.password)


def test_second_rotation_of_the_same_account_is_refused(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser, rotation: dict[str, Any]
) -> None:
    """Each would change the password under the other, whose secret would stop binding."""
    body = rotation_body(api, rotation["connectionId"], ldap_user.dn, secret_path="/again")
    response = api.client.post(ROTATIONS, json=body, headers=api.admin)
    assert response.status_code == 400
    assert response.json()["message"] == "Another secret rotation already rotates this account"
    assert slapd.can_bind(ldap_user.dn, stored_secret(api, "LDAP_PASSWORD"))


def test_interval_change_moves_the_next_rotation(api: Api, rotation: dict[str, Any]) -> None:
    response = patch(api, rotation["id"], {"rotationInterval": 1})
    assert response.status_code == 200, response.text
    assert response.json()["secretRotation"]["nextRotationAt"] < rotation["nextRotationAt"]


def test_disabling_auto_rotation_clears_the_next_rotation(
    api: Api, rotation: dict[str, Any]
) -> None:
    response = patch(api, rotation["id"], {"isAutoRotationEnabled": False})
    assert response.json()["secretRotation"]["nextRotationAt"] is None
