"""Unique canary passwords go through every route that takes one, right and wrong; then
every place a value could leak to is scanned for them: response bodies (but those meant to
carry a value), the JSON log lines, the audit records and the SQLite files, as UTF-8,
UTF-16LE, hex and base64 (at each of the three alignments).

Connection passwords through the connection routes alone are covered again here as one
kind among many; ``tests/connections/test_secrecy.py`` and ``tests/ui/test_secrecy.py``
look at them route by route and page by page.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ldapkeeper.db.models import AuditEvent
from ldapkeeper.logs import JsonFormatter
from ldapkeeper.secrets import service as secrets_service
from tests.security.world import CONNECTIONS, ROTATIONS, SECRETS, World, build_world, unique
from tests.support.slapd import SlapdServer
from tests.ui.support import browser_client, csrf_of

pytestmark = pytest.mark.slapd

#: What each canary is, and so which route it goes through.
KINDS = (
    "connection-create",
    "connection-update",
    "connection-wrong",
    "temporary-password",
    "secret-create",
    "secret-update",
    "secret-fault",
    "user-create",
    "user-login-wrong",
    "universal-auth-wrong",
    "invalid-field",
    "ui-login-wrong",
)


def spellings(value: str) -> list[bytes]:
    """How ``value`` could rest in a file or a log: UTF-8, UTF-16LE, hex, and base64 of
    either at each alignment (the edge characters that depend on neighbours dropped)."""
    forms: list[bytes] = []
    for raw in (value.encode(), value.encode("utf-16-le")):
        forms += [raw, raw.hex().encode()]
        for shift in range(3):
            encoded = base64.b64encode(b"\0" * shift + raw)
            forms.append(encoded[4 if shift else 0 : -4])
    return forms


@dataclass
class Exercised:
    world: World
    canaries: dict[str, str]
    #: (what, body, canaries it may carry)
    responses: list[tuple[str, str, frozenset[str]]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    generated: set[str] = field(default_factory=set)

    def keep(
        self, what: str, response: httpx.Response, *, carries: frozenset[str] = frozenset()
    ) -> httpx.Response:
        self.responses.append((what, response.text, carries))
        return response

    def everything_secret(self) -> dict[str, str]:
        """The canaries, and the generated passwords under names of their own."""
        found = dict(self.canaries)
        found.update({f"generated-{i}": value for i, value in enumerate(sorted(self.generated))})
        return found


class _Lines(logging.Handler):
    """Every record, formatted as the server writes it (the JSON formatter of ``logs``)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def exercised(tmp_path_factory: pytest.TempPathFactory, slapd: SlapdServer) -> Iterator[Exercised]:
    lines: list[str] = []
    handler = _Lines(lines)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        world = build_world(tmp_path_factory.mktemp("canaries"), slapd)
        canaries = {kind: f"Cn{secrets.token_hex(9)}" for kind in KINDS}
        seen = Exercised(world, canaries, logs=lines)
        _exercise(seen)
        yield seen
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        world.api.client.close()
        world.api.runtime.db.dispose()


def _exercise(seen: Exercised) -> None:
    w, c = seen.world, seen.canaries
    client, admin, slapd, a = w.api.client, w.admin, w.slapd, w.a
    project = a.project_id

    # -- connections: create, update, wrong password, check, a 422 -----------------------
    holder = slapd.add_user(unique("canary"), c["connection-create"])
    body: dict[str, Any] = {
        "name": "canary-conn",
        "method": "simple-bind",
        "projectId": project,
        "credentials": {
            "provider": "open-ldap",
            "url": slapd.ldaps_url,
            "dn": holder,
            "password": c["connection-create"],
            "sslCertificate": slapd.ca_pem,
        },
    }
    created = seen.keep("connection create", client.post(CONNECTIONS, json=body, headers=admin))
    assert created.status_code == 200, created.text
    connection_id = created.json()["appConnection"]["id"]
    seen.keep("connection get", client.get(f"{CONNECTIONS}/{connection_id}", headers=admin))
    seen.keep(
        "connection list", client.get(CONNECTIONS, params={"projectId": project}, headers=admin)
    )
    slapd.set_password(holder, c["connection-update"])
    seen.keep(
        "check after the password changed",
        client.post(f"{CONNECTIONS}/{connection_id}/check", headers=admin),
    )
    creds = {**body["credentials"], "password": c["connection-update"]}
    updated = client.patch(
        f"{CONNECTIONS}/{connection_id}", json={"credentials": creds}, headers=admin
    )
    assert seen.keep("connection update", updated).status_code == 200, updated.text
    wrong = {**body, "name": "wrong", "credentials": {**creds, "password": c["connection-wrong"]}}
    refused = seen.keep(
        "create with a wrong password", client.post(CONNECTIONS, json=wrong, headers=admin)
    )
    assert refused.json()["details"]["code"] == "invalid_credentials"
    wrong_update = {"credentials": {**creds, "password": c["connection-wrong"]}}
    seen.keep(
        "update with a wrong password",
        client.patch(f"{CONNECTIONS}/{connection_id}", json=wrong_update, headers=admin),
    )
    invalid = {**body, "name": "Not A Slug", "credentials": {**creds, "url": "http://x"}}
    assert (
        seen.keep(
            "connection 422", client.post(CONNECTIONS, json=invalid, headers=admin)
        ).status_code
        == 422
    )

    # -- rotations: target-principal with a temporary password ---------------------------
    target = slapd.add_user(unique("temp"), c["temporary-password"])
    rotation = {
        "name": "canary-rotation",
        "projectId": project,
        "connectionId": a.connection_id,
        "environment": "dev",
        "secretPath": "/canary",
        "rotationInterval": 30,
        "parameters": {"dn": target, "rotationMethod": "target-principal"},
        "temporaryParameters": {"password": c["temporary-password"]},
        "secretsMapping": {"dn": "CANARY_DN", "password": "CANARY_PASSWORD"},
    }
    made = seen.keep("rotation create", client.post(ROTATIONS, json=rotation, headers=admin))
    assert made.status_code == 200, made.text
    rotation_id = made.json()["secretRotation"]["id"]
    seen.keep("rotate now", client.post(f"{ROTATIONS}/{rotation_id}/rotate-secrets", headers=admin))
    seen.keep("rotation get", client.get(f"{ROTATIONS}/{rotation_id}", headers=admin))
    seen.keep("rotation history", client.get(f"{ROTATIONS}/{rotation_id}/history", headers=admin))
    generated = client.get(f"{ROTATIONS}/{rotation_id}/generated-credentials", headers=admin)
    seen.keep("generated credentials", generated, carries=frozenset({"generated"}))
    seen.generated |= {slot["password"] for slot in generated.json()["generatedCredentials"]}
    retry = {**rotation, "name": "canary-again", "secretPath": "/canary-again"}
    retry["temporaryParameters"] = {"password": c["temporary-password"]}  # no longer valid
    seen.keep(
        "rotation create with a stale temporary password",
        client.post(ROTATIONS, json=retry, headers=admin),
    )
    bad_interval = {**rotation, "name": "canary-422", "rotationInterval": c["invalid-field"]}
    assert (
        seen.keep(
            "rotation 422", client.post(ROTATIONS, json=bad_interval, headers=admin)
        ).status_code
        == 422
    )

    # -- secrets: create, update, read back (meant to carry), a 500 ----------------------
    where = {"workspaceId": project, "environment": "dev", "secretPath": "/"}
    made_secret = client.post(
        f"{SECRETS}/CANARY",
        json={**where, "type": "shared", "secretValue": c["secret-create"]},
        headers=admin,
    )
    seen.keep("secret create", made_secret, carries=frozenset({"secret-create"}))
    seen.keep(
        "secret read",
        client.get(f"{SECRETS}/CANARY", params=where, headers=admin),
        carries=frozenset({"secret-create"}),
    )
    changed = client.patch(
        f"{SECRETS}/CANARY",
        json={**where, "type": "shared", "secretValue": c["secret-update"]},
        headers=admin,
    )
    seen.keep("secret update", changed, carries=frozenset({"secret-update"}))
    seen.keep(
        "secret list",
        client.get(SECRETS, params={**where, "recursive": "true"}, headers=admin),
        carries=frozenset({"secret-update", "generated"}),
    )
    seen.keep(
        "old version",
        client.get(f"{SECRETS}/CANARY", params={**where, "version": 1}, headers=admin),
        carries=frozenset({"secret-create"}),
    )
    seen.keep(
        "secret as viewer",
        client.get(f"{SECRETS}/CANARY", params=where, headers=w.callers["viewer"]),
    )
    seen.keep(
        "secret list hidden",
        client.get(SECRETS, params={**where, "viewSecretValue": "false"}, headers=admin),
    )
    bad_name = {**where, "type": "shared", "secretValue": c["secret-update"], "secretComment": 5}
    seen.keep("secret 422", client.post(f"{SECRETS}/BAD", json=bad_name, headers=admin))
    rotation_secret = {
        **where,
        "secretPath": "/canary",
        "type": "shared",
        "secretValue": c["secret-update"],
    }
    seen.keep(
        "edit of a rotation-managed secret",
        client.patch(f"{SECRETS}/CANARY_PASSWORD", json=rotation_secret, headers=admin),
    )

    def explode(*_args: Any, value: str = "", **kwargs: Any) -> Any:
        raise RuntimeError(f"storage failed for {kwargs.get('key')} = {value}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(secrets_service, "create_secret", explode)
        fault = client.post(
            f"{SECRETS}/FAULT",
            json={**where, "type": "shared", "secretValue": c["secret-fault"]},
            headers=admin,
        )
    assert seen.keep("secret create that fails with a 500", fault).status_code == 500

    # -- users and logins ----------------------------------------------------------------
    email = f"{unique('canary')}@example.test"
    user = client.post(
        "/api/v1/users", json={"email": email, "password": c["user-create"]}, headers=admin
    )
    assert seen.keep("user create", user).status_code == 200, user.text
    login = client.post("/api/v1/auth/login", json={"email": email, "password": c["user-create"]})
    assert seen.keep("user login", login).status_code == 200
    wrong_login = client.post(
        "/api/v1/auth/login", json={"email": email, "password": c["user-login-wrong"]}
    )
    assert seen.keep("user login, wrong password", wrong_login).status_code == 401
    bad_email = client.post(
        "/api/v1/users",
        json={"email": c["invalid-field"], "password": c["user-create"]},
        headers=admin,
    )
    assert seen.keep("user create 422", bad_email).status_code == 422
    short = client.post(
        "/api/v1/users", json={"email": email, "password": c["invalid-field"][:8]}, headers=admin
    )
    seen.keep("user create with a too short password", short)
    ua = client.post(
        "/api/v1/auth/universal-auth/login",
        json={"clientId": "test-admin-client", "clientSecret": c["universal-auth-wrong"]},
    )
    assert seen.keep("universal auth, wrong secret", ua).status_code == 401
    ua_422 = client.post(
        "/api/v1/auth/universal-auth/login",
        json={"clientId": "", "clientSecret": c["universal-auth-wrong"]},
    )
    seen.keep("universal auth 422", ua_422)

    # -- the web UI's login form -------------------------------------------------------
    browser = browser_client(w.api)
    page = browser.get("/login")
    form = {"email": email, "password": c["ui-login-wrong"], "csrf_token": csrf_of(page.text)}
    seen.keep("UI login, wrong password", browser.post("/login", data=form))
    form = {"email": email, "password": c["user-create"], "csrf_token": csrf_of(page.text)}
    seen.keep("UI login", browser.post("/login", data=form))
    seen.keep(
        "UI connections page", browser.get(f"/projects/{project}/integrations/app-connections")
    )
    seen.keep(
        "UI secrets page",
        browser.get(
            f"/projects/{project}/secrets", params={"environment": "dev", "path": "/canary"}
        ),
    )

    # -- and the audit log as the API serves it --------------------------------------------
    seen.keep("audit log", client.get("/api/v1/audit-logs", params={"limit": 1000}, headers=admin))


def hits(
    text: bytes, secrets_by_name: dict[str, str], allowed: frozenset[str] = frozenset()
) -> list[str]:
    found = []
    for name, value in secrets_by_name.items():
        kind = "generated" if name.startswith("generated-") else name
        if kind in allowed:
            continue
        if any(form in text for form in spellings(value)):
            found.append(name)
    return found


def test_every_canary_went_through_its_route(exercised: Exercised) -> None:
    assert set(exercised.canaries) == set(KINDS)
    assert len(exercised.responses) >= 35
    assert exercised.generated, "the rotation produced no generated password"


def test_responses_carry_a_value_only_where_it_is_meant_to_be(exercised: Exercised) -> None:
    secret_values = exercised.everything_secret()
    leaks = [
        (what, hits(body.encode(), secret_values, allowed))
        for what, body, allowed in exercised.responses
    ]
    assert [(what, names) for what, names in leaks if names] == []


def test_the_read_routes_do_carry_their_values(exercised: Exercised) -> None:
    # The scan above would pass vacuously if the values never came back where they should.
    carriers = {what: body for what, body, _allowed in exercised.responses}
    assert exercised.canaries["secret-create"] in carriers["secret read"]
    assert exercised.canaries["secret-update"] in carriers["secret list"]


def test_no_log_line_carries_a_secret(exercised: Exercised) -> None:
    assert exercised.logs, "nothing was logged: the capture is broken"
    assert any("unhandled error" in line for line in exercised.logs)
    text = "\n".join(exercised.logs).encode()
    assert hits(text, exercised.everything_secret()) == []


def test_no_audit_record_carries_a_secret(exercised: Exercised) -> None:
    with exercised.world.api.runtime.db.read() as session:
        events = session.scalars(select(AuditEvent)).all()
        text = "\n".join(
            repr((e.type, e.actor_name, e.event_metadata, e.ip, e.user_agent)) for e in events
        )
    assert len(events) >= 30
    assert hits(text.encode(), exercised.everything_secret()) == []


def test_no_database_file_carries_a_secret(exercised: Exercised) -> None:
    runtime = exercised.world.api.runtime
    db_path = Path(runtime.settings.effective_database_url.removeprefix("sqlite:///"))
    files = [p for p in db_path.parent.glob(db_path.name + "*") if p.is_file()]
    assert db_path in files
    found = [
        (path.name, names)
        for path in files
        if (names := hits(path.read_bytes(), exercised.everything_secret()))
    ]
    assert found == []


@pytest.mark.parametrize("prefix", [b"", b"x", b"xy", b"xyz"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le"])
def test_scan_finds_a_value_base64_encoded_at_any_offset(prefix: bytes, encoding: str) -> None:
    value = f"Cn{secrets.token_hex(9)}"
    blob = b"head " + base64.b64encode(prefix + value.encode(encoding) + b"tail") + b" end"
    assert hits(blob, {"it": value}) == ["it"]
