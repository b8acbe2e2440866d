"""Request and response models of LDAP password rotations (Infisical's shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from ldapkeeper.rotations.passwords import DEFAULT_SYMBOLS, FORBIDDEN_SYMBOLS, PasswordRules
from ldapkeeper.schemas import ApiModel, Slug

RotationMethod = Literal["connection-principal", "target-principal"]
SECRET_NAME = r"^[^:/\s]{1,256}$"


class RequiredCharacters(ApiModel):
    digits: int = Field(default=1, ge=0, le=250)
    lowercase: int = Field(default=1, ge=0, le=250)
    uppercase: int = Field(default=1, ge=0, le=250)
    symbols: int = Field(default=0, ge=0, le=250)


class PasswordRequirements(ApiModel):
    length: int = Field(default=48, ge=1, le=250)
    required: RequiredCharacters = Field(default_factory=RequiredCharacters)
    allowed_symbols: str = Field(default=DEFAULT_SYMBOLS, min_length=0, max_length=64)

    @field_validator("allowed_symbols")
    @classmethod
    def _symbols(cls, value: str) -> str:
        if FORBIDDEN_SYMBOLS & set(value):
            raise ValueError("'$', '{' and '}' are not allowed symbols")
        if any(c.isalnum() or c.isspace() or not c.isprintable() for c in value):
            raise ValueError("allowed symbols must be printable punctuation")
        return value

    @model_validator(mode="after")
    def _feasible(self) -> PasswordRequirements:
        req = self.required
        total = req.digits + req.lowercase + req.uppercase + req.symbols
        if total == 0:
            raise ValueError("at least one required character count must be above 0")
        if total > self.length:
            raise ValueError("the required characters exceed the length")
        if req.symbols and not self.allowed_symbols:
            raise ValueError("symbols are required but allowedSymbols is empty")
        return self

    def rules(self) -> PasswordRules:
        return PasswordRules(
            length=self.length,
            digits=self.required.digits,
            lowercase=self.required.lowercase,
            uppercase=self.required.uppercase,
            symbols=self.required.symbols,
            allowed_symbols=self.allowed_symbols,
        )


class LdapPasswordParameters(ApiModel):
    dn: str = Field(min_length=1, max_length=1024)
    rotation_method: RotationMethod = "connection-principal"
    password_requirements: PasswordRequirements = Field(default_factory=PasswordRequirements)


class SecretsMapping(ApiModel):
    dn: str = Field(default="LDAP_DN", pattern=SECRET_NAME)
    password: str = Field(default="LDAP_PASSWORD", pattern=SECRET_NAME)

    @model_validator(mode="after")
    def _distinct(self) -> SecretsMapping:
        if self.dn == self.password:
            raise ValueError("dn and password must map to different secret names")
        return self


class RotateAtUtc(ApiModel):
    hours: int = Field(default=0, ge=0, le=23)
    minutes: int = Field(default=0, ge=0, le=59)


class TemporaryParameters(ApiModel):
    password: SecretStr = Field(min_length=1, max_length=1024)


class RotationCreate(ApiModel):
    name: Slug
    description: str | None = Field(default=None, max_length=256)
    project_id: str = Field(min_length=1, max_length=64)
    connection_id: str = Field(min_length=1, max_length=64)
    environment: str = Field(min_length=1, max_length=64)
    secret_path: str = Field(default="/", min_length=1, max_length=1024, pattern=r"^/")
    is_auto_rotation_enabled: bool = True
    rotation_interval: int = Field(default=30, ge=1, le=3650)
    rotate_at_utc: RotateAtUtc = Field(default_factory=RotateAtUtc)
    parameters: LdapPasswordParameters
    secrets_mapping: SecretsMapping = Field(default_factory=SecretsMapping)
    temporary_parameters: TemporaryParameters | None = None


class ParametersUpdate(ApiModel):
    dn: str | None = Field(default=None, max_length=1024)
    rotation_method: RotationMethod | None = None
    password_requirements: PasswordRequirements | None = None


class RotationUpdate(ApiModel):
    name: Slug | None = None
    description: str | None = Field(default=None, max_length=256)
    is_auto_rotation_enabled: bool | None = None
    rotation_interval: int | None = Field(default=None, ge=1, le=3650)
    rotate_at_utc: RotateAtUtc | None = None
    parameters: ParametersUpdate | None = None
    secrets_mapping: SecretsMapping | None = None


class ConnectionRef(ApiModel):
    app: str
    name: str
    id: str


class EnvironmentRef(ApiModel):
    slug: str
    name: str
    id: str


class FolderRef(ApiModel):
    id: str
    path: str


class RotationPublic(ApiModel):
    """A rotation as returned: an allow-list without any password."""

    id: str
    name: str
    description: str | None
    type: Literal["ldap-password"] = "ldap-password"
    project_id: str
    connection_id: str
    connection: ConnectionRef
    environment: EnvironmentRef
    folder: FolderRef
    folder_id: str
    secret_path: str
    is_auto_rotation_enabled: bool
    rotation_interval: int
    rotate_at_utc: RotateAtUtc
    parameters: LdapPasswordParameters
    secrets_mapping: SecretsMapping
    active_index: int
    rotation_status: str
    last_rotation_message: str | None
    is_last_rotation_manual: bool
    last_rotated_at: datetime | None
    last_rotation_attempted_at: datetime | None
    next_rotation_at: datetime | None
    last_rotation_job_id: str | None
    created_at: datetime
    updated_at: datetime


class RotationOne(ApiModel):
    secret_rotation: RotationPublic


class RotationList(ApiModel):
    secret_rotations: list[RotationPublic]


class GeneratedCredential(ApiModel):
    dn: str
    password: str


class GeneratedCredentials(ApiModel):
    generated_credentials: list[GeneratedCredential]
    active_index: int
    rotation_id: str
    type: Literal["ldap-password"] = "ldap-password"


class AttemptPublic(ApiModel):
    id: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    step: str
    error_code: str | None
    message: str | None
    manual: bool


class RotationHistory(ApiModel):
    history: list[AttemptPublic]


class RotationOption(ApiModel):
    name: str
    type: str
    connection: str
    template: dict[str, object]


class RotationOptions(ApiModel):
    secret_rotation_options: list[RotationOption]
