"""Users, machine identities, client secrets, memberships, logins and role lookup."""

from __future__ import annotations

import hashlib
import math
import secrets as pysecrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import case, delete, literal, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ldapkeeper.db.base import UTCDateTime, utcnow
from ldapkeeper.db.models import (
    ClientSecret,
    LoginThrottle,
    MachineIdentity,
    Project,
    ProjectMembership,
    User,
)
from ldapkeeper.identity.errors import (
    DuplicateIdentity,
    IdentityNotFound,
    InvalidToken,
    LoginThrottled,
)
from ldapkeeper.identity.passwords import hash_password
from ldapkeeper.identity.permissions import OrgRole, ProjectRole
from ldapkeeper.identity.principal import Principal
from ldapkeeper.identity.tokens import TokenClaims


@dataclass(frozen=True)
class NewClientSecret:
    """A client secret as created: ``secret`` is shown once and never stored."""

    row: ClientSecret
    secret: str


def create_user(
    session: Session, *, org_id: str, email: str, password: str, org_role: OrgRole
) -> User:
    email = email.strip().lower()
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise DuplicateIdentity("A user with this email already exists")
    user = User(
        org_id=org_id, email=email, password_hash=hash_password(password), org_role=org_role
    )
    session.add(user)
    session.flush()
    return user


def create_identity(
    session: Session,
    *,
    org_id: str,
    name: str,
    org_role: OrgRole,
    client_id: str | None = None,
    access_token_ttl: int = 7200,
    access_token_max_ttl: int = 2592000,
) -> MachineIdentity:
    client_id = client_id or str(pysecrets.token_hex(16))
    if session.scalar(select(MachineIdentity.id).where(MachineIdentity.client_id == client_id)):
        raise DuplicateIdentity("A machine identity with this client id already exists")
    identity = MachineIdentity(
        org_id=org_id,
        name=name,
        client_id=client_id,
        org_role=org_role,
        access_token_ttl=access_token_ttl,
        access_token_max_ttl=access_token_max_ttl,
    )
    session.add(identity)
    session.flush()
    return identity


def client_secret_digest(secret: str) -> str:
    """How a client secret is stored: SHA-256 hex (generated secrets are 256 random bits)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_client_secret(
    session: Session, *, identity_id: str, description: str = "", secret: str | None = None
) -> NewClientSecret:
    """A new client secret for the identity (random unless given, for unattended bootstrap)."""
    if session.get(MachineIdentity, identity_id) is None:
        raise IdentityNotFound("Machine identity not found")
    value = secret if secret is not None else pysecrets.token_hex(32)
    row = ClientSecret(
        identity_id=identity_id,
        secret_hash=client_secret_digest(value),
        # Only long random secrets show a prefix: on a short chosen one it would leak too much.
        prefix=value[:4] if len(value) >= 32 else "",
        description=description,
    )
    session.add(row)
    session.flush()
    return NewClientSecret(row=row, secret=value)


def revoke_client_secret(session: Session, *, identity_id: str, secret_id: str) -> ClientSecret:
    """Revoke a client secret; tokens issued with it stop working at once."""
    row = session.get(ClientSecret, secret_id)
    if row is None or row.identity_id != identity_id:
        raise IdentityNotFound("Client secret not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.flush()
    return row


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int
    window_seconds: int


def user_login_key(email: str) -> str:
    """The throttling key of a user login."""
    return "user:" + email.strip().lower()


def client_login_key(client_id: str) -> str:
    """The throttling key of a Universal Auth login."""
    return "identity:" + client_id


def count_login_attempt(session: Session, *, key: str, policy: LoginPolicy) -> None:
    """Count an attempt as failed before checking it; LoginThrottled once over the limit.

    One atomic upsert, so parallel attempts can neither lose counts nor collide on the first
    insert; a successful login then clears the count (``clear_login_attempts``).
    """
    now = utcnow()
    expired = LoginThrottle.window_start <= now - timedelta(seconds=policy.window_seconds)
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(LoginThrottle)
        .values(key=key, failures=1, window_start=now)
        .on_conflict_do_update(
            index_elements=[LoginThrottle.key],
            set_={
                "failures": case((expired, 1), else_=LoginThrottle.failures + 1),
                "window_start": case(
                    (expired, literal(now, UTCDateTime())), else_=LoginThrottle.window_start
                ),
            },
        )
        .returning(LoginThrottle.failures, LoginThrottle.window_start)
    )
    failures, window_start = session.execute(statement).one()
    if failures > policy.max_failures:
        elapsed = (now - window_start).total_seconds()
        raise LoginThrottled(retry_after=max(1, math.ceil(policy.window_seconds - elapsed)))


def clear_login_attempts(session: Session, *, key: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def find_login_user(session: Session, *, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def authenticate_client(
    session: Session, *, client_id: str, client_secret: str
) -> tuple[MachineIdentity, ClientSecret] | None:
    """The identity and its live client secret matching ``client_secret``, or None."""
    identity = session.scalar(select(MachineIdentity).where(MachineIdentity.client_id == client_id))
    if identity is None:
        return None
    secret = session.scalar(
        select(ClientSecret).where(
            ClientSecret.identity_id == identity.id,
            ClientSecret.secret_hash == client_secret_digest(client_secret),
            ClientSecret.revoked_at.is_(None),
        )
    )
    return (identity, secret) if secret is not None else None


def principal_from_claims(session: Session, claims: TokenClaims) -> Principal:
    """Resolve a verified token to a live principal; InvalidToken when revoked or gone."""
    if claims.kind == "user":
        user = session.get(User, claims.subject_id)
        if user is None:
            raise InvalidToken()
        return Principal("user", user.id, user.email, user.org_id, OrgRole(user.org_role))
    identity = session.get(MachineIdentity, claims.subject_id)
    if identity is None or claims.secret_id is None:
        raise InvalidToken()
    secret = session.get(ClientSecret, claims.secret_id)
    if secret is None or secret.identity_id != identity.id or secret.revoked_at is not None:
        raise InvalidToken("Token revoked")
    return Principal(
        "identity", identity.id, identity.name, identity.org_id, OrgRole(identity.org_role)
    )


def project_role(session: Session, principal: Principal, project_id: str) -> ProjectRole:
    """The caller's role in a project: org admins are admins everywhere."""
    project_org = session.scalar(select(Project.org_id).where(Project.id == project_id))
    if project_org is None or project_org != principal.org_id:
        return ProjectRole.NO_ACCESS
    if principal.is_org_admin:
        return ProjectRole.ADMIN
    column = (
        ProjectMembership.user_id if principal.kind == "user" else ProjectMembership.identity_id
    )
    role = session.scalar(
        select(ProjectMembership.role).where(
            ProjectMembership.project_id == project_id, column == principal.id
        )
    )
    return ProjectRole(role) if role else ProjectRole.NO_ACCESS


def set_membership(
    session: Session,
    *,
    project_id: str,
    role: ProjectRole,
    user_id: str | None = None,
    identity_id: str | None = None,
) -> ProjectMembership:
    """Give a user or identity a role in a project (replacing any earlier role)."""
    if (user_id is None) == (identity_id is None):
        raise ValueError("exactly one of user_id and identity_id")
    if user_id is not None and session.get(User, user_id) is None:
        raise IdentityNotFound("User not found")
    if identity_id is not None and session.get(MachineIdentity, identity_id) is None:
        raise IdentityNotFound("Machine identity not found")
    column = ProjectMembership.user_id if user_id else ProjectMembership.identity_id
    row = session.scalar(
        select(ProjectMembership).where(
            ProjectMembership.project_id == project_id, column == (user_id or identity_id)
        )
    )
    if row is None:
        row = ProjectMembership(
            project_id=project_id, user_id=user_id, identity_id=identity_id, role=role
        )
        session.add(row)
    else:
        row.role = role
    session.flush()
    return row
