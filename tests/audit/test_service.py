from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ldapkeeper.audit.service import Event, RequestContext, insert_event, query, record, scrub
from ldapkeeper.db.models import AuditEvent
from ldapkeeper.identity.permissions import OrgRole
from ldapkeeper.identity.principal import Principal
from ldapkeeper.runtime import Runtime

ACTOR = Principal("user", "user-1", "alice@example.test", "org-1", OrgRole.ADMIN)


def test_scrub_drops_keys_that_name_secret_material() -> None:
    metadata = {
        "password": "p",
        "newPassword": "p",
        "clientSecret": "s",
        "accessToken": "t",
        "credentials": {"dn": "cn=x"},
        "secretValue": "v",
        "privateKey": "k",
        "name": "kept",
    }
    assert scrub(metadata) == {"name": "kept"}


def test_scrub_keeps_the_names_of_secrets() -> None:
    metadata = {"secretKey": "DB_PASSWORD", "secretPath": "/ldap", "secretId": "id-1"}
    assert scrub(metadata) == metadata


def test_scrub_cleans_nested_mappings() -> None:
    assert scrub({"connection": {"url": "ldaps://dc", "password": "p"}}) == {
        "connection": {"url": "ldaps://dc"}
    }


def test_scrub_cleans_mappings_inside_lists() -> None:
    metadata = {"changes": [{"dn": "cn=a", "password": "p"}, {"dn": "cn=b", "token": "t"}]}
    assert scrub(metadata) == {"changes": [{"dn": "cn=a"}, {"dn": "cn=b"}]}


def _record(session: Session, **event: Any) -> None:
    record(session, **event)


def _insert(session: Session, **event: Any) -> None:
    insert_event(
        session.connection(),
        Event(
            event["event_type"],
            event["actor"],
            event["project_id"],
            event["metadata"],
            event.get("context"),
        ),
    )


@pytest.mark.parametrize("write", [_record, _insert], ids=["record", "insert_event"])
def test_a_stored_event_has_scrubbed_metadata_its_actor_and_its_origin(
    runtime_any_db: Runtime, write: Callable[..., None]
) -> None:
    with runtime_any_db.db.write() as session:
        write(
            session,
            event_type="create-app-connection",
            actor=ACTOR,
            project_id=None,
            metadata={"name": "corp-ad", "credentials": {"password": "hunter2"}},
            context=RequestContext(ip="127.0.0.1", user_agent="curl/8"),
        )
    with runtime_any_db.db.read() as session:
        stored = session.scalars(
            select(AuditEvent).where(AuditEvent.type == "create-app-connection")
        ).one()
        assert stored.event_metadata == {"name": "corp-ad"}
        assert (stored.actor_type, stored.actor_id, stored.actor_name) == (
            "user",
            "user-1",
            "alice@example.test",
        )
        assert (stored.ip, stored.user_agent) == ("127.0.0.1", "curl/8")
        assert stored.id
        assert stored.created_at is not None


def test_event_without_actor_is_recorded_as_the_platform(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        event = record(
            session,
            event_type="secret-rotation-rotate-secrets",
            actor=None,
            project_id=None,
            metadata={},
        )
        assert event.actor_type == "platform"


def test_long_user_agent_is_cut_to_the_column(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        event = record(
            session,
            event_type="get-app-connection",
            actor=ACTOR,
            project_id=None,
            metadata={},
            context=RequestContext(user_agent="x" * 5000),
        )
        assert event.user_agent is not None
        assert len(event.user_agent) == 512


def test_query_accepts_naive_dates_as_utc(runtime_any_db: Runtime) -> None:
    with runtime_any_db.db.write() as session:
        record(session, event_type="probe", actor=ACTOR, project_id=None, metadata={})
    an_hour_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
    with runtime_any_db.db.read() as session:
        events = query(
            session,
            project_id=None,
            event_type="probe",
            start=an_hour_ago,
            end=None,
            limit=10,
            offset=0,
        )
    assert [e.type for e in events] == ["probe"]
