"""Helpers to set up connections and rotations through the API against real directories."""

from __future__ import annotations

from typing import Any

from tests.support.app import Api
from tests.support.slapd import SlapdServer


def create_connection(
    api: Api,
    *,
    url: str,
    dn: str,
    password: str,
    ca_pem: str | None,
    provider: str = "open-ldap",
    name: str = "directory",
    start_tls: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "method": "simple-bind",
        "projectId": api.project_id,
        "credentials": {
            "provider": provider,
            "url": url,
            "dn": dn,
            "password": password,
            "sslRejectUnauthorized": True,
            "startTls": start_tls,
        },
    }
    if ca_pem:
        body["credentials"]["sslCertificate"] = ca_pem
    response = api.client.post("/api/v1/app-connections/ldap", json=body, headers=api.admin)
    assert response.status_code == 200, response.text
    connection: dict[str, Any] = response.json()["appConnection"]
    return connection


def slapd_admin_connection(api: Api, slapd: SlapdServer, name: str = "slapd") -> dict[str, Any]:
    """A connection binding as the pwadmins member (may reset anyone's password) over ldaps."""
    return create_connection(
        api,
        url=slapd.ldaps_url,
        dn=slapd.admin_dn,
        password=slapd.admin_password,
        ca_pem=slapd.ca_pem,
        name=name,
    )


def rotation_body(
    api: Api,
    connection_id: str,
    dn: str,
    *,
    name: str = "svc",
    method: str = "connection-principal",
    temporary_password: str | None = None,
    secret_path: str = "/ldap",
    mapping: tuple[str, str] = ("LDAP_DN", "LDAP_PASSWORD"),
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "projectId": api.project_id,
        "connectionId": connection_id,
        "environment": "dev",
        "secretPath": secret_path,
        "rotationInterval": 30,
        "parameters": {"dn": dn, "rotationMethod": method},
        "secretsMapping": {"dn": mapping[0], "password": mapping[1]},
    }
    if temporary_password is not None:
        body["temporaryParameters"] = {"password": temporary_password}
    body.update(extra)
    return body


def create_rotation(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = api.client.post(
        "/api/v2/secret-rotations/ldap-password", json=body, headers=api.admin
    )
    assert response.status_code == 200, response.text
    rotation: dict[str, Any] = response.json()["secretRotation"]
    return rotation


def active_password(api: Api, rotation_id: str) -> str:
    response = api.client.get(
        f"/api/v2/secret-rotations/ldap-password/{rotation_id}/generated-credentials",
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    password: str = body["generatedCredentials"][body["activeIndex"]]["password"]
    return password


def stored_secret(api: Api, name: str, *, path: str = "/ldap") -> str:
    response = api.client.get(
        f"/api/v3/secrets/raw/{name}",
        params={"workspaceId": api.project_id, "environment": "dev", "secretPath": path},
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    value: str = response.json()["secret"]["secretValue"]
    return value
