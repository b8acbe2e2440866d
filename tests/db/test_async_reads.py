"""``db.async_reads``: one-statement reads on asyncio psycopg connections (PostgreSQL)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import bindparam, func, select, text

from ldapkeeper.db.async_reads import CONNECTIONS_PER_LOOP, AsyncReads, async_reads
from ldapkeeper.db.models import Organization
from ldapkeeper.db.reads import PreparedSelect
from ldapkeeper.runtime import Runtime

_ORG = PreparedSelect(
    select(Organization.id, Organization.name, Organization.created_at).where(
        Organization.id == bindparam("org_id")
    )
)


def _backends(runtime: Runtime, settles_at: int | None = None) -> int:
    """Server sessions of the test database other than the asking one. With
    ``settles_at``, waits (up to 5 s) for that count: a closed session's server process
    leaves ``pg_stat_activity`` a moment after the client hung up."""
    deadline = time.monotonic() + 5
    while True:
        with runtime.db.engine.connect() as conn:
            count = int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar()
                or 0
            )
        if settles_at is None or count == settles_at or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def test_a_row_is_read_and_converted_as_the_prepared_select_does(
    runtime_postgres: Runtime,
) -> None:
    db = runtime_postgres.db
    params = {"org_id": runtime_postgres.org_id}
    row = asyncio.run(async_reads(db).first(_ORG, params))
    assert row == _ORG.first(db, params)
    assert row is not None
    assert row[2].tzinfo is not None


def test_no_row_is_none(runtime_postgres: Runtime) -> None:
    assert asyncio.run(async_reads(runtime_postgres.db).first(_ORG, {"org_id": "absent"})) is None


def test_reads_at_once_share_a_few_connections(runtime_postgres: Runtime) -> None:
    db = runtime_postgres.db
    reads = AsyncReads(db)
    before = _backends(runtime_postgres)

    async def many() -> set[object]:
        rows = await asyncio.gather(
            *(reads.first(_ORG, {"org_id": runtime_postgres.org_id}) for _ in range(20))
        )
        return {row[0] if row else None for row in rows}

    assert asyncio.run(many()) == {runtime_postgres.org_id}
    assert _backends(runtime_postgres) - before <= CONNECTIONS_PER_LOOP


def test_a_failed_statement_closes_its_connection(runtime_postgres: Runtime) -> None:
    reads = AsyncReads(runtime_postgres.db)
    broken = PreparedSelect(select(text("1/0 AS boom")).where(bindparam("x") == bindparam("x")))

    async def fail_then_read() -> object:
        with pytest.raises(Exception, match="division by zero"):
            await reads.first(broken, {"x": 1})
        row = await reads.first(_ORG, {"org_id": runtime_postgres.org_id})
        return row[0] if row else None

    assert asyncio.run(fail_then_read()) == runtime_postgres.org_id


_BACKEND_PID = PreparedSelect(select(func.pg_backend_pid().label("pid")))


def test_a_read_after_the_server_dropped_an_idle_connection_runs_on_a_new_one(
    runtime_postgres: Runtime,
) -> None:
    reads = AsyncReads(runtime_postgres.db)

    async def drop_then_read() -> tuple[int, int, object]:
        first = await reads.first(_BACKEND_PID, {})
        assert first is not None
        with runtime_postgres.db.engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first[0]})
        row = await reads.first(_ORG, {"org_id": runtime_postgres.org_id})
        second = await reads.first(_BACKEND_PID, {})
        assert second is not None
        return first[0], second[0], row[0] if row else None

    dropped, now, org_id = asyncio.run(drop_then_read())
    assert org_id == runtime_postgres.org_id
    assert now != dropped


def test_disposing_of_the_database_closes_the_connections(runtime_postgres: Runtime) -> None:
    db = runtime_postgres.db
    reads = AsyncReads(db)
    before = _backends(runtime_postgres)
    asyncio.run(reads.first(_ORG, {"org_id": runtime_postgres.org_id}))
    assert _backends(runtime_postgres, settles_at=before + 1) == before + 1
    db.dispose()
    assert _backends(runtime_postgres, settles_at=before) == before


def test_connections_of_a_closed_loop_are_closed_when_another_loop_reads(
    runtime_postgres: Runtime,
) -> None:
    reads = AsyncReads(runtime_postgres.db)
    before = _backends(runtime_postgres)
    for _ in range(3):  # each asyncio.run is a new loop, closed at its end
        asyncio.run(reads.first(_ORG, {"org_id": runtime_postgres.org_id}))
    assert _backends(runtime_postgres, settles_at=before + 1) == before + 1


def test_sqlite_has_no_asyncio_reads(runtime: Runtime) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        AsyncReads(runtime.db)


def test_successive_reads_on_a_loop_reuse_its_connection(runtime_postgres: Runtime) -> None:
    reads = AsyncReads(runtime_postgres.db)

    async def twice() -> tuple[object, object]:
        first, second = await reads.first(_BACKEND_PID, {}), await reads.first(_BACKEND_PID, {})
        return first, second

    assert len(set(asyncio.run(twice()))) == 1


_TWICE = PreparedSelect(
    select(Organization.id).where(
        Organization.id == bindparam("org_id"), Organization.id.in_([bindparam("org_id")])
    )
)


def test_a_parameter_the_sql_names_twice_is_given_once(runtime_postgres: Runtime) -> None:
    params = {"org_id": runtime_postgres.org_id}
    row = asyncio.run(AsyncReads(runtime_postgres.db).first(_TWICE, params))
    assert row == (runtime_postgres.org_id,)
