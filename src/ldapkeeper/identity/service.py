"""Users, machine identities, client secrets, memberships, logins and role lookup."""

from __future__ import annotations

import hmac
import secrets as pysecrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ldapkeeper.db.base import utcnow
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
from ldapkeeper.identity.passwords import hash_password, verify_password
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


def create_client_secret(
    session: Session, *, identity_id: str, description: str = "", secret: str | None = None
) -> NewClientSecret:
    """A new client secret for the identity (random unless given, for unattended bootstrap)."""
    if session.get(MachineIdentity, identity_id) is None:
        raise IdentityNotFound("Machine identity not found")
    value = secret if secret is not None else pysecrets.token_hex(32)
    row = ClientSecret(
        identity_id=identity_id,
        secret_hash=hash_password(value),
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


def _throttle_check(session: Session, key: str, *, max_failures: int, window: int) -> None:
    row = session.get(LoginThrottle, key)
    if row is None:
        return
    elapsed = (utcnow() - row.window_start).total_seconds()
    if elapsed >= window:
        return
    if row.failures >= max_failures:
        raise LoginThrottled(retry_after=max(1, int(window - elapsed)))


def _throttle_fail(session: Session, key: str, *, window: int) -> None:
    row = session.get(LoginThrottle, key)
    now = utcnow()
    if row is None:
        session.add(LoginThrottle(key=key, failures=1, window_start=now))
    elif (now - row.window_start) >= timedelta(seconds=window):
        row.failures, row.window_start = 1, now
    else:
        row.failures += 1
    session.flush()


def _throttle_clear(session: Session, key: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int
    window_seconds: int


def authenticate_user(
    session: Session, *, email: str, password: str, policy: LoginPolicy
) -> User | None:
    """The user when the password matches, None otherwise (failure recorded for throttling).

    Raises LoginThrottled once too many failures were recorded in the window. Returns None
    instead of raising so the caller can commit the recorded failure.
    """
    key = "user:" + email.strip().lower()
    _throttle_check(session, key, max_failures=policy.max_failures, window=policy.window_seconds)
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if not verify_password(user.password_hash if user else None, password) or user is None:
        _throttle_fail(session, key, window=policy.window_seconds)
        return None
    _throttle_clear(session, key)
    return user


def authenticate_client(
    session: Session, *, client_id: str, client_secret: str, policy: LoginPolicy
) -> tuple[MachineIdentity, ClientSecret] | None:
    """The identity and the matching live client secret, or None (failure recorded)."""
    key = "identity:" + client_id
    _throttle_check(session, key, max_failures=policy.max_failures, window=policy.window_seconds)
    identity = session.scalar(select(MachineIdentity).where(MachineIdentity.client_id == client_id))
    candidates: list[ClientSecret] = []
    if identity is not None:
        candidates = list(
            session.scalars(
                select(ClientSecret).where(
                    ClientSecret.identity_id == identity.id, ClientSecret.revoked_at.is_(None)
                )
            )
        )
    match: ClientSecret | None = None
    if not candidates:
        verify_password(None, client_secret)  # same time whether or not the identity exists
    for candidate in candidates:
        if verify_password(candidate.secret_hash, client_secret):
            match = candidate
    if identity is None or match is None:
        _throttle_fail(session, key, window=policy.window_seconds)
        return None
    _throttle_clear(session, key)
    return identity, match


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


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
