"""The worker loop: claims due rotations with leases and runs them on a bounded pool.

The scheduler decides *when*; the engine alone decides *what*. On PostgreSQL many workers
share the table: claims use ``FOR UPDATE SKIP LOCKED``. SQLite has one process, which takes
over every lease at start so unfinished attempts are recovered at once.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import or_, select, update

from ldapkeeper.db.models import RotationAttempt, SecretRotation
from ldapkeeper.rotations.engine import UNFINISHED, ConnectionBusy, LeaseLost, RotationEngine
from ldapkeeper.rotations.schedule import LEASE_SECONDS

log = logging.getLogger("ldapkeeper.worker")


class RotationWorker:
    """Claims due rotations and drives them through the engine until stopped."""

    def __init__(
        self,
        engine: RotationEngine,
        *,
        concurrency: int = 8,
        poll_seconds: float = 1.0,
        worker_id: str | None = None,
    ) -> None:
        self.engine = engine
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.worker_id = worker_id or uuid.uuid4().hex[:12]
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._held: dict[str, str] = {}
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
        """Lease up to ``limit`` due rotations; returns (rotation id, lease token) pairs."""
        if limit <= 0:
            return []
        now = self.engine.clock.now()
        query = (
            select(SecretRotation.id)
            .where(
                SecretRotation.due_at <= now,
                or_(SecretRotation.lease_until.is_(None), SecretRotation.lease_until < now),
            )
            .order_by(SecretRotation.due_at)
            .limit(limit)
        )
        if not self.engine.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        claimed: list[tuple[str, str]] = []
        with self.engine.db.write() as session:
            for rotation_id in session.scalars(query).all():
                token = f"{self.worker_id}-{uuid.uuid4().hex[:12]}"
                session.execute(
                    update(SecretRotation)
                    .where(SecretRotation.id == rotation_id)
                    .values(lease_owner=token, lease_until=now + timedelta(seconds=LEASE_SECONDS))
                )
                claimed.append((rotation_id, token))
        return claimed

    def run_once(self) -> int:
        """Claim what fits in the pool and submit it; returns how many were claimed."""
        with self._held_lock:
            free = self.concurrency - len(self._held)
        claimed = self.claim_due(free)
        for rotation_id, token in claimed:
            with self._held_lock:
                self._held[rotation_id] = token
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
                self._held_lock.notify_all()
            self._wake.set()

        return callback

    def _run(self, rotation_id: str, token: str) -> None:
        try:
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
        while not self._stop.is_set():
            try:
                claimed = self.run_once()
            except Exception as exc:  # noqa: BLE001 — the database may be briefly away
                log.error("claim failed", extra={"error_type": type(exc).__name__})
                claimed = 0
            if claimed == 0:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def _renew_loop(self) -> None:
        while not self._stop.wait(LEASE_SECONDS / 3):
            with self._held_lock:
                held = dict(self._held)
            if not held:
                continue
            until = self.engine.clock.now() + timedelta(seconds=LEASE_SECONDS)
            try:
                with self.engine.db.write() as session:
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
