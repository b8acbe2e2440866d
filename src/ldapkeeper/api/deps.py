"""Typed dependencies shared by the routers: the runtime, the caller, the request context."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ldapkeeper.audit.service import RequestContext
from ldapkeeper.errors import PermissionDenied
from ldapkeeper.identity.authorization import require
from ldapkeeper.identity.errors import InvalidToken
from ldapkeeper.identity.permissions import ProjectRole, Subject
from ldapkeeper.identity.principal import Principal
from ldapkeeper.identity.service import principal_from_claims
from ldapkeeper.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="Access token from a login route")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_principal(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    request: Request,
) -> Principal:
    """The caller proven by the bearer token (or the UI's session cookie); 401 otherwise."""
    token = credentials.credentials if credentials else request.cookies.get("ldapkeeper_session")
    if not token:
        raise InvalidToken("Missing bearer token")
    claims = runtime.tokens.verify(token)
    with runtime.db.read() as session:
        return principal_from_claims(session, claims)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_context(request: Request) -> RequestContext:
    client = request.client
    return RequestContext(
        ip=client.host if client else None, user_agent=request.headers.get("user-agent")
    )


ContextDep = Annotated[RequestContext, Depends(get_context)]


def require_project_action(
    runtime: Runtime, principal: Principal, project_id: str, subject: Subject, action: str
) -> ProjectRole:
    """The caller's role in the project when it allows ``action``; PermissionDenied otherwise."""
    with runtime.db.read() as session:
        return require(session, principal, project_id, subject, action)


def require_org_admin(principal: Principal) -> None:
    if not principal.is_org_admin:
        raise PermissionDenied("Only organization admins may do this")
