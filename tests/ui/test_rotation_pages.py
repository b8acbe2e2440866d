"""Rotation pages without a browser, against a real slapd: failures, delete, permissions."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.app import ADMIN_EMAIL, ADMIN_PASSWORD, Api
from tests.support.rotations import create_rotation, rotation_body, slapd_admin_connection
from tests.support.slapd import LdapUser, SlapdServer
from tests.ui.support import browser_client, csrf_of, ui_login, user_with_role

pytestmark = pytest.mark.slapd


@pytest.fixture
def rotation(api: Api, slapd: SlapdServer, ldap_user: LdapUser) -> dict[str, Any]:
    connection = slapd_admin_connection(api, slapd)
    return create_rotation(api, rotation_body(api, connection["id"], ldap_user.dn))


def rotation_url(api: Api, rotation: dict[str, Any], suffix: str = "") -> str:
    return f"/projects/{api.project_id}/secret-rotations/{rotation['id']}{suffix}"


def admin_client(api: Api) -> TestClient:
    client = browser_client(api)
    ui_login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    return client


def test_list_shows_status_and_schedule(api: Api, rotation: dict[str, Any]) -> None:
    page = admin_client(api).get(f"/projects/{api.project_id}/secret-rotations")
    assert page.status_code == 200
    assert f'id="rotation-{rotation["id"]}"' in page.text
    assert "status-success" in page.text
    assert rotation["nextRotationAt"][:10] in page.text


def test_failed_rotate_now_shows_the_reason_on_the_rotation_page(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser, rotation: dict[str, Any]
) -> None:
    client = admin_client(api)
    slapd.delete_user(ldap_user.dn)
    detail = client.get(rotation_url(api, rotation))
    response = client.post(
        rotation_url(api, rotation, "/rotate"), data={"csrf_token": csrf_of(detail.text)}
    )
    assert response.status_code == 400
    assert "Failed to rotate the password" in response.text
    history = api.client.get(
        f"/api/v2/secret-rotations/ldap-password/{rotation['id']}/history", headers=api.admin
    ).json()["history"]
    assert history[0]["status"] == "failed"
    assert response.text.count("status-failed") >= 1


def test_delete_after_confirmation_removes_the_rotation_and_its_secrets(
    api: Api, rotation: dict[str, Any]
) -> None:
    client = admin_client(api)
    confirm = client.get(rotation_url(api, rotation, "/delete"))
    assert confirm.status_code == 200
    assert f"Delete {rotation['name']}?" in confirm.text
    response = client.post(
        rotation_url(api, rotation, "/delete"),
        data={"csrf_token": csrf_of(confirm.text), "deleteSecrets": "true"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    gone = api.client.get(
        f"/api/v2/secret-rotations/ldap-password/{rotation['id']}", headers=api.admin
    )
    assert gone.status_code == 404
    secrets = api.client.get(
        "/api/v3/secrets/raw",
        params={"workspaceId": api.project_id, "environment": "dev", "secretPath": "/ldap"},
        headers=api.admin,
    ).json()["secrets"]
    assert secrets == []


def test_member_may_rotate_but_not_reveal_generated_credentials(
    api: Api, rotation: dict[str, Any]
) -> None:
    member = browser_client(api)
    ui_login(member, *user_with_role(api, "member"))
    page = member.get(rotation_url(api, rotation))
    assert ">Rotate now</button>" in page.text
    assert "Reveal Generated Credentials" not in page.text
    response = member.post(
        rotation_url(api, rotation, "/generated-credentials"),
        data={"csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 403
    assert "read-generated-credentials" in response.text


def test_viewer_reads_the_rotation_but_may_not_rotate(api: Api, rotation: dict[str, Any]) -> None:
    viewer = browser_client(api)
    ui_login(viewer, *user_with_role(api, "viewer"))
    page = viewer.get(rotation_url(api, rotation))
    assert page.status_code == 200
    assert "Rotate now" not in page.text
    response = viewer.post(
        rotation_url(api, rotation, "/rotate"), data={"csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 403


def test_admin_reveals_the_credentials_the_api_returns(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser, rotation: dict[str, Any]
) -> None:
    client = admin_client(api)
    page = client.get(rotation_url(api, rotation))
    assert "secret-value" not in page.text
    response = client.post(
        rotation_url(api, rotation, "/generated-credentials"),
        data={"csrf_token": csrf_of(page.text)},
        headers={"HX-Request": "true"},
    )
    credentials = api.client.get(
        f"/api/v2/secret-rotations/ldap-password/{rotation['id']}/generated-credentials",
        headers=api.admin,
    ).json()
    active = credentials["generatedCredentials"][credentials["activeIndex"]]["password"]
    assert f'data-slot="active">{active}</code>' in response.text
    assert slapd.can_bind(ldap_user.dn, active)


def test_rotation_of_another_project_is_not_found_here(api: Api, rotation: dict[str, Any]) -> None:
    created = api.client.post(
        "/api/v1/projects", json={"name": "Other", "slug": "other"}, headers=api.admin
    )
    other = created.json()["project"]["id"]
    response = admin_client(api).get(f"/projects/{other}/secret-rotations/{rotation['id']}")
    assert response.status_code == 404
