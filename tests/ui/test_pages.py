"""Pages through the app without a browser: logins, landing, permissions, forms, escaping."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.app import ADMIN_EMAIL, ADMIN_PASSWORD, Api
from tests.support.rotations import slapd_admin_connection
from tests.support.slapd import SlapdServer
from tests.ui.support import browser_client, connections_url, csrf_of, ui_login, user_with_role


def test_root_sends_a_stranger_to_the_login_page(api: Api) -> None:
    response = browser_client(api).get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_login_lands_on_app_connections_of_the_default_project(api: Api) -> None:
    client = browser_client(api)
    ui_login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    landing = client.get("/", follow_redirects=False)
    assert landing.headers["location"] == connections_url(api)
    page = client.get(landing.headers["location"])
    assert page.status_code == 200
    assert 'aria-current="page" aria-selected="true">App Connections</a>' in page.text
    assert ">Add Connection</a>" in page.text
    assert '<option value="' + api.project_id + '" selected>default</option>' in page.text


def test_wrong_password_shows_the_login_error_and_keeps_the_email(api: Api) -> None:
    client = browser_client(api)
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": ADMIN_EMAIL, "password": "nope-nope", "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 401
    assert "Invalid credentials" in response.text
    assert f'value="{ADMIN_EMAIL}"' in response.text
    assert "nope-nope" not in response.text


def test_login_form_validates_like_the_api(api: Api) -> None:
    client = browser_client(api)
    page = client.get("/login")
    response = client.post(
        "/login", data={"email": "x", "password": "", "csrf_token": csrf_of(page.text)}
    )
    api_answer = api.client.post("/api/v1/auth/login", json={"email": "x"})
    assert response.status_code == 422
    for issue in api_answer.json()["message"]:
        assert issue["message"] in response.text


def test_expired_session_goes_back_to_the_login_page(api: Api) -> None:
    client = browser_client(api)
    client.cookies.set("ldapkeeper_session", "not-a-token")
    response = client.get(connections_url(api), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_htmx_request_without_session_redirects_the_whole_page(api: Api) -> None:
    response = browser_client(api).get(
        connections_url(api, "/new/ldap"), headers={"HX-Request": "true"}
    )
    assert response.headers["hx-redirect"] == "/login"


def test_project_picker_switches_to_the_same_section(api: Api) -> None:
    client = browser_client(api)
    ui_login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    created = api.client.post(
        "/api/v1/projects", json={"name": "Second", "slug": "second"}, headers=api.admin
    )
    other = created.json()["project"]["id"]
    response = client.get(
        "/projects/switch",
        params={"project": other, "section": "secret-rotations"},
        follow_redirects=False,
    )
    assert response.headers["location"] == f"/projects/{other}/secret-rotations"
    page = client.get(f"/projects/{other}/secret-rotations")
    assert '" selected>Second</option>' in page.text


# -- permissions ------------------------------------------------------------------------------


@pytest.fixture
def viewer(api: Api) -> Any:
    client = browser_client(api)
    ui_login(client, *user_with_role(api, "viewer"))
    return client


def test_viewer_sees_connections_but_no_add_button(api: Api, viewer: Any) -> None:
    page = viewer.get(connections_url(api))
    assert page.status_code == 200
    assert "App Connections" in page.text
    assert "Add Connection</a>" not in page.text


def test_viewer_gets_a_permission_denied_page_for_the_connection_form(
    api: Api, viewer: Any
) -> None:
    response = viewer.get(connections_url(api, "/new/ldap"))
    assert response.status_code == 403
    assert "Permission denied" in response.text
    assert "You are not allowed to create-app-connections" in response.text
    assert response.headers["content-type"].startswith("text/html")


def test_viewer_cannot_create_a_connection_by_posting(api: Api, viewer: Any) -> None:
    token = csrf_of(viewer.get(connections_url(api)).text)
    response = viewer.post(
        connections_url(api, "/ldap"),
        data={
            "csrf_token": token,
            "name": "sneaky",
            "method": "simple-bind",
            "credentials.provider": "open-ldap",
            "credentials.url": "ldap://127.0.0.1:9",
            "credentials.dn": "cn=x,dc=example,dc=test",
            "credentials.password": "irrelevant",
        },
    )
    assert response.status_code == 403
    assert "Permission denied" in response.text


def test_viewer_gets_a_permission_denied_page_for_a_new_rotation(api: Api, viewer: Any) -> None:
    response = viewer.get(f"/projects/{api.project_id}/secret-rotations/new")
    assert response.status_code == 403
    assert "You are not allowed to create on secret-rotations" in response.text


def test_viewer_sees_secret_keys_but_cannot_reveal_values(api: Api, viewer: Any) -> None:
    api.client.post(
        "/api/v3/secrets/raw/APP_TOKEN",
        json={
            "workspaceId": api.project_id,
            "environment": "dev",
            "secretPath": "/",
            "secretValue": "value-only-members-see",
        },
        headers=api.admin,
    )
    page = viewer.get(f"/projects/{api.project_id}/secrets")
    assert page.status_code == 200
    assert "APP_TOKEN" in page.text
    assert "value-only-members-see" not in page.text
    assert ">Reveal</button>" not in page.text
    response = viewer.post(
        f"/projects/{api.project_id}/secrets/reveal",
        data={
            "csrf_token": csrf_of(page.text),
            "environment": "dev",
            "path": "/",
            "key": "APP_TOKEN",
        },
    )
    assert response.status_code == 403
    assert "value-only-members-see" not in response.text


def test_member_reveals_a_secret_value(api: Api) -> None:
    api.client.post(
        "/api/v3/secrets/raw/APP_TOKEN",
        json={
            "workspaceId": api.project_id,
            "environment": "dev",
            "secretPath": "/",
            "secretValue": "value-members-see",
        },
        headers=api.admin,
    )
    member = browser_client(api)
    ui_login(member, *user_with_role(api, "member"))
    page = member.get(f"/projects/{api.project_id}/secrets", params={"environment": "dev"})
    assert "value-members-see" not in page.text
    response = member.post(
        f"/projects/{api.project_id}/secrets/reveal",
        data={
            "csrf_token": csrf_of(page.text),
            "environment": "dev",
            "path": "/",
            "key": "APP_TOKEN",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert ">value-members-see</code>" in response.text


def test_user_without_a_role_gets_not_found_for_the_project(api: Api) -> None:
    client = browser_client(api)
    ui_login(client, *user_with_role(api, None))
    assert client.get("/", follow_redirects=False).headers["location"] == "/no-projects"
    response = client.get(connections_url(api))
    assert response.status_code == 404
    assert "Project not found" in response.text


def test_unknown_rotation_is_a_not_found_page(api: Api) -> None:
    client = browser_client(api)
    ui_login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    response = client.get(f"/projects/{api.project_id}/secret-rotations/no-such-rotation")
    assert response.status_code == 404
    assert "Secret rotation not found" in response.text


# -- forms validate like the API ------------------------------------------------------------


def api_messages(api: Api, body: dict[str, Any], route: str) -> list[dict[str, str]]:
    response = api.client.post(route, json=body, headers=api.admin)
    assert response.status_code == 422, response.text
    issues: list[dict[str, str]] = response.json()["message"]
    return issues


def test_connection_form_shows_the_api_validation_messages(api: Api) -> None:
    client = browser_client(api)
    ui_login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    form = {
        "name": "Not A Slug",
        "method": "simple-bind",
        "credentials.provider": "open-ldap",
        "credentials.url": "http://example.test",
        "credentials.dn": "alice@example.test",
        "credentials.password": "Typed-Secret-1",
        "credentials.sslCertificate": "not a certificate",
    }
    token = csrf_of(client.get(connections_url(api, "/new/ldap")).text)
    response = client.post(connections_url(api, "/ldap"), data={**form, "csrf_token": token})
    assert response.status_code == 422
    body = {
        "name": form["name"],
        "method": "simple-bind",
        "projectId": api.project_id,
        "credentials": {
            "provider": "open-ldap",
            "url": form["credentials.url"],
            "dn": form["credentials.dn"],
            "password": form["credentials.password"],
            "sslCertificate": form["credentials.sslCertificate"],
        },
    }
    issues = api_messages(api, body, "/api/v1/app-connections/ldap")
    assert {i["path"] for i in issues} >= {"name", "credentials.url", "credentials.dn"}
    for issue in issues:
        assert _escaped(issue["message"]) in response.text, issue
    assert "Typed-Secret-1" not in response.text
    assert 'value="Not A Slug"' in response.text
    assert 'value="http://example.test"' in response.text


@pytest.mark.slapd
def test_rotation_form_shows_the_api_validation_messages(api: Api, slapd: SlapdServer) -> None:
    connection = slapd_admin_connection(api, slapd)
    client = browser_client(api)
    ui_login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    page = client.get(f"/projects/{api.project_id}/secret-rotations")
    form = {
        "csrf_token": csrf_of(page.text),
        "name": "svc",
        "connectionId": connection["id"],
        "environment": "dev",
        "secretPath": "/",
        "rotationInterval": "0",
        "rotateAtUtc.hours": "24",
        "rotateAtUtc.minutes": "0",
        "parameters.dn": "uid=svc,dc=example,dc=test",
        "parameters.rotationMethod": "connection-principal",
        "parameters.passwordRequirements.length": "4",
        "parameters.passwordRequirements.required.digits": "3",
        "parameters.passwordRequirements.required.lowercase": "3",
        "parameters.passwordRequirements.required.uppercase": "0",
        "parameters.passwordRequirements.required.symbols": "0",
        "parameters.passwordRequirements.allowedSymbols": "${}",
        "secretsMapping.dn": "SAME",
        "secretsMapping.password": "SAME",
    }
    response = client.post(f"/projects/{api.project_id}/secret-rotations", data=form)
    assert response.status_code == 422
    body = {
        "name": "svc",
        "projectId": api.project_id,
        "connectionId": connection["id"],
        "environment": "dev",
        "secretPath": "/",
        "rotationInterval": 0,
        "rotateAtUtc": {"hours": 24, "minutes": 0},
        "parameters": {
            "dn": "uid=svc,dc=example,dc=test",
            "passwordRequirements": {
                "length": 4,
                "required": {"digits": 3, "lowercase": 3, "uppercase": 0, "symbols": 0},
                "allowedSymbols": "${}",
            },
        },
        "secretsMapping": {"dn": "SAME", "password": "SAME"},
    }
    issues = api_messages(api, body, "/api/v2/secret-rotations/ldap-password")
    assert len(issues) >= 3
    for issue in issues:
        assert _escaped(issue["message"]) in response.text, issue


def _escaped(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def test_user_input_is_escaped_in_pages(api: Api) -> None:
    client = browser_client(api)
    ui_login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    token = csrf_of(client.get(connections_url(api, "/new/ldap")).text)
    response = client.post(
        connections_url(api, "/ldap"),
        data={
            "csrf_token": token,
            "name": "<script>alert(1)</script>",
            "description": '"><img src=x onerror=alert(1)>',
            "credentials.url": "ldap://127.0.0.1:9",
        },
    )
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert '"><img' not in response.text
