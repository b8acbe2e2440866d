"""Login flows: check credentials (throttled), then issue an access token."""

from __future__ import annotations

from dataclasses import dataclass, field

from ldapkeeper.audit.service import RequestContext, record
from ldapkeeper.db.session import Database
from ldapkeeper.identity.errors import InvalidCredentials
from ldapkeeper.identity.passwords import verify_password
from ldapkeeper.identity.service import (
    LoginPolicy,
    authenticate_client,
    clear_login_attempts,
    client_login_key,
    count_login_attempt,
    find_login_user,
    user_login_key,
)
from ldapkeeper.identity.tokens import TokenService


@dataclass(frozen=True)
class IssuedToken:
    access_token: str = field(repr=False)
    expires_in: int
    access_token_max_ttl: int


def login_user(
    *,
    db: Database,
    tokens: TokenService,
    policy: LoginPolicy,
    email: str,
    password: str,
    ttl_seconds: int,
    max_ttl_seconds: int,
) -> IssuedToken:
    """Email + password → token; InvalidCredentials or LoginThrottled otherwise."""
    key = user_login_key(email)
    with db.write() as session:
        count_login_attempt(session, key=key, policy=policy)
    with db.read() as session:
        user = find_login_user(session, email=email)
        user_id, password_hash = (user.id, user.password_hash) if user else (None, None)
    # argon2 runs outside any transaction: on SQLite it would otherwise hold up every writer.
    if not verify_password(password_hash, password) or user_id is None:
        raise InvalidCredentials()
    with db.write() as session:
        clear_login_attempts(session, key=key)
    token = tokens.issue(kind="user", subject_id=user_id, ttl_seconds=ttl_seconds)
    return IssuedToken(token, ttl_seconds, max_ttl_seconds)


def login_universal_auth(
    *,
    db: Database,
    tokens: TokenService,
    policy: LoginPolicy,
    client_id: str,
    client_secret: str,
    context: RequestContext,
) -> IssuedToken:
    """Universal Auth: client id + secret → token bound to that secret (revocable)."""
    key = client_login_key(client_id)
    with db.write() as session:
        count_login_attempt(session, key=key, policy=policy)
        found = authenticate_client(session, client_id=client_id, client_secret=client_secret)
        if found is not None:
            identity, secret = found
            clear_login_attempts(session, key=key)
            record(
                session,
                event_type="login-identity-universal-auth",
                actor=None,
                project_id=None,
                metadata={"identityId": identity.id, "clientSecretId": secret.id},
                context=context,
            )
            ttl, max_ttl, identity_id, secret_id = (
                identity.access_token_ttl,
                identity.access_token_max_ttl,
                identity.id,
                secret.id,
            )
    if found is None:
        raise InvalidCredentials()
    token = tokens.issue(
        kind="identity", subject_id=identity_id, ttl_seconds=ttl, secret_id=secret_id
    )
    return IssuedToken(token, ttl, max_ttl)
