"""LDAP App Connections: create, read, update, delete and check stored bind credentials.

Credentials are proven by a live bind before they are stored. The bind always runs with no
database transaction open (SQLite has one writer: network I/O must never hold its lock);
the write that follows is short. The password is sealed under the connection's scope key
(the project's, or the organization's for an org-level connection) and is never returned.

Access (SPEC section 2): a project connection follows the caller's role in its project,
and is invisible (404) to anyone without one; an org-level connection is managed (and
checked) by org admins, readable by anyone holding a project role, and usable (connect)
from any project where the caller may connect.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from pydantic import SecretStr
from sqlalchemy import Select, Table, bindparam, exists, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from ldapkeeper.audit.service import Event, RequestContext, insert_event, record
from ldapkeeper.connections.errors import (
    ConnectionChanged,
    ConnectionNotFound,
    ConnectionValidationFailed,
    DuplicateConnectionName,
)
from ldapkeeper.connections.schemas import (
    APP,
    METHOD,
    LdapConnectionCreate,
    LdapConnectionUpdate,
    LdapCredentialsInput,
    stored_provider,
)
from ldapkeeper.db.base import new_id, utcnow
from ldapkeeper.db.models import AppConnection, Project, ProjectMembership
from ldapkeeper.db.reads import read_connection
from ldapkeeper.db.session import Database
from ldapkeeper.directory import BindCredentials, DirectoryClient, DirectoryError
from ldapkeeper.errors import PermissionDenied
from ldapkeeper.identity.permissions import ProjectRole, Subject, is_allowed
from ldapkeeper.identity.principal import Principal
from ldapkeeper.identity.service import project_role
from ldapkeeper.kms.keyring import KeyRing, Scope
from ldapkeeper.ldap.redaction import redact
from ldapkeeper.projects.errors import ProjectNotFound
from ldapkeeper.projects.service import get_project

#: The ``scope`` column of an org-level connection (names are unique per scope).
ORG_SCOPE = "org"

READ = "read-app-connections"
CREATE = "create-app-connections"
EDIT = "edit-app-connections"
DELETE = "delete-app-connections"
CONNECT = "connect-app-connections"
#: Not a permission of its own: connect on a project connection (see ``authorize``).
CHECK = "check-app-connection"


@dataclass(frozen=True)
class Services:
    """What connection work needs from the runtime."""

    db: Database
    keyring: KeyRing
    directory: DirectoryClient


@dataclass(frozen=True)
class CheckOutcome:
    """The result of binding with a stored connection's credentials."""

    ok: bool
    latency_ms: float
    error: DirectoryError | None = None


# -- credentials --------------------------------------------------------------------------


def password_record(connection_id: str) -> str:
    """The sealed password's record name (associated data: it opens in this row only)."""
    return f"app_connections:{connection_id}:password"


def key_scope(connection: AppConnection) -> Scope:
    """Whose data key seals the connection's password."""
    if connection.project_id is None:
        return Scope.org(connection.org_id)
    return Scope.project(connection.project_id)


def credentials_from_input(body: LdapCredentialsInput) -> BindCredentials:
    """The bind credentials a request describes (already validated by its schema)."""
    return BindCredentials(
        provider=body.provider,
        url=body.url,
        dn=body.dn,
        password=body.password,
        ssl_reject_unauthorized=body.ssl_reject_unauthorized,
        ssl_certificate=body.ssl_certificate,
        start_tls=body.start_tls,
        failover_urls=tuple(body.failover_urls),
    )


def load_credentials(
    session: Session, keyring: KeyRing, connection: AppConnection
) -> BindCredentials:
    """The connection's credentials with the password decrypted (as a SecretStr).

    Raises:
        DecryptionFailed / DataKeyMissing (kms): the sealed password does not open.
    """
    plaintext = keyring.open(
        session, key_scope(connection), password_record(connection.id), connection.password_sealed
    )
    return BindCredentials(
        provider=stored_provider(connection.provider),
        url=connection.url,
        dn=connection.dn,
        password=SecretStr(plaintext.decode("utf-8")),
        ssl_reject_unauthorized=connection.ssl_reject_unauthorized,
        ssl_certificate=connection.ssl_certificate,
        start_tls=connection.start_tls,
        failover_urls=tuple(connection.failover_urls),
    )


def _seal_password(
    session: Session, keyring: KeyRing, connection: AppConnection, password: SecretStr
) -> None:
    connection.password_sealed = keyring.seal(
        session,
        key_scope(connection),
        password_record(connection.id),
        password.get_secret_value().encode("utf-8"),
    )


def _apply_credentials(
    session: Session, keyring: KeyRing, connection: AppConnection, creds: BindCredentials
) -> None:
    connection.provider = creds.provider
    connection.url = creds.url
    connection.dn = creds.dn
    connection.ssl_reject_unauthorized = creds.ssl_reject_unauthorized
    connection.ssl_certificate = creds.ssl_certificate
    connection.start_tls = creds.start_tls
    connection.failover_urls = list(creds.failover_urls)
    _seal_password(session, keyring, connection, creds.password)


def store_new_password(
    session: Session, keyring: KeyRing, connection: AppConnection, new_password: SecretStr
) -> None:
    """Re-seal the connection's password (its bind account changed it), bump ``version``.

    For the rotation engine, inside its own write transaction: the directory has already
    accepted ``new_password``.
    """
    _seal_password(session, keyring, connection, new_password)
    connection.version += 1
    connection.updated_at = utcnow()
    session.flush()


def validate_by_bind(directory: DirectoryClient, creds: BindCredentials) -> float:
    """Bind with ``creds``; the latency in milliseconds. Call it with no transaction open.

    Raises:
        ConnectionValidationFailed: 400 "Unable to validate connection: <reason>" with the
            adapter's code; the password is masked in the reason.
    """
    try:
        return directory.check(creds=creds)
    except DirectoryError as exc:
        raise ConnectionValidationFailed(
            redact(exc.message, creds.password), code=exc.code
        ) from None


# -- access ---------------------------------------------------------------------------------


def _membership_column(kind: str) -> InstrumentedAttribute[str | None]:
    """The membership column that names a caller of ``kind`` (user or machine identity)."""
    return ProjectMembership.user_id if kind == "user" else ProjectMembership.identity_id


def _held_roles(session: Session, principal: Principal) -> set[ProjectRole]:
    """Every project role the caller holds (org admins: admin)."""
    if principal.is_org_admin:
        return {ProjectRole.ADMIN}
    column = _membership_column(principal.kind)
    return {
        ProjectRole(r)
        for r in session.scalars(select(ProjectMembership.role).where(column == principal.id))
    }


def _may_anywhere(session: Session, principal: Principal, action: str) -> bool:
    return any(
        is_allowed(role, Subject.APP_CONNECTIONS, action)
        for role in _held_roles(session, principal)
    )


def _denied(action: str) -> PermissionDenied:
    return PermissionDenied(f"You are not allowed to {action}")


def _require_org_level(session: Session, principal: Principal, action: str) -> None:
    """Org admins do everything; others may read, and check where they may connect."""
    if principal.is_org_admin:
        return
    readable = _may_anywhere(session, principal, READ)
    if not readable:
        raise ConnectionNotFound()
    if action == READ:
        return
    if action == CHECK and _may_anywhere(session, principal, CONNECT):
        return
    raise _denied(action)


def authorize(
    session: Session, principal: Principal, connection: AppConnection, action: str
) -> None:
    """Raise unless the caller may do ``action`` on ``connection``.

    ``action`` is one of the ``*-app-connections`` actions, or ``check-app-connection``
    (connect on a project connection; org admins or anyone who may connect somewhere on an
    org-level one).

    Raises:
        ConnectionNotFound: the caller may not even see it (another org or project).
        PermissionDenied: the caller sees it but may not do ``action``.
    """
    if connection.org_id != principal.org_id:
        raise ConnectionNotFound()
    if connection.project_id is None:
        _require_org_level(session, principal, action)
        return
    role = project_role(session, principal, connection.project_id)
    if not is_allowed(role, Subject.APP_CONNECTIONS, READ):
        raise ConnectionNotFound()
    needed = CONNECT if action == CHECK else action
    if not is_allowed(role, Subject.APP_CONNECTIONS, needed):
        raise _denied(needed)


def _require_project(
    session: Session, principal: Principal, project_id: str, action: str
) -> ProjectRole:
    get_project(session, org_id=principal.org_id, project_id=project_id)
    role = project_role(session, principal, project_id)
    if not is_allowed(role, Subject.APP_CONNECTIONS, action):
        raise _denied(action)
    return role


def _visible(
    session: Session, principal: Principal, connection_id: str, action: str
) -> AppConnection:
    connection = session.get(AppConnection, connection_id)
    if connection is None:
        raise ConnectionNotFound()
    authorize(session, principal, connection, action)
    return connection


def require_connect(
    session: Session, *, principal: Principal, connection_id: str, project_id: str
) -> AppConnection:
    """The connection, if the caller may use it in a rotation of ``project_id``.

    For the rotation service: the connection must belong to that project or be org-level,
    and the caller needs ``connect-app-connections`` in the project.

    Raises:
        ConnectionNotFound: no such connection in that project (or org-level).
        PermissionDenied: the caller may not connect in that project.
    """
    connection = session.get(AppConnection, connection_id)
    if (
        connection is None
        or connection.org_id != principal.org_id
        or connection.project_id not in (None, project_id)
    ):
        raise ConnectionNotFound()
    role = project_role(session, principal, project_id)
    if not is_allowed(role, Subject.APP_CONNECTIONS, READ):
        raise ConnectionNotFound()
    if not is_allowed(role, Subject.APP_CONNECTIONS, CONNECT):
        raise _denied(CONNECT)
    return connection


# -- queries --------------------------------------------------------------------------------


def _scope(project_id: str | None) -> str:
    return project_id or ORG_SCOPE


def _name_taken(
    session: Session, *, org_id: str, scope: str, name: str, except_id: str | None = None
) -> bool:
    query = select(AppConnection.id).where(
        AppConnection.org_id == org_id, AppConnection.scope == scope, AppConnection.name == name
    )
    if except_id is not None:
        query = query.where(AppConnection.id != except_id)
    return session.scalar(query) is not None


def _in_scope(session: Session, *, org_id: str, project_id: str | None) -> Sequence[AppConnection]:
    query = select(AppConnection).where(
        AppConnection.org_id == org_id, AppConnection.scope == _scope(project_id)
    )
    return session.scalars(query.order_by(AppConnection.name)).all()


def _audit(
    session: Session,
    *,
    event_type: str,
    actor: Principal,
    context: RequestContext,
    project_id: str | None,
    metadata: dict[str, Any],
) -> None:
    record(
        session,
        event_type=event_type,
        actor=actor,
        project_id=project_id,
        metadata=metadata,
        context=context,
    )


def _describe(connection: AppConnection) -> dict[str, Any]:
    """Audit metadata of a connection: what it is, never the password."""
    return {
        "app": APP,
        "connectionId": connection.id,
        "name": connection.name,
        "method": METHOD,
        "provider": connection.provider,
        "url": connection.url,
        "dn": connection.dn,
    }


def list_connections(
    db: Database, *, principal: Principal, context: RequestContext, project_id: str | None
) -> Sequence[AppConnection]:
    """A project's connections, or (no project) the org-level ones, sorted by name.

    Raises:
        ProjectNotFound: no such project in the organization.
        PermissionDenied: the caller may not read connections there.
    """
    with db.write() as session:
        if project_id is not None:
            _require_project(session, principal, project_id, READ)
        elif not (principal.is_org_admin or _may_anywhere(session, principal, READ)):
            raise _denied(READ)
        rows = _in_scope(session, org_id=principal.org_id, project_id=project_id)
        _audit(
            session,
            event_type="get-app-connections",
            actor=principal,
            context=context,
            project_id=project_id,
            metadata={"app": APP, "count": len(rows), "connectionIds": [r.id for r in rows]},
        )
        return rows


def available_connections(
    db: Database, *, principal: Principal, context: RequestContext, project_id: str | None
) -> Sequence[AppConnection]:
    """Connections the caller may use in a rotation: the project's own and the org-level
    ones when the caller may connect in the project (none otherwise); without a project,
    the org-level ones for org admins.

    Raises:
        ProjectNotFound: no such project in the organization.
        PermissionDenied: the caller has no access to the project (or, without one, is not
            an org admin).
    """
    with db.write() as session:
        rows: list[AppConnection] = []
        if project_id is None:
            if not principal.is_org_admin:
                raise _denied(CONNECT)
            rows = list(_in_scope(session, org_id=principal.org_id, project_id=None))
        elif is_allowed(
            _require_project(session, principal, project_id, READ), Subject.APP_CONNECTIONS, CONNECT
        ):
            rows = [
                *_in_scope(session, org_id=principal.org_id, project_id=project_id),
                *_in_scope(session, org_id=principal.org_id, project_id=None),
            ]
            rows.sort(key=lambda r: (r.name, r.project_id is None))
        _audit(
            session,
            event_type="get-available-app-connection-details",
            actor=principal,
            context=context,
            project_id=project_id,
            metadata={"app": APP, "count": len(rows), "connectionIds": [r.id for r in rows]},
        )
        return rows


def get_connection(
    db: Database, *, principal: Principal, context: RequestContext, connection_id: str
) -> AppConnection:
    """One connection by id.

    Raises:
        ConnectionNotFound: no such connection visible to the caller.
    """
    with db.write() as session:
        connection = _visible(session, principal, connection_id, READ)
        _audit(
            session,
            event_type="get-app-connection",
            actor=principal,
            context=context,
            project_id=connection.project_id,
            metadata={"app": APP, "connectionId": connection.id, "name": connection.name},
        )
        return connection


def get_connection_by_name(
    db: Database,
    *,
    principal: Principal,
    context: RequestContext,
    name: str,
    project_id: str | None,
) -> AppConnection:
    """One connection by name in a project (or among the org-level ones).

    Raises:
        ConnectionNotFound: no such connection visible to the caller.
    """
    with db.write() as session:
        connection_id = session.scalar(
            select(AppConnection.id).where(
                AppConnection.org_id == principal.org_id,
                AppConnection.scope == _scope(project_id),
                AppConnection.name == name,
            )
        )
        if connection_id is None:
            raise ConnectionNotFound()
        connection = _visible(session, principal, connection_id, READ)
        _audit(
            session,
            event_type="get-app-connection",
            actor=principal,
            context=context,
            project_id=connection.project_id,
            metadata={"app": APP, "connectionId": connection.id, "name": connection.name},
        )
        return connection


# -- changes --------------------------------------------------------------------------------


_CONNECTIONS = cast(Table, AppConnection.__table__)
_INSERT_CONNECTION = insert(_CONNECTIONS)
#: Whether a connection name is taken in a scope (bound: org_id, scope, name).
_NAME_TAKEN = exists().where(
    AppConnection.org_id == bindparam("org_id"),
    AppConnection.scope == bindparam("scope"),
    AppConnection.name == bindparam("name"),
)
#: An org-level create's check.
_ORG_CREATE_CHECK = select(_NAME_TAKEN)


@functools.cache
def _project_create_check(kind: str) -> Select[str, str | None, bool]:
    """A project create's check, for callers of ``kind``: the project's organization, the
    caller's membership role and whether the name is taken (bound: project_id, caller_id,
    org_id, scope, name). Built once: building it costs more than running it."""
    member_role = (
        select(ProjectMembership.role)
        .where(
            ProjectMembership.project_id == bindparam("project_id"),
            _membership_column(kind) == bindparam("caller_id"),
        )
        .scalar_subquery()
    )
    return select(Project.org_id, member_role, _NAME_TAKEN).where(
        Project.id == bindparam("project_id")
    )


def _check_create(
    db: Session | Connection, principal: Principal, project_id: str | None, name: str
) -> None:
    """Raise unless the caller may create a connection called ``name`` in the project (or
    org-level, as an org admin). One statement reads the project, the caller's role in it
    and whether the name is taken.

    Raises:
        ProjectNotFound: no such project in the caller's organization.
        PermissionDenied: the caller may not create connections there.
        DuplicateConnectionName: the name is taken there.
    """
    where = {"org_id": principal.org_id, "scope": _scope(project_id), "name": name}
    if project_id is None:
        if not principal.is_org_admin:
            raise PermissionDenied("Only organization admins may create org-level app connections")
        if db.scalar(_ORG_CREATE_CHECK, where):
            raise DuplicateConnectionName(name)
        return
    row = db.execute(
        _project_create_check(principal.kind),
        {**where, "project_id": project_id, "caller_id": principal.id},
    ).one_or_none()
    if row is None or row[0] != principal.org_id:
        raise ProjectNotFound()
    if principal.is_org_admin:
        role = ProjectRole.ADMIN
    else:
        role = ProjectRole(row[1]) if row[1] else ProjectRole.NO_ACCESS
    if not is_allowed(role, Subject.APP_CONNECTIONS, CREATE):
        raise _denied(CREATE)
    if row[2]:
        raise DuplicateConnectionName(name)


def create_connection(
    services: Services,
    *,
    principal: Principal,
    context: RequestContext,
    body: LdapConnectionCreate,
) -> AppConnection:
    """Bind with the given credentials, then store the connection (version 1).

    Nothing is stored unless the bind succeeds.

    Raises:
        ProjectNotFound: ``projectId`` names no project of the organization.
        PermissionDenied: the caller may not create connections there.
        DuplicateConnectionName: the name is taken in that project (or org-level).
        ConnectionValidationFailed: the bind failed (``code`` from the adapter).
    """
    project_id = body.project_id
    # Checked before the bind (nobody without the right may make the server connect out)
    # and again in the write transaction (a role may have been taken away meanwhile).
    with read_connection(services.db) as conn:
        _check_create(conn, principal, project_id, body.name)
    creds = credentials_from_input(body.credentials)
    validate_by_bind(services.directory, creds)
    try:
        with services.db.write() as session:
            _check_create(session, principal, project_id, body.name)
            now = utcnow()
            connection = AppConnection(
                id=new_id(),
                org_id=principal.org_id,
                project_id=project_id,
                scope=_scope(project_id),
                name=body.name,
                description=body.description,
                app=APP,
                method=METHOD,
                version=1,
                created_at=now,
                updated_at=now,
            )
            _apply_credentials(session, services.keyring, connection, creds)
            # Two Core INSERTs, not an ORM flush: the row is complete here (no defaults or
            # relationships to resolve), and this write is on every create's latency.
            conn = session.connection()
            conn.execute(
                _INSERT_CONNECTION,
                {column.name: getattr(connection, column.key) for column in _CONNECTIONS.c},
            )
            insert_event(
                conn,
                Event(
                    "create-app-connection", principal, project_id, _describe(connection), context
                ),
            )
    except IntegrityError:
        # Another request took the name between the check and the insert.
        raise DuplicateConnectionName(body.name) from None
    return connection


def update_connection(
    services: Services,
    *,
    principal: Principal,
    context: RequestContext,
    connection_id: str,
    body: LdapConnectionUpdate,
) -> AppConnection:
    """Rename, describe, or replace the credentials (re-bound first); ``version`` + 1.

    Raises:
        ConnectionNotFound: no such connection visible to the caller.
        PermissionDenied: the caller may not edit it.
        DuplicateConnectionName: the new name is taken.
        ConnectionValidationFailed: the new credentials do not bind (nothing changes).
        ConnectionChanged: the connection's version moved while the new credentials were
            being bound (e.g. a rotation changed the password); nothing changes.
    """
    changes = body.model_fields_set
    new_name = body.name if "name" in changes else None
    with services.db.read() as session:
        connection = _visible(session, principal, connection_id, EDIT)
        seen_version = connection.version
        if new_name is not None and _name_taken(
            session,
            org_id=connection.org_id,
            scope=connection.scope,
            name=new_name,
            except_id=connection.id,
        ):
            raise DuplicateConnectionName(new_name)
    creds = credentials_from_input(body.credentials) if body.credentials is not None else None
    if creds is not None:
        validate_by_bind(services.directory, creds)
    try:
        with services.db.write() as session:
            connection = _visible(session, principal, connection_id, EDIT)
            if creds is not None and connection.version != seen_version:
                # A rotation may have stored a new password meanwhile: keeping the
                # credentials bound above would overwrite it with one that no longer binds.
                raise ConnectionChanged()
            changed: list[str] = []
            if new_name is not None and new_name != connection.name:
                if _name_taken(
                    session,
                    org_id=connection.org_id,
                    scope=connection.scope,
                    name=new_name,
                    except_id=connection.id,
                ):
                    raise DuplicateConnectionName(new_name)
                connection.name = new_name
                changed.append("name")
            if "description" in changes:
                connection.description = body.description
                changed.append("description")
            if creds is not None:
                _apply_credentials(session, services.keyring, connection, creds)
                changed.append("credentials")
            connection.version += 1
            connection.updated_at = utcnow()
            session.flush()
            _audit(
                session,
                event_type="update-app-connection",
                actor=principal,
                context=context,
                project_id=connection.project_id,
                metadata={
                    **_describe(connection),
                    "changed": changed,
                    "version": connection.version,
                },
            )
    except IntegrityError:
        if new_name is None:
            raise
        # Another request took the name between the check and the update.
        raise DuplicateConnectionName(new_name) from None
    return connection


def ensure_unused(session: Session, connection_id: str) -> None:
    """Refuse to delete a connection that a secret rotation still uses.

    Raises:
        ConnectionInUse: 400 when a rotation references ``connection_id``.
    """
    # Imported here: the rotations package imports this module (its usage module imports
    # only the models, so this import cannot cycle either way).
    from ldapkeeper.connections.errors import ConnectionInUse
    from ldapkeeper.rotations.usage import connection_in_use, rotations_using

    if connection_in_use(session, connection_id):
        raise ConnectionInUse(rotations_using(session, connection_id))


def delete_connection(
    db: Database, *, principal: Principal, context: RequestContext, connection_id: str
) -> AppConnection:
    """Delete a connection; returns it as it was.

    Raises:
        ConnectionNotFound: no such connection visible to the caller.
        PermissionDenied: the caller may not delete it.
        ConnectionInUse: a rotation uses it.
    """
    with db.write() as session:
        connection = _visible(session, principal, connection_id, DELETE)
        ensure_unused(session, connection.id)
        _audit(
            session,
            event_type="delete-app-connection",
            actor=principal,
            context=context,
            project_id=connection.project_id,
            metadata=_describe(connection),
        )
        session.delete(connection)
        session.flush()
        return connection


def check_connection(
    services: Services, *, principal: Principal, context: RequestContext, connection_id: str
) -> CheckOutcome:
    """Bind with the stored credentials and report (a failure is a result, not an error).

    Raises:
        ConnectionNotFound: no such connection visible to the caller.
        PermissionDenied: the caller may not use it.
    """
    with services.db.read() as session:
        connection = _visible(session, principal, connection_id, CHECK)
        creds = load_credentials(session, services.keyring, connection)
    started = time.perf_counter()
    try:
        outcome = CheckOutcome(ok=True, latency_ms=services.directory.check(creds=creds))
    except DirectoryError as exc:
        elapsed = (time.perf_counter() - started) * 1000
        masked = DirectoryError(exc.code, redact(exc.message, creds.password))
        outcome = CheckOutcome(ok=False, latency_ms=round(elapsed, 3), error=masked)
    with services.db.write() as session:
        _audit(
            session,
            event_type="check-app-connection",
            actor=principal,
            context=context,
            project_id=connection.project_id,
            metadata={
                "app": APP,
                "connectionId": connection.id,
                "name": connection.name,
                "status": "ok" if outcome.ok else "error",
                "latencyMs": outcome.latency_ms,
                "errorCode": outcome.error.code if outcome.error else None,
            },
        )
    return outcome
