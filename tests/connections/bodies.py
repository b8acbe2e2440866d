"""Request bodies for LDAP App Connection tests, shaped like the seed's sample request."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from tests.support.slapd import SlapdServer

ROUTE = "/api/v1/app-connections/ldap"


def ldap_body(
    *,
    name: str,
    project_id: str | None,
    url: str,
    dn: str,
    password: str,
    ca_pem: str | None = None,
    provider: str = "open-ldap",
    **credentials: Any,
) -> dict[str, Any]:
    """A create body: the seed's fields, plus any extra ``credentials`` keys (camelCase)."""
    creds: dict[str, Any] = {
        "provider": provider,
        "url": url,
        "dn": dn,
        "password": password,
        "sslRejectUnauthorized": True,
        **credentials,
    }
    if ca_pem is not None:
        creds["sslCertificate"] = ca_pem
    body: dict[str, Any] = {"name": name, "method": "simple-bind", "credentials": creds}
    if project_id is not None:
        body["projectId"] = project_id
    return body


def seed_body(slapd: SlapdServer, project_id: str) -> dict[str, Any]:
    """The seed's sample request with its placeholders filled in for the test slapd."""
    return {
        "name": "my-ldap-connection",
        "method": "simple-bind",
        "projectId": project_id,
        "credentials": {
            "provider": "active-directory",
            "url": slapd.ldaps_url,
            "dn": slapd.admin_dn,
            "password": slapd.admin_password,
            "sslRejectUnauthorized": True,
            "sslCertificate": slapd.ca_pem,
        },
    }


def slapd_body(
    slapd: SlapdServer, project_id: str | None, *, name: str = "corp-ldap", **overrides: Any
) -> dict[str, Any]:
    """A body binding as slapd's pwadmin over ldaps:// with the test CA."""
    values: dict[str, Any] = {
        "name": name,
        "project_id": project_id,
        "url": slapd.ldaps_url,
        "dn": slapd.admin_dn,
        "password": slapd.admin_password,
        "ca_pem": slapd.ca_pem,
    }
    values.update(overrides)
    return ldap_body(**values)


def create(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> Response:
    """POST the body to the create route."""
    response: Response = client.post(ROUTE, json=body, headers=headers)
    return response


def created_id(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> str:
    """Create and return the new connection's id (the create must succeed)."""
    response = create(client, headers, body)
    assert response.status_code == 200, response.text
    connection_id: str = response.json()["appConnection"]["id"]
    return connection_id


def error_code(response: Response) -> str | None:
    """``details.code`` of an error body."""
    details = response.json().get("details") or {}
    code: str | None = details.get("code")
    return code
