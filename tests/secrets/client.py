"""Helpers for tests of the secrets and folders routes: a small client for the v3 raw routes,
rotation-managed secrets, extra projects and machine identities with known secrets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from tests.support.app import Api

from ldapkeeper.projects.service import get_environment
from ldapkeeper.secrets import service


@dataclass
class RawSecrets:
    """Calls ``/api/v3/secrets/raw`` as one caller, in one project and environment."""

    api: Api
    headers: dict[str, str] = field(repr=False)
    project_id: str
    environment: str = "dev"

    def _where(self, path: str, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "workspaceId": self.project_id,
            "environment": self.environment,
            "secretPath": path,
            **extra,
        }

    def create(
        self, name: str, value: str = "value", path: str = "/", **body: Any
    ) -> httpx.Response:
        payload = self._where(path, {"secretValue": value, "type": "shared", **body})
        response: httpx.Response = self.api.client.post(
            f"/api/v3/secrets/raw/{name}", json=payload, headers=self.headers
        )
        return response

    def get(self, name: str, path: str = "/", **params: Any) -> httpx.Response:
        response: httpx.Response = self.api.client.get(
            f"/api/v3/secrets/raw/{name}", params=self._where(path, params), headers=self.headers
        )
        return response

    def list(self, path: str = "/", **params: Any) -> httpx.Response:
        response: httpx.Response = self.api.client.get(
            "/api/v3/secrets/raw", params=self._where(path, params), headers=self.headers
        )
        return response

    def update(self, name: str, path: str = "/", **body: Any) -> httpx.Response:
        response: httpx.Response = self.api.client.patch(
            f"/api/v3/secrets/raw/{name}",
            json=self._where(path, {"type": "shared", **body}),
            headers=self.headers,
        )
        return response

    def delete(self, name: str, path: str = "/", **body: Any) -> httpx.Response:
        response: httpx.Response = self.api.client.request(
            "DELETE",
            f"/api/v3/secrets/raw/{name}",
            json=self._where(path, {"type": "shared", **body}),
            headers=self.headers,
        )
        return response


def admin_secrets(api: Api, project_id: str | None = None) -> RawSecrets:
    """The bootstrap admin's client for a project (the default project when None)."""
    return RawSecrets(api, api.admin, project_id or api.project_id)


def write_managed(
    api: Api, *, key: str, value: str, rotation_id: str = "rotation-1", path: str = "/"
) -> None:
    """Write a secret the way the rotation engine does (so it is rotation-managed)."""
    with api.runtime.db.write() as session:
        env = get_environment(session, project_id=api.project_id, slug="dev")
        folder = service.ensure_folder(
            session, project_id=api.project_id, environment_id=env.id, path=path
        )
        service.write_managed_secrets(
            session,
            api.runtime.keyring,
            service.ManagedValues(
                project_id=api.project_id,
                environment_id=env.id,
                folder_id=folder.id,
                rotation_id=rotation_id,
                values={key: value},
            ),
        )


def create_project(api: Api, slug: str) -> str:
    """A new project (as the org admin); its id."""
    response = api.client.post(
        "/api/v1/projects", json={"name": slug, "slug": slug}, headers=api.admin
    )
    assert response.status_code == 200, response.text
    project_id: str = response.json()["project"]["id"]
    return project_id


def project_slug(api: Api, project_id: str) -> str:
    """The slug of a project."""
    response = api.client.get(f"/api/v1/projects/{project_id}", headers=api.admin)
    slug: str = response.json()["project"]["slug"]
    return slug


def machine_identity(api: Api, role: str, project_id: str | None = None) -> tuple[str, str]:
    """A machine identity with ``role`` in the project: its (clientId, clientSecret)."""
    created = api.client.post(
        "/api/v1/identities", json={"name": f"sdk-{role}"}, headers=api.admin
    ).json()["identity"]
    secret: str = api.client.post(
        f"/api/v1/identities/{created['id']}/universal-auth/client-secrets",
        json={},
        headers=api.admin,
    ).json()["clientSecret"]
    response = api.client.put(
        f"/api/v1/projects/{project_id or api.project_id}/memberships",
        json={"identityId": created["id"], "role": role},
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    return created["clientId"], secret
