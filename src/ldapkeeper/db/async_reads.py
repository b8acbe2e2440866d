"""PostgreSQL reads on the event loop, for the one-statement hot read of an async route.

A PostgreSQL statement is a network round trip. Run on a thread (``api.offload``), each
read costs two hand-offs between the event loop and the thread, and the threads contend
with the loop for the interpreter lock; blocking the loop instead serializes the round
trips. Here the statement runs on an asyncio psycopg connection: the loop sends it, serves
other requests while PostgreSQL answers, and reads the row, with no thread at all.

Each statement goes through one raw cursor per connection (``psycopg.AsyncRawCursor``, kept
with it): its SQL has PostgreSQL's own ``$n`` placeholders (``RAW_DIALECT``), so psycopg
neither converts the query nor makes a cursor per execution (38-44 against 42-54 µs of CPU
per one-row read, measured back to back on one connection).

Each event loop has its own few connections (``CONNECTIONS_PER_LOOP``, opened on first
use, in autocommit: one statement needs no transaction), since an asyncio connection
belongs to the loop it was opened on. A connection whose statement failed or was
cancelled is closed, not reused; when a connection that sat idle turns out gone (a server
restart), the idle ones are closed and the read runs once more on a new connection.
Disposing of the database closes them all, as do the connections of a loop found closed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import Engine, make_url

from ldapkeeper.db.per_database import PerDatabase
from ldapkeeper.db.reads import PreparedSelect
from ldapkeeper.db.session import Database

#: Connections each event loop opens at most (reads beyond wait for one).
CONNECTIONS_PER_LOOP = 4
#: The psycopg dialect compiling for a raw cursor: ``$n`` placeholders, the same types.
RAW_DIALECT = PGDialect_psycopg(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]


def _close_now(cursor: psycopg.AsyncRawCursor[Any]) -> None:
    """Close the cursor's connection without awaiting (from any thread, or with the loop
    gone): ends the server session; the object then counts as closed."""
    cursor.connection.pgconn.finish()


class _LoopConnections:
    """The connections of one event loop."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._slots = asyncio.Semaphore(CONNECTIONS_PER_LOOP)
        self.idle: list[psycopg.AsyncRawCursor[Any]] = []
        self.closed = False

    async def first(self, sql: str, arguments: Any) -> tuple[Any, ...] | None:
        async with self._slots:
            reused = bool(self.idle)
            try:
                return await self._first_on(self._take(), sql, arguments)
            except psycopg.OperationalError:
                if not reused:
                    raise
            # An idle connection had gone (a server restart, a dropped idle connection):
            # the others that sat idle likely too. Once more, on a new connection.
            self.close_idle()
            return await self._first_on(self._take(), sql, arguments)

    def _take(self) -> psycopg.AsyncRawCursor[Any] | None:
        return self.idle.pop() if self.idle else None

    async def _first_on(
        self, cursor: psycopg.AsyncRawCursor[Any] | None, sql: str, arguments: Any
    ) -> tuple[Any, ...] | None:
        if cursor is None:
            conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            cursor = psycopg.AsyncRawCursor(conn)
        try:
            await cursor.execute(sql, arguments)
            row = await cursor.fetchone()
        except BaseException:
            _close_now(cursor)  # its state is unknown (an error, or cancelled mid-way)
            raise
        if self.closed:
            _close_now(cursor)
        else:
            self.idle.append(cursor)
        return row

    def close_idle(self) -> None:
        while self.idle:
            _close_now(self.idle.pop())

    def close(self) -> None:
        self.closed = True
        self.close_idle()


class AsyncReads:
    """The asyncio connections of one PostgreSQL database, per event loop."""

    def __init__(self, db: Database) -> None:
        if db.is_sqlite:
            raise ValueError("asyncio reads are for PostgreSQL")
        self._db = db
        url = make_url(db.url).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._loops: dict[asyncio.AbstractEventLoop, _LoopConnections] = {}
        self._lock = threading.Lock()
        event.listen(db.engine, "engine_disposed", self._on_dispose)

    async def first(
        self, statement: PreparedSelect, params: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """The first row of ``statement`` for ``params``, converted as ``PreparedSelect.first``
        converts it, or None."""
        compiled = statement.compiled(RAW_DIALECT)
        row = await self._connections().first(compiled.sql, compiled.arguments(params))
        return None if row is None else compiled.convert(row)

    def _connections(self) -> _LoopConnections:
        loop = asyncio.get_running_loop()
        found = self._loops.get(loop)
        if found is not None:
            return found
        with self._lock:
            for gone in [other for other in self._loops if other.is_closed()]:
                self._loops.pop(gone).close()
            found = self._loops[loop] = _LoopConnections(self._conninfo)
        return found

    def _on_dispose(self, _engine: Engine) -> None:
        with self._lock:
            loops, self._loops = self._loops, {}
        for connections in loops.values():
            connections.close()


#: The process's asyncio reads of a PostgreSQL database (made on first use).
async_reads: PerDatabase[AsyncReads] = PerDatabase(AsyncReads)
