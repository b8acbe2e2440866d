"""Who may see and use rotations: roles, generated credentials, other projects."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.app import Api
from tests.support.rotations import (
    create_rotation,
    rotation_body,
    slapd_admin_connection,
)
from tests.support.slapd import LdapUser, SlapdServer

ROTATIONS = "/api/v2/secret-rotations/ldap-password"


@pytest.fixture
def rotation(api: Api, slapd: SlapdServer, ldap_user: LdapUser) -> dict[str, Any]:
    connection = slapd_admin_connection(api, slapd)
    return create_rotation(api, rotation_body(api, connection["id"], ldap_user.dn))


@pytest.fixture
def other_project(api: Api) -> str:
    response = api.client.post(
        "/api/v1/projects", json={"name": "Other", "slug": "other"}, headers=api.admin
    )
    assert response.status_code == 200, response.text
    project_id: str = response.json()["project"]["id"]
    return project_id


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_only_admins_read_generated_credentials(
    api: Api, rotation: dict[str, Any], role: str
) -> None:
    headers = api.identity_with_role(role)
    response = api.client.get(
        f"{ROTATIONS}/{rotation['id']}/generated-credentials", headers=headers
    )
    assert response.status_code == 403


def test_viewer_reads_the_rotation_without_any_password(api: Api, rotation: dict[str, Any]) -> None:
    response = api.client.get(
        f"{ROTATIONS}/{rotation['id']}", headers=api.identity_with_role("viewer")
    )
    assert response.status_code == 200
    assert "password" not in {k.lower() for k in response.json()["secretRotation"]}


def test_viewer_cannot_rotate(api: Api, rotation: dict[str, Any]) -> None:
    response = api.client.post(
        f"{ROTATIONS}/{rotation['id']}/rotate-secrets", headers=api.identity_with_role("viewer")
    )
    assert response.status_code == 403


def test_member_may_rotate(api: Api, rotation: dict[str, Any]) -> None:
    response = api.client.post(
        f"{ROTATIONS}/{rotation['id']}/rotate-secrets", headers=api.identity_with_role("member")
    )
    assert response.status_code == 200, response.text


def test_rotation_is_not_found_from_another_project(
    api: Api, rotation: dict[str, Any], other_project: str
) -> None:
    outsider = api.identity_with_role("admin", other_project)
    response = api.client.get(f"{ROTATIONS}/{rotation['id']}", headers=outsider)
    assert response.status_code == 404


def test_another_projects_connection_cannot_be_used(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser, other_project: str
) -> None:
    connection = slapd_admin_connection(api, slapd)
    body = rotation_body(api, connection["id"], ldap_user.dn)
    body["projectId"] = other_project
    response = api.client.post(ROTATIONS, json=body, headers=api.admin)
    assert response.status_code == 404
    assert slapd.can_bind(ldap_user.dn, ldap_user.password)
