"""A canary password goes through every route; it must never come back or rest in clear."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from ldapkeeper.db.models import AuditEvent
from tests.connections.bodies import ROUTE, create, created_id, slapd_body
from tests.support.app import Api
from tests.support.slapd import SlapdServer

pytestmark = pytest.mark.slapd


@dataclass
class Exercised:
    """What one pass over every route left behind."""

    api: Api
    canary: str
    bodies: list[str] = field(default_factory=list)


@pytest.fixture
def exercised(api: Api, slapd: SlapdServer) -> Exercised:
    """Create (ok and failed), read, list, update, check and delete with a canary password."""
    canary = f"Canary-{secrets.token_hex(8)}"
    uid = f"canary-{secrets.token_hex(4)}"
    dn = slapd.add_user(uid, canary)
    seen = Exercised(api, canary)
    project = {"projectId": api.project_id}

    def keep(text: str) -> None:
        seen.bodies.append(text)

    body = slapd_body(slapd, api.project_id, dn=dn, password=canary)
    connection_id = created_id(api.client, api.admin, body)
    # Stays stored, so the file scan below looks at a live sealed password too.
    created_id(api.client, api.admin, {**body, "name": "kept"})
    wrong = slapd_body(slapd, api.project_id, name="wrong", dn=dn, password=canary + "-x")
    keep(create(api.client, api.admin, wrong).text)
    invalid = slapd_body(slapd, api.project_id, name="Bad Name", dn=dn, password=canary)
    keep(create(api.client, api.admin, invalid).text)
    keep(api.client.get(f"{ROUTE}/{connection_id}", headers=api.admin).text)
    keep(api.client.get(ROUTE, params=project, headers=api.admin).text)
    keep(api.client.get(ROUTE[:-5], params=project, headers=api.admin).text)
    keep(api.client.get(f"{ROUTE}/available", params=project, headers=api.admin).text)
    keep(
        api.client.get(f"{ROUTE}/connection-name/corp-ldap", params=project, headers=api.admin).text
    )
    patch = {"credentials": body["credentials"], "description": "rebound"}
    keep(api.client.patch(f"{ROUTE}/{connection_id}", json=patch, headers=api.admin).text)
    keep(api.client.post(f"{ROUTE}/{connection_id}/check", headers=api.admin).text)
    slapd.set_password(dn, canary + "-new")  # the check now fails: its error must not echo
    keep(api.client.post(f"{ROUTE}/{connection_id}/check", headers=api.admin).text)
    keep(api.client.delete(f"{ROUTE}/{connection_id}", headers=api.admin).text)
    return seen


def spellings(password: str) -> list[bytes]:
    """The password as it could rest in a file: UTF-8, UTF-16LE, base64 of either."""
    utf8, utf16 = password.encode(), password.encode("utf-16-le")
    return [utf8, utf16, base64.b64encode(utf8), base64.b64encode(utf16)]


def test_canary_password_is_in_no_response(exercised: Exercised) -> None:
    assert len(exercised.bodies) == 11
    assert not [body for body in exercised.bodies if exercised.canary in body]


def test_canary_password_is_in_no_audit_event(exercised: Exercised) -> None:
    with exercised.api.runtime.db.read() as session:
        events = session.scalars(select(AuditEvent)).all()
        metadata = [repr(event.event_metadata) for event in events]
    assert len(events) >= 10
    assert not [text for text in metadata if exercised.canary in text]


def test_canary_password_is_not_in_the_audit_log_route(exercised: Exercised) -> None:
    api = exercised.api
    text = api.client.get("/api/v1/audit-logs", headers=api.admin).text
    assert "create-app-connection" in text
    assert exercised.canary not in text


def test_canary_password_is_not_in_the_database_files(exercised: Exercised) -> None:
    runtime = exercised.api.runtime
    db_path = Path(runtime.settings.effective_database_url.removeprefix("sqlite:///"))
    files = [p for p in db_path.parent.glob(db_path.name + "*") if p.is_file()]
    assert db_path in files
    found = [
        (path.name, form)
        for path in files
        for form in spellings(exercised.canary)
        if form in path.read_bytes()
    ]
    assert found == []
