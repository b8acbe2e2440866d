import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from ldapkeeper.audit.queue import AuditQueue
from ldapkeeper.audit.service import Event, RequestContext
from ldapkeeper.db.models import AuditEvent
from ldapkeeper.identity.permissions import OrgRole
from ldapkeeper.identity.principal import Principal
from ldapkeeper.runtime import Runtime

ACTOR = Principal("identity", "id-1", "reader", "org-1", OrgRole.MEMBER)
CONTEXT = RequestContext(ip="127.0.0.1", user_agent="tests")
# Long enough that only the call a test makes writes anything.
NEVER = 3600.0


def _add(queue: AuditQueue, key: str = "DB_PASSWORD", **metadata: object) -> None:
    queue.add(
        Event(
            "get-secret",
            ACTOR,
            "project-1",
            {"secretKey": key, "environment": "dev", **metadata},
            CONTEXT,
        )
    )


def _events(runtime: Runtime) -> list[AuditEvent]:
    with runtime.db.read() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.type == "get-secret")))


def test_flush_writes_the_queued_events(runtime_any_db: Runtime) -> None:
    queue = AuditQueue(runtime_any_db.db, flush_seconds=NEVER)
    before = datetime.now(UTC)
    _add(queue, "A")
    _add(queue, "B")
    assert _events(runtime_any_db) == []
    assert queue.flush() == 2
    events = _events(runtime_any_db)
    assert sorted(e.event_metadata["secretKey"] for e in events) == ["A", "B"]
    event = events[0]
    assert (event.actor_type, event.actor_id, event.actor_name) == ("identity", "id-1", "reader")
    assert (event.project_id, event.ip, event.user_agent) == ("project-1", "127.0.0.1", "tests")
    assert before <= event.created_at <= datetime.now(UTC)
    assert queue.pending == 0


def test_an_event_is_stamped_with_the_time_it_was_queued(runtime: Runtime) -> None:
    queue = AuditQueue(runtime.db, flush_seconds=NEVER)
    _add(queue)
    queued_by = datetime.now(UTC)
    queue.flush()
    assert _events(runtime)[0].created_at <= queued_by


def test_queued_metadata_is_scrubbed(runtime: Runtime) -> None:
    queue = AuditQueue(runtime.db, flush_seconds=NEVER)
    _add(queue, secretValue="not-for-the-audit-log")
    queue.flush()
    assert "secretValue" not in _events(runtime)[0].event_metadata


def test_the_writer_writes_without_being_asked(runtime: Runtime) -> None:
    queue = AuditQueue(runtime.db, flush_seconds=0.01)
    _add(queue)
    # Wait on the database, not on a duration: the writer's batch shows up by itself (the
    # bound only keeps a broken writer from hanging the run).
    pause = threading.Event()
    for _ in range(3000):
        if _events(runtime):
            break
        pause.wait(0.01)
    assert len(_events(runtime)) == 1


def test_too_many_waiting_events_are_written_by_the_reader(runtime: Runtime) -> None:
    queue = AuditQueue(runtime.db, flush_seconds=NEVER, max_pending=3)
    _add(queue, "A")
    _add(queue, "B")
    assert queue.pending == 2
    _add(queue, "C")
    assert queue.pending == 0
    assert len(_events(runtime)) == 3


def test_close_writes_what_waits(runtime: Runtime) -> None:
    queue = AuditQueue(runtime.db, flush_seconds=NEVER)
    _add(queue)
    queue.close()
    assert len(_events(runtime)) == 1


def test_after_close_events_are_written_as_they_come(runtime: Runtime) -> None:
    queue = AuditQueue(runtime.db, flush_seconds=NEVER)
    queue.close()
    _add(queue)
    assert queue.pending == 0
    assert len(_events(runtime)) == 1


def test_disposing_the_database_writes_what_waits(runtime: Runtime) -> None:
    queue = AuditQueue(runtime.db, flush_seconds=NEVER)
    _add(queue)
    runtime.db.dispose()
    assert queue.pending == 0
    assert len(_events(runtime)) == 1


def test_a_failed_batch_stays_queued_and_is_written_later(runtime: Runtime) -> None:
    queue = AuditQueue(runtime.db, flush_seconds=NEVER)
    _add(queue, "A")
    with runtime.db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_events RENAME TO audit_events_away"))
    try:
        with pytest.raises(SQLAlchemyError):
            queue.flush()
    finally:
        with runtime.db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_events_away RENAME TO audit_events"))
    assert queue.pending == 1
    _add(queue, "B")
    assert queue.flush() == 2
    assert sorted(e.event_metadata["secretKey"] for e in _events(runtime)) == ["A", "B"]
