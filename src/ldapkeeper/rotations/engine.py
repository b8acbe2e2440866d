"""The rotation engine: a persisted state machine that never loses a password.

One attempt moves ``pending → changed → verified → committed`` (or ``failed``); each step
is committed before the next side effect:

1. the new password is generated, sealed and committed as *pending* together with
   ``directory_touched`` (SQLite runs with ``synchronous=FULL``, so it is on disk) before
   the directory is touched;
2. the directory is asked to change the password;
3. the new password is verified by binding as the target with it;
4. one transaction flips the credential slot, writes the mapped secrets and (when the bind
   account changed its own password) the connection's credentials, and ends the attempt.

Only steps 1 and 4 are durable commits on the normal path: committing "changed" or
"verified" in between would buy nothing, because recovery of a touched attempt always
binds with the pending password first (the probe is the verification).

Recovery is the same code: an unfinished attempt is driven forward, never replaced. If the
directory may have been changed, the engine first binds with the pending password (at most
one failed probe per attempt, since lockout policies count failures); only when that fails
does it apply the change again. Every commit is fenced by the attempt id and the lease
token, so a worker whose lease was taken over cannot commit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from ldapkeeper.audit.service import record
from ldapkeeper.clock import Clock
from ldapkeeper.connections.service import load_credentials, store_new_password
from ldapkeeper.db.models import AppConnection, Folder, RotationAttempt, SecretRotation
from ldapkeeper.db.session import Database
from ldapkeeper.directory import BindCredentials, DirectoryClient, DirectoryError
from ldapkeeper.kms.keyring import KeyRing
from ldapkeeper.metrics import ROTATIONS
from ldapkeeper.rotations import sealed
from ldapkeeper.rotations.passwords import PasswordRules, generate_password
from ldapkeeper.rotations.schedule import (
    LEASE_SECONDS,
    MAX_FAILURES,
    next_day_at,
    next_rotation_at,
    retry_delay,
)
from ldapkeeper.rotations.schemas import LdapPasswordParameters
from ldapkeeper.secrets.service import write_managed_secret

log = logging.getLogger("ldapkeeper.rotations")

Method = Literal["reset", "self", "target"]
UNFINISHED = ("pending", "changed", "verified")
# Directory answers after which the password certainly did not change.
_DEFINITE = frozenset(
    {
        "password_rejected",
        "insufficient_access",
        "no_such_object",
        "unsupported",
        "insecure_transport",
        "invalid_credentials",
        "blocked_address",
        "dns_error",
        # Not connection_refused: libldap reports a connection dropped in the middle of the
        # change the same way, and the server may have applied it. Such an attempt stays
        # unfinished and recovery probes before re-applying.
        "tls_error",
        "referral_refused",
        "ambiguous_target",
        "invalid_input",
    }
)
MESSAGE_LIMIT = 1024
#: How long the engine trusts its list of a connection's self-changing rotations. Only
#: liveness depends on it (a rotation created meanwhile is noticed this much later); the
#: connection lock keeps a running self-change exclusive regardless.
SELF_ROTATIONS_SECONDS = 10.0

StepHook = Callable[[str], None]


class LeaseLost(Exception):
    """Another worker holds this rotation now; this one must stop without committing."""


class ConnectionBusy(Exception):
    """The connection's bind account is changing its own password in an unfinished attempt
    of another rotation; nothing else may use the connection until that attempt ends."""


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended for the caller."""

    attempt_id: str
    state: str
    error_code: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.state == "committed"

    @property
    def unfinished(self) -> bool:
        return self.state in UNFINISHED


@dataclass(frozen=True)
class _Start:
    """Which attempt a run drives (``attempt_id`` None: a new one) and how."""

    rotation_id: str
    connection_id: str
    method: Method
    attempt_id: str | None


@dataclass
class _Plan:
    """What one run needs, read once: never holds a database session open over LDAP."""

    rotation_id: str
    project_id: str
    connection_id: str
    target_dn: str
    creds: BindCredentials = field(repr=False)
    current_password: SecretStr | None = field(repr=False)
    requirements: PasswordRules
    pending: SecretStr | None = field(default=None, repr=False)
    # True when this run created the attempt: nothing has touched the directory yet,
    # although the row already says it may have (committed with the pending password).
    fresh: bool = False


class ConnectionLocks:
    """Per-connection reader/writer locks: a bind account changing its own password runs
    alone; every other rotation through that connection shares the lock."""

    def __init__(self) -> None:
        self._guard = threading.Condition()
        self._readers: dict[str, int] = defaultdict(int)
        self._writers: set[str] = set()
        self._waiting: dict[str, int] = defaultdict(int)

    def waiting(self, connection_id: str) -> int:
        """How many runs wait for this connection's lock now."""
        with self._guard:
            return self._waiting[connection_id]

    @contextmanager
    def hold(self, connection_id: str, *, exclusive: bool) -> Iterator[None]:
        with self._guard:
            self._waiting[connection_id] += 1
            if exclusive:
                while connection_id in self._writers or self._readers[connection_id]:
                    self._guard.wait()
                self._writers.add(connection_id)
            else:
                while connection_id in self._writers:
                    self._guard.wait()
                self._readers[connection_id] += 1
            self._waiting[connection_id] -= 1
        try:
            yield
        finally:
            with self._guard:
                if exclusive:
                    self._writers.discard(connection_id)
                else:
                    self._readers[connection_id] -= 1
                self._guard.notify_all()


def _no_hold(step: str) -> None:
    return None


def redact_message(message: str, *secrets: SecretStr | None) -> str:
    """Mask every known password in ``message`` and bound its length."""
    for secret in secrets:
        if secret is not None and secret.get_secret_value():
            message = message.replace(secret.get_secret_value(), "********************")
    return message[:MESSAGE_LIMIT]


def rotation_method(
    directory: DirectoryClient,
    params: LdapPasswordParameters,
    creds: BindCredentials,
    target: str,
) -> Method:
    """How the password changes: an admin reset, the bind account changing its own
    password, or the target changing its own. Decided on resolved, normalized DNs."""
    if params.rotation_method == "target-principal":
        return "target"
    bind_dn = creds.dn
    if "@" in bind_dn and "=" not in bind_dn:
        bind_dn = directory.resolve_dn(creds=creds, name=bind_dn)
    return "self" if directory.same_dn(bind_dn, target) else "reset"


class RotationEngine:
    """Runs rotation attempts. Callers hold the rotation's lease (see ``claim``)."""

    def __init__(
        self,
        *,
        db: Database,
        keyring: KeyRing,
        directory: DirectoryClient,
        clock: Clock,
        on_failure: Callable[[SecretRotation, str], None] | None = None,
        hold: StepHook = _no_hold,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.db = db
        self.keyring = keyring
        self.directory = directory
        self.clock = clock
        self.locks = ConnectionLocks()
        self._on_failure = on_failure
        self._hold = hold
        self.lease_seconds = lease_seconds
        # Lease tokens whose lease the final commit already ended (release skips them).
        self._ended: set[str] = set()
        self._ended_lock = threading.Lock()
        # Row locks for the fences on PostgreSQL; SQLite's one writer serializes them anyway
        # (and a plain primary-key get there reuses its compiled query).
        self._row_locks: bool | None = None if db.is_sqlite else True
        # connection id -> (valid until, rotations that change its bind account's password)
        self._self_cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._self_lock = threading.Lock()

    # ----------------------------------------------------------------- leases

    def claim(self, rotation_id: str, token: str) -> bool:
        """Take the lease of one rotation for ``token``; False when someone else holds it."""
        now = self.clock.now()
        # Leases need no fsync: a lost one is only a claim that may be taken again, and
        # every step's commit is fenced by the token.
        with self.db.write(durable=False) as session:
            rotation = session.get(SecretRotation, rotation_id, with_for_update=self._row_locks)
            if rotation is None:
                return False
            held = rotation.lease_owner is not None and rotation.lease_until is not None
            if held and rotation.lease_until is not None and rotation.lease_until > now:
                return False
            rotation.lease_owner = token
            rotation.lease_until = now + timedelta(seconds=self.lease_seconds)
            return True

    def release(self, rotation_id: str, token: str) -> None:
        """Give the lease up (a no-op once the attempt's commit has ended it)."""
        with self._ended_lock:
            if token in self._ended:
                self._ended.discard(token)
                return
        with self.db.write(durable=False) as session:
            rotation = session.get(SecretRotation, rotation_id, with_for_update=self._row_locks)
            if rotation is not None and rotation.lease_owner == token:
                rotation.lease_owner = None
                rotation.lease_until = None

    # ------------------------------------------------------------------- run

    def run(self, rotation_id: str, token: str, *, manual: bool) -> Outcome:
        """Drive the rotation's unfinished attempt forward, or start and drive a new one.

        Returns how the attempt ended (committed, failed, or still unfinished after a
        failure that left the directory's state unknown). Raises LeaseLost when the lease
        was taken over, and ConnectionBusy when the connection's bind account is in the
        middle of changing its own password in another attempt (nothing was started).
        """
        try:
            start = self._start(rotation_id, token)
        except DirectoryError as exc:
            # Choosing the method needed the directory (a UPN bind name) and it failed.
            return self._fail_unstarted(rotation_id, token, exc, manual=manual)
        exclusive = start.method == "self"
        with (
            self.locks.hold(start.connection_id, exclusive=exclusive),
            # The same rule across processes (PostgreSQL; SQLite has only this one).
            self.db.cross_process_lock(f"connection:{start.connection_id}", shared=not exclusive),
        ):
            if start.method != "self":
                self._require_settled_connection(start, token, manual=manual)
            # Read inside the lock: a self-change that held it may have just replaced the
            # connection's password.
            plan = self._plan(start, token)
            attempt_id = start.attempt_id or self._begin(plan, start, token, manual=manual)
            try:
                return self._drive(plan, attempt_id, start.method, token)
            except DirectoryError as exc:
                return self._fail(plan, attempt_id, token, exc, manual=manual)

    def _start(self, rotation_id: str, token: str) -> _Start:
        """What to run: the unfinished attempt (and its method), or the method of a new one."""
        with self.db.read() as session:
            rotation = self._leased(session, rotation_id, token)
            connection = session.get(AppConnection, rotation.connection_id)
            if connection is None:
                raise LeaseLost("connection gone")
            unfinished = session.scalar(
                select(RotationAttempt).where(
                    RotationAttempt.rotation_id == rotation_id,
                    RotationAttempt.state.in_(UNFINISHED),
                )
            )
            if unfinished is not None:
                method: Method = unfinished.method  # type: ignore[assignment]
                return _Start(rotation_id, rotation.connection_id, method, unfinished.id)
            creds = load_credentials(session, self.keyring, connection)
            params = LdapPasswordParameters.model_validate(rotation.parameters)
            target_dn = rotation.target_dn
        method = self._method(params, creds, target_dn)
        return _Start(rotation_id, rotation.connection_id, method, None)

    def _plan(self, start: _Start, token: str) -> _Plan:
        """The credentials and passwords a run needs, read once (no session held over LDAP).

        An unfinished attempt is adopted: its lease owner becomes ``token``.
        """
        adopt = start.attempt_id is not None
        # A new attempt only reads here (``_begin`` fences and commits next). Adopting
        # needs no fsync: if the adoption is lost, the next recovery adopts it again.
        with self.db.write(durable=False) if adopt else self.db.read() as session:
            if adopt:
                rotation = self._fence_rotation(session, start.rotation_id, token)
            else:
                rotation = self._leased(session, start.rotation_id, token)
            connection = session.get(AppConnection, rotation.connection_id)
            if connection is None:
                raise LeaseLost("connection gone")
            creds = load_credentials(session, self.keyring, connection)
            params = LdapPasswordParameters.model_validate(rotation.parameters)
            if start.attempt_id is not None:
                attempt = session.get(RotationAttempt, start.attempt_id)
                if attempt is None or attempt.state not in UNFINISHED:
                    raise LeaseLost(start.attempt_id)
                attempt.lease_owner = token
            return _Plan(
                rotation_id=rotation.id,
                project_id=rotation.project_id,
                connection_id=rotation.connection_id,
                target_dn=rotation.target_dn,
                creds=creds,
                # The bind account's own password stays the connection's until the commit.
                current_password=creds.password
                if start.method != "target"
                else self._current_password(session, rotation, params),
                requirements=params.password_requirements.rules(),
            )

    def _begin(self, plan: _Plan, start: _Start, token: str, *, manual: bool) -> str:
        """Generate the new password and commit it, sealed, as a pending attempt."""
        if start.method == "self":
            # This process knows at once (others within SELF_ROTATIONS_SECONDS).
            with self._self_lock:
                cached = self._self_cache.get(start.connection_id)
                if cached is not None:
                    found = cached[1] | {start.rotation_id}
                    self._self_cache[start.connection_id] = (cached[0], found)
        password = generate_password(plan.requirements)
        with self.db.write() as session:
            rotation = self._fence_rotation(session, start.rotation_id, token)
            attempt = RotationAttempt(
                rotation_id=start.rotation_id,
                method=start.method,
                manual=manual,
                lease_owner=token,
                state="pending",
                pending_password_sealed=b"",
                # Committed with the pending password (one durable write instead of two):
                # recovery then probes before re-applying, which is right either way.
                directory_touched=True,
                started_at=self.clock.now(),
            )
            session.add(attempt)
            session.flush()
            sealed.seal_pending(session, self.keyring, rotation.project_id, attempt, password)
            rotation.last_rotation_attempted_at = self.clock.now()
            attempt_id = attempt.id
        plan.pending = SecretStr(password)
        plan.fresh = True
        self._hold("pending-committed")
        return attempt_id

    def _require_settled_connection(self, start: _Start, token: str, *, manual: bool) -> None:
        """Raise ConnectionBusy while another attempt of this connection's bind account to
        change its own password is unfinished (crashed, or running in another process):
        until it ends, the connection's stored password may be the wrong one."""
        with self.db.read() as session:
            query = (
                select(SecretRotation)
                .join(RotationAttempt, RotationAttempt.rotation_id == SecretRotation.id)
                .where(
                    SecretRotation.connection_id == start.connection_id,
                    SecretRotation.id != start.rotation_id,
                    RotationAttempt.method == "self",
                    RotationAttempt.state.in_(UNFINISHED),
                )
            )
            candidates = self._self_rotations(session, start.connection_id)
            if candidates is not None:
                # Only the (few) rotations that can be self-changes: an index look-up, not
                # a scan of every attempt ever made.
                others = sorted(candidates - {start.rotation_id})
                if not others:
                    return
                query = query.where(RotationAttempt.rotation_id.in_(others))
            blocker = session.scalar(query.limit(1))
            if blocker is None:
                return
            blocker_due = blocker.due_at
        now = self.clock.now()
        with self.db.write() as session:
            rotation = self._fence_rotation(session, start.rotation_id, token)
            if not manual and rotation.due_at is not None and rotation.due_at <= now:
                # Try again just after the bind account's own attempt is retried.
                later = (blocker_due or now) + timedelta(seconds=1)
                rotation.due_at = max(later, now + timedelta(seconds=1))
        log.info(
            "connection busy: its bind account is changing its own password",
            extra={"rotationId": start.rotation_id, "connectionId": start.connection_id},
        )
        raise ConnectionBusy(start.connection_id)

    def _self_rotations(self, session: Session, connection_id: str) -> frozenset[str] | None:
        """The rotations through this connection whose target is its bind account (they
        change its own password), remembered for ``SELF_ROTATIONS_SECONDS``. None when the
        bind name is a UPN, which only the directory can compare with a DN."""
        now = time.monotonic()
        with self._self_lock:
            cached = self._self_cache.get(connection_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        bind_dn = session.scalar(select(AppConnection.dn).where(AppConnection.id == connection_id))
        if bind_dn is None or ("@" in bind_dn and "=" not in bind_dn):
            return None
        rows = session.execute(
            select(SecretRotation.id, SecretRotation.target_dn).where(
                SecretRotation.connection_id == connection_id
            )
        ).all()
        found = frozenset(rid for rid, target in rows if self._same_dn(target, bind_dn))
        with self._self_lock:
            self._self_cache[connection_id] = (now + SELF_ROTATIONS_SECONDS, found)
        return found

    def _same_dn(self, a: str, b: str) -> bool:
        try:
            return self.directory.same_dn(a, b)
        except DirectoryError:
            return False

    def _method(
        self, params: LdapPasswordParameters, creds: BindCredentials, target: str
    ) -> Method:
        return rotation_method(self.directory, params, creds, target)

    def _current_password(
        self, session: Session, rotation: SecretRotation, params: LdapPasswordParameters
    ) -> SecretStr | None:
        """target-principal: the password the target has now (the active generated one,
        or the temporary one given at creation)."""
        slots = sealed.open_slots(session, self.keyring, rotation)
        active = slots[rotation.active_index]
        if active is not None:
            return active.password
        return sealed.open_temporary_password(session, self.keyring, rotation)

    # ---------------------------------------------------------------- steps

    def _drive(self, plan: _Plan, attempt_id: str, method: Method, token: str) -> Outcome:
        if plan.fresh and plan.pending is not None:
            pending = plan.pending
            state, touched, probes = "pending", False, 0
        else:
            with self.db.read() as session:
                attempt = session.get(RotationAttempt, attempt_id)
                assert attempt is not None
                pending = sealed.open_pending(session, self.keyring, plan.project_id, attempt)
                plan.pending = pending
                state = attempt.state
                touched, probes = attempt.directory_touched, attempt.failed_probes
        verified = state == "verified"
        if state == "pending":
            verified = self._apply(
                plan, attempt_id, method, token, pending, touched=touched, probes=probes
            )
        if not verified:
            if not self.directory.verify_bind(
                creds=plan.creds, dn=plan.target_dn, password=pending
            ):
                raise DirectoryError(
                    "operation_failed", "The new password was set but does not bind yet"
                )
            self._hold("verified-committed")
        self._commit(plan, attempt_id, method, token, pending)
        self._hold("committed")
        return Outcome(attempt_id, "committed")

    def _apply(
        self,
        plan: _Plan,
        attempt_id: str,
        method: Method,
        token: str,
        pending: SecretStr,
        *,
        touched: bool,
        probes: int,
    ) -> bool:
        """Make the directory hold ``pending`` (nothing is committed: the attempt stays
        ``pending`` and touched). Returns True when a bind with ``pending`` already proved
        it (the recovery probe), False when the change still needs verifying."""
        if touched and probes == 0:
            # The directory may already hold the pending password: find out before acting.
            if self.directory.verify_bind(creds=plan.creds, dn=plan.target_dn, password=pending):
                return True
            self._record_probe_failure(attempt_id, token)
            touched = False
        if not touched and not plan.fresh:
            self._mark_touched(attempt_id, token)
        self._hold("touched-committed")
        try:
            self._change(plan, method, pending)
        except DirectoryError as exc:
            if exc.code == "unchanged":
                pass  # ppolicy: "not being changed from existing value" — it already is
            elif (
                touched
                and method != "reset"
                and exc.code in ("invalid_credentials", "password_rejected")
            ):
                # A repeated self-change whose old password no longer works: an earlier
                # try may have succeeded. Verify with the pending password.
                if not self.directory.verify_bind(
                    creds=plan.creds, dn=plan.target_dn, password=pending
                ):
                    raise
            else:
                if not touched and exc.code in _DEFINITE:
                    # Nothing before this call changed the directory, and this call
                    # certainly did not: the attempt may end.
                    self._mark_untouched(attempt_id, token)
                raise
        self._hold("directory-changed")
        self._hold("changed-committed")
        return False

    def _change(self, plan: _Plan, method: Method, pending: SecretStr) -> None:
        if method == "reset":
            self.directory.reset_password(
                creds=plan.creds, target_dn=plan.target_dn, new_password=pending
            )
            return
        if plan.current_password is None:
            raise DirectoryError(
                "invalid_credentials", "The account's current password is not known"
            )
        self.directory.change_own_password(
            creds=plan.creds,
            dn=plan.target_dn,
            old_password=plan.current_password,
            new_password=pending,
        )

    def _commit(
        self, plan: _Plan, attempt_id: str, method: Method, token: str, pending: SecretStr
    ) -> None:
        now = self.clock.now()
        with self.db.write() as session:
            rotation, attempt = self._fence(session, attempt_id, token, UNFINISHED)
            slots = sealed.open_slots(session, self.keyring, rotation)
            index = 0 if rotation.credentials_sealed is None else 1 - rotation.active_index
            slots[index] = sealed.Slot(plan.target_dn, pending)
            sealed.seal_slots(session, self.keyring, rotation, slots)
            rotation.active_index = index
            rotation.temporary_password_sealed = None
            folder = session.get(Folder, rotation.folder_id)
            assert folder is not None
            mapping = rotation.secrets_mapping
            for key, value in (
                (mapping["dn"], plan.target_dn),
                (mapping["password"], pending.get_secret_value()),
            ):
                write_managed_secret(
                    session,
                    self.keyring,
                    project_id=rotation.project_id,
                    folder=folder,
                    key=key,
                    value=value,
                    rotation_id=rotation.id,
                )
            if method == "self":
                connection = session.get(AppConnection, rotation.connection_id)
                assert connection is not None
                store_new_password(session, self.keyring, connection, pending)
            rotation.rotation_status = "success"
            rotation.last_rotation_message = None
            rotation.is_last_rotation_manual = attempt.manual
            rotation.last_rotated_at = now
            rotation.failure_count = 0
            rotation.next_rotation_at = (
                next_rotation_at(
                    now,
                    rotation.rotation_interval,
                    rotation.rotate_at_hours,
                    rotation.rotate_at_minutes,
                )
                if rotation.is_auto_rotation_enabled
                else None
            )
            rotation.due_at = rotation.next_rotation_at
            rotation.updated_at = now
            # The work is done: end the lease in the same commit (release is then a no-op).
            rotation.lease_owner = None
            rotation.lease_until = None
            attempt.state = "committed"
            attempt.finished_at = now
            attempt.error_code = None
            attempt.message = None
            record(
                session,
                event_type="secret-rotation-rotate-secrets",
                actor=None,
                project_id=rotation.project_id,
                metadata={
                    "rotationId": rotation.id,
                    "attemptId": attempt.id,
                    "manual": attempt.manual,
                    "status": "success",
                },
            )
        with self._ended_lock:
            self._ended.add(token)
        ROTATIONS.labels("success").inc()

    def _fail(
        self, plan: _Plan, attempt_id: str, token: str, exc: DirectoryError, *, manual: bool
    ) -> Outcome:
        """Record a failed try. The attempt ends only if the password certainly did not change."""
        message = redact_message(
            exc.message, plan.current_password, plan.creds.password, plan.pending
        )
        with self.db.write() as session:
            rotation = self._fence_rotation(session, plan.rotation_id, token)
            attempt = session.get(RotationAttempt, attempt_id)
            assert attempt is not None
            definite = (
                attempt.state == "pending"
                and not attempt.directory_touched
                and exc.code in _DEFINITE
            )
            if definite:
                attempt.state = "failed"
                attempt.finished_at = self.clock.now()
            attempt.error_code = exc.code
            attempt.message = message
            notify = self._record_failure(
                session, rotation, attempt, exc.code, message, definite=definite, manual=manual
            )
            state = attempt.state
        self._after_failure(plan.rotation_id, attempt_id, exc.code, message, notify=notify)
        return Outcome(attempt_id, state, exc.code, message)

    def _fail_unstarted(
        self, rotation_id: str, token: str, exc: DirectoryError, *, manual: bool
    ) -> Outcome:
        """Record a try that failed before its attempt began (nothing was changed)."""
        message = redact_message(exc.message)
        now = self.clock.now()
        with self.db.write() as session:
            rotation = self._fence_rotation(session, rotation_id, token)
            attempt = RotationAttempt(
                rotation_id=rotation_id,
                method="unknown",
                manual=manual,
                lease_owner=token,
                state="failed",
                pending_password_sealed=b"",
                error_code=exc.code,
                message=message,
                started_at=now,
                finished_at=now,
            )
            session.add(attempt)
            session.flush()
            rotation.last_rotation_attempted_at = now
            notify = self._record_failure(
                session, rotation, attempt, exc.code, message, definite=True, manual=manual
            )
            attempt_id = attempt.id
        self._after_failure(rotation_id, attempt_id, exc.code, message, notify=notify)
        return Outcome(attempt_id, "failed", exc.code, message)

    def _record_failure(
        self,
        session: Session,
        rotation: SecretRotation,
        attempt: RotationAttempt,
        code: str,
        message: str,
        *,
        definite: bool,
        manual: bool,
    ) -> bool:
        """Count the failure and schedule the next try: backoff while retries remain, else
        the next day at ``rotateAtUtc`` (an unfinished attempt is always scheduled again).
        Returns True when the failure is to be reported (retries exhausted, or manual)."""
        now = self.clock.now()
        rotation.failure_count += 1
        rotation.last_rotation_message = message
        rotation.updated_at = now
        exhausted = rotation.failure_count >= MAX_FAILURES
        if exhausted or manual:
            rotation.rotation_status = "failed"
        # An unfinished attempt is always tried again (its pending password may be the
        # directory's now), even with auto-rotation off; after the retries, the next day.
        if not exhausted and (not definite or rotation.is_auto_rotation_enabled):
            rotation.due_at = now + retry_delay(rotation.failure_count)
        elif not definite or rotation.is_auto_rotation_enabled:
            rotation.due_at = next_day_at(now, rotation.rotate_at_hours, rotation.rotate_at_minutes)
        else:
            rotation.due_at = None
        if exhausted:
            rotation.failure_count = 0
        if exhausted or manual:
            record(
                session,
                event_type="secret-rotation-rotate-secrets",
                actor=None,
                project_id=rotation.project_id,
                metadata={
                    "rotationId": rotation.id,
                    "attemptId": attempt.id,
                    "manual": manual,
                    "status": "failed",
                    "errorCode": code,
                },
            )
        return exhausted or manual

    def _after_failure(
        self, rotation_id: str, attempt_id: str, code: str, message: str, *, notify: bool
    ) -> None:
        ROTATIONS.labels("failure").inc()
        log.warning(
            "rotation attempt failed",
            extra={"rotationId": rotation_id, "attemptId": attempt_id, "errorCode": code},
        )
        if notify and self._on_failure is not None:
            with self.db.read() as session:
                row = session.get(SecretRotation, rotation_id)
                if row is not None:
                    self._on_failure(row, message)

    # --------------------------------------------------------------- fences

    def _leased(self, session: Session, rotation_id: str, token: str) -> SecretRotation:
        rotation = session.get(SecretRotation, rotation_id)
        if rotation is None or rotation.lease_owner != token:
            raise LeaseLost(rotation_id)
        return rotation

    def _fence_rotation(self, session: Session, rotation_id: str, token: str) -> SecretRotation:
        rotation = session.get(SecretRotation, rotation_id, with_for_update=self._row_locks)
        if rotation is None or rotation.lease_owner != token:
            raise LeaseLost(rotation_id)
        # Every fenced step extends the lease: a worker making progress keeps it.
        rotation.lease_until = self.clock.now() + timedelta(seconds=self.lease_seconds)
        return rotation

    def _fence(
        self, session: Session, attempt_id: str, token: str, expected: str | tuple[str, ...]
    ) -> tuple[SecretRotation, RotationAttempt]:
        allowed = (expected,) if isinstance(expected, str) else expected
        attempt = session.get(RotationAttempt, attempt_id, with_for_update=self._row_locks)
        if attempt is None or attempt.lease_owner != token or attempt.state not in allowed:
            raise LeaseLost(attempt_id)
        rotation = self._fence_rotation(session, attempt.rotation_id, token)
        return rotation, attempt

    def _mark_touched(self, attempt_id: str, token: str) -> None:
        with self.db.write() as session:
            _rotation, attempt = self._fence(session, attempt_id, token, "pending")
            attempt.directory_touched = True

    def _mark_untouched(self, attempt_id: str, token: str) -> None:
        with self.db.write() as session:
            _rotation, attempt = self._fence(session, attempt_id, token, "pending")
            attempt.directory_touched = False

    def _record_probe_failure(self, attempt_id: str, token: str) -> None:
        with self.db.write() as session:
            _rotation, attempt = self._fence(session, attempt_id, token, "pending")
            attempt.failed_probes += 1
            # The probe proved the directory does not hold the pending password.
            attempt.directory_touched = False
