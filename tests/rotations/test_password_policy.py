"""A directory that refuses the new password (ppolicy quality): the reason is reported and
the old password keeps binding and stays stored."""

from __future__ import annotations

from typing import Any

from tests.support.app import Api
from tests.support.rotations import (
    create_rotation,
    rotation_body,
    slapd_admin_connection,
    stored_secret,
)
from tests.support.slapd import LdapUser, SlapdServer

ROTATIONS = "/api/v2/secret-rotations/ldap-password"
#: Shorter than the policy's pwdMinLength (8): "Password fails quality checking policy".
TOO_SHORT = {"length": 4, "required": {"digits": 1, "lowercase": 1, "uppercase": 1}}


def too_short_body(api: Api, connection_id: str, dn: str) -> dict[str, Any]:
    body = rotation_body(api, connection_id, dn)
    body["parameters"]["passwordRequirements"] = TOO_SHORT
    return body


def rotation_then_short_passwords(api: Api, slapd: SlapdServer, user: LdapUser) -> str:
    """A rotation (rotated once) whose requirements were then cut below the policy."""
    connection = slapd_admin_connection(api, slapd)
    rotation = create_rotation(api, rotation_body(api, connection["id"], user.dn))
    response = api.client.patch(
        f"{ROTATIONS}/{rotation['id']}",
        json={"parameters": {"passwordRequirements": TOO_SHORT}},
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    rotation_id: str = rotation["id"]
    return rotation_id


def test_refusal_is_a_400_with_the_directory_reason(
    api: Api, slapd_ppolicy: SlapdServer, ppolicy_user: LdapUser
) -> None:
    rotation_id = rotation_then_short_passwords(api, slapd_ppolicy, ppolicy_user)
    response = api.client.post(f"{ROTATIONS}/{rotation_id}/rotate-secrets", headers=api.admin)
    assert response.status_code == 400
    body = response.json()
    assert "Password fails quality checking policy" in body["message"]
    assert body["details"]["code"] == "password_rejected"


def test_refused_rotation_keeps_the_stored_password_binding(
    api: Api, slapd_ppolicy: SlapdServer, ppolicy_user: LdapUser
) -> None:
    rotation_id = rotation_then_short_passwords(api, slapd_ppolicy, ppolicy_user)
    stored = stored_secret(api, "LDAP_PASSWORD")
    api.client.post(f"{ROTATIONS}/{rotation_id}/rotate-secrets", headers=api.admin)
    assert stored_secret(api, "LDAP_PASSWORD") == stored
    assert slapd_ppolicy.can_bind(ppolicy_user.dn, stored)


def test_refused_rotation_is_recorded_as_failed_with_the_reason(
    api: Api, slapd_ppolicy: SlapdServer, ppolicy_user: LdapUser
) -> None:
    rotation_id = rotation_then_short_passwords(api, slapd_ppolicy, ppolicy_user)
    api.client.post(f"{ROTATIONS}/{rotation_id}/rotate-secrets", headers=api.admin)
    rotation = api.client.get(f"{ROTATIONS}/{rotation_id}", headers=api.admin).json()
    assert rotation["secretRotation"]["rotationStatus"] == "failed"
    assert "quality" in rotation["secretRotation"]["lastRotationMessage"]


def test_refused_create_is_a_400_with_the_directory_reason(
    api: Api, slapd_ppolicy: SlapdServer, ppolicy_user: LdapUser
) -> None:
    connection = slapd_admin_connection(api, slapd_ppolicy)
    response = api.client.post(
        ROTATIONS, json=too_short_body(api, connection["id"], ppolicy_user.dn), headers=api.admin
    )
    assert response.status_code == 400
    assert "Password fails quality checking policy" in response.json()["message"]


def test_refused_create_leaves_nothing_behind(
    api: Api, slapd_ppolicy: SlapdServer, ppolicy_user: LdapUser
) -> None:
    connection = slapd_admin_connection(api, slapd_ppolicy)
    api.client.post(
        ROTATIONS, json=too_short_body(api, connection["id"], ppolicy_user.dn), headers=api.admin
    )
    listed = api.client.get(ROTATIONS, params={"projectId": api.project_id}, headers=api.admin)
    assert listed.json()["secretRotations"] == []
    secrets = api.client.get(
        "/api/v3/secrets/raw",
        params={"workspaceId": api.project_id, "environment": "dev", "secretPath": "/ldap"},
        headers=api.admin,
    )
    assert secrets.status_code in (200, 404)
    assert secrets.status_code == 404 or secrets.json()["secrets"] == []
    assert slapd_ppolicy.can_bind(ppolicy_user.dn, ppolicy_user.password)


def test_refused_create_can_be_retried_with_the_same_names(
    api: Api, slapd_ppolicy: SlapdServer, ppolicy_user: LdapUser
) -> None:
    connection = slapd_admin_connection(api, slapd_ppolicy)
    api.client.post(
        ROTATIONS, json=too_short_body(api, connection["id"], ppolicy_user.dn), headers=api.admin
    )
    create_rotation(api, rotation_body(api, connection["id"], ppolicy_user.dn))
    assert slapd_ppolicy.can_bind(ppolicy_user.dn, stored_secret(api, "LDAP_PASSWORD"))
