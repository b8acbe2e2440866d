"""Request and response models of logins, users, identities, secrets and memberships."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from ldapkeeper.identity.permissions import OrgRole, ProjectRole
from ldapkeeper.schemas import ApiModel

# RFC 5321 caps an address at 254 characters; it also keeps "user:<email>" within the
# 320-character login_throttles key on PostgreSQL.
EMAIL_MAX_LENGTH = 254


class UserLogin(ApiModel):
    email: str = Field(min_length=3, max_length=EMAIL_MAX_LENGTH)
    password: str = Field(min_length=1, max_length=1024)


class UniversalAuthLogin(ApiModel):
    client_id: str = Field(min_length=1, max_length=256)
    client_secret: str = Field(min_length=1, max_length=1024)


class AccessToken(ApiModel):
    access_token: str
    expires_in: int
    access_token_max_ttl: int = Field(serialization_alias="accessTokenMaxTTL")
    token_type: Literal["Bearer"] = "Bearer"


class UserCreate(ApiModel):
    email: str = Field(min_length=3, max_length=EMAIL_MAX_LENGTH, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=12, max_length=1024)
    org_role: OrgRole = OrgRole.MEMBER


class UserPublic(ApiModel):
    id: str
    email: str
    org_role: OrgRole
    created_at: datetime


class IdentityCreate(ApiModel):
    name: str = Field(min_length=1, max_length=128)
    org_role: OrgRole = OrgRole.MEMBER
    access_token_ttl: int = Field(
        default=7200, ge=60, le=2592000, validation_alias="accessTokenTTL"
    )
    access_token_max_ttl: int = Field(
        default=2592000, ge=60, le=31536000, validation_alias="accessTokenMaxTTL"
    )


class IdentityPublic(ApiModel):
    id: str
    name: str
    client_id: str
    org_role: OrgRole
    access_token_ttl: int = Field(serialization_alias="accessTokenTTL")
    access_token_max_ttl: int = Field(serialization_alias="accessTokenMaxTTL")
    created_at: datetime


class ClientSecretCreate(ApiModel):
    description: str = Field(default="", max_length=256)


class ClientSecretPublic(ApiModel):
    id: str
    description: str
    client_secret_prefix: str
    created_at: datetime
    is_revoked: bool


class ClientSecretCreated(ApiModel):
    """Shown once: the only response that carries the client secret."""

    client_secret: str
    client_secret_data: ClientSecretPublic


class MembershipSet(ApiModel):
    user_id: str | None = None
    identity_id: str | None = None
    role: ProjectRole


class MembershipPublic(ApiModel):
    id: str
    project_id: str
    user_id: str | None
    identity_id: str | None
    role: ProjectRole
    created_at: datetime
