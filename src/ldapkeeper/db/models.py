"""Every table of ldapkeeper. Secret material is only ever stored sealed (``*_sealed`` bytes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ldapkeeper.db.base import Base, new_id, utcnow


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DataKey(Base):
    """A data key of one scope (``org`` or ``project``), wrapped by a root key."""

    __tablename__ = "data_keys"
    __table_args__ = (UniqueConstraint("scope_type", "scope_id", "version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    scope_type: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer, default=1)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    root_key_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SealedSetting(Base):
    """Installation-wide secrets (the JWT signing key), sealed under the org's data key."""

    __tablename__ = "sealed_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("org_id", "slug"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(128))
    slug: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Environment(Base):
    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("project_id", "slug"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    slug: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Folder(Base):
    """A secret path. ``path`` is the full path ("/", "/ldap", "/ldap/ad"); root has no parent."""

    __tablename__ = "folders"
    __table_args__ = (UniqueConstraint("environment_id", "path"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    environment_id: Mapped[str] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("folders.id", ondelete="CASCADE"), default=None
    )
    name: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(1024))
    description: Mapped[str | None] = mapped_column(String(256), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    org_role: Mapped[str] = mapped_column(String(16), default="member")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MachineIdentity(Base):
    __tablename__ = "machine_identities"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(128))
    client_id: Mapped[str] = mapped_column(String(256), unique=True)
    org_role: Mapped[str] = mapped_column(String(16), default="member")
    access_token_ttl: Mapped[int] = mapped_column(Integer, default=7200)
    access_token_max_ttl: Mapped[int] = mapped_column(Integer, default=2592000)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClientSecret(Base):
    """A Universal Auth client secret, kept as a SHA-256 hash (it is 256 random bits)."""

    __tablename__ = "client_secrets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    identity_id: Mapped[str] = mapped_column(
        ForeignKey("machine_identities.id", ondelete="CASCADE"), index=True
    )
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class ProjectMembership(Base):
    __tablename__ = "project_memberships"
    __table_args__ = (
        UniqueConstraint("project_id", "user_id"),
        UniqueConstraint("project_id", "identity_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None
    )
    identity_id: Mapped[str | None] = mapped_column(
        ForeignKey("machine_identities.id", ondelete="CASCADE"), default=None
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginThrottle(Base):
    """Failed logins per key (email or client id) within a window, for 429s across processes."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_project_created", "project_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(64), index=True)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(36), default=None)
    actor_name: Mapped[str | None] = mapped_column(String(320), default=None)
    project_id: Mapped[str | None] = mapped_column(String(36), default=None)
    event_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(512), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AppConnection(Base):
    """An app connection. Non-secret credential fields are columns; the password is sealed."""

    __tablename__ = "app_connections"
    __table_args__ = (UniqueConstraint("org_id", "scope", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), default=None, index=True
    )
    # project id, or "org" for an org-level connection: makes names unique per scope.
    scope: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(256), default=None)
    app: Mapped[str] = mapped_column(String(32), default="ldap")
    method: Mapped[str] = mapped_column(String(32), default="simple-bind")
    provider: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(512))
    dn: Mapped[str] = mapped_column(String(1024))
    ssl_reject_unauthorized: Mapped[bool] = mapped_column(Boolean, default=True)
    ssl_certificate: Mapped[str | None] = mapped_column(Text, default=None)
    start_tls: Mapped[bool] = mapped_column(Boolean, default=False)
    failover_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    password_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Secret(Base):
    """A shared secret in one folder. ``managed_by_rotation_id`` marks rotation-written ones."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("folder_id", "key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    environment_id: Mapped[str] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    folder_id: Mapped[str] = mapped_column(ForeignKey("folders.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(256))
    type: Mapped[str] = mapped_column(String(16), default="shared")
    value_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    comment: Mapped[str] = mapped_column(Text, default="")
    skip_multiline_encoding: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    managed_by_rotation_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SecretVersion(Base):
    """Every write of a secret, kept sealed."""

    __tablename__ = "secret_versions"
    __table_args__ = (UniqueConstraint("secret_id", "version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    secret_id: Mapped[str] = mapped_column(ForeignKey("secrets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(256))
    value_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SecretRotation(Base):
    """An LDAP password rotation: schedule, target, two credential slots (sealed), lease."""

    __tablename__ = "secret_rotations"
    __table_args__ = (
        UniqueConstraint("folder_id", "name"),
        Index("ix_secret_rotations_due", "due_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    environment_id: Mapped[str] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    folder_id: Mapped[str] = mapped_column(ForeignKey("folders.id", ondelete="CASCADE"))
    connection_id: Mapped[str] = mapped_column(ForeignKey("app_connections.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(256), default=None)
    type: Mapped[str] = mapped_column(String(32), default="ldap-password")
    is_auto_rotation_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    rotation_interval: Mapped[int] = mapped_column(Integer)
    rotate_at_hours: Mapped[int] = mapped_column(Integer, default=0)
    rotate_at_minutes: Mapped[int] = mapped_column(Integer, default=0)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    target_dn: Mapped[str] = mapped_column(String(1024))
    secrets_mapping: Mapped[dict[str, str]] = mapped_column(JSON)
    # Sealed JSON list of two {dn, password} slots; activeIndex names the current one.
    credentials_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    active_index: Mapped[int] = mapped_column(Integer, default=0)
    # target-principal only, until the first rotation: the account's current password.
    temporary_password_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    rotation_status: Mapped[str] = mapped_column(String(16), default="pending")
    last_rotation_message: Mapped[str | None] = mapped_column(String(1024), default=None)
    is_last_rotation_manual: Mapped[bool] = mapped_column(Boolean, default=False)
    last_rotated_at: Mapped[datetime | None] = mapped_column(default=None)
    last_rotation_attempted_at: Mapped[datetime | None] = mapped_column(default=None)
    next_rotation_at: Mapped[datetime | None] = mapped_column(default=None)
    # When a worker should next pick it up: the schedule, a retry, or an unfinished attempt.
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RotationAttempt(Base):
    """One try at rotating: pending → changed → verified → committed (or failed).

    The new password is sealed here and committed before the directory is touched.
    """

    __tablename__ = "rotation_attempts"
    __table_args__ = (Index("ix_rotation_attempts_rotation_state", "rotation_id", "state"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    rotation_id: Mapped[str] = mapped_column(ForeignKey("secret_rotations.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    # reset (admin), self (bind account changes itself), target (target changes itself)
    method: Mapped[str] = mapped_column(String(16))
    pending_password_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # Set (and committed) just before the directory is asked to change anything.
    directory_touched: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_probes: Mapped[int] = mapped_column(Integer, default=0)
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    message: Mapped[str | None] = mapped_column(String(1024), default=None)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
