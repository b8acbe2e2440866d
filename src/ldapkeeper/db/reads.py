"""A bare connection for a request's few reads, cheaper than a Session.

On PostgreSQL it runs in autocommit: a transaction would cost two more round trips (BEGIN,
and ROLLBACK when the connection goes back to the pool) and would not see anything
different, since under READ COMMITTED every statement already takes its own snapshot. On
SQLite it begins as every connection of ``Database`` does (a deferred read transaction).
The pool restores the connection's isolation level when it is returned.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection

from ldapkeeper.db.session import Database


@contextmanager
def read_connection(db: Database) -> Iterator[Connection]:
    """A connection for reading only; closed (given back to the pool) at the end."""
    with db.engine.connect() as conn:
        if not db.is_sqlite:
            conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn
