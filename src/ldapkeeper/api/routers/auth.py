"""Logins: users (email + password) and machine identities (Universal Auth)."""

from __future__ import annotations

from fastapi import APIRouter

from ldapkeeper.api.deps import ContextDep, RuntimeDep
from ldapkeeper.identity.logins import IssuedToken, login_universal_auth, login_user
from ldapkeeper.identity.schemas import AccessToken, UniversalAuthLogin, UserLogin

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def _public(token: IssuedToken) -> AccessToken:
    return AccessToken(
        access_token=token.access_token,
        expires_in=token.expires_in,
        access_token_max_ttl=token.access_token_max_ttl,
    )


@router.post("/login", response_model=AccessToken, response_model_by_alias=True)
def user_login(body: UserLogin, runtime: RuntimeDep) -> AccessToken:
    """Log a user in with email and password."""
    settings = runtime.settings
    return _public(
        login_user(
            db=runtime.db,
            tokens=runtime.tokens,
            policy=runtime.login_policy,
            email=body.email,
            password=body.password,
            ttl_seconds=settings.access_token_ttl_seconds,
            max_ttl_seconds=settings.access_token_max_ttl_seconds,
        )
    )


@router.post("/universal-auth/login", response_model=AccessToken)
def universal_auth_login(
    body: UniversalAuthLogin, runtime: RuntimeDep, context: ContextDep
) -> AccessToken:
    """Log a machine identity in with its client id and client secret."""
    return _public(
        login_universal_auth(
            db=runtime.db,
            tokens=runtime.tokens,
            policy=runtime.login_policy,
            client_id=body.client_id,
            client_secret=body.client_secret,
            context=context,
        )
    )
