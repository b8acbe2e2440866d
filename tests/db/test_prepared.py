"""``Prepared``: hot-path statements on the driver's cursor, converting values as
SQLAlchemy does. On SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta, timezone
from typing import cast

import pytest
from sqlalchemy import Table, bindparam, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from ldapkeeper.db.models import AuditEvent, Organization
from ldapkeeper.db.prepared import Prepared, batch, insert_of
from ldapkeeper.runtime import Runtime

_EVENTS = cast(Table, AuditEvent.__table__)
_INSERT = Prepared(
    insert_of(_EVENTS, ("id", "type", "actor_type", "project_id", "metadata", "created_at"))
)
_READ = Prepared(
    select(_EVENTS.c.id, _EVENTS.c.metadata, _EVENTS.c.created_at).where(
        _EVENTS.c.id == bindparam("id")
    )
)
_RENAME = Prepared(
    update(Organization).where(Organization.id == bindparam("org_id")).values(name="renamed")
)
_COUNT_BY_TYPE = Prepared(
    select(func.count()).select_from(_EVENTS).where(_EVENTS.c.type == literal("prepared-test"))
)
# A moment east of UTC, with microseconds: stored as UTC, read back as the same instant.
_AT = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))


def _event(event_id: str, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": event_id,
        "type": "prepared-test",
        "actor_type": "platform",
        "project_id": None,
        "metadata": {"n": 1},
        "created_at": _AT,
    }
    row.update(extra)
    return row


def test_values_written_read_back_through_the_orm_as_given(runtime_any_db: Runtime) -> None:
    db = runtime_any_db.db
    with db.write() as session:
        _INSERT.rowcount(session.connection(), _event("ev-1"))
    with db.read() as session:
        event = session.get(AuditEvent, "ev-1")
        assert event is not None
        assert (event.event_metadata, event.created_at) == ({"n": 1}, _AT)


def test_rows_read_as_sqlalchemy_converts_them(runtime_any_db: Runtime) -> None:
    db = runtime_any_db.db
    with db.write() as session:
        session.add(
            AuditEvent(id="ev-2", type="t", actor_type="platform", event_metadata={"a": [1]})
        )
    with db.read() as session:
        expected = session.execute(
            select(_EVENTS.c.id, _EVENTS.c.metadata, _EVENTS.c.created_at).where(
                _EVENTS.c.id == "ev-2"
            )
        ).one()
        row = _READ.first(session.connection(), {"id": "ev-2"})
    assert tuple(row) == tuple(expected)
    assert row.metadata == {"a": [1]}


def test_a_missing_row_reads_as_none(runtime_any_db: Runtime) -> None:
    with runtime_any_db.db.read() as session:
        assert _READ.first(session.connection(), {"id": "nowhere"}) is None


def test_rowcount_counts_the_rows_an_update_matched(runtime_any_db: Runtime) -> None:
    with runtime_any_db.db.write() as session:
        conn = session.connection()
        matched = [
            _RENAME.rowcount(conn, {"org_id": runtime_any_db.org_id}),
            _RENAME.rowcount(conn, {"org_id": "nobody"}),
        ]
    assert matched == [1, 0]


def test_values_of_the_statement_itself_need_no_parameter(runtime_any_db: Runtime) -> None:
    db = runtime_any_db.db
    with db.write() as session:
        _INSERT.executemany(session.connection(), [_event("ev-3"), _event("ev-4")])
    with db.read() as session:
        assert _COUNT_BY_TYPE.first(session.connection(), {}) == (2,)


def test_a_missing_parameter_is_named(runtime_any_db: Runtime) -> None:
    with runtime_any_db.db.read() as session, pytest.raises(KeyError, match="org_id"):
        _RENAME.rowcount(session.connection(), {})


def test_executemany_of_nothing_runs_nothing(runtime_any_db: Runtime) -> None:
    db = runtime_any_db.db
    with db.write() as session:
        _INSERT.executemany(session.connection(), [])
    with db.read() as session:
        assert _COUNT_BY_TYPE.first(session.connection(), {}) == (0,)


def test_a_default_computed_at_execution_is_refused(runtime_any_db: Runtime) -> None:
    # created_at and metadata have Python-side defaults that only SQLAlchemy would apply.
    partial = Prepared(insert_of(_EVENTS, ("id", "type", "actor_type")))
    with pytest.raises(ValueError, match="created_at, metadata"):
        partial.compiled(runtime_any_db.db.engine.dialect)


def test_writes_join_the_transaction_of_their_connection(runtime_any_db: Runtime) -> None:
    db = runtime_any_db.db

    class Boom(Exception):
        pass

    def write_then_fail() -> None:
        with db.write() as session:
            _INSERT.rowcount(session.connection(), _event("ev-5"))
            raise Boom

    with pytest.raises(Boom):
        write_then_fail()
    with db.read() as session:
        assert session.get(AuditEvent, "ev-5") is None


def test_the_orm_insert_and_a_prepared_one_store_the_same_time(runtime_any_db: Runtime) -> None:
    db = runtime_any_db.db
    moment = datetime(2031, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    with db.write() as session:
        session.execute(insert(_EVENTS), [_event("ev-6", created_at=moment)])
        _INSERT.rowcount(session.connection(), _event("ev-7", created_at=moment))
    with db.read() as session:
        stored = session.scalars(select(func.count()).where(_EVENTS.c.created_at == moment)).one()
    assert stored == 2


def test_a_batch_answers_once_its_block_has_ended(runtime_any_db: Runtime) -> None:
    with runtime_any_db.db.write() as session:
        conn = session.connection()
        with batch(conn) as sending:
            renamed = sending.send(_RENAME, {"org_id": runtime_any_db.org_id})
            missed = sending.send(_RENAME, {"org_id": "nobody"})
    assert (renamed.rowcount, missed.rowcount) == (1, 0)


def test_a_failed_statement_of_a_batch_rolls_its_transaction_back(
    runtime_any_db: Runtime,
) -> None:
    db = runtime_any_db.db

    def twice() -> None:
        with db.write() as session, batch(session.connection()) as sending:
            sending.send(_INSERT, _event("ev-8"))
            sending.send(_INSERT, _event("ev-8"))  # the same primary key again

    with pytest.raises(IntegrityError):
        twice()
    with db.read() as session:
        assert session.get(AuditEvent, "ev-8") is None


def test_a_driver_error_is_sqlalchemys_without_the_parameters(runtime_any_db: Runtime) -> None:
    canary = "canary-parameter-3f9a"
    db = runtime_any_db.db

    def insert_once() -> None:
        with db.write() as session:
            _INSERT.rowcount(session.connection(), _event("ev-9", project_id=canary))

    insert_once()
    with pytest.raises(IntegrityError) as raised:
        insert_once()
    assert canary not in str(raised.value)
