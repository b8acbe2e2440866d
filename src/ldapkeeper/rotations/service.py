"""LDAP password rotations: create, read, update, delete, rotate now, generated credentials.

Directory work never runs inside a database write transaction (SQLite has one writer).
"""

from __future__ import annotations

import secrets as pysecrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from pydantic import SecretStr
from sqlalchemy import func, select
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
from ldapkeeper.db.session import Database
from ldapkeeper.directory import DirectoryClient, DirectoryError, require_secure_transport
from ldapkeeper.errors import BadRequest
from ldapkeeper.identity.authorization import require
from ldapkeeper.identity.permissions import ProjectRole, Subject
from ldapkeeper.identity.principal import Principal
from ldapkeeper.identity.service import project_role
from ldapkeeper.kms.keyring import KeyRing
from ldapkeeper.projects.service import get_environment, get_project
from ldapkeeper.rotations import sealed
from ldapkeeper.rotations.engine import (
    UNFINISHED,
    ConnectionBusy,
    LeaseLost,
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


def to_public(session: Session, rotation: SecretRotation) -> RotationPublic:
    """The allow-listed view of a rotation (no password, ever)."""
    connection = session.get(AppConnection, rotation.connection_id)
    env = session.get(Environment, rotation.environment_id)
    folder = session.get(Folder, rotation.folder_id)
    assert connection is not None
    assert env is not None
    assert folder is not None
    last_attempt = session.scalar(
        select(RotationAttempt.id)
        .where(RotationAttempt.rotation_id == rotation.id)
        .order_by(RotationAttempt.started_at.desc())
        .limit(1)
    )
    return RotationPublic(
        id=rotation.id,
        name=rotation.name,
        description=rotation.description,
        project_id=rotation.project_id,
        connection_id=rotation.connection_id,
        connection=ConnectionRef(app=connection.app, name=connection.name, id=connection.id),
        environment=EnvironmentRef(slug=env.slug, name=env.name, id=env.id),
        folder=FolderRef(id=folder.id, path=folder.path),
        folder_id=folder.id,
        secret_path=folder.path,
        is_auto_rotation_enabled=rotation.is_auto_rotation_enabled,
        rotation_interval=rotation.rotation_interval,
        rotate_at_utc=RotateAtUtc(
            hours=rotation.rotate_at_hours, minutes=rotation.rotate_at_minutes
        ),
        parameters=LdapPasswordParameters.model_validate(rotation.parameters),
        secrets_mapping=SecretsMapping.model_validate(rotation.secrets_mapping),
        active_index=rotation.active_index,
        rotation_status=rotation.rotation_status,
        last_rotation_message=rotation.last_rotation_message,
        is_last_rotation_manual=rotation.is_last_rotation_manual,
        last_rotated_at=rotation.last_rotated_at,
        last_rotation_attempted_at=rotation.last_rotation_attempted_at,
        next_rotation_at=rotation.next_rotation_at,
        last_rotation_job_id=last_attempt,
        created_at=rotation.created_at,
        updated_at=rotation.updated_at,
    )


@dataclass
class RotationService:
    db: Database
    keyring: KeyRing
    directory: DirectoryClient
    engine: RotationEngine
    clock: Clock

    # ------------------------------------------------------------------ reads

    def _get(self, session: Session, principal: Principal, rotation_id: str) -> SecretRotation:
        rotation = session.get(SecretRotation, rotation_id)
        if rotation is None:
            raise RotationNotFound()
        # Another project's rotation (no role there) is "not found", not "forbidden".
        if project_role(session, principal, rotation.project_id) == ProjectRole.NO_ACCESS:
            raise RotationNotFound()
        return rotation

    def _public(self, rotation_id: str) -> RotationPublic:
        """The rotation as returned, for a caller already authorized by this request."""
        with self.db.read() as session:
            rotation = session.get(SecretRotation, rotation_id)
            if rotation is None:
                raise RotationNotFound()
            return to_public(session, rotation)

    def list_rotations(self, *, principal: Principal, project_id: str) -> list[RotationPublic]:
        with self.db.read() as session:
            get_project(session, org_id=principal.org_id, project_id=project_id)
            require(session, principal, project_id, S, "read")
            rows = session.scalars(
                select(SecretRotation)
                .where(SecretRotation.project_id == project_id)
                .order_by(SecretRotation.name)
            ).all()
            return [to_public(session, r) for r in rows]

    def get(self, *, principal: Principal, rotation_id: str) -> RotationPublic:
        with self.db.read() as session:
            rotation = self._get(session, principal, rotation_id)
            require(session, principal, rotation.project_id, S, "read")
            return to_public(session, rotation)

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
            rotation = self._get(session, principal, rotation_id)
            require(session, principal, rotation.project_id, S, "read")
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
            rotation = self._get(session, principal, rotation_id)
            require(session, principal, rotation.project_id, S, "read-generated-credentials")
            slots = sealed.open_slots(session, self.keyring, rotation)
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
                sealed.seal_temporary_password(
                    session, self.keyring, rotation, body.temporary_parameters.password
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
        for key in (mapping.dn, mapping.password):
            if secret_exists(session, folder_id=folder_id, key=key):
                raise BadRequest(f"A secret named '{key}' already exists at this path")
        others = session.scalars(
            select(SecretRotation).where(SecretRotation.folder_id == folder_id)
        ).all()
        for other in others:
            if other.name == name:
                raise BadRequest(f"A secret rotation named '{name}' already exists at this path")
            if {mapping.dn, mapping.password} & set(other.secrets_mapping.values()):
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

    def _run_manual(self, rotation_id: str, token: str) -> Outcome:
        try:
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
        """Rotate at once; 400 when a rotation of it is running or the rotation fails."""
        with self.db.read() as session:
            rotation = self._get(session, principal, rotation_id)
            require(session, principal, rotation.project_id, S, "rotate-secrets")
        token = _token()
        if not self.engine.claim(rotation_id, token):
            raise RotationInProgress()
        outcome = self._run_manual(rotation_id, token)
        if not outcome.ok:
            raise RotationFailed(
                f"Failed to rotate the password: {outcome.message}", code=outcome.error_code
            )
        return self._public(rotation_id)

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
            rotation = self._get(session, principal, rotation_id)
            require(session, principal, rotation.project_id, S, "edit")
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
        with self.db.read() as session:
            rotation = self._get(session, principal, rotation_id)
            require(session, principal, rotation.project_id, S, "delete")
        token = _token()
        if not self.engine.claim(rotation_id, token):
            raise RotationInProgress()
        try:
            if revoke_generated_credentials:
                self._revoke(rotation_id)
            with self.db.write() as session:
                rotation = self._get(session, principal, rotation_id)
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
            slots = sealed.open_slots(session, self.keyring, rotation)
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
