"""A whole ldapkeeper (runtime + FastAPI app) on a fresh database, with known admin logins."""

from __future__ import annotations

import base64
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ldapkeeper.app import create_app
from ldapkeeper.runtime import Runtime, build_runtime
from ldapkeeper.settings import Settings

ADMIN_EMAIL = "admin@example.test"
ADMIN_PASSWORD = "admin-password-for-tests-1"
CLIENT_ID = "test-admin-client"
CLIENT_SECRET = "test-admin-client-secret-0123456789abcdef"


def make_settings(data_dir: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings for a test server: loopback directories allowed, known bootstrap credentials."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "root_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "bootstrap_admin_email": ADMIN_EMAIL,
        "bootstrap_admin_password": ADMIN_PASSWORD,
        "bootstrap_client_id": CLIENT_ID,
        "bootstrap_client_secret": CLIENT_SECRET,
        "allowed_networks": ["127.0.0.0/8"],
        "ldap_timeout_seconds": 5.0,
        "run_worker": False,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Api:
    """A test client with the admin's token and the bootstrap project at hand."""

    runtime: Runtime
    app: FastAPI
    client: TestClient
    admin_token: str = field(repr=False)
    project_id: str

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def login(self, client_id: str, client_secret: str) -> dict[str, str]:
        response = self.client.post(
            "/api/v1/auth/universal-auth/login",
            json={"clientId": client_id, "clientSecret": client_secret},
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['accessToken']}"}

    def identity_with_role(self, role: str, project_id: str | None = None) -> dict[str, str]:
        """A new machine identity holding ``role`` in the project; returns its auth header."""
        created = self.client.post(
            "/api/v1/identities", json={"name": f"id-{role}"}, headers=self.admin
        )
        identity = created.json()["identity"]
        secret = self.client.post(
            f"/api/v1/identities/{identity['id']}/universal-auth/client-secrets",
            json={},
            headers=self.admin,
        ).json()["clientSecret"]
        if role != "none":
            response = self.client.put(
                f"/api/v1/projects/{project_id or self.project_id}/memberships",
                json={"identityId": identity["id"], "role": role},
                headers=self.admin,
            )
            assert response.status_code == 200, response.text
        return self.login(identity["clientId"], secret)


def build_api(data_dir: Path, database_url: str, **overrides: Any) -> Api:
    runtime = build_runtime(make_settings(data_dir, database_url, **overrides))
    app = create_app(runtime)
    client = TestClient(app, raise_server_exceptions=False)
    token = client.post(
        "/api/v1/auth/universal-auth/login",
        json={"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET},
    ).json()["accessToken"]
    projects = client.get("/api/v1/projects", headers={"Authorization": f"Bearer {token}"})
    project_id = projects.json()["projects"][0]["id"]
    return Api(runtime, app, client, token, project_id)


@pytest.fixture
def runtime(tmp_path: Path, sqlite_url: str) -> Iterator[Runtime]:
    """A bootstrapped runtime (no HTTP) on a fresh SQLite database."""
    built = build_runtime(make_settings(tmp_path / "data", sqlite_url))
    yield built
    built.db.dispose()


@pytest.fixture
def runtime_any_db(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    """A bootstrapped runtime (no HTTP) on each database backend."""
    built = build_runtime(make_settings(tmp_path / "data", database_url))
    yield built
    built.db.dispose()


@pytest.fixture
def runtime_postgres(tmp_path: Path, postgres_url: str) -> Iterator[Runtime]:
    """A bootstrapped runtime (no HTTP) on PostgreSQL, for what only PostgreSQL does."""
    built = build_runtime(make_settings(tmp_path / "data", postgres_url))
    yield built
    built.db.dispose()


def _serve(data_dir: Path, database_url: str) -> Iterator[Api]:
    harness = build_api(data_dir, database_url)
    yield harness
    harness.client.close()
    harness.runtime.db.dispose()


@pytest.fixture
def api(tmp_path: Path, sqlite_url: str) -> Iterator[Api]:
    """The app on a fresh SQLite database."""
    yield from _serve(tmp_path / "data", sqlite_url)


@pytest.fixture
def api_postgres(tmp_path: Path, postgres_url: str) -> Iterator[Api]:
    """The app on PostgreSQL, for what only PostgreSQL does."""
    yield from _serve(tmp_path / "data", postgres_url)


@pytest.fixture
def api_any_db(tmp_path: Path, database_url: str) -> Iterator[Api]:
    """The app on each database backend (SQLite, and PostgreSQL when one answers)."""
    yield from _serve(tmp_path / "data", database_url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    api: Api


@pytest.fixture
def live_server(api: Api) -> Iterator[LiveServer]:
    """The same app served over real HTTP on 127.0.0.1 (for unmodified clients like the SDK)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(api.app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/status", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    yield LiveServer(url, api)
    server.should_exit = True
    thread.join(timeout=10)
