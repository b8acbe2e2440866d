"""Engine and transactions. SQLite: WAL, synchronous=FULL, one writer with BEGIN IMMEDIATE."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

_BEGIN_OPTION = "ldapkeeper_sqlite_begin"
# PostgreSQL advisory lock id that serializes migration and bootstrap across processes.
INSTALL_LOCK_ID = 0x6C646B70


def _sqlite_engine(url: str) -> Engine:
    path = url.removeprefix("sqlite:///")
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN IMMEDIATE is ours to send.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a pending password must reach the disk before the directory is changed.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


class Database:
    """Hands out sessions: ``read()`` for queries, ``write()`` for a transaction that commits.

    On SQLite every write transaction holds one process-wide lock and begins IMMEDIATE, so
    concurrent writers queue instead of failing with "database is locked".
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = _sqlite_engine(url)
            write_engine: Engine = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
            write_engine = self.engine
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(write_engine, expire_on_commit=False)
        self._write_lock = threading.RLock() if self.is_sqlite else None

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; closed (its transaction rolled back) at the end.

        Objects loaded stay usable afterwards (closing does not expire them).
        """
        with self._reader() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits when the block ends without an exception."""
        if self._write_lock is None:
            with self._writer() as session, session.begin():
                yield session
            return
        with self._write_lock, self._writer() as session, session.begin():
            yield session

    def lock_installation(self, session: Session) -> None:
        """Serialize install-time work (bootstrap) across processes until the transaction ends."""
        if not self.is_sqlite:
            session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": INSTALL_LOCK_ID})

    def dispose(self) -> None:
        self.engine.dispose()
