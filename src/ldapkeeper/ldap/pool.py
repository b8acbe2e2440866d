"""A small bounded pool of bound connections, for rotation work that binds repeatedly.

Connections are keyed by whatever identifies their binding, e.g. `(connection id,
credentials version, role)`: a new version never reuses a connection bound with old
credentials. A connection is returned to the pool only when the block that used it ended
without an exception; on any error it is closed (its state is unknown). A connection that
sat idle for a while can be checked (`validate`) before it is handed out again, so a
server that dropped it in the meantime costs a new connection, not a failed operation.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
C = TypeVar("C")


class ConnectionPool(Generic[K, C]):
    """Idle connections per key, at most `max_idle_per_key` each and `max_idle_total` in
    all (the least recently returned go first), none older than `max_idle_seconds`.
    Thread-safe; connections are closed outside the lock."""

    def __init__(
        self,
        *,
        close: Callable[[C], None],
        max_idle_per_key: int = 2,
        max_idle_total: int = 32,
        max_idle_seconds: float = 60.0,
        validate_after_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_idle_per_key < 0 or max_idle_total < 0:
            raise ValueError("pool sizes must not be negative")
        self._close = close
        self._max_per_key = max_idle_per_key
        self._max_total = max_idle_total
        self._max_age = max_idle_seconds
        self._validate_after = validate_after_seconds
        self._clock = clock
        self._lock = threading.Lock()
        #: (key, serial) -> (connection, returned at); insertion order = return order.
        self._idle: OrderedDict[tuple[K, int], tuple[C, float]] = OrderedDict()
        self._serial = 0

    @contextmanager
    def lease(
        self,
        key: K,
        create: Callable[[], C],
        validate: Callable[[C], bool] | None = None,
        *,
        reuse: bool = True,
    ) -> Iterator[C]:
        """Yield an idle connection for `key`, or a new one from `create()` (always a new
        one with `reuse=False`).

        An idle connection older than `validate_after_seconds` is first passed to
        `validate`; when that returns False or raises, it is closed and the next one (or a
        new one) is taken. The connection goes back to the pool when the block ends
        normally and is closed when it raises (the exception propagates).
        """
        conn = self._take_valid(key, validate) if reuse else None
        if conn is None:
            conn = create()
        try:
            yield conn
        except BaseException:
            self._close_quietly(conn)
            raise
        self._give_back(key, conn)

    def _take_valid(self, key: K, validate: Callable[[C], bool] | None) -> C | None:
        while True:
            taken = self._take(key)
            if taken is None:
                return None
            conn, idle = taken
            if validate is None or idle < self._validate_after:
                return conn
            try:
                alive = validate(conn)
            except Exception:  # noqa: BLE001 — a failed check means "do not reuse"
                alive = False
            if alive:
                return conn
            self._close_quietly(conn)

    def _take(self, key: K) -> tuple[C, float] | None:
        """The newest idle connection of `key` and how long it was idle, or None."""
        stale: list[C] = []
        found: tuple[C, float] | None = None
        now = self._clock()
        with self._lock:
            # Newest first: the most recently used connection is the likeliest to be alive.
            for slot in [slot for slot in reversed(self._idle) if slot[0] == key]:
                conn, returned = self._idle.pop(slot)
                if now - returned > self._max_age:
                    stale.append(conn)
                    continue
                found = (conn, now - returned)
                break
        for conn in stale:
            self._close_quietly(conn)
        return found

    def _give_back(self, key: K, conn: C) -> None:
        if self._max_per_key == 0 or self._max_total == 0:
            self._close_quietly(conn)
            return
        evicted: list[C] = []
        with self._lock:
            same_key = [slot for slot in self._idle if slot[0] == key]
            surplus = len(same_key) + 1 - self._max_per_key
            evicted.extend(self._idle.pop(slot)[0] for slot in same_key[: max(surplus, 0)])
            self._serial += 1
            self._idle[(key, self._serial)] = (conn, self._clock())
            while len(self._idle) > self._max_total:
                evicted.append(self._idle.popitem(last=False)[1][0])
        for old in evicted:
            self._close_quietly(old)

    def evict(self, predicate: Callable[[K], bool]) -> int:
        """Close every idle connection whose key matches; return how many."""
        with self._lock:
            doomed = [slot for slot in self._idle if predicate(slot[0])]
            conns = [self._idle.pop(slot)[0] for slot in doomed]
        for conn in conns:
            self._close_quietly(conn)
        return len(conns)

    def close_all(self) -> None:
        """Close every idle connection."""
        self.evict(lambda _key: True)

    def idle_count(self, key: K | None = None) -> int:
        """How many idle connections the pool holds (for `key`, or in all)."""
        with self._lock:
            return sum(1 for slot in self._idle if key is None or slot[0] == key)

    def _close_quietly(self, conn: C) -> None:
        # A failing close must not hide the caller's result or exception.
        with contextlib.suppress(Exception):
            self._close(conn)
