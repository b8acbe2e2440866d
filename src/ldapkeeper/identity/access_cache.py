"""Who a token is and what it may do in a project, remembered for a few seconds.

Every authenticated request needs its caller (the token's user or identity, still live) and,
for project routes, the project behind a ``workspaceId``/slug and the caller's role there.
Looking these up costs several queries per request; they change rarely. This cache keeps
them, never anything secret (tokens are keyed by their SHA-256, principals and roles are ids
and names), and forgets them:

* at once in this process when any session of the process changes a user, machine identity,
  client secret, membership or project (ORM unit of work or a DML statement through a
  session). A change bumps a process-wide generation twice, when it is flushed and when the
  transaction that holds it commits, and an entry read under an older generation is never
  served: so a lookup that ran between the flush and the commit cannot bring the old state
  back;
* after ``ACCESS_CACHE_SECONDS`` for changes made by another process (another ``serve`` or
  a CLI command on the same database): revoking a client secret or a membership there takes
  effect here within that time.

Only successes are cached: an invalid token, a revoked secret or an unknown project is
looked up again on every request.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from ldapkeeper.db.models import ClientSecret, MachineIdentity, Project, ProjectMembership, User
from ldapkeeper.db.per_database import PerDatabase
from ldapkeeper.db.session import Database
from ldapkeeper.identity.permissions import ProjectRole
from ldapkeeper.identity.principal import Principal
from ldapkeeper.identity.service import principal_from_claims, project_role
from ldapkeeper.identity.tokens import TokenClaims

#: How long another process's change may go unseen here.
ACCESS_CACHE_SECONDS = 2.0
#: Past this many entries a map is emptied (a bound on memory, not an eviction policy).
MAX_ENTRIES = 10_000

_WATCHED = (User, MachineIdentity, ClientSecret, ProjectMembership, Project)
_WATCHED_TABLES = frozenset(model.__tablename__ for model in _WATCHED)
# Set on a connection whose transaction holds a watched change, until it commits.
_CHANGED = "ldapkeeper_access_changed"

K = TypeVar("K")
V = TypeVar("V")


class _Generation:
    """A process-wide counter of access-relevant changes."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def bump(self) -> None:
        with self._lock:
            self.value += 1


GENERATION = _Generation()


def _touches_watched(objects: Iterable[object]) -> bool:
    return any(isinstance(obj, _WATCHED) for obj in objects)


def _mark(session: Session) -> None:
    GENERATION.bump()
    session.connection().info[_CHANGED] = True


@event.listens_for(Session, "before_flush")
def _on_flush(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    if (
        _touches_watched(session.new)
        or _touches_watched(session.dirty)
        or _touches_watched(session.deleted)
    ):
        _mark(session)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if state.is_select:
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _WATCHED_TABLES:
        _mark(state.session)


@event.listens_for(Engine, "commit")
def _on_commit(conn: Connection) -> None:
    if not conn.invalidated and conn.info.pop(_CHANGED, False):
        GENERATION.bump()


@event.listens_for(Engine, "rollback")
def _on_rollback(conn: Connection) -> None:
    # An invalidated connection has lost its DBAPI connection, and the mark with it (and
    # reading ``info`` would try to reconnect).
    if not conn.invalidated:
        conn.info.pop(_CHANGED, None)


@dataclass(frozen=True)
class _Entry(Generic[V]):
    value: V
    generation: int
    fresh_until: float


class _Memo(Generic[K, V]):
    """One map of the cache: entries valid for their generation and ``ttl`` seconds."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[K, _Entry[V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.generation != GENERATION.value or entry.fresh_until <= self._clock():
            self._entries.pop(key, None)
            return None
        return entry.value

    def put(self, key: K, value: V, generation: int) -> None:
        """Remember ``value``, read from the database once the generation was ``generation``."""
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = _Entry(value, generation, self._clock() + self._ttl)


@dataclass(frozen=True)
class _Caller:
    principal: Principal
    # The token's own expiry (seconds since the epoch): a cached token still expires on time.
    expires_at: float


def token_digest(token: str) -> bytes:
    """How a token is named in the cache: never the token itself."""
    return hashlib.sha256(token.encode()).digest()


class AccessCache:
    """The cache of one database. ``clock`` (monotonic seconds, for the TTL) and
    ``wall_clock`` (seconds since the epoch, for token expiry) are for tests."""

    def __init__(
        self,
        db: Database,
        *,
        ttl: float = ACCESS_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._wall_clock = wall_clock
        self._callers: _Memo[bytes, _Caller] = _Memo(ttl, clock)
        self._projects: _Memo[tuple[str, str | None, str | None], str] = _Memo(ttl, clock)
        self._roles: _Memo[tuple[str, str, str, str, str], ProjectRole] = _Memo(ttl, clock)

    def cached_principal(self, token: str) -> Principal | None:
        """The caller of a token seen before and still valid, without any I/O; None when it
        has to be looked up (``principal``)."""
        caller = self._callers.get(token_digest(token))
        if caller is None or caller.expires_at <= self._wall_clock():
            return None
        return caller.principal

    def principal(self, token: str, verify: Callable[[str], TokenClaims]) -> Principal:
        """The live principal of ``token``: from the cache, or verified with ``verify`` and
        looked up. InvalidToken when the token is bad, expired, revoked or its subject gone."""
        cached = self.cached_principal(token)
        if cached is not None:
            return cached
        claims = verify(token)
        generation = GENERATION.value
        with self._db.read() as session:
            principal = principal_from_claims(session, claims)
        caller = _Caller(principal, claims.expires_at.timestamp())
        self._callers.put(token_digest(token), caller, generation)
        return principal

    def cached_project_id(
        self, org_id: str, ref_id: str | None, ref_slug: str | None
    ) -> str | None:
        """``project_id`` without any I/O: None when it is not cached."""
        return self._projects.get((org_id, ref_id, ref_slug))

    def cached_role(self, principal: Principal, project_id: str) -> ProjectRole | None:
        """``role`` without any I/O: None when it is not cached."""
        return self._roles.get(_role_key(principal, project_id))

    def project_id(
        self,
        org_id: str,
        ref_id: str | None,
        ref_slug: str | None,
        resolve: Callable[[Session], str],
    ) -> str:
        """The id of the project named by id or slug in the organization; ``resolve`` looks
        it up (and raises ProjectNotFound) when it is not cached."""
        key = (org_id, ref_id, ref_slug)
        cached = self._projects.get(key)
        if cached is not None:
            return cached
        generation = GENERATION.value
        with self._db.read() as session:
            found = resolve(session)
        self._projects.put(key, found, generation)
        return found

    def role(self, principal: Principal, project_id: str) -> ProjectRole:
        """The caller's role in the project (``identity.service.project_role``)."""
        key = _role_key(principal, project_id)
        cached = self._roles.get(key)
        if cached is not None:
            return cached
        generation = GENERATION.value
        with self._db.read() as session:
            role = project_role(session, principal, project_id)
        self._roles.put(key, role, generation)
        return role


def _role_key(principal: Principal, project_id: str) -> tuple[str, str, str, str, str]:
    return (principal.kind, principal.id, principal.org_id, principal.org_role, project_id)


#: The process's cache for a database (made on first use).
access_cache: PerDatabase[AccessCache] = PerDatabase(AccessCache)
