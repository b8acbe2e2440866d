"""Users, machine identities, their client secrets, and project memberships."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from ldapkeeper.api.deps import (
    ContextDep,
    PrincipalDep,
    RuntimeDep,
    require_org_admin,
    require_project_action,
)
from ldapkeeper.audit.service import record
from ldapkeeper.db.models import ClientSecret, MachineIdentity, ProjectMembership, User
from ldapkeeper.errors import BadRequest
from ldapkeeper.identity import service
from ldapkeeper.identity.errors import IdentityNotFound
from ldapkeeper.identity.permissions import Subject
from ldapkeeper.identity.schemas import (
    ClientSecretCreate,
    ClientSecretCreated,
    ClientSecretPublic,
    IdentityCreate,
    IdentityPublic,
    MembershipPublic,
    MembershipSet,
    UserCreate,
    UserPublic,
)
from ldapkeeper.projects.service import get_project
from ldapkeeper.schemas import ApiModel

router = APIRouter(prefix="/api/v1", tags=["identities"])


class UserOne(ApiModel):
    user: UserPublic


class UserList(ApiModel):
    users: list[UserPublic]


class IdentityOne(ApiModel):
    identity: IdentityPublic


class IdentityList(ApiModel):
    identities: list[IdentityPublic]


class ClientSecretList(ApiModel):
    client_secret_data: list[ClientSecretPublic]


class MembershipOne(ApiModel):
    membership: MembershipPublic


class MembershipList(ApiModel):
    memberships: list[MembershipPublic]


def _secret_public(row: ClientSecret) -> ClientSecretPublic:
    return ClientSecretPublic(
        id=row.id,
        description=row.description,
        client_secret_prefix=row.prefix,
        created_at=row.created_at,
        is_revoked=row.revoked_at is not None,
    )


@router.get("/users", response_model=UserList)
def list_users(runtime: RuntimeDep, principal: PrincipalDep) -> UserList:
    """Users of the organization (org admins)."""
    require_org_admin(principal)
    with runtime.db.read() as session:
        rows = session.scalars(
            select(User).where(User.org_id == principal.org_id).order_by(User.email)
        )
        return UserList(users=[UserPublic.model_validate(u) for u in rows])


@router.post("/users", response_model=UserOne)
def create_user(
    body: UserCreate, runtime: RuntimeDep, principal: PrincipalDep, context: ContextDep
) -> UserOne:
    """Create a user (org admins)."""
    require_org_admin(principal)
    with runtime.db.write() as session:
        user = service.create_user(
            session,
            org_id=principal.org_id,
            email=body.email,
            password=body.password,
            org_role=body.org_role,
        )
        record(
            session,
            event_type="create-user",
            actor=principal,
            project_id=None,
            metadata={"userId": user.id, "email": user.email},
            context=context,
        )
        return UserOne(user=UserPublic.model_validate(user))


@router.get("/identities", response_model=IdentityList)
def list_identities(runtime: RuntimeDep, principal: PrincipalDep) -> IdentityList:
    """Machine identities of the organization (org admins)."""
    require_org_admin(principal)
    with runtime.db.read() as session:
        rows = session.scalars(
            select(MachineIdentity)
            .where(MachineIdentity.org_id == principal.org_id)
            .order_by(MachineIdentity.name)
        )
        return IdentityList(identities=[IdentityPublic.model_validate(i) for i in rows])


@router.post("/identities", response_model=IdentityOne)
def create_identity(
    body: IdentityCreate, runtime: RuntimeDep, principal: PrincipalDep, context: ContextDep
) -> IdentityOne:
    """Create a machine identity (org admins). Add a client secret to log in with it."""
    require_org_admin(principal)
    if body.access_token_ttl > body.access_token_max_ttl:
        raise BadRequest("accessTokenTTL cannot exceed accessTokenMaxTTL")
    with runtime.db.write() as session:
        identity = service.create_identity(
            session,
            org_id=principal.org_id,
            name=body.name,
            org_role=body.org_role,
            access_token_ttl=body.access_token_ttl,
            access_token_max_ttl=body.access_token_max_ttl,
        )
        record(
            session,
            event_type="create-identity",
            actor=principal,
            project_id=None,
            metadata={"identityId": identity.id, "name": identity.name},
            context=context,
        )
        return IdentityOne(identity=IdentityPublic.model_validate(identity))


def _org_identity(runtime: RuntimeDep, principal: PrincipalDep, identity_id: str) -> None:
    with runtime.db.read() as session:
        identity = session.get(MachineIdentity, identity_id)
        if identity is None or identity.org_id != principal.org_id:
            raise IdentityNotFound("Machine identity not found")


@router.post(
    "/identities/{identity_id}/universal-auth/client-secrets", response_model=ClientSecretCreated
)
def create_client_secret(
    identity_id: str,
    body: ClientSecretCreate,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> ClientSecretCreated:
    """A new client secret, shown once in this response."""
    require_org_admin(principal)
    _org_identity(runtime, principal, identity_id)
    with runtime.db.write() as session:
        created = service.create_client_secret(
            session, identity_id=identity_id, description=body.description
        )
        record(
            session,
            event_type="create-identity-universal-auth-client-secret",
            actor=principal,
            project_id=None,
            metadata={"identityId": identity_id, "clientSecretId": created.row.id},
            context=context,
        )
        return ClientSecretCreated(
            client_secret=created.secret, client_secret_data=_secret_public(created.row)
        )


@router.get(
    "/identities/{identity_id}/universal-auth/client-secrets", response_model=ClientSecretList
)
def list_client_secrets(
    identity_id: str, runtime: RuntimeDep, principal: PrincipalDep
) -> ClientSecretList:
    """Client secrets of an identity (never the secrets themselves)."""
    require_org_admin(principal)
    _org_identity(runtime, principal, identity_id)
    with runtime.db.read() as session:
        rows = session.scalars(
            select(ClientSecret)
            .where(ClientSecret.identity_id == identity_id)
            .order_by(ClientSecret.created_at)
        )
        return ClientSecretList(client_secret_data=[_secret_public(r) for r in rows])


@router.post(
    "/identities/{identity_id}/universal-auth/client-secrets/{secret_id}/revoke",
    response_model=ClientSecretPublic,
)
def revoke_client_secret(
    identity_id: str,
    secret_id: str,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> ClientSecretPublic:
    """Revoke a client secret; every token issued with it stops working."""
    require_org_admin(principal)
    _org_identity(runtime, principal, identity_id)
    with runtime.db.write() as session:
        row = service.revoke_client_secret(session, identity_id=identity_id, secret_id=secret_id)
        record(
            session,
            event_type="revoke-identity-universal-auth-client-secret",
            actor=principal,
            project_id=None,
            metadata={"identityId": identity_id, "clientSecretId": secret_id},
            context=context,
        )
        return _secret_public(row)


@router.get("/projects/{project_id}/memberships", response_model=MembershipList)
def list_memberships(
    project_id: str, runtime: RuntimeDep, principal: PrincipalDep
) -> MembershipList:
    """Who has which role in the project (project admins)."""
    with runtime.db.read() as session:
        get_project(session, org_id=principal.org_id, project_id=project_id)
    require_project_action(
        runtime, principal, project_id, Subject.PROJECT_ADMIN, "manage-memberships"
    )
    with runtime.db.read() as session:
        rows = session.scalars(
            select(ProjectMembership).where(ProjectMembership.project_id == project_id)
        )
        return MembershipList(memberships=[MembershipPublic.model_validate(m) for m in rows])


@router.put("/projects/{project_id}/memberships", response_model=MembershipOne)
def set_membership(
    project_id: str,
    body: MembershipSet,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> MembershipOne:
    """Give a user or a machine identity a role in the project (project admins)."""
    if (body.user_id is None) == (body.identity_id is None):
        raise BadRequest("Give exactly one of userId and identityId")
    with runtime.db.read() as session:
        get_project(session, org_id=principal.org_id, project_id=project_id)
        members = [
            session.get(User, body.user_id) if body.user_id else None,
            session.get(MachineIdentity, body.identity_id) if body.identity_id else None,
        ]
        if not any(m is not None and m.org_id == principal.org_id for m in members):
            raise IdentityNotFound("User or identity not found")
    require_project_action(
        runtime, principal, project_id, Subject.PROJECT_ADMIN, "manage-memberships"
    )
    with runtime.db.write() as session:
        row = service.set_membership(
            session,
            project_id=project_id,
            role=body.role,
            user_id=body.user_id,
            identity_id=body.identity_id,
        )
        record(
            session,
            event_type="set-project-membership",
            actor=principal,
            project_id=project_id,
            metadata={"userId": body.user_id, "identityId": body.identity_id, "role": body.role},
            context=context,
        )
        return MembershipOne(membership=MembershipPublic.model_validate(row))
