"""A small installation built once per test module for the security tests.

Two projects (A, the bootstrap project, and B), each with a connection to the real test
slapd, a rotation, a secret and a folder; and one caller per kind the authorization matrix
checks: org admin, A's admin, member, viewer and no-access identities, B's admin, no token,
an expired token and a token whose client secret was revoked.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import Api, build_api
from tests.support.slapd import SlapdServer

CONNECTIONS = "/api/v1/app-connections/ldap"
ROTATIONS = "/api/v2/secret-rotations/ldap-password"
SECRETS = "/api/v3/secrets/raw"
FOLDERS = "/api/v2/folders"

#: Callers of the matrix, in the order of the issue.
CALLERS = (
    "org-admin",
    "project-admin",
    "member",
    "viewer",
    "no-access",
    "other-admin",
    "no-token",
    "expired-token",
    "revoked-secret",
)
#: Callers whose token is refused before any permission is looked at.
UNAUTHENTICATED = frozenset({"no-token", "expired-token", "revoked-secret"})


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def ok(response: Any) -> dict[str, Any]:
    """The JSON body of a response that must be 200."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@dataclass
class ProjectObjects:
    """One project's objects that routes address by id or name."""

    project_id: str
    connection_id: str = ""
    connection_name: str = ""
    rotation_id: str = ""
    rotation_name: str = ""
    rotation_path: str = ""
    secret_name: str = ""
    folder_id: str = ""
    folder_name: str = ""


@dataclass
class World:
    api: Api
    slapd: SlapdServer
    a: ProjectObjects
    b: ProjectObjects
    callers: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    @property
    def admin(self) -> dict[str, str]:
        return self.api.admin

    # -- identities ----------------------------------------------------------------------

    def new_identity(self, name: str = "identity") -> tuple[str, str, str]:
        """A machine identity with one client secret: (identity id, client id, secret)."""
        client = self.api.client
        identity = ok(client.post("/api/v1/identities", json={"name": name}, headers=self.admin))
        identity_id = identity["identity"]["id"]
        created = ok(
            client.post(
                f"/api/v1/identities/{identity_id}/universal-auth/client-secrets",
                json={},
                headers=self.admin,
            )
        )
        return identity_id, identity["identity"]["clientId"], created["clientSecret"]

    def new_client_secret(self) -> tuple[str, str]:
        """A fresh identity and one of its client secrets' id."""
        identity_id, _client_id, _secret = self.new_identity(unique("revocable"))
        listed = ok(
            self.api.client.get(
                f"/api/v1/identities/{identity_id}/universal-auth/client-secrets",
                headers=self.admin,
            )
        )
        return identity_id, listed["clientSecretData"][0]["id"]

    def caller_with_role(self, project_id: str, role: str) -> tuple[str, dict[str, str]]:
        identity_id, client_id, secret = self.new_identity(f"matrix-{role}")
        ok(
            self.api.client.put(
                f"/api/v1/projects/{project_id}/memberships",
                json={"identityId": identity_id, "role": role},
                headers=self.admin,
            )
        )
        return identity_id, self.api.login(client_id, secret)

    # -- objects -------------------------------------------------------------------------

    def new_connection(self, project_id: str | None, name: str | None = None) -> tuple[str, str]:
        """A connection binding as slapd's pwadmin over ldaps: (id, name)."""
        name = name or unique("conn")
        body: dict[str, Any] = {
            "name": name,
            "method": "simple-bind",
            "credentials": {
                "provider": "open-ldap",
                "url": self.slapd.ldaps_url,
                "dn": self.slapd.admin_dn,
                "password": self.slapd.admin_password,
                "sslCertificate": self.slapd.ca_pem,
            },
        }
        if project_id is not None:
            body["projectId"] = project_id
        created = ok(self.api.client.post(CONNECTIONS, json=body, headers=self.admin))
        return created["appConnection"]["id"], name

    def rotation_body(
        self, project_id: str, connection_id: str, *, name: str | None = None
    ) -> dict[str, Any]:
        """A create body rotating a new slapd user, at a path of its own."""
        uid = unique("target")
        dn = self.slapd.add_user(uid, secrets.token_urlsafe(16))
        name = name or unique("rot")
        return {
            "name": name,
            "projectId": project_id,
            "connectionId": connection_id,
            "environment": "dev",
            "secretPath": f"/{name}",
            "rotationInterval": 30,
            "parameters": {"dn": dn},
            "secretsMapping": {"dn": "LDAP_DN", "password": "LDAP_PASSWORD"},
        }

    def new_rotation(self, project: ProjectObjects) -> tuple[str, str, str]:
        """A rotation of a new slapd user in the project: (id, name, secret path)."""
        body = self.rotation_body(project.project_id, project.connection_id)
        created = ok(self.api.client.post(ROTATIONS, json=body, headers=self.admin))
        return created["secretRotation"]["id"], body["name"], body["secretPath"]

    def new_secret(self, project_id: str, value: str = "secret-value") -> str:
        name = unique("SECRET").upper().replace("-", "_")
        body = {
            "workspaceId": project_id,
            "environment": "dev",
            "secretPath": "/",
            "type": "shared",
            "secretValue": value,
        }
        ok(self.api.client.post(f"{SECRETS}/{name}", json=body, headers=self.admin))
        return name

    def new_folder(self, project_id: str) -> tuple[str, str]:
        name = unique("folder")
        body = {"projectId": project_id, "environment": "dev", "name": name, "path": "/"}
        created = ok(self.api.client.post(FOLDERS, json=body, headers=self.admin))
        return created["folder"]["id"], name

    def fill(self, project: ProjectObjects) -> None:
        project.connection_id, project.connection_name = self.new_connection(project.project_id)
        project.rotation_id, project.rotation_name, project.rotation_path = self.new_rotation(
            project
        )
        project.secret_name = self.new_secret(project.project_id)
        project.folder_id, project.folder_name = self.new_folder(project.project_id)


def build_world(directory: Path, slapd: SlapdServer, **settings: Any) -> World:
    api = build_api(directory / "data", f"sqlite:///{directory / 'ldapkeeper.db'}", **settings)
    created = ok(
        api.client.post(
            "/api/v1/projects", json={"name": "Project B", "slug": "project-b"}, headers=api.admin
        )
    )
    world = World(
        api=api,
        slapd=slapd,
        a=ProjectObjects(project_id=api.project_id),
        b=ProjectObjects(project_id=created["project"]["id"]),
    )
    world.fill(world.a)
    world.fill(world.b)
    callers = world.callers
    callers["org-admin"] = api.admin
    for role in ("admin", "member", "viewer", "no-access"):
        name = "project-admin" if role == "admin" else role
        callers[name] = world.caller_with_role(world.a.project_id, role)[1]
    callers["other-admin"] = world.caller_with_role(world.b.project_id, "admin")[1]
    callers["no-token"] = {}
    expired_identity, _ = world.caller_with_role(world.a.project_id, "admin")
    secret_id = ok(
        api.client.get(
            f"/api/v1/identities/{expired_identity}/universal-auth/client-secrets",
            headers=api.admin,
        )
    )["clientSecretData"][0]["id"]
    expired = api.runtime.tokens.issue(
        kind="identity", subject_id=expired_identity, ttl_seconds=-60, secret_id=secret_id
    )
    callers["expired-token"] = {"Authorization": f"Bearer {expired}"}
    revoked_identity, revoked_headers = world.caller_with_role(world.a.project_id, "admin")
    revoked_secret = ok(
        api.client.get(
            f"/api/v1/identities/{revoked_identity}/universal-auth/client-secrets",
            headers=api.admin,
        )
    )["clientSecretData"][0]["id"]
    ok(
        api.client.post(
            f"/api/v1/identities/{revoked_identity}/universal-auth/client-secrets/"
            f"{revoked_secret}/revoke",
            headers=api.admin,
        )
    )
    callers["revoked-secret"] = revoked_headers
    assert set(callers) == set(CALLERS)
    return world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, slapd: SlapdServer) -> Iterator[World]:
    """The installation of this module (built once: the matrix runs hundreds of requests)."""
    built = build_world(tmp_path_factory.mktemp("world"), slapd)
    yield built
    built.api.client.close()
    built.api.runtime.db.dispose()
