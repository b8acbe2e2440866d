"""Audit events of reads, written in batches shortly after the request (as Infisical writes
its audit log through a queue).

A read changes nothing, so its event has no transaction of its own to join, and writing
one per read costs a durable commit (an fsync on SQLite) on every request. ``add`` keeps
the event in memory, scrubbed and stamped with the time of the read; a background thread
writes whatever is pending in one durable transaction at most ``FLUSH_SECONDS`` later, or
as soon as ``BATCH_SIZE`` events wait. ``flush`` writes at once: the audit-log route calls
it first, so a process lists its own reads at once; the app's shutdown closes the queue,
which writes the rest.

The bounded delay: a process killed without a clean stop (SIGKILL, power loss) loses the
read events of at most its last ``FLUSH_SECONDS``, and another process lists a read at
most that late. A failed batch is kept and tried again; past ``MAX_PENDING`` waiting events
the reading thread writes them itself, so a database that cannot take them fails the reads
instead of growing memory. Events of changes never go through here: they commit with the
change (``audit.service.record``).
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import SQLAlchemyError

from ldapkeeper.audit.service import Event, event_row, insert_events
from ldapkeeper.db.per_database import PerDatabase
from ldapkeeper.db.session import Database

log = logging.getLogger("ldapkeeper.audit")

#: The longest an event waits in memory (plus the time of one write).
FLUSH_SECONDS = 0.5
#: This many waiting events are written without waiting for the interval.
BATCH_SIZE = 500
#: Past this many waiting events (writes failing or too slow) readers write them themselves.
MAX_PENDING = 10_000


class AuditQueue:
    """The queue of one database; ``audit_queue(db)`` hands out the process's one."""

    def __init__(
        self,
        db: Database,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        batch_size: int = BATCH_SIZE,
        max_pending: int = MAX_PENDING,
    ) -> None:
        # Weak: a queue never keeps a database alive (tests drop theirs while a batch waits).
        self._db = weakref.ref(db)
        self._flush_seconds = flush_seconds
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # _pending, _writer, _closed
        self._flushing = threading.Lock()  # one batch at a time: flush() waits for one in flight
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None
        self._closed = False
        # A database being disposed (the end of a CLI command or a test) gets its events first.
        event.listen(db.engine, "engine_disposed", self._on_dispose)

    def add(self, event: Event) -> None:
        """Queue an event for the next batch."""
        row = event_row(event)
        with self._lock:
            self._pending.append(row)
            waiting = len(self._pending)
            closed = self._closed
            if self._writer is None and not closed:
                self._writer = threading.Thread(target=self._run, name="audit-queue", daemon=True)
                self._writer.start()
        if closed or waiting >= self._max_pending:
            self.flush()
        elif waiting >= self._batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        """How many events wait to be written."""
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write every waiting event now (after a batch in flight); how many were written.

        Raises what the database raised; the events then stay queued.
        """
        with self._flushing:
            with self._lock:
                batch, self._pending = self._pending, []
            db = self._db()
            if not batch or db is None:
                return 0
            try:
                with db.write() as session:
                    insert_events(session.connection(), batch)
            except BaseException:
                with self._lock:
                    self._pending[:0] = batch
                raise
            return len(batch)

    def close(self) -> None:
        """Stop the writer and write what waits; later events are written as they come."""
        with self._lock:
            self._closed = True
            writer = self._writer
        self._wake.set()
        if writer is not None:
            writer.join()
        self.flush()

    def _on_dispose(self, _engine: Engine) -> None:
        try:
            self.flush()
        except SQLAlchemyError as exc:
            log.warning("audit events not written yet", extra={"error_type": type(exc).__name__})

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self._flush_seconds)
                self._wake.clear()
                try:
                    self.flush()
                except SQLAlchemyError as exc:
                    # The type only: a driver's message may quote the statement's parameters.
                    log.warning(
                        "audit events not written yet", extra={"error_type": type(exc).__name__}
                    )
                with self._lock:
                    if self._closed or not self._pending or self._db() is None:
                        self._writer = None
                        return
        finally:
            # However the loop ended, the next event starts a writer again.
            with self._lock:
                if self._writer is threading.current_thread():
                    self._writer = None


#: The process's queue of read events for a database (made on first use).
audit_queue: PerDatabase[AuditQueue] = PerDatabase(AuditQueue)
