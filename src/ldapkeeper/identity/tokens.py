"""HS256 access tokens. The signing key is generated once and kept sealed in the database."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt
from sqlalchemy.orm import Session

from ldapkeeper.db.models import SealedSetting
from ldapkeeper.identity.errors import InvalidToken
from ldapkeeper.kms.keyring import KeyRing, Scope

SIGNING_KEY_NAME = "jwt_signing_key"
_ISSUER = "ldapkeeper"


def _record(name: str) -> str:
    return f"sealed_settings:{name}:value"


def create_signing_key(session: Session, keyring: KeyRing, org_id: str) -> None:
    """Generate and seal the installation's signing key (bootstrap, once)."""
    sealed = keyring.seal(
        session, Scope.org(org_id), _record(SIGNING_KEY_NAME), secrets.token_bytes(32)
    )
    session.add(SealedSetting(name=SIGNING_KEY_NAME, value_sealed=sealed))
    session.flush()


def load_signing_key(session: Session, keyring: KeyRing, org_id: str) -> bytes:
    row = session.get(SealedSetting, SIGNING_KEY_NAME)
    if row is None:
        raise RuntimeError("the token signing key is missing; was the database bootstrapped?")
    return keyring.open(session, Scope.org(org_id), _record(SIGNING_KEY_NAME), row.value_sealed)


@dataclass(frozen=True)
class TokenClaims:
    kind: Literal["user", "identity"]
    subject_id: str
    secret_id: str | None
    expires_at: datetime


class TokenService:
    """Issues and verifies access tokens with one process-wide key."""

    def __init__(self, signing_key: bytes) -> None:
        self._key = signing_key

    def issue(
        self,
        *,
        kind: Literal["user", "identity"],
        subject_id: str,
        ttl_seconds: int,
        secret_id: str | None = None,
    ) -> str:
        now = datetime.now(UTC)
        claims: dict[str, object] = {
            "iss": _ISSUER,
            "sub": subject_id,
            "kind": kind,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=ttl_seconds)).timestamp()),
            "jti": str(uuid.uuid4()),
        }
        if secret_id is not None:
            claims["sid"] = secret_id
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> TokenClaims:
        """Decode and check signature and expiry; raises InvalidToken."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=_ISSUER,
                options={"require": ["exp", "sub", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken() from exc
        kind = claims.get("kind")
        if kind not in ("user", "identity") or not isinstance(claims["sub"], str):
            raise InvalidToken()
        sid = claims.get("sid")
        return TokenClaims(
            kind="user" if kind == "user" else "identity",
            subject_id=claims["sub"],
            secret_id=sid if isinstance(sid, str) else None,
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
