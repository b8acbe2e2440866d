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
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from pydantic import SecretStr
from sqlalchemy import Table, and_, bindparam, exists, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from ldapkeeper.audit.service import Event, insert_event, record
from ldapkeeper.clock import Clock
from ldapkeeper.connections.service import load_credentials, store_new_password
from ldapkeeper.db.base import new_id
from ldapkeeper.db.models import AppConnection, RotationAttempt, SecretRotation
from ldapkeeper.db.prepared import Batch, Prepared, Sent, batch, insert_of
from ldapkeeper.db.reads import read_session
from ldapkeeper.db.session import Database
from ldapkeeper.directory import BindCredentials, DirectoryClient, DirectoryError
from ldapkeeper.kms.keyring import KeyRing
from ldapkeeper.metrics import ROTATIONS
from ldapkeeper.rotations import sealed
from ldapkeeper.rotations.host_slots import SlottedDirectory
from ldapkeeper.rotations.passwords import PasswordRules, generate_password
from ldapkeeper.rotations.schedule import (
    LEASE_SECONDS,
    MAX_FAILURES,
    next_day_at,
    next_rotation_at,
    retry_delay,
)
from ldapkeeper.rotations.schemas import LdapPasswordParameters
from ldapkeeper.secrets.service import (
    ManagedValues,
    prepare_managed_writes,
    send_managed_find,
)

log = logging.getLogger("ldapkeeper.rotations")

Method = Literal["reset", "self", "target"]
UNFINISHED = ("pending", "changed", "verified")
# The same as fixed bound parameters: ``in_`` of a plain tuple is an expanding parameter,
# re-rendered on every execution of the hot path's statements.
_UNFINISHED_PARAMS = [literal(state) for state in UNFINISHED]
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


class _NotClaimed(Exception):
    """``run_unclaimed`` could not take the free lease with the attempt's first commit."""


class ConnectionBusy(Exception):
    """The connection's bind account is changing its own password in an unfinished attempt
    of another rotation; nothing else may use the connection until that attempt ends."""


@dataclass(frozen=True)
class Committed:
    """What a successful attempt's final commit wrote to its rotation (the fields of the
    public view it changed), so a caller can answer without reading the rotation again."""

    at: datetime
    attempted_at: datetime
    active_index: int
    next_rotation_at: datetime | None


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended for the caller."""

    attempt_id: str
    state: str
    error_code: str | None = None
    message: str | None = None
    # Set when this run began the attempt and committed it.
    committed: Committed | None = None

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
    # The connection's version the credentials were read at (a self-change bumps it).
    connection_version: int
    # Whether the attempt was started by a request ("rotate now", create).
    manual: bool = False
    pending: SecretStr | None = field(default=None, repr=False)
    # True when this run created the attempt: nothing has touched the directory yet,
    # although the row already says it may have (committed with the pending password).
    fresh: bool = False
    # When this run began the attempt (``last_rotation_attempted_at``).
    begun_at: datetime | None = None


@dataclass(frozen=True)
class Loaded:
    """A rotation with its connection's credentials and its unfinished attempt, if any."""

    rotation_id: str
    project_id: str
    connection_id: str
    connection_version: int
    lease_owner: str | None
    target_dn: str
    params: LdapPasswordParameters
    creds: BindCredentials = field(repr=False)
    # target-principal: the password the target has now (the active generated one, or
    # the temporary one given at creation).
    target_password: SecretStr | None = field(repr=False)
    attempt_id: str | None
    attempt_method: str | None
    attempt_manual: bool


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


_ROTATIONS = _table(SecretRotation)
_ATTEMPTS = _table(RotationAttempt)
_CONNECTIONS = _table(AppConnection)

# The engine's hot path runs these Core statements (compiled once, cached by SQLAlchemy)
# instead of loading and flushing ORM objects.

#: A rotation, its connection and its unfinished attempt (if any), in one query.
_LOAD = Prepared(
    select(
        _ROTATIONS.c.project_id,
        _ROTATIONS.c.lease_owner,
        _ROTATIONS.c.target_dn,
        _ROTATIONS.c.parameters,
        _ROTATIONS.c.credentials_sealed,
        _ROTATIONS.c.active_index,
        _ROTATIONS.c.temporary_password_sealed,
        _ATTEMPTS.c.id.label("attempt_id"),
        _ATTEMPTS.c.method.label("attempt_method"),
        _ATTEMPTS.c.manual.label("attempt_manual"),
        *(column.label(f"connection_{column.name}") for column in _CONNECTIONS.c),
    )
    .select_from(
        _ROTATIONS.join(_CONNECTIONS, _CONNECTIONS.c.id == _ROTATIONS.c.connection_id).outerjoin(
            _ATTEMPTS,
            and_(
                _ATTEMPTS.c.rotation_id == _ROTATIONS.c.id,
                _ATTEMPTS.c.state.in_(_UNFINISHED_PARAMS),
            ),
        )
    )
    .where(_ROTATIONS.c.id == bindparam("rotation_id"))
)
_CONNECTION_FIELDS = tuple(column.name for column in _CONNECTIONS.c)

#: Take a free (or expired) lease.
_CLAIM = (
    update(_ROTATIONS)
    .where(
        _ROTATIONS.c.id == bindparam("rotation_id"),
        or_(
            _ROTATIONS.c.lease_owner.is_(None),
            _ROTATIONS.c.lease_until.is_(None),
            _ROTATIONS.c.lease_until <= bindparam("now"),
        ),
    )
    .values(lease_owner=bindparam("token"), lease_until=bindparam("until"))
)
_RELEASE = (
    update(_ROTATIONS)
    .where(
        _ROTATIONS.c.id == bindparam("rotation_id"),
        _ROTATIONS.c.lease_owner == bindparam("token"),
    )
    .values(lease_owner=None, lease_until=None)
)
#: The fence of a new attempt: the lease is still ours (and is extended).
_BEGIN_ANY_VERSION_SQL = (
    update(_ROTATIONS)
    .where(
        _ROTATIONS.c.id == bindparam("rotation_id"),
        _ROTATIONS.c.lease_owner == bindparam("token"),
    )
    .values(lease_until=bindparam("until"), last_rotation_attempted_at=bindparam("now"))
)
#: The same, and the connection has not changed since its credentials were read (no
#: self-change finished meanwhile).
_BEGIN_ANY_VERSION = Prepared(_BEGIN_ANY_VERSION_SQL)
_BEGIN = Prepared(
    _BEGIN_ANY_VERSION_SQL.where(
        exists().where(
            _CONNECTIONS.c.id == _ROTATIONS.c.connection_id,
            _CONNECTIONS.c.version == bindparam("connection_version"),
        )
    )
)
#: Take a free lease and begin (``run_unclaimed``): the lease nobody holds, the connection
#: unchanged since its credentials were read.
_BEGIN_CLAIM = Prepared(
    update(_ROTATIONS)
    .where(
        _ROTATIONS.c.id == bindparam("rotation_id"),
        _ROTATIONS.c.lease_owner.is_(None),
        exists().where(
            _CONNECTIONS.c.id == _ROTATIONS.c.connection_id,
            _CONNECTIONS.c.version == bindparam("connection_version"),
        ),
    )
    .values(
        lease_owner=bindparam("token"),
        lease_until=bindparam("until"),
        last_rotation_attempted_at=bindparam("now"),
    )
)
_ATTEMPT_VALUES = (
    "id",
    "rotation_id",
    "state",
    "method",
    "manual",
    "lease_owner",
    "pending_password_sealed",
    "directory_touched",
    "failed_probes",
    "started_at",
)
_INSERT_ATTEMPT = Prepared(insert_of(_ATTEMPTS, _ATTEMPT_VALUES))
#: A new attempt, inserted only when the rotation has no unfinished one. A statement of its
#: own (on PostgreSQL its own snapshot, taken after ``_BEGIN_CLAIM`` locked the rotation's
#: row): an attempt that another holder of the lease left unfinished is seen here.
_INSERT_FIRST_ATTEMPT = Prepared(
    insert(_ATTEMPTS).from_select(
        list(_ATTEMPT_VALUES),
        select(*(bindparam(name, type_=_ATTEMPTS.c[name].type) for name in _ATTEMPT_VALUES)).where(
            ~exists().where(
                _ATTEMPTS.c.rotation_id == bindparam("rotation_id"),
                _ATTEMPTS.c.state.in_(_UNFINISHED_PARAMS),
            )
        ),
    )
)
#: What the final commit needs of the rotation, read in its transaction.
_COMMIT_READ_SQL = select(
    _ROTATIONS.c.lease_owner,
    _ROTATIONS.c.project_id,
    _ROTATIONS.c.environment_id,
    _ROTATIONS.c.folder_id,
    _ROTATIONS.c.connection_id,
    _ROTATIONS.c.secrets_mapping,
    _ROTATIONS.c.credentials_sealed,
    _ROTATIONS.c.active_index,
    _ROTATIONS.c.is_auto_rotation_enabled,
    _ROTATIONS.c.rotation_interval,
    _ROTATIONS.c.rotate_at_hours,
    _ROTATIONS.c.rotate_at_minutes,
).where(_ROTATIONS.c.id == bindparam("rotation_id"))
_COMMIT_READ = Prepared(_COMMIT_READ_SQL)
_COMMIT_READ_LOCKED = Prepared(_COMMIT_READ_SQL.with_for_update())
_COMMIT_ATTEMPT = Prepared(
    update(_ATTEMPTS)
    .where(
        _ATTEMPTS.c.id == bindparam("attempt_id"),
        _ATTEMPTS.c.lease_owner == bindparam("token"),
        _ATTEMPTS.c.state.in_(_UNFINISHED_PARAMS),
    )
    .values(state="committed", finished_at=bindparam("now"), error_code=None, message=None)
)
_COMMIT_ROTATION = Prepared(
    update(_ROTATIONS)
    .where(_ROTATIONS.c.id == bindparam("rotation_id"))
    .values(
        credentials_sealed=bindparam("credentials"),
        active_index=bindparam("index"),
        temporary_password_sealed=None,
        rotation_status="success",
        last_rotation_message=None,
        is_last_rotation_manual=bindparam("manual"),
        last_rotated_at=bindparam("now"),
        failure_count=0,
        next_rotation_at=bindparam("next"),
        due_at=bindparam("next"),
        updated_at=bindparam("now"),
        # The work is done: end the lease in the same commit (release is then a no-op).
        lease_owner=None,
        lease_until=None,
    )
)


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
        # Every directory call takes a slot of the worker's per-host limit when one applies.
        self.directory = SlottedDirectory(directory)
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
        # Connections whose self-changing rotations one thread is reading again right now.
        self._self_refreshing: set[str] = set()

    # ----------------------------------------------------------------- leases

    def claim(self, rotation_id: str, token: str) -> bool:
        """Take the lease of one rotation for ``token``; False when someone else holds it."""
        now = self.clock.now()
        params = {
            "rotation_id": rotation_id,
            "token": token,
            "now": now,
            "until": now + timedelta(seconds=self.lease_seconds),
        }
        # Leases need no fsync: a lost one is only a claim that may be taken again, and
        # every step's commit is fenced by the token.
        return self.db.execute_lease(_CLAIM, params) == 1

    def release(self, rotation_id: str, token: str) -> None:
        """Give the lease up (a no-op once the attempt's commit has ended it)."""
        with self._ended_lock:
            if token in self._ended:
                self._ended.discard(token)
                return
        self.db.execute_lease(_RELEASE, {"rotation_id": rotation_id, "token": token})

    # ------------------------------------------------------------------- run

    def run(self, rotation_id: str, token: str, *, manual: bool) -> Outcome:
        """Drive the rotation's unfinished attempt forward, or start and drive a new one.

        Returns how the attempt ended (committed, failed, or still unfinished after a
        failure that left the directory's state unknown). Raises LeaseLost when the lease
        was taken over, and ConnectionBusy when the connection's bind account is in the
        middle of changing its own password in another attempt (nothing was started).
        """
        with read_session(self.db) as session:
            loaded = self.load(session, rotation_id)
        if loaded is None or loaded.lease_owner != token:
            raise LeaseLost(rotation_id)
        return self._run(loaded, token, manual=manual, claim=False)

    def run_unclaimed(self, loaded: Loaded, token: str, *, manual: bool) -> Outcome | None:
        """``run`` for a rotation whose lease was free when ``loaded`` was read: the lease
        is taken by the new attempt's first commit (one write fewer than ``claim`` then
        ``run``). None, with nothing changed, when that cannot be done (the lease is held,
        an attempt is unfinished, the connection's state needs checking): the caller then
        claims and runs as usual. Raises as ``run`` does once the lease is taken; the
        caller releases it as after ``claim``."""
        if loaded.lease_owner is not None or loaded.attempt_id is not None:
            return None
        try:
            return self._run(loaded, token, manual=manual, claim=True)
        except _NotClaimed:
            return None

    def _run(self, loaded: Loaded, token: str, *, manual: bool, claim: bool) -> Outcome:
        try:
            start = self._start(loaded)
        except DirectoryError as exc:
            if claim:
                raise _NotClaimed() from None
            # Choosing the method needed the directory (a UPN bind name) and it failed.
            return self._fail_unstarted(loaded.rotation_id, token, exc, manual=manual)
        exclusive = start.method == "self"
        with (
            self.locks.hold(start.connection_id, exclusive=exclusive),
            # The same rule across processes (PostgreSQL; SQLite has only this one).
            self.db.cross_process_lock(f"connection:{start.connection_id}", shared=not exclusive),
        ):
            if start.method != "self":
                if not claim:
                    self._require_settled_connection(start, token, manual=manual)
                elif not self._settled_by_cache(start):
                    # Finding out may need the lease (to put a scheduled run off).
                    raise _NotClaimed()
            if start.attempt_id is None:
                # The credentials were read before the lock: ``_begin`` checks that the
                # connection has not changed since (a self-change that held the lock may
                # have just replaced its password) and reads them again if it has.
                plan = self._plan(loaded, start.method, manual=manual)
                attempt_id = self._begin(plan, start, token, claim=claim)
            else:
                plan = self._adopt(start, token)
                attempt_id = start.attempt_id
            try:
                return self._drive(plan, attempt_id, start.method, token)
            except DirectoryError as exc:
                return self._fail(plan, attempt_id, token, exc, manual=manual)

    def load(self, session: Session, rotation_id: str) -> Loaded | None:
        """The rotation, its connection's credentials and its unfinished attempt (one query)."""
        return self.loaded(
            session, rotation_id, _LOAD.first(session.connection(), {"rotation_id": rotation_id})
        )

    @staticmethod
    def send_load(sending: Batch, rotation_id: str) -> Sent:
        """``load``'s query, sent in a batch of the caller's (``loaded`` reads its answer)."""
        return sending.send(_LOAD, {"rotation_id": rotation_id})

    def loaded(self, session: Session, rotation_id: str, row: Any) -> Loaded | None:
        """What ``load`` returns, from its query's row (None: no such rotation)."""
        if row is None:
            return None
        values = row._asdict()
        connection = AppConnection(
            **{name: values[f"connection_{name}"] for name in _CONNECTION_FIELDS}
        )
        creds = load_credentials(session, self.keyring, connection)
        params = LdapPasswordParameters.model_validate(row.parameters)
        target_password = None
        if params.rotation_method == "target-principal":
            slots = sealed.open_slots(
                session, self.keyring, row.project_id, rotation_id, row.credentials_sealed
            )
            active = slots[row.active_index]
            target_password = (
                active.password
                if active is not None
                else sealed.open_temporary_password(
                    session,
                    self.keyring,
                    row.project_id,
                    rotation_id,
                    row.temporary_password_sealed,
                )
            )
        return Loaded(
            rotation_id=rotation_id,
            project_id=row.project_id,
            connection_id=connection.id,
            connection_version=connection.version,
            lease_owner=row.lease_owner,
            target_dn=row.target_dn,
            params=params,
            creds=creds,
            target_password=target_password,
            attempt_id=row.attempt_id,
            attempt_method=row.attempt_method,
            attempt_manual=bool(row.attempt_manual),
        )

    def _start(self, loaded: Loaded) -> _Start:
        """What to run: the unfinished attempt (and its method), or the method of a new one."""
        if loaded.attempt_id is not None:
            method = cast(Method, loaded.attempt_method)
            return _Start(loaded.rotation_id, loaded.connection_id, method, loaded.attempt_id)
        method = self._method(loaded.params, loaded.creds, loaded.target_dn)
        return _Start(loaded.rotation_id, loaded.connection_id, method, None)

    @staticmethod
    def _plan(loaded: Loaded, method: Method, *, manual: bool) -> _Plan:
        return _Plan(
            rotation_id=loaded.rotation_id,
            project_id=loaded.project_id,
            connection_id=loaded.connection_id,
            target_dn=loaded.target_dn,
            creds=loaded.creds,
            # The bind account's own password stays the connection's until the commit.
            current_password=(
                loaded.creds.password if method != "target" else loaded.target_password
            ),
            requirements=loaded.params.password_requirements.rules(),
            connection_version=loaded.connection_version,
            manual=manual,
        )

    def _adopt(self, start: _Start, token: str) -> _Plan:
        """Take over the unfinished attempt: its lease owner becomes ``token``; the plan is
        read inside the connection lock. No fsync: if the adoption is lost, the next
        recovery adopts it again."""
        assert start.attempt_id is not None
        with self.db.write(durable=False) as session:
            self._fence_rotation(session, start.rotation_id, token)
            loaded = self.load(session, start.rotation_id)
            if loaded is None or loaded.attempt_id != start.attempt_id:
                raise LeaseLost(start.attempt_id)
            attempt = session.get(RotationAttempt, start.attempt_id)
            assert attempt is not None
            attempt.lease_owner = token
            return self._plan(loaded, start.method, manual=attempt.manual)

    def _begin(self, plan: _Plan, start: _Start, token: str, *, claim: bool = False) -> str:
        """Generate the new password and commit it, sealed, as a pending attempt (with
        ``claim``, taking the free lease in the same commit; _NotClaimed when it is not
        free or the rotation has an unfinished attempt)."""
        if start.method == "self":
            # This process knows at once (others within SELF_ROTATIONS_SECONDS).
            with self._self_lock:
                cached = self._self_cache.get(start.connection_id)
                if cached is not None:
                    found = cached[1] | {start.rotation_id}
                    self._self_cache[start.connection_id] = (cached[0], found)
        password = generate_password(plan.requirements)
        attempt_id = new_id()
        now = self.clock.now()
        fence = {
            "rotation_id": start.rotation_id,
            "token": token,
            "connection_version": plan.connection_version,
            "until": now + timedelta(seconds=self.lease_seconds),
            "now": now,
        }
        with self.db.write() as session:
            conn = session.connection()
            attempt = {
                "id": attempt_id,
                "rotation_id": start.rotation_id,
                "state": "pending",
                "method": start.method,
                "manual": plan.manual,
                "lease_owner": token,
                "pending_password_sealed": sealed.seal_pending(
                    session, self.keyring, plan.project_id, attempt_id, password
                ),
                # Committed with the pending password (one durable write instead of
                # two): recovery then probes before re-applying, right either way.
                "directory_touched": True,
                "failed_probes": 0,
                "started_at": now,
            }
            # The fence and the attempt go out together (one round trip on PostgreSQL); a
            # fence that did not hold is acted on after, and raising rolls the block back.
            with batch(conn) as sending:
                fenced = sending.send(_BEGIN_CLAIM if claim else _BEGIN, fence)
                inserted = sending.send(
                    _INSERT_FIRST_ATTEMPT if claim else _INSERT_ATTEMPT, attempt
                )
            if claim and (fenced.rowcount != 1 or inserted.rowcount != 1):
                raise _NotClaimed()
            if fenced.rowcount != 1:
                # Lease lost, or the connection changed after its credentials were read.
                self._reload_credentials(session, plan, start.method, token)
                _BEGIN_ANY_VERSION.rowcount(conn, fence)
        plan.pending = SecretStr(password)
        plan.fresh = True
        plan.begun_at = now
        self._hold("pending-committed")
        return attempt_id

    def _reload_credentials(
        self, session: Session, plan: _Plan, method: Method, token: str
    ) -> None:
        """Read the connection's credentials again into ``plan`` (LeaseLost if the lease
        is gone)."""
        loaded = self.load(session, plan.rotation_id)
        if loaded is None or loaded.lease_owner != token:
            raise LeaseLost(plan.rotation_id)
        plan.creds = loaded.creds
        plan.connection_version = loaded.connection_version
        if method != "target":
            plan.current_password = loaded.creds.password

    def _require_settled_connection(self, start: _Start, token: str, *, manual: bool) -> None:
        """Raise ConnectionBusy while another attempt of this connection's bind account to
        change its own password is unfinished (crashed, or running in another process):
        until it ends, the connection's stored password may be the wrong one."""
        if self._settled_by_cache(start):
            return
        candidates = self._cached_self_rotations(start.connection_id)
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
            if candidates is None:
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

    def _settled_by_cache(self, start: _Start) -> bool:
        """True when this process knows that no other rotation of the connection changes
        its bind account's password (so none can be unfinished)."""
        candidates = self._cached_self_rotations(start.connection_id)
        return candidates is not None and not candidates - {start.rotation_id}

    def _cached_self_rotations(self, connection_id: str) -> frozenset[str] | None:
        """The remembered self-changing rotations of a connection (None: not known now)."""
        with self._self_lock:
            cached = self._self_cache.get(connection_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return None

    def _self_rotations(self, session: Session, connection_id: str) -> frozenset[str] | None:
        """The rotations through this connection whose target is its bind account (they
        change its own password), remembered for ``SELF_ROTATIONS_SECONDS``. None when the
        bind name is a UPN, which only the directory can compare with a DN."""
        cached = self._cached_self_rotations(connection_id)
        if cached is not None:
            return cached
        with self._self_lock:
            expired = self._self_cache.get(connection_id)
            if expired is not None and connection_id in self._self_refreshing:
                # Another thread is reading it again (one query for all of them): the
                # answer it replaces, older by the moments that read takes.
                return expired[1]
            self._self_refreshing.add(connection_id)
        try:
            now = time.monotonic()
            bind_dn = session.scalar(
                select(AppConnection.dn).where(AppConnection.id == connection_id)
            )
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
        finally:
            with self._self_lock:
                self._self_refreshing.discard(connection_id)

    def _same_dn(self, a: str, b: str) -> bool:
        try:
            return self.directory.same_dn(a, b)
        except DirectoryError:
            return False

    def _method(
        self, params: LdapPasswordParameters, creds: BindCredentials, target: str
    ) -> Method:
        return rotation_method(self.directory, params, creds, target)

    # ---------------------------------------------------------------- steps

    def _drive(self, plan: _Plan, attempt_id: str, method: Method, token: str) -> Outcome:
        if plan.fresh and plan.pending is not None:
            pending = plan.pending
            state, touched, probes = "pending", False, 0
        else:
            with self.db.read() as session:
                attempt = session.get(RotationAttempt, attempt_id)
                assert attempt is not None
                pending = sealed.open_pending(
                    session,
                    self.keyring,
                    plan.project_id,
                    attempt.id,
                    attempt.pending_password_sealed,
                )
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
        committed = self._commit(plan, attempt_id, method, token, pending)
        self._hold("committed")
        return Outcome(attempt_id, "committed", committed=committed)

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
    ) -> Committed | None:
        """The final, durable commit: the credential slot, the mapped secrets (and for a
        self-change the connection's password), the schedule, the end of the attempt and
        of the lease, and the audit event, in one transaction of a few Core statements.

        On PostgreSQL it takes four round trips besides the COMMIT: the rotation's row
        (locked, with the BEGIN), then the end of the attempt, the rotation's update and the
        look-up of its secrets together, then the secrets' new versions and the audit event
        together (``db.prepared.batch``)."""
        now = self.clock.now()
        rotation_id = plan.rotation_id
        with self.db.write() as session:
            conn = session.connection()
            read = _COMMIT_READ_LOCKED if self._row_locks else _COMMIT_READ
            with batch(conn) as sending:
                rows = sending.send(read, {"rotation_id": rotation_id})
            found = rows.all()
            rotation = found[0] if found else None
            if rotation is None or rotation.lease_owner != token:
                raise LeaseLost(rotation_id)
            project_id = rotation.project_id
            slots = sealed.open_slots(
                session, self.keyring, project_id, rotation_id, rotation.credentials_sealed
            )
            index = 0 if rotation.credentials_sealed is None else 1 - rotation.active_index
            slots[index] = sealed.Slot(plan.target_dn, pending)
            next_at = (
                next_rotation_at(
                    now,
                    rotation.rotation_interval,
                    rotation.rotate_at_hours,
                    rotation.rotate_at_minutes,
                )
                if rotation.is_auto_rotation_enabled
                else None
            )
            credentials = sealed.seal_slots(session, self.keyring, project_id, rotation_id, slots)
            mapping = rotation.secrets_mapping
            managed = ManagedValues(
                project_id=project_id,
                environment_id=rotation.environment_id,
                folder_id=rotation.folder_id,
                rotation_id=rotation_id,
                values={
                    mapping["dn"]: plan.target_dn,
                    mapping["password"]: pending.get_secret_value(),
                },
            )
            # The end of the attempt is checked once the three are back; if it did not
            # hold, raising rolls all of them back.
            with batch(conn) as sending:
                ended = sending.send(
                    _COMMIT_ATTEMPT, {"attempt_id": attempt_id, "token": token, "now": now}
                )
                sending.send(
                    _COMMIT_ROTATION,
                    {
                        "rotation_id": rotation_id,
                        "credentials": credentials,
                        "index": index,
                        "manual": plan.manual,
                        "now": now,
                        "next": next_at,
                    },
                )
                existing = send_managed_find(sending, managed)
            if ended.rowcount != 1:
                raise LeaseLost(attempt_id)
            writes = prepare_managed_writes(session, self.keyring, managed, existing.all())
            with batch(conn) as sending:
                writes.send(sending)
                insert_event(
                    sending,
                    Event(
                        "secret-rotation-rotate-secrets",
                        None,
                        project_id,
                        {
                            "rotationId": rotation_id,
                            "attemptId": attempt_id,
                            "manual": plan.manual,
                            "status": "success",
                        },
                    ),
                )
            if method == "self":
                connection = session.get(AppConnection, rotation.connection_id)
                assert connection is not None
                store_new_password(session, self.keyring, connection, pending)
        with self._ended_lock:
            self._ended.add(token)
        ROTATIONS.labels("success").inc()
        if plan.begun_at is None:
            return None
        return Committed(now, plan.begun_at, index, next_at)

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
