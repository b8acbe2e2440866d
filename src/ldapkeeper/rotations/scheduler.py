"""The worker loop: claims due rotations with leases and runs them on a bounded pool.

The scheduler decides *when*; the engine alone decides *what*. On PostgreSQL many workers
share the table: claims use ``FOR UPDATE SKIP LOCKED``, and a worker that dies leaves
leases that expire after ``lease_seconds``, when any other worker takes the rotations over
(the engine then drives their unfinished attempts). SQLite has one process, which takes
over every lease at start so unfinished attempts are recovered at once.

A worker runs at most ``per_host_limit`` directory operations against one directory host
at a time (the host of the connection's URL; ``rotations.host_slots``), so a burst of due
rotations cannot flood a directory, while up to twice that many of the host's rotations are
in flight (claimed and running on its threads): the others' database commits overlap the
directory's work. It claims in batches (a quarter of its threads at least), not once per
finished rotation.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import Select, bindparam, or_, select, update

from ldapkeeper.db.models import AppConnection, RotationAttempt, SecretRotation
from ldapkeeper.db.prepared import Prepared
from ldapkeeper.rotations.engine import UNFINISHED, ConnectionBusy, LeaseLost, RotationEngine
from ldapkeeper.rotations.host_slots import HostSlots, directory_host

log = logging.getLogger("ldapkeeper.worker")

#: Due rotations read per claim, as a multiple of the free slots: some may belong to a
#: directory host that this very claim fills up.
CANDIDATES_PER_SLOT = 4
#: Claimed (in flight on the threads, or waiting for one) per host, as a multiple of
#: ``per_host_limit``.
CLAIMED_PER_RUNNING = 2

_DUE_ANY_HOST = (
    select(SecretRotation.id, AppConnection.url)
    .join(AppConnection, AppConnection.id == SecretRotation.connection_id)
    .where(
        SecretRotation.due_at <= bindparam("now"),
        or_(SecretRotation.lease_until.is_(None), SecretRotation.lease_until < bindparam("now")),
    )
    .order_by(SecretRotation.due_at)
    .limit(bindparam("candidates"))
)
#: Leaving out the connection URLs whose hosts are full (an expanding parameter: rendered
#: per execution, so only when some host is full).
_DUE = _DUE_ANY_HOST.where(AppConnection.url.not_in(bindparam("full", expanding=True)))


def _locked(statement: Select[str, str]) -> Select[str, str]:
    # PostgreSQL: lock only the rotation rows (not their connections); skip what others hold.
    return statement.with_for_update(skip_locked=True, of=SecretRotation)


_DUE_ANY_HOST_PREPARED = {False: Prepared(_DUE_ANY_HOST), True: Prepared(_locked(_DUE_ANY_HOST))}
_DUE_LOCKED = _locked(_DUE)
_LEASE = Prepared(
    update(SecretRotation.__table__)  # type: ignore[arg-type]
    .where(SecretRotation.__table__.c.id == bindparam("rid"))
    .values(lease_owner=bindparam("token"), lease_until=bindparam("until"))
)


class RotationWorker:
    """Claims due rotations and drives them through the engine until stopped."""

    def __init__(
        self,
        engine: RotationEngine,
        *,
        concurrency: int = 8,
        per_host_limit: int = 4,
        poll_seconds: float = 1.0,
        worker_id: str | None = None,
    ) -> None:
        self.engine = engine
        self.concurrency = concurrency
        self.per_host_limit = per_host_limit
        # Claimed at most: the threads' work and one claim batch more (``_loop`` claims in
        # batches of a quarter of the threads), so that a rotation that ends finds the next
        # one already claimed instead of idling through a claim. Below four threads, none
        # more: a claim never waits behind a rotation that holds the only thread.
        self._batch = max(1, concurrency // 4)
        self._capacity = concurrency + concurrency // 4
        self.poll_seconds = poll_seconds
        self.lease_seconds = engine.lease_seconds
        self.worker_id = worker_id or uuid.uuid4().hex[:12]
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._held: dict[str, str] = {}
        # rotation id -> its directory host, and URL -> host, for the per-host limit.
        self._hosts: dict[str, str] = {}
        self._urls: dict[str, str] = {}
        self._host_slots = HostSlots(per_host_limit)
        self._held_lock = threading.Condition()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="rotation")
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Take over stale work (SQLite), then run the claim and lease-renewal loops."""
        if self.engine.db.is_sqlite:
            self.take_over_all()
        for target, name in (
            (self._loop, "rotation-claims"),
            (self._renew_loop, "rotation-leases"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def wake(self) -> None:
        self._wake.set()

    # ----------------------------------------------------------------- claims

    def take_over_all(self) -> int:
        """Single-process start: every lease is ours to drop; unfinished attempts are due now."""
        now = self.engine.clock.now()
        with self.engine.db.write() as session:
            session.execute(update(SecretRotation).values(lease_owner=None, lease_until=None))
            unfinished = select(RotationAttempt.rotation_id).where(
                RotationAttempt.state.in_(UNFINISHED)
            )
            result = session.execute(
                update(SecretRotation).where(SecretRotation.id.in_(unfinished)).values(due_at=now)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def claim_due(self, limit: int) -> list[tuple[str, str]]:
        """Lease up to ``limit`` due rotations; returns (rotation id, lease token) pairs.

        Rotations of a directory host for which this worker already holds twice
        ``per_host_limit`` claims are left for later (or for another worker); at most
        ``per_host_limit`` of their directory operations run at once.
        """
        return [(rotation_id, token) for rotation_id, token, _host in self._claim(limit)]

    def _claim(self, limit: int) -> list[tuple[str, str, str]]:
        if limit <= 0:
            return []
        now = self.engine.clock.now()
        cap = self.per_host_limit * CLAIMED_PER_RUNNING
        with self._held_lock:
            held = Counter(self._hosts.values())
            full = [url for url, host in self._urls.items() if held[host] >= cap]
        locking = not self.engine.db.is_sqlite
        params = {"now": now, "full": full, "candidates": limit * CANDIDATES_PER_SLOT}
        claimed: list[tuple[str, str, str]] = []
        leases: list[dict[str, object]] = []
        until = now + timedelta(seconds=self.lease_seconds)
        # A lease needs no fsync: lost in a crash, it is only a claim someone takes again.
        with self.engine.db.write(durable=False) as session:
            conn = session.connection()
            if full:
                due = conn.execute(_DUE_LOCKED if locking else _DUE, params).all()
            else:
                due = _DUE_ANY_HOST_PREPARED[locking].all(conn, params)
            for rotation_id, url in due:
                host = directory_host(url)
                if held[host] >= cap:
                    continue
                held[host] += 1
                token = f"{self.worker_id}-{uuid.uuid4().hex[:12]}"
                leases.append({"rid": rotation_id, "token": token, "until": until})
                claimed.append((rotation_id, token, host))
                with self._held_lock:
                    self._urls[url] = host
                if len(claimed) >= limit:
                    break
            _LEASE.executemany(conn, leases)
        return claimed

    def run_once(self) -> int:
        """Claim what fits in the pool and its queue and submit it; returns how many were
        claimed."""
        with self._held_lock:
            free = self._capacity - len(self._held)
        claimed = self._claim(free)
        for rotation_id, token, host in claimed:
            with self._held_lock:
                self._held[rotation_id] = token
                self._hosts[rotation_id] = host
            future = self._pool.submit(self._run, rotation_id, token)
            future.add_done_callback(self._done(rotation_id))
        return len(claimed)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no claimed rotation is running; False when ``timeout`` ran out."""
        with self._held_lock:
            return self._held_lock.wait_for(lambda: not self._held, timeout)

    def _done(self, rotation_id: str) -> Callable[[Future[None]], None]:
        def callback(_future: Future[None]) -> None:
            with self._held_lock:
                self._held.pop(rotation_id, None)
                self._hosts.pop(rotation_id, None)
                self._held_lock.notify_all()
            self._wake.set()

        return callback

    def _run(self, rotation_id: str, token: str) -> None:
        try:
            with self._host_slots.applied():
                self.engine.run(rotation_id, token, manual=False)
        except LeaseLost:
            log.info("lease lost", extra={"rotationId": rotation_id})
        except ConnectionBusy:
            pass  # the engine moved it to just after the bind account's own attempt
        except Exception as exc:  # noqa: BLE001 — one rotation's bug must not stop the worker
            log.error(
                "rotation crashed",
                extra={"rotationId": rotation_id, "error_type": type(exc).__name__},
            )
        finally:
            self.engine.release(rotation_id, token)

    # ------------------------------------------------------------------ loops

    def _loop(self) -> None:
        batch = self._batch
        while not self._stop.is_set():
            # Cleared before claiming: a rotation that ends during the claim wakes the wait.
            self._wake.clear()
            with self._held_lock:
                free = self._capacity - len(self._held)
            claimed = 0
            if free >= batch:
                try:
                    claimed = self.run_once()
                except Exception as exc:  # noqa: BLE001 — the database may be briefly away
                    log.error("claim failed", extra={"error_type": type(exc).__name__})
            if claimed < max(free, 1):
                # Nothing more is due (or its hosts are busy): until a rotation ends, or
                # the next poll.
                self._wake.wait(self.poll_seconds)

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            with self._held_lock:
                held = dict(self._held)
            if not held:
                continue
            until = self.engine.clock.now() + timedelta(seconds=self.lease_seconds)
            try:
                with self.engine.db.write(durable=False) as session:
                    for rotation_id, token in held.items():
                        session.execute(
                            update(SecretRotation)
                            .where(
                                SecretRotation.id == rotation_id,
                                SecretRotation.lease_owner == token,
                            )
                            .values(lease_until=until)
                        )
            except Exception as exc:  # noqa: BLE001
                log.error("lease renewal failed", extra={"error_type": type(exc).__name__})
