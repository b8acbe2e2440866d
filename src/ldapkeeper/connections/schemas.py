"""Request and response models of LDAP App Connections (SPEC section 3).

Requests validate every field before anything reaches a directory; a validation message
names the rule, never the value (it may be a password). Responses are allow-lists: the
password has no field to leave by.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Literal

from cryptography import x509
from pydantic import AfterValidator, Field, SecretStr, ValidationInfo, field_validator

from ldapkeeper.db.models import AppConnection
from ldapkeeper.directory import DirectoryError, Provider
from ldapkeeper.ldap.names import is_dn, is_upn
from ldapkeeper.ldap.urls import parse_ldap_url
from ldapkeeper.schemas import ApiModel, Slug

AppName = Literal["ldap"]
Method = Literal["simple-bind"]

APP: AppName = "ldap"
METHOD: Method = "simple-bind"
MAX_FAILOVER_URLS = 10
MAX_CERTIFICATE_CHARS = 65_536


def check_ldap_url(url: str) -> str:
    """``url`` stripped, if it is ``ldap://host[:port]`` or ``ldaps://host[:port]``.

    Raises:
        ValueError: with the adapter's reason (which never repeats the URL).
    """
    try:
        parse_ldap_url(url)
    except DirectoryError as exc:
        raise ValueError(exc.message) from None
    return url.strip()


def check_bind_name(dn: str, provider: str | None) -> str:
    """``dn`` stripped, if it is a DN or, with ``active-directory``, a UPN.

    Raises:
        ValueError: when it is neither (the message does not repeat it).
    """
    name = dn.strip()
    if is_upn(name):
        if provider != "active-directory":
            raise ValueError(
                "a user principal name (user@domain) is only accepted with provider "
                "active-directory; give a distinguished name"
            )
        return name
    if not is_dn(name):
        raise ValueError("must be a distinguished name such as CN=John,CN=Users,DC=example,DC=com")
    return name


def check_pem_certificates(pem: str | None) -> str | None:
    """The PEM bundle if it holds one or more X.509 certificates; None when blank.

    Raises:
        ValueError: when it does not parse (the message does not repeat it).
    """
    if pem is None or not pem.strip():
        return None
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        certificates = []
    if not certificates:
        raise ValueError("must be one or more PEM-encoded X.509 certificates")
    return pem


LdapUrlText = Annotated[str, Field(min_length=1, max_length=512), AfterValidator(check_ldap_url)]


class LdapCredentialsInput(ApiModel):
    """The ``credentials`` object of a create or update: the whole object, password included.

    Field order matters: validators of later fields read earlier ones (provider, URLs).
    """

    provider: Provider
    url: LdapUrlText
    failover_urls: Annotated[list[LdapUrlText], Field(max_length=MAX_FAILOVER_URLS)] = Field(
        default_factory=list
    )
    dn: Annotated[str, Field(min_length=1, max_length=1024)]
    # Kept exactly as given: no trimming, no normalization.
    password: Annotated[SecretStr, Field(min_length=1, max_length=1024)]
    ssl_reject_unauthorized: bool = True
    ssl_certificate: Annotated[str | None, Field(max_length=MAX_CERTIFICATE_CHARS)] = None
    start_tls: bool = False

    @field_validator("dn")
    @classmethod
    def _dn(cls, value: str, info: ValidationInfo) -> str:
        return check_bind_name(value, info.data.get("provider"))

    @field_validator("ssl_certificate")
    @classmethod
    def _certificate(cls, value: str | None) -> str | None:
        return check_pem_certificates(value)

    @field_validator("start_tls")
    @classmethod
    def _start_tls(cls, value: bool, info: ValidationInfo) -> bool:
        urls = [info.data.get("url", ""), *info.data.get("failover_urls", [])]
        if value and any(url.lower().startswith("ldaps://") for url in urls):
            raise ValueError("startTls applies to ldap:// URLs only (ldaps:// is already TLS)")
        return value


class LdapConnectionCreate(ApiModel):
    """``POST /api/v1/app-connections/ldap``: the seed's sample body."""

    name: Slug
    description: Annotated[str | None, Field(max_length=256)] = None
    method: Method = METHOD
    project_id: str | None = None
    credentials: LdapCredentialsInput


class LdapConnectionUpdate(ApiModel):
    """``PATCH /api/v1/app-connections/ldap/{id}``: any of name, description, credentials."""

    name: Slug | None = None
    description: Annotated[str | None, Field(max_length=256)] = None
    credentials: LdapCredentialsInput | None = None


class LdapCredentialsPublic(ApiModel):
    """Everything of the credentials except the password."""

    provider: Provider
    url: str
    dn: str
    ssl_reject_unauthorized: bool
    ssl_certificate: str | None
    start_tls: bool
    failover_urls: list[str]


def stored_provider(value: str) -> Provider:
    """The provider of a stored row (the column is plain text; only valid values are written)."""
    return "active-directory" if value == "active-directory" else "open-ldap"


def credentials_hash(sealed_password: bytes) -> str:
    """SHA-256 (hex) of the stored ciphertext: changes with the credentials, reveals nothing."""
    return hashlib.sha256(sealed_password).hexdigest()


class AppConnectionPublic(ApiModel):
    """The ``appConnection`` of every response (SPEC section 3)."""

    id: str
    name: str
    description: str | None
    project_id: str | None
    org_id: str
    version: int
    app: AppName
    method: Method
    credentials: LdapCredentialsPublic
    credentials_hash: str
    is_platform_managed_credentials: bool = False
    gateway_id: None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: AppConnection) -> AppConnectionPublic:
        """The public form of a stored connection."""
        return cls(
            id=row.id,
            name=row.name,
            description=row.description,
            project_id=row.project_id,
            org_id=row.org_id,
            version=row.version,
            app=APP,
            method=METHOD,
            credentials=LdapCredentialsPublic(
                provider=stored_provider(row.provider),
                url=row.url,
                dn=row.dn,
                ssl_reject_unauthorized=row.ssl_reject_unauthorized,
                ssl_certificate=row.ssl_certificate,
                start_tls=row.start_tls,
                failover_urls=list(row.failover_urls),
            ),
            credentials_hash=credentials_hash(row.password_sealed),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class AppConnectionOne(ApiModel):
    app_connection: AppConnectionPublic


class AppConnectionList(ApiModel):
    app_connections: list[AppConnectionPublic]


class AppConnectionOption(ApiModel):
    name: str
    app: AppName
    methods: list[Method]


class AppConnectionOptions(ApiModel):
    app_connection_options: list[AppConnectionOption]


class AvailableConnection(ApiModel):
    """A connection the caller may use in a rotation (``connect-app-connections``)."""

    app: AppName
    name: str
    id: str
    project_id: str | None
    org_id: str


class AvailableConnectionList(ApiModel):
    app_connections: list[AvailableConnection]


class CheckError(ApiModel):
    code: str
    message: str


class CheckResult(ApiModel):
    """``POST .../{id}/check``: a bind with the stored credentials."""

    status: Literal["ok", "error"]
    latency_ms: float
    error: CheckError | None = None


OPTIONS = AppConnectionOptions(
    app_connection_options=[AppConnectionOption(name="LDAP", app=APP, methods=[METHOD])]
)
