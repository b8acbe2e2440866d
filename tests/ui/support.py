"""Helpers of the UI tests: logging in through the login form, users with a role, forms."""

from __future__ import annotations

import re
import secrets

from fastapi.testclient import TestClient

from tests.support.app import Api

CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = CSRF.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def browser_client(api: Api, *, base_url: str = "http://testserver") -> TestClient:
    """A client with its own cookie jar, like a separate browser."""
    return TestClient(api.app, base_url=base_url, raise_server_exceptions=False)


def ui_login(client: TestClient, email: str, password: str) -> None:
    """Log in through the login form; the client keeps the session cookie."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"


def user_with_role(api: Api, role: str | None) -> tuple[str, str]:
    """A new user (email, password) holding ``role`` in the default project (None: none)."""
    email = f"user-{secrets.token_hex(4)}@example.test"
    password = f"Pw-{secrets.token_hex(8)}"
    created = api.client.post(
        "/api/v1/users", json={"email": email, "password": password}, headers=api.admin
    )
    assert created.status_code == 200, created.text
    if role is not None:
        response = api.client.put(
            f"/api/v1/projects/{api.project_id}/memberships",
            json={"userId": created.json()["user"]["id"], "role": role},
            headers=api.admin,
        )
        assert response.status_code == 200, response.text
    return email, password


def connections_url(api: Api, suffix: str = "") -> str:
    return f"/projects/{api.project_id}/integrations/app-connections{suffix}"
