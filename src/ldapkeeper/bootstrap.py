"""First start: the organization, the ``default`` project, an admin user and identity."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ldapkeeper.db.models import Organization
from ldapkeeper.identity import service as identities
from ldapkeeper.identity.permissions import OrgRole
from ldapkeeper.identity.tokens import create_signing_key
from ldapkeeper.kms.keyring import KeyRing, Scope
from ldapkeeper.projects.service import create_project
from ldapkeeper.settings import Settings

DEFAULT_ADMIN_EMAIL = "admin@ldapkeeper.local"


@dataclass(frozen=True)
class BootstrapResult:
    """What first start created; the secrets are shown once and never stored in clear."""

    org_id: str
    project_id: str
    admin_email: str
    admin_password: str = field(repr=False)
    client_id: str
    client_secret: str = field(repr=False)
    password_generated: bool
    secret_generated: bool

    @property
    def generated(self) -> bool:
        """Whether anything was generated (then it must be shown, once)."""
        return self.password_generated or self.secret_generated


def current_org_id(session: Session) -> str | None:
    return session.scalar(select(Organization.id).order_by(Organization.created_at).limit(1))


def bootstrap(session: Session, *, keyring: KeyRing, settings: Settings) -> BootstrapResult | None:
    """Create the installation on an empty database; None when it already exists."""
    if current_org_id(session) is not None:
        return None
    org = Organization(name="ldapkeeper")
    session.add(org)
    session.flush()
    keyring.create_data_key(session, Scope.org(org.id))
    create_signing_key(session, keyring, org.id)
    project = create_project(
        session, keyring=keyring, org_id=org.id, name="default", slug="default"
    )
    email = settings.bootstrap_admin_email or DEFAULT_ADMIN_EMAIL
    given_password = settings.bootstrap_admin_password
    password = given_password.get_secret_value() if given_password else secrets.token_urlsafe(18)
    identities.create_user(
        session, org_id=org.id, email=email, password=password, org_role=OrgRole.ADMIN
    )
    identity = identities.create_identity(
        session,
        org_id=org.id,
        name="admin",
        org_role=OrgRole.ADMIN,
        client_id=settings.bootstrap_client_id,
        access_token_ttl=settings.access_token_ttl_seconds,
        access_token_max_ttl=settings.access_token_max_ttl_seconds,
    )
    given_secret = settings.bootstrap_client_secret
    new_secret = identities.create_client_secret(
        session,
        identity_id=identity.id,
        description="bootstrap",
        secret=given_secret.get_secret_value() if given_secret else None,
    )
    return BootstrapResult(
        org_id=org.id,
        project_id=project.id,
        admin_email=email,
        admin_password=password,
        client_id=identity.client_id,
        client_secret=new_secret.secret,
        password_generated=given_password is None,
        secret_generated=given_secret is None,
    )
