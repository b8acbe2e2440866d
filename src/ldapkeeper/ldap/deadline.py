"""A hard deadline on libldap calls: shut the socket down when a call overruns.

libldap's own timeouts do not cover every wait (a TLS handshake over a socket handed to
libldap, for one, spins forever against a silent server). One daemon thread keeps the
armed deadlines; when one passes, it shuts the connection's socket down, which makes the
blocked libldap call fail at once. The socket given here is a duplicate of libldap's file
descriptor owned by the caller, so the shutdown never touches a reused descriptor.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Alarm:
    """One armed deadline; `fired` tells whether the watchdog shut the socket down."""

    __slots__ = ("cancelled", "due", "fired", "sock")

    def __init__(self, sock: socket.socket, due: float) -> None:
        self.sock = sock
        self.due = due
        self.fired = False
        self.cancelled = False


class Watchdog:
    """Shuts sockets down when their deadline passes (one lazily started thread)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    @contextmanager
    def deadline(self, sock: socket.socket, seconds: float) -> Iterator[Alarm]:
        """Within the block, `sock` is shut down if `seconds` pass before the block ends."""
        alarm = Alarm(sock, time.monotonic() + seconds)
        with self._cond:
            heapq.heappush(self._heap, (alarm.due, next(self._order), alarm))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ldap-watchdog", daemon=True)
                self._thread.start()
            if self._heap[0][2] is alarm:
                # The thread sleeps until the earliest deadline (or for ever on an empty
                # heap); it needs waking only when this one is now the earliest. Deadlines
                # of the same length arrive in order, so most calls wake nobody.
                self._cond.notify()
        try:
            yield alarm
        finally:
            with self._cond:
                alarm.cancelled = True

    def _run(self) -> None:
        with self._cond:
            while True:
                if not self._heap:
                    self._cond.wait()
                    continue
                due, _, alarm = self._heap[0]
                if alarm.cancelled:
                    heapq.heappop(self._heap)
                    continue
                remaining = due - time.monotonic()
                if remaining > 0:
                    self._cond.wait(remaining)
                    continue
                heapq.heappop(self._heap)
                alarm.fired = True
                # OSError: already closed by the peer, and the call fails on its own.
                with contextlib.suppress(OSError):
                    alarm.sock.shutdown(socket.SHUT_RDWR)

    def _after_fork(self) -> None:
        self._cond = threading.Condition()
        self._heap = []
        self._thread = None


WATCHDOG = Watchdog()
os.register_at_fork(after_in_child=WATCHDOG._after_fork)
