"""Engine and transactions. SQLite: WAL, synchronous=FULL, one writer with BEGIN IMMEDIATE.

On SQLite, write blocks that arrive while another one runs share its transaction (each in
its own SAVEPOINT) and its one durable COMMIT: a group commit. Every block still returns
only after the COMMIT that makes it durable, so callers see the same guarantee as with a
transaction of their own, at a fraction of the fsyncs when many threads write at once.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Executable, create_engine, event, exc, text
from sqlalchemy.engine import Connection, RootTransaction
from sqlalchemy.orm import Session, sessionmaker

from ldapkeeper.db.prepared import Prepared, batch

_BEGIN_OPTION = "ldapkeeper_sqlite_begin"
# PostgreSQL advisory lock id that serializes migration and bootstrap across processes.
INSTALL_LOCK_ID = 0x6C646B70
#: Connections a pool keeps open. Beyond it, a connection is opened for one use and then
#: closed: under steady load that is a new connection per transaction (on PostgreSQL a new
#: server process each time).
POOL_SIZE = 20
#: At most this many write blocks share one SQLite commit (bounds a member's wait).
MAX_GROUP = 64
#: A pooled PostgreSQL connection that sat idle this long is pinged before it is handed
#: out (a server restart or a dropped idle connection is noticed and the connection
#: replaced); one in steady use is not (a ping per checkout is a round trip per
#: transaction). A connection that dies while in steady use fails its statement once, and
#: SQLAlchemy then replaces every connection of the pool opened before the failure.
PING_AFTER_IDLE_SECONDS = 5.0
_IDLE_SINCE = "ldapkeeper_idle_since"
_SYNCHRONOUS_COMMIT_OFF = Prepared(text("SET LOCAL synchronous_commit = off"))


def _sqlite_engine(url: str) -> Engine:
    path = url.removeprefix("sqlite:///")
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Connections kept open: enough for every thread that reads at once (requests, the
    # worker's rotations), so the pool does not open and close overflow connections under
    # load (a new SQLite connection starts with an empty page cache and its PRAGMAs).
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=POOL_SIZE,
        max_overflow=POOL_SIZE,
    )

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


def _postgres_engine(url: str, *, ping_after_idle: float, **options: Any) -> Engine:
    engine = create_engine(url, **options)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < ping_after_idle:
            return  # new, or in steady use
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool discards this connection and hands out another (or a new) one.
            raise exc.DisconnectionError("idle connection is gone") from error

    return engine


def _set_synchronous(conn: Connection, level: str) -> None:
    # On the driver connection: through SQLAlchemy it would begin a transaction first, and
    # SQLite refuses to change the level inside one.
    cursor = conn.connection.cursor()
    try:
        cursor.execute(f"PRAGMA synchronous={level}")
    finally:
        cursor.close()


class _Group:
    """One shared SQLite write transaction and the blocks that joined it."""

    def __init__(self, conn: Connection, transaction: RootTransaction, durable: bool) -> None:
        self.conn = conn
        self.transaction = transaction
        self.durable = durable
        self.members = 0
        self.done = threading.Event()
        self.error: BaseException | None = None


class _SqliteWriter:
    """The one writer of a SQLite database, with group commit.

    A block runs while holding ``_mutex`` (blocks never interleave). When it ends and other
    threads are already queued for the mutex, it leaves the COMMIT to them and waits for
    it; the last block of a burst commits for all. A non-durable group (leases only) is
    committed at once with ``synchronous=NORMAL``: no fsync, and since the WAL is written
    in order, the next durable commit makes it durable too.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._mutex = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queued = 0
        self._group: _Group | None = None
        self._local = threading.local()

    @contextmanager
    def transaction(self, sessions: sessionmaker[Session], durable: bool) -> Iterator[Session]:
        group: _Group | None = getattr(self._local, "group", None)
        if group is not None:
            # A write block inside another one (same thread): a savepoint of the same group.
            with self._member(sessions, group, savepoint=True) as session:
                yield session
            return
        with self._queue_lock:
            self._queued += 1
        self._mutex.acquire()
        with self._queue_lock:
            self._queued -= 1
        locked = True
        try:
            group = self._group if self._group is not None else self._open(durable)
            first = group.members == 0
            group.members += 1
            self._local.group = group
            failed = False
            try:
                # The group's first block needs no savepoint of its own: nothing else is in
                # the transaction yet, so when it fails the whole transaction goes.
                with self._member(sessions, group, savepoint=not first) as session:
                    yield session
            except BaseException:
                failed = True
                raise
            finally:
                self._local.group = None
                if failed and first:
                    self._discard(group)
                elif self._should_wait(group):
                    self._mutex.release()
                    locked = False
                else:
                    self._commit(group)
            if not locked:
                group.done.wait()
                if group.error is not None:
                    raise group.error
        finally:
            if locked:
                self._mutex.release()

    def _should_wait(self, group: _Group) -> bool:
        with self._queue_lock:
            queued = self._queued
        return group.durable and queued > 0 and group.members < MAX_GROUP

    def _open(self, durable: bool) -> _Group:
        conn = self._engine.connect()
        try:
            _set_synchronous(conn, "FULL" if durable else "NORMAL")
            transaction = conn.begin()
        except BaseException:
            conn.close()
            raise
        group = _Group(conn, transaction, durable)
        self._group = group
        return group

    def _commit(self, group: _Group) -> None:
        """COMMIT the group (holding the mutex) and wake its members."""
        self._group = None
        try:
            group.transaction.commit()
        except BaseException as exc:
            group.error = exc
            raise
        finally:
            try:
                if not group.durable:
                    _set_synchronous(group.conn, "FULL")
                group.conn.close()
            finally:
                group.done.set()

    def _discard(self, group: _Group) -> None:
        """Roll the group back (its first block failed; nobody else joined it yet)."""
        self._group = None
        try:
            if not group.durable:
                _set_synchronous(group.conn, "FULL")
            group.conn.close()  # rolls back what is still open
        finally:
            group.done.set()

    @staticmethod
    @contextmanager
    def _member(
        sessions: sessionmaker[Session], group: _Group, *, savepoint: bool
    ) -> Iterator[Session]:
        """A session in the group's transaction (in a savepoint of its own when asked)."""
        mode = "create_savepoint" if savepoint else "rollback_only"
        with sessions(bind=group.conn, join_transaction_mode=mode) as session, session.begin():
            yield session


class Database:
    """Hands out sessions: ``read()`` for queries, ``write()`` for a transaction that commits.

    On SQLite every write transaction begins IMMEDIATE on the one writer connection of the
    process (group commit, see ``_SqliteWriter``), so concurrent writers queue instead of
    failing with "database is locked".
    """

    def __init__(self, url: str, *, ping_after_idle: float = PING_AFTER_IDLE_SECONDS) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = _sqlite_engine(url)
            write_engine: Engine = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
            self._sqlite_writer: _SqliteWriter | None = _SqliteWriter(write_engine)
        else:
            self.engine = _postgres_engine(
                url, ping_after_idle=ping_after_idle, pool_size=POOL_SIZE, max_overflow=10
            )
            write_engine = self.engine
            self._sqlite_writer = None
        # Cross-process locks hold a connection each for as long as they are held: a pool
        # of their own, so they never starve the transactions of the work they protect.
        # Autocommit: taking or giving up a session-level lock is one statement, with no
        # transaction around it. The same pool runs ``execute_lease``'s one-statement
        # updates, which need no wait for the disk (synchronous_commit=off).
        self._lock_engine: Engine | None = (
            None
            if self.is_sqlite
            else _postgres_engine(
                url,
                ping_after_idle=ping_after_idle,
                pool_size=16,
                max_overflow=32,
                isolation_level="AUTOCOMMIT",
                connect_args={"options": "-c synchronous_commit=off"},
            )
        )
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(write_engine, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; closed (its transaction rolled back) at the end.

        Objects loaded stay usable afterwards (closing does not expire them).
        """
        with self._reader() as session:
            yield session

    @contextmanager
    def write(self, *, durable: bool = True) -> Iterator[Session]:
        """A session whose transaction commits when the block ends without an exception;
        the block returns after the commit.

        ``durable=False`` is for bookkeeping that a power cut may lose (leases): the commit
        does not wait for the disk (SQLite ``synchronous=NORMAL``, PostgreSQL
        ``synchronous_commit=off``); a later durable commit makes it durable too.
        """
        if self._sqlite_writer is not None:
            with self._sqlite_writer.transaction(self._writer, durable) as session:
                yield session
            return
        with self._writer() as session, session.begin():
            if not durable:
                # Sent with the transaction's BEGIN: one round trip for both.
                with batch(session.connection()) as sending:
                    sending.send(_SYNCHRONOUS_COMMIT_OFF, {})
            yield session

    def execute_lease(self, statement: Executable, params: Mapping[str, Any]) -> int:
        """Run one UPDATE of lease bookkeeping and commit it without waiting for the disk
        (as ``write(durable=False)``); the number of rows it matched.

        On PostgreSQL it runs in autocommit on the lock pool: one round trip instead of four
        (BEGIN, SET LOCAL, the statement, COMMIT). One statement is atomic by itself.
        """
        if self._lock_engine is None:
            with self.write(durable=False) as session:
                return session.connection().execute(statement, params).rowcount
        with self._lock_engine.connect() as conn:
            return conn.execute(statement, params).rowcount

    @contextmanager
    def cross_process_lock(self, name: str, *, shared: bool) -> Iterator[None]:
        """Hold the reader/writer lock ``name`` across every process of the database for
        the block: any number of ``shared`` holders, or one exclusive holder.

        PostgreSQL: a session-level advisory lock on a connection kept for the block; a
        waiting exclusive request queues new shared ones behind it, and a process that
        dies loses its locks with its connection. SQLite has one process, so nothing is
        done (callers keep their in-process locks).
        """
        if self._lock_engine is None:
            yield
            return
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        suffix = "_shared" if shared else ""
        # The driver's own connection and cursor: two one-statement round trips that need
        # nothing of SQLAlchemy's execution machinery (the pool's checks still apply).
        raw = self._lock_engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(f"SELECT pg_advisory_lock{suffix}(%s)", (key,))
                try:
                    yield
                finally:
                    try:
                        cursor.execute(f"SELECT pg_advisory_unlock{suffix}(%s)", (key,))
                    except Exception:
                        # Never hand a connection that may still hold the lock back to the
                        # pool: closing it ends its session, and the lock with it.
                        raw.invalidate()
                        raise
            finally:
                cursor.close()
        finally:
            raw.close()

    def lock_installation(self, session: Session) -> None:
        """Serialize install-time work (bootstrap) across processes until the transaction ends."""
        if not self.is_sqlite:
            session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": INSTALL_LOCK_ID})

    def dispose(self) -> None:
        self.engine.dispose()
        if self._lock_engine is not None:
            self._lock_engine.dispose()
