"""Reads cheaper than a Session: a bare connection for a request's few reads, and
``PreparedSelect`` for the one statement of a hot read path.

On PostgreSQL it runs in autocommit: a transaction would cost two more round trips (BEGIN,
and ROLLBACK when the connection goes back to the pool) and would not see anything
different, since under READ COMMITTED every statement already takes its own snapshot. On
SQLite it begins as every connection of ``Database`` does (a deferred read transaction).
The pool restores the connection's isolation level when it is returned.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session

from ldapkeeper.db.prepared import Compiled, Prepared, execute
from ldapkeeper.db.session import Database


@contextmanager
def read_connection(db: Database) -> Iterator[Connection]:
    """A connection for reading only; closed (given back to the pool) at the end."""
    with db.engine.connect() as conn:
        if not db.is_sqlite:
            conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


class ReadOnlySession(Session):
    """A Session that refuses to flush a change (see ``read_session``)."""

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        if self.new or self.dirty or self.deleted:
            raise RuntimeError("a read session does not write")
        super().flush(objects)


@contextmanager
def read_session(db: Database) -> Iterator[Session]:
    """A Session on ``read_connection``, for a hot path that reads through code taking a
    Session: on PostgreSQL it saves the BEGIN and ROLLBACK round trips of ``Database.read``.
    Reads only: there each statement commits on its own, so a flush of a change is refused.
    """
    with read_connection(db) as conn, ReadOnlySession(bind=conn) as session:
        yield session


class PreparedSelect:
    """A SELECT of a hot read path, compiled once per dialect and run on the driver's own
    connection: one statement without SQLAlchemy's per-execution machinery (events,
    execution contexts, result objects), which costs several times the statement itself.

    Rows come back as named tuples in the statement's column order, each value converted by
    its column type's result processor (so ``UTCDateTime`` and booleans read as through
    SQLAlchemy); parameters go through their types' bind processors (``db.prepared``). One
    statement, so no transaction is
    needed: on SQLite (driver transaction control off, see ``db.session``) and on
    PostgreSQL (autocommit for the statement) it reads one consistent snapshot.
    """

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self._prepared = Prepared(statement)

    def first(self, db: Database, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row for ``params`` (values by bind parameter name), or None."""
        compiled = self.compiled(db.engine.dialect)
        raw = db.engine.raw_connection()
        try:
            driver = raw.driver_connection
            autocommit = not db.is_sqlite and not getattr(driver, "autocommit", True)
            if autocommit:
                driver.autocommit = True  # type: ignore[union-attr]
            try:
                cursor = raw.cursor()
                try:
                    execute(cursor, db.engine.dialect, compiled, params)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
            finally:
                if autocommit:
                    driver.autocommit = False  # type: ignore[union-attr]
        finally:
            raw.close()
        return None if row is None else compiled.convert(row)

    def compiled(self, dialect: Dialect) -> Compiled:
        """The statement compiled for ``dialect`` (once): its SQL in the driver's parameter
        style, how to pass parameters, and how to convert a row."""
        return self._prepared.compiled(dialect)
