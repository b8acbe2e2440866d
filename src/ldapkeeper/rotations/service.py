"""LDAP password rotations: create, read, update, delete, rotate now, generated credentials.

Directory work never runs inside a database write transaction (SQLite has one writer).
"""

from __future__ import annotations

import secrets as pysecrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Row, bindparam, exists, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ldapkeeper.audit.service import RequestContext, record
from ldapkeeper.clock import Clock
from ldapkeeper.connections.service import load_credentials, require_connect
from ldapkeeper.db.models import (
    AppConnection,
    Environment,
    Folder,
    Project,
    RotationAttempt,
    Secret,
    SecretRotation,
)
from ldapkeeper.db.prepared import Prepared, batch
from ldapkeeper.db.reads import read_connection, read_session
from ldapkeeper.db.session import Database
from ldapkeeper.directory import DirectoryClient, DirectoryError, require_secure_transport
from ldapkeeper.errors import BadRequest
from ldapkeeper.identity.access_cache import access_cache
from ldapkeeper.identity.authorization import allowed, require
from ldapkeeper.identity.permissions import ProjectRole, Subject
from ldapkeeper.identity.principal import Principal
from ldapkeeper.kms.keyring import KeyRing
from ldapkeeper.projects.service import get_environment, get_project
from ldapkeeper.rotations import sealed
from ldapkeeper.rotations.engine import (
    UNFINISHED,
    Committed,
    ConnectionBusy,
    LeaseLost,
    Loaded,
    Outcome,
    RotationEngine,
    rotation_method,
)
from ldapkeeper.rotations.errors import (
    BindAccountChangingPassword,
    ImmutableParameter,
    RotationFailed,
    RotationInProgress,
    RotationNotFound,
)
from ldapkeeper.rotations.passwords import PasswordRules, generate_password
from ldapkeeper.rotations.schedule import LEASE_SECONDS, next_rotation_at
from ldapkeeper.rotations.schemas import (
    AttemptPublic,
    ConnectionRef,
    EnvironmentRef,
    FolderRef,
    GeneratedCredential,
    GeneratedCredentials,
    LdapPasswordParameters,
    RotateAtUtc,
    RotationCreate,
    RotationOption,
    RotationPublic,
    RotationUpdate,
    SecretsMapping,
)
from ldapkeeper.rotations.usage import connection_in_use as connection_in_use
from ldapkeeper.secrets.folders import canonical_path, ensure_folder
from ldapkeeper.secrets.service import (
    delete_managed_secrets,
    rename_managed_secret,
    secret_exists,
)

S = Subject.SECRET_ROTATIONS


def options() -> list[RotationOption]:
    return [
        RotationOption(
            name="LDAP Password",
            type="ldap-password",
            connection="ldap",
            template={
                "secretsMapping": {"dn": "LDAP_DN", "password": "LDAP_PASSWORD"},
                "parameters": {
                    "rotationMethod": "connection-principal",
                    "passwordRequirements": {
                        "length": 48,
                        "required": {"digits": 1, "lowercase": 1, "uppercase": 1, "symbols": 0},
                        "allowedSymbols": "-_.~!*",
                    },
                },
            },
        )
    ]


_LAST_ATTEMPT = (
    select(RotationAttempt.id)
    .where(RotationAttempt.rotation_id == SecretRotation.id)
    .order_by(RotationAttempt.started_at.desc())
    .limit(1)
    .correlate(SecretRotation)
    .scalar_subquery()
)
#: Everything a rotation's public view shows, its connection, environment and folder
#: included, in one query (filtered and ordered by the caller).
_PUBLIC = (
    select(
        SecretRotation.id,
        SecretRotation.name,
        SecretRotation.description,
        SecretRotation.project_id,
        SecretRotation.connection_id,
        SecretRotation.folder_id,
        SecretRotation.is_auto_rotation_enabled,
        SecretRotation.rotation_interval,
        SecretRotation.rotate_at_hours,
        SecretRotation.rotate_at_minutes,
        SecretRotation.parameters,
        SecretRotation.secrets_mapping,
        SecretRotation.active_index,
        SecretRotation.rotation_status,
        SecretRotation.last_rotation_message,
        SecretRotation.is_last_rotation_manual,
        SecretRotation.last_rotated_at,
        SecretRotation.last_rotation_attempted_at,
        SecretRotation.next_rotation_at,
        SecretRotation.created_at,
        SecretRotation.updated_at,
        AppConnection.app.label("connection_app"),
        AppConnection.name.label("connection_name"),
        Environment.id.label("environment_id"),
        Environment.slug.label("environment_slug"),
        Environment.name.label("environment_name"),
        Folder.path.label("folder_path"),
        _LAST_ATTEMPT.label("last_attempt_id"),
    )
    .join(AppConnection, AppConnection.id == SecretRotation.connection_id)
    .join(Environment, Environment.id == SecretRotation.environment_id)
    .join(Folder, Folder.id == SecretRotation.folder_id)
)


def _public_view(row: Row[*tuple[Any, ...]]) -> RotationPublic:
    return RotationPublic(
        id=row.id,
        name=row.name,
        description=row.description,
        project_id=row.project_id,
        connection_id=row.connection_id,
        connection=ConnectionRef(
            app=row.connection_app, name=row.connection_name, id=row.connection_id
        ),
        environment=EnvironmentRef(
            slug=row.environment_slug, name=row.environment_name, id=row.environment_id
        ),
        folder=FolderRef(id=row.folder_id, path=row.folder_path),
        folder_id=row.folder_id,
        secret_path=row.folder_path,
        is_auto_rotation_enabled=row.is_auto_rotation_enabled,
        rotation_interval=row.rotation_interval,
        rotate_at_utc=RotateAtUtc(hours=row.rotate_at_hours, minutes=row.rotate_at_minutes),
        parameters=LdapPasswordParameters.model_validate(row.parameters),
        secrets_mapping=SecretsMapping.model_validate(row.secrets_mapping),
        active_index=row.active_index,
        rotation_status=row.rotation_status,
        last_rotation_message=row.last_rotation_message,
        is_last_rotation_manual=row.is_last_rotation_manual,
        last_rotated_at=row.last_rotated_at,
        last_rotation_attempted_at=row.last_rotation_attempted_at,
        next_rotation_at=row.next_rotation_at,
        last_rotation_job_id=row.last_attempt_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


_PUBLIC_ONE = Prepared(_PUBLIC.where(SecretRotation.id == bindparam("rotation_id")))
_PUBLIC_OF_PROJECT = _PUBLIC.where(SecretRotation.project_id == bindparam("project_id")).order_by(
    SecretRotation.name
)
_PROJECT_OF = select(SecretRotation.project_id).where(SecretRotation.id == bindparam("rotation_id"))


def public_view(conn: Connection, rotation_id: str) -> RotationPublic | None:
    """The allow-listed view of a rotation (no password, ever), in one query."""
    row = _PUBLIC_ONE.first(conn, {"rotation_id": rotation_id})
    return None if row is None else _public_view(row)


def public_views_of_project(session: Session, project_id: str) -> list[RotationPublic]:
    """The allow-listed views of a project's rotations, ordered by name, in one query."""
    rows = session.connection().execute(_PUBLIC_OF_PROJECT, {"project_id": project_id})
    return [_public_view(row) for row in rows]


def committed_view(view: RotationPublic, attempt_id: str, committed: Committed) -> RotationPublic:
    """``view`` (read before the attempt began) with what the attempt's final commit wrote:
    the view as read after it, without reading it."""
    return view.model_copy(
        update={
            "active_index": committed.active_index,
            "rotation_status": "success",
            "last_rotation_message": None,
            "is_last_rotation_manual": True,
            "last_rotated_at": _utc(committed.at),
            "last_rotation_attempted_at": _utc(committed.attempted_at),
            "next_rotation_at": _utc(committed.next_rotation_at),
            "last_rotation_job_id": attempt_id,
            "updated_at": _utc(committed.at),
        }
    )


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def to_public(session: Session, rotation: SecretRotation) -> RotationPublic:
    """The allow-listed view of a rotation (no password, ever)."""
    session.flush()  # the view shows the session's pending changes
    view = public_view(session.connection(), rotation.id)
    assert view is not None
    return view


@dataclass
class RotationService:
    db: Database
    keyring: KeyRing
    directory: DirectoryClient
    engine: RotationEngine
    clock: Clock

    # ------------------------------------------------------------------ reads

    def _authorize(
        self, conn: Connection, principal: Principal, rotation_id: str, action: str
    ) -> str:
        """The rotation's project when the caller may do ``action`` on it. The caller's role
        comes from the access cache (``identity.access_cache``: looked up when not cached).
        Another project's rotation (no role there) is "not found", not "forbidden"."""
        project_id = conn.execute(_PROJECT_OF, {"rotation_id": rotation_id}).scalar()
        if project_id is None:
            raise RotationNotFound()
        self._allow(principal, str(project_id), action)
        return str(project_id)

    def _allow(self, principal: Principal, project_id: str, action: str) -> None:
        """PermissionDenied unless the caller may do ``action`` on the project's rotations;
        RotationNotFound when the caller has no role there."""
        role = access_cache(self.db).role(principal, project_id)
        if role == ProjectRole.NO_ACCESS:
            raise RotationNotFound()
        allowed(role, S, action)

    def _get(
        self, session: Session, principal: Principal, rotation_id: str, action: str
    ) -> SecretRotation:
        """The rotation, when the caller may do ``action`` on it (see ``_authorize``)."""
        self._authorize(session.connection(), principal, rotation_id, action)
        rotation = session.get(SecretRotation, rotation_id)
        if rotation is None:
            raise RotationNotFound()
        return rotation

    def _slots(self, session: Session, rotation: SecretRotation) -> list[sealed.Slot | None]:
        return sealed.open_slots(
            session, self.keyring, rotation.project_id, rotation.id, rotation.credentials_sealed
        )

    def _public(self, rotation_id: str) -> RotationPublic:
        """The rotation as returned, for a caller already authorized by this request."""
        with read_connection(self.db) as conn:
            view = public_view(conn, rotation_id)
        if view is None:
            raise RotationNotFound()
        return view

    def list_rotations(self, *, principal: Principal, project_id: str) -> list[RotationPublic]:
        with self.db.read() as session:
            get_project(session, org_id=principal.org_id, project_id=project_id)
            require(session, principal, project_id, S, "read")
            return public_views_of_project(session, project_id)

    def get(self, *, principal: Principal, rotation_id: str) -> RotationPublic:
        with read_connection(self.db) as conn:
            self._authorize(conn, principal, rotation_id, "read")
            view = public_view(conn, rotation_id)
        if view is None:
            raise RotationNotFound()
        return view

    def get_by_name(
        self,
        *,
        principal: Principal,
        project_id: str,
        environment: str,
        secret_path: str,
        name: str,
    ) -> RotationPublic:
        with self.db.read() as session:
            get_project(session, org_id=principal.org_id, project_id=project_id)
            require(session, principal, project_id, S, "read")
            env = get_environment(session, project_id=project_id, slug=environment)
            rotation = session.scalar(
                select(SecretRotation)
                .join(Folder, Folder.id == SecretRotation.folder_id)
                .where(
                    SecretRotation.environment_id == env.id,
                    Folder.path == canonical_path(secret_path),
                    SecretRotation.name == name,
                )
            )
            if rotation is None:
                raise RotationNotFound()
            return to_public(session, rotation)

    def history(self, *, principal: Principal, rotation_id: str) -> list[AttemptPublic]:
        with self.db.read() as session:
            self._authorize(session.connection(), principal, rotation_id, "read")
            attempts = session.scalars(
                select(RotationAttempt)
                .where(RotationAttempt.rotation_id == rotation_id)
                .order_by(RotationAttempt.started_at.desc())
            ).all()
            return [
                AttemptPublic(
                    id=a.id,
                    started_at=a.started_at,
                    finished_at=a.finished_at,
                    status=_status(a.state),
                    step=a.state,
                    error_code=a.error_code,
                    message=a.message,
                    manual=a.manual,
                )
                for a in attempts
            ]

    def generated_credentials(
        self, *, principal: Principal, rotation_id: str, context: RequestContext
    ) -> GeneratedCredentials:
        with self.db.write() as session:
            rotation = self._get(session, principal, rotation_id, "read-generated-credentials")
            slots = self._slots(session, rotation)
            record(
                session,
                event_type="secret-rotation-get-generated-credentials",
                actor=principal,
                project_id=rotation.project_id,
                metadata={"rotationId": rotation.id},
                context=context,
            )
            return GeneratedCredentials(
                generated_credentials=[
                    GeneratedCredential(dn=s.dn, password=s.password.get_secret_value())
                    for s in slots
                    if s is not None
                ],
                active_index=rotation.active_index,
                rotation_id=rotation.id,
            )

    # ----------------------------------------------------------------- create

    def create(
        self, *, principal: Principal, body: RotationCreate, context: RequestContext
    ) -> RotationPublic:
        """Create a rotation and rotate at once. Nothing is left behind when the first
        rotation certainly changed nothing; otherwise the rotation stays (and is retried)."""
        path = canonical_path(body.secret_path)
        params = body.parameters
        if params.rotation_method == "target-principal" and body.temporary_parameters is None:
            raise BadRequest("temporaryParameters.password is required for target-principal")
        with self.db.read() as session:
            get_project(session, org_id=principal.org_id, project_id=body.project_id)
            require(session, principal, body.project_id, S, "create")
            env = get_environment(session, project_id=body.project_id, slug=body.environment)
            connection = require_connect(
                session,
                principal=principal,
                connection_id=body.connection_id,
                project_id=body.project_id,
            )
            creds = load_credentials(session, self.keyring, connection)
            folder = session.scalar(
                select(Folder).where(Folder.environment_id == env.id, Folder.path == path)
            )
            if folder is not None:
                self._check_names_free(session, folder.id, body.secrets_mapping, body.name)
        try:
            require_secure_transport(creds)
            target_dn = self.directory.resolve_dn(creds=creds, name=params.dn)
        except DirectoryError as exc:
            raise RotationFailed(exc.message, code=exc.code) from exc
        token = _token()
        now = self.clock.now()
        with self.db.write() as session:
            folder = ensure_folder(
                session, project_id=body.project_id, environment_id=env.id, path=path
            )
            self._check_names_free(session, folder.id, body.secrets_mapping, body.name)
            self._check_target_free(session, principal.org_id, connection.url, target_dn)
            rotation = SecretRotation(
                project_id=body.project_id,
                environment_id=env.id,
                folder_id=folder.id,
                connection_id=connection.id,
                name=body.name,
                description=body.description,
                is_auto_rotation_enabled=body.is_auto_rotation_enabled,
                rotation_interval=body.rotation_interval,
                rotate_at_hours=body.rotate_at_utc.hours,
                rotate_at_minutes=body.rotate_at_utc.minutes,
                parameters=params.model_dump(by_alias=True),
                target_dn=target_dn,
                secrets_mapping=body.secrets_mapping.model_dump(),
                lease_owner=token,
                lease_until=now + timedelta(seconds=LEASE_SECONDS),
                created_at=now,
                updated_at=now,
            )
            session.add(rotation)
            session.flush()
            if body.temporary_parameters is not None:
                rotation.temporary_password_sealed = sealed.seal_temporary_password(
                    session,
                    self.keyring,
                    body.project_id,
                    rotation.id,
                    body.temporary_parameters.password,
                )
            record(
                session,
                event_type="secret-rotation-create",
                actor=principal,
                project_id=body.project_id,
                metadata={"rotationId": rotation.id, "name": rotation.name, "dn": target_dn},
                context=context,
            )
            rotation_id = rotation.id
        outcome = self._run_manual(rotation_id, token)
        if not outcome.ok:
            if outcome.state == "failed":
                with self.db.write() as session:
                    delete_managed_secrets(session, rotation_id=rotation_id)
                    row = session.get(SecretRotation, rotation_id)
                    if row is not None:
                        session.delete(row)
            raise RotationFailed(
                f"Failed to rotate the password: {outcome.message}", code=outcome.error_code
            )
        return self._public(rotation_id)

    def _check_names_free(
        self, session: Session, folder_id: str, mapping: SecretsMapping, name: str
    ) -> None:
        """Refuse a name or secret names already taken in the folder: index look-ups and
        one query over the folder's rotations in the database, never loading them."""
        keys = [mapping.dn, mapping.password]
        taken = session.scalar(
            select(Secret.key).where(Secret.folder_id == folder_id, Secret.key.in_(keys)).limit(1)
        )
        if taken is not None:
            raise BadRequest(f"A secret named '{taken}' already exists at this path")
        in_folder = SecretRotation.folder_id == folder_id
        if session.scalar(select(exists().where(in_folder, SecretRotation.name == name))):
            raise BadRequest(f"A secret rotation named '{name}' already exists at this path")
        writes = or_(
            SecretRotation.secrets_mapping["dn"].as_string().in_(keys),
            SecretRotation.secrets_mapping["password"].as_string().in_(keys),
        )
        if session.scalar(select(exists().where(in_folder, writes))):
            raise BadRequest("Another rotation at this path writes a secret of that name")

    @staticmethod
    def _check_target_free(session: Session, org_id: str, url: str, target_dn: str) -> None:
        """Refuse a second rotation of one account on one directory: each would change the
        password under the other, whose stored secret would then no longer bind."""
        clash = session.scalar(
            select(SecretRotation.id)
            .join(AppConnection, AppConnection.id == SecretRotation.connection_id)
            .join(Project, Project.id == SecretRotation.project_id)
            .where(
                Project.org_id == org_id,
                func.lower(AppConnection.url) == url.lower(),
                func.lower(SecretRotation.target_dn) == target_dn.lower(),
            )
            .limit(1)
        )
        if clash is not None:
            raise BadRequest(
                "Another secret rotation already rotates this account", code="target_in_use"
            )

    # ----------------------------------------------------------------- rotate

    def _run_manual(self, rotation_id: str, token: str, loaded: Loaded | None = None) -> Outcome:
        """Run an attempt now: the lease is ``token``'s already, or (``loaded`` given) taken
        here, with the attempt's first commit when it is free."""
        try:
            if loaded is not None:
                outcome = self.engine.run_unclaimed(loaded, token, manual=True)
                if outcome is not None:
                    return outcome
                if not self.engine.claim(rotation_id, token):
                    raise RotationInProgress()
            return self.engine.run(rotation_id, token, manual=True)
        except LeaseLost as exc:
            raise RotationInProgress() from exc
        except ConnectionBusy as exc:
            raise BindAccountChangingPassword() from exc
        finally:
            self.engine.release(rotation_id, token)

    def rotate_now(
        self, *, principal: Principal, rotation_id: str, context: RequestContext
    ) -> RotationPublic:
        """Rotate at once; 400 when a rotation of it is running or the rotation fails.

        One read (the view and the rotation together; its credentials opened once the caller
        is allowed), the run (taking the lease with its first commit when it is free), and an
        answer from the view with what the final commit changed."""
        with read_session(self.db) as session:
            # Both queries in one round trip (PostgreSQL); the credentials are opened only
            # once the caller is allowed.
            with batch(session.connection()) as sending:
                viewed = sending.send(_PUBLIC_ONE, {"rotation_id": rotation_id})
                found = self.engine.send_load(sending, rotation_id)
            views = [_public_view(row) for row in viewed.all()]
            if not views:
                raise RotationNotFound()
            view = views[0]
            self._allow(principal, view.project_id, "rotate-secrets")
            rows = found.all()
            loaded = self.engine.loaded(session, rotation_id, rows[0] if rows else None)
        if loaded is None:
            raise RotationNotFound()
        outcome = self._run_manual(rotation_id, _token(), loaded)
        if not outcome.ok:
            raise RotationFailed(
                f"Failed to rotate the password: {outcome.message}", code=outcome.error_code
            )
        if outcome.committed is None:
            return self._public(rotation_id)
        return committed_view(view, outcome.attempt_id, outcome.committed)

    # ----------------------------------------------------------------- update

    def update(
        self,
        *,
        principal: Principal,
        rotation_id: str,
        body: RotationUpdate,
        context: RequestContext,
    ) -> RotationPublic:
        with self.db.write() as session:
            rotation = self._get(session, principal, rotation_id, "edit")
            params = LdapPasswordParameters.model_validate(rotation.parameters)
            if body.parameters is not None:
                if body.parameters.dn is not None and body.parameters.dn != params.dn:
                    raise ImmutableParameter("parameters.dn cannot be changed")
                method = body.parameters.rotation_method
                if method is not None and method != params.rotation_method:
                    raise ImmutableParameter("parameters.rotationMethod cannot be changed")
                if body.parameters.password_requirements is not None:
                    params.password_requirements = body.parameters.password_requirements
                    rotation.parameters = params.model_dump(by_alias=True)
            if body.name is not None and body.name != rotation.name:
                clash = session.scalar(
                    select(SecretRotation.id).where(
                        SecretRotation.folder_id == rotation.folder_id,
                        SecretRotation.name == body.name,
                    )
                )
                if clash is not None:
                    raise BadRequest(f"A secret rotation named '{body.name}' already exists")
                rotation.name = body.name
            if body.description is not None:
                rotation.description = body.description
            if body.secrets_mapping is not None:
                self._rename_secrets(session, rotation, body.secrets_mapping)
            schedule_changed = False
            if body.is_auto_rotation_enabled is not None:
                schedule_changed |= (
                    body.is_auto_rotation_enabled != rotation.is_auto_rotation_enabled
                )
                rotation.is_auto_rotation_enabled = body.is_auto_rotation_enabled
            if body.rotation_interval is not None:
                schedule_changed |= body.rotation_interval != rotation.rotation_interval
                rotation.rotation_interval = body.rotation_interval
            if body.rotate_at_utc is not None:
                rotation.rotate_at_hours = body.rotate_at_utc.hours
                rotation.rotate_at_minutes = body.rotate_at_utc.minutes
                schedule_changed = True
            if schedule_changed:
                self._reschedule(session, rotation)
            rotation.updated_at = self.clock.now()
            record(
                session,
                event_type="secret-rotation-update",
                actor=principal,
                project_id=rotation.project_id,
                metadata={"rotationId": rotation.id, "fields": sorted(body.model_fields_set)},
                context=context,
            )
            return to_public(session, rotation)

    def _rename_secrets(
        self, session: Session, rotation: SecretRotation, mapping: SecretsMapping
    ) -> None:
        old = rotation.secrets_mapping
        for field_name in ("dn", "password"):
            new_key = getattr(mapping, field_name)
            if new_key != old[field_name]:
                if secret_exists(session, folder_id=rotation.folder_id, key=new_key):
                    raise BadRequest(f"A secret named '{new_key}' already exists at this path")
                rename_managed_secret(
                    session, rotation_id=rotation.id, old_key=old[field_name], new_key=new_key
                )
        rotation.secrets_mapping = mapping.model_dump()

    def _reschedule(self, session: Session, rotation: SecretRotation) -> None:
        unfinished = session.scalar(
            select(RotationAttempt.id).where(
                RotationAttempt.rotation_id == rotation.id, RotationAttempt.state.in_(UNFINISHED)
            )
        )
        if not rotation.is_auto_rotation_enabled:
            rotation.next_rotation_at = None
            rotation.due_at = self.clock.now() if unfinished else None
            return
        base = rotation.last_rotated_at or self.clock.now()
        rotation.next_rotation_at = next_rotation_at(
            base, rotation.rotation_interval, rotation.rotate_at_hours, rotation.rotate_at_minutes
        )
        rotation.due_at = self.clock.now() if unfinished else rotation.next_rotation_at

    # ----------------------------------------------------------------- delete

    def delete(
        self,
        *,
        principal: Principal,
        rotation_id: str,
        delete_secrets: bool,
        revoke_generated_credentials: bool,
        context: RequestContext,
    ) -> RotationPublic:
        """Delete a rotation; optionally its secrets, and optionally lock the account out
        first by setting a random password that is never stored."""
        with read_connection(self.db) as conn:
            self._authorize(conn, principal, rotation_id, "delete")
        token = _token()
        if not self.engine.claim(rotation_id, token):
            raise RotationInProgress()
        try:
            if revoke_generated_credentials:
                self._revoke(rotation_id)
            with self.db.write() as session:
                rotation = self._get(session, principal, rotation_id, "delete")
                public = to_public(session, rotation)
                if delete_secrets:
                    delete_managed_secrets(session, rotation_id=rotation_id)
                else:
                    release_managed_secrets(session, rotation_id=rotation_id)
                record(
                    session,
                    event_type="secret-rotation-delete",
                    actor=principal,
                    project_id=rotation.project_id,
                    metadata={
                        "rotationId": rotation_id,
                        "deleteSecrets": delete_secrets,
                        "revokeGeneratedCredentials": revoke_generated_credentials,
                    },
                    context=context,
                )
                session.delete(rotation)
            return public
        except BaseException:
            self.engine.release(rotation_id, token)
            raise

    def _revoke(self, rotation_id: str) -> None:
        with self.db.read() as session:
            rotation = session.get(SecretRotation, rotation_id)
            assert rotation is not None
            connection = session.get(AppConnection, rotation.connection_id)
            assert connection is not None
            creds = load_credentials(session, self.keyring, connection)
            params = LdapPasswordParameters.model_validate(rotation.parameters)
            slots = self._slots(session, rotation)
            active = slots[rotation.active_index]
            target = rotation.target_dn
        lockout = SecretStr(generate_password(PasswordRules(length=64, symbols=2)))
        try:
            if rotation_method(self.directory, params, creds, target) != "reset":
                if active is None:
                    raise BadRequest("No generated credentials to revoke")
                self.directory.change_own_password(
                    creds=creds, dn=target, old_password=active.password, new_password=lockout
                )
            else:
                self.directory.reset_password(creds=creds, target_dn=target, new_password=lockout)
        except DirectoryError as exc:
            raise RotationFailed(
                f"Failed to revoke the generated credentials: {exc.message}", code=exc.code
            ) from exc


def release_managed_secrets(session: Session, *, rotation_id: str) -> None:
    """Keep a deleted rotation's secrets as ordinary, editable secrets."""
    for secret in session.scalars(
        select(Secret).where(Secret.managed_by_rotation_id == rotation_id)
    ):
        secret.managed_by_rotation_id = None


def _status(state: str) -> str:
    return {"committed": "success", "failed": "failed"}.get(state, "in-progress")


def _token() -> str:
    return f"{uuid.uuid4().hex}-{pysecrets.token_hex(4)}"
