"""Audit events: written by the services inside their own transaction, read by admins."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ldapkeeper.db.base import new_id, utcnow
from ldapkeeper.db.models import AuditEvent
from ldapkeeper.db.prepared import Batch, Prepared, insert_of
from ldapkeeper.identity.principal import Principal

# Last guard: a key that names secret material never reaches the audit table.
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|credential|value|private", re.IGNORECASE)
_SAFE_KEYS = frozenset({"secretKey", "secretKeys", "secretPath", "secretName", "secretId"})


@dataclass(frozen=True)
class RequestContext:
    """Where a request came from, for audit records."""

    ip: str | None = None
    user_agent: str | None = None


def scrub(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Drop every key that could name secret material (recursively, lists included)."""
    return {
        key: _scrub_value(value)
        for key, value in metadata.items()
        if not _SECRET_KEY.search(key) or key in _SAFE_KEYS
    }


def _scrub_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return scrub(value)
    if isinstance(value, list | tuple):
        return [_scrub_value(item) for item in value]
    return value


def _as_utc(moment: datetime | None) -> datetime | None:
    # A date without a zone is UTC (as every timestamp of the API); the column refuses naive.
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # Past the calendar's end (or before its start) once in UTC: that end filters alike.
        behind_utc = (moment.utcoffset() or timedelta(0)) < timedelta(0)
        return (datetime.max if behind_utc else datetime.min).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Event:
    """What an audit event says: its type, who did it, in which project, details (scrubbed
    before they are stored) and the request it came from."""

    type: str
    actor: Principal | None
    project_id: str | None
    metadata: Mapping[str, Any]
    context: RequestContext | None = None


def record(
    session: Session,
    *,
    event_type: str,
    actor: Principal | None,
    project_id: str | None,
    metadata: Mapping[str, Any],
    context: RequestContext | None = None,
) -> AuditEvent:
    """Add an event to the caller's transaction (so it commits or rolls back with the change)."""
    event = AuditEvent(**event_columns(Event(event_type, actor, project_id, metadata, context)))
    session.add(event)
    return event


_INSERT_EVENT = Prepared(
    insert_of(
        cast(Table, AuditEvent.__table__),
        (
            "id",
            "type",
            "actor_type",
            "actor_id",
            "actor_name",
            "project_id",
            "metadata",
            "ip",
            "user_agent",
            "created_at",
        ),
    )
)


def insert_event(target: Connection | Batch, event: Event) -> None:
    """``record`` as one Core INSERT on the transaction's connection (or sent in a batch of
    its statements), for hot write paths that have no ORM object to flush: it commits or
    rolls back with the change."""
    if isinstance(target, Batch):
        target.send(_INSERT_EVENT, event_row(event))
    else:
        _INSERT_EVENT.rowcount(target, event_row(event))


def insert_events(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert events made by ``event_row`` (one statement run once per row)."""
    _INSERT_EVENT.executemany(conn, rows)


def event_row(event: Event) -> dict[str, Any]:
    """The row of a new audit event, by column name, with its id and time."""
    row = event_columns(event)
    row["metadata"] = row.pop("event_metadata")  # the column's name
    row["id"] = new_id()
    row["created_at"] = utcnow()
    return row


def event_columns(event: Event) -> dict[str, Any]:
    """The columns of an audit event (its metadata scrubbed), without id and time."""
    actor, context = event.actor, event.context
    return {
        "type": event.type,
        "actor_type": actor.kind if actor else "platform",
        "actor_id": actor.id if actor else None,
        "actor_name": actor.name if actor else None,
        "project_id": event.project_id,
        "event_metadata": scrub(event.metadata),
        "ip": context.ip if context else None,
        "user_agent": (context.user_agent or "")[:512] if context else None,
    }


def query(
    session: Session,
    *,
    project_id: str | None,
    event_type: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    offset: int,
) -> Sequence[AuditEvent]:
    """Events newest first, filtered; dates without a zone are taken as UTC."""
    start, end = _as_utc(start), _as_utc(end)
    stmt = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id)
    if project_id is not None:
        stmt = stmt.where(AuditEvent.project_id == project_id)
    if event_type is not None:
        stmt = stmt.where(AuditEvent.type == event_type)
    if start is not None:
        stmt = stmt.where(AuditEvent.created_at >= start)
    if end is not None:
        stmt = stmt.where(AuditEvent.created_at <= end)
    return session.scalars(stmt.limit(limit).offset(offset)).all()
