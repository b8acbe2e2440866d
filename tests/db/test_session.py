import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import bindparam, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from tests.support.database import _admin_conninfo

from ldapkeeper.db.migrate import upgrade
from ldapkeeper.db.models import LoginThrottle
from ldapkeeper.db.session import POOL_SIZE, Database

THREADS = 8
WRITES_PER_THREAD = 15


def _migrated(url: str) -> Iterator[Database]:
    database = Database(url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    yield from _migrated(sqlite_url)


@pytest.fixture
def any_db(database_url: str) -> Iterator[Database]:
    yield from _migrated(database_url)


def _pragma(database: Database, name: str) -> object:
    with database.read() as session:
        return session.execute(text(f"PRAGMA {name}")).scalar()


def test_sqlite_journal_is_wal(sqlite_db: Database) -> None:
    assert _pragma(sqlite_db, "journal_mode") == "wal"


def test_sqlite_synchronous_is_full(sqlite_db: Database) -> None:
    assert _pragma(sqlite_db, "synchronous") == 2  # FULL


def test_sqlite_waits_for_locks_instead_of_failing(sqlite_db: Database) -> None:
    assert _pragma(sqlite_db, "busy_timeout") == 30000


def test_sqlite_enforces_foreign_keys(sqlite_db: Database) -> None:
    assert _pragma(sqlite_db, "foreign_keys") == 1


def test_sqlite_write_connections_use_the_same_pragmas(sqlite_db: Database) -> None:
    with sqlite_db.write() as session:
        journal = session.execute(text("PRAGMA journal_mode")).scalar()
        synchronous = session.execute(text("PRAGMA synchronous")).scalar()
    assert (journal, synchronous) == ("wal", 2)


def _increment(database: Database) -> None:
    # Read-modify-write: only serialized transactions keep every increment.
    with database.write() as session:
        row = session.get(LoginThrottle, "counter")
        if row is None:
            session.add(LoginThrottle(key="counter", failures=1))
        else:
            row.failures += 1


def _run_concurrently(workers: list[Callable[[], None]]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def run(work: Callable[[], None]) -> None:
        start.wait()
        try:
            for _ in range(WRITES_PER_THREAD):
                work()
        except BaseException as exc:  # noqa: BLE001  (collected and asserted below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def _counter(database: Database) -> int:
    with database.read() as session:
        return session.scalars(select(LoginThrottle.failures)).one()


def test_sqlite_writers_in_threads_queue_instead_of_failing(sqlite_db: Database) -> None:
    errors = _run_concurrently([partial(_increment, sqlite_db)] * THREADS)
    assert errors == []
    assert _counter(sqlite_db) == THREADS * WRITES_PER_THREAD


def test_sqlite_writers_with_their_own_engines_queue_instead_of_failing(
    sqlite_url: str, sqlite_db: Database
) -> None:
    # Separate Database objects share no Python lock, like separate processes: only
    # BEGIN IMMEDIATE and the busy timeout keep them from "database is locked".
    databases = [Database(sqlite_url) for _ in range(4)]
    try:
        errors = _run_concurrently([partial(_increment, d) for d in databases])
    finally:
        for database in databases:
            database.dispose()
    assert errors == []
    assert _counter(sqlite_db) == 4 * WRITES_PER_THREAD


def _write_then_fail(database: Database) -> None:
    with database.write() as session:
        session.add(LoginThrottle(key="rolled-back", failures=1))
        session.flush()
        raise RuntimeError("boom")


def test_failing_write_block_rolls_back(any_db: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        _write_then_fail(any_db)
    with any_db.read() as session:
        assert session.get(LoginThrottle, "rolled-back") is None


def test_write_block_commits_when_it_ends(any_db: Database) -> None:
    with any_db.write() as session:
        session.add(LoginThrottle(key="kept", failures=1))
    with any_db.read() as session:
        assert session.get(LoginThrottle, "kept") is not None


def test_read_session_does_not_commit(any_db: Database) -> None:
    with any_db.read() as session:
        session.add(LoginThrottle(key="read-only", failures=1))
        session.flush()
    with any_db.read() as session:
        assert session.get(LoginThrottle, "read-only") is None


def test_pool_keeps_connections_open_for_as_many_readers_as_it_has_room_for(
    any_db: Database,
) -> None:
    with ExitStack() as stack:
        for _ in range(POOL_SIZE):
            stack.enter_context(any_db.engine.connect())
    # All given back and kept (none closed as overflow): the next reads open nothing new.
    assert any_db.engine.pool.checkedin() == POOL_SIZE  # type: ignore[attr-defined]


def test_a_lease_update_commits_and_counts_the_rows_it_matched(any_db: Database) -> None:
    with any_db.write() as session:
        session.add(LoginThrottle(key="leased", failures=1))
    statement = (
        update(LoginThrottle)
        .where(LoginThrottle.key == bindparam("which"))
        .values(failures=bindparam("count"))
    )
    assert any_db.execute_lease(statement, {"which": "leased", "count": 7}) == 1
    assert any_db.execute_lease(statement, {"which": "absent", "count": 7}) == 0
    with any_db.read() as session:
        row = session.get(LoginThrottle, "leased")
        assert row is not None
        assert row.failures == 7


def test_sqlite_database_directory_is_created(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'ldapkeeper.db'}")
    try:
        upgrade(database)
    finally:
        database.dispose()
    assert (tmp_path / "nested" / "dir" / "ldapkeeper.db").exists()


def _backend_pid(database: Database) -> int:
    with database.read() as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pid: int) -> None:
    # Waits until the server process has exited (PostgreSQL 14+).
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))


def test_postgres_idle_pooled_connection_that_died_is_replaced_before_use(
    postgres_url: str,
) -> None:
    database = Database(postgres_url, ping_after_idle=0)
    try:
        dead = _backend_pid(database)
        _terminate(dead)
        assert _backend_pid(database) != dead
    finally:
        database.dispose()


def test_postgres_connection_in_steady_use_is_not_pinged_and_replaced_after_a_failure(
    postgres_url: str,
) -> None:
    database = Database(postgres_url, ping_after_idle=3600)
    try:
        dead = _backend_pid(database)
        _terminate(dead)
        with pytest.raises(DBAPIError):
            _backend_pid(database)  # no ping: the statement meets the dead connection
        assert _backend_pid(database) != dead
    finally:
        database.dispose()


def _advisory_locks(url: str) -> list[str]:
    """The advisory locks held in the database of ``url`` (other databases' are not ours)."""
    query = (
        "SELECT l.mode FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
        "WHERE l.locktype = 'advisory' AND d.datname = %s"
    )
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        rows = conn.execute(query, (make_url(url).database,)).fetchall()
    return sorted(str(row[0]) for row in rows)


@pytest.mark.parametrize(("shared", "mode"), [(True, "ShareLock"), (False, "ExclusiveLock")])
def test_postgres_cross_process_lock_is_held_on_the_server_for_the_block(
    postgres_url: str, shared: bool, mode: str
) -> None:
    database = Database(postgres_url)
    try:
        before = _advisory_locks(postgres_url)
        with database.cross_process_lock("connection:x", shared=shared):
            during = _advisory_locks(postgres_url)
        after = _advisory_locks(postgres_url)
    finally:
        database.dispose()
    assert sorted([*before, mode]) == during
    assert after == before


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[Database]:
    yield from _migrated(postgres_url)


def _synchronous_commit(database: Database, *, durable: bool) -> str:
    with database.write(durable=durable) as session:
        return str(session.execute(text("SHOW synchronous_commit")).scalar())


def test_postgres_bookkeeping_writes_do_not_wait_for_the_disk(postgres_db: Database) -> None:
    assert _synchronous_commit(postgres_db, durable=False) == "off"


def test_postgres_writes_wait_for_the_disk(postgres_db: Database) -> None:
    assert _synchronous_commit(postgres_db, durable=True) == "on"
