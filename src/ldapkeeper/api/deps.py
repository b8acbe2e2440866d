"""Typed dependencies shared by the routers: the runtime, the caller, the request context.

The ones that do no I/O are ``async``: FastAPI runs a sync dependency in its threadpool,
one hand-off per dependency and request. The caller comes from ``identity.access_cache``
without I/O when its token was seen in the last seconds; only a miss goes to the threadpool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from ldapkeeper.audit.queue import AuditQueue, audit_queue
from ldapkeeper.audit.service import RequestContext
from ldapkeeper.errors import PermissionDenied
from ldapkeeper.identity.access_cache import access_cache
from ldapkeeper.identity.authorization import allowed
from ldapkeeper.identity.errors import InvalidToken
from ldapkeeper.identity.permissions import ProjectRole, Subject
from ldapkeeper.identity.principal import Principal
from ldapkeeper.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="Access token from a login route")


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _token(credentials: HTTPAuthorizationCredentials | None, request: Request) -> str:
    token = credentials.credentials if credentials else request.cookies.get("ldapkeeper_session")
    if not token:
        raise InvalidToken("Missing bearer token")
    return token


def get_principal(
    runtime: Runtime, credentials: HTTPAuthorizationCredentials | None, request: Request
) -> Principal:
    """The caller proven by the bearer token (or the UI's session cookie); 401 otherwise.

    May query the database: for sync callers (the web UI's pages).
    """
    return access_cache(runtime.db).principal(_token(credentials, request), runtime.tokens.verify)


BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def _principal(runtime: Runtime, credentials: BearerDep, request: Request) -> Principal:
    token = _token(credentials, request)
    cache = access_cache(runtime.db)
    principal = cache.cached_principal(token)
    if principal is None:
        principal = await run_in_threadpool(cache.principal, token, runtime.tokens.verify)
    return principal


async def current_principal(
    runtime: RuntimeDep, credentials: BearerDep, request: Request
) -> Principal:
    """``get_principal`` as a dependency: no threadpool hand-off when the token is cached."""
    return await _principal(runtime, credentials, request)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def _context(request: Request) -> RequestContext:
    client = request.client
    return RequestContext(
        ip=client.host if client else None, user_agent=request.headers.get("user-agent")
    )


async def get_context(request: Request) -> RequestContext:
    return _context(request)


ContextDep = Annotated[RequestContext, Depends(get_context)]


@dataclass(frozen=True)
class Caller:
    """Runtime, principal and request context in one dependency, for the hot read routes:
    FastAPI's cost grows with the number of dependencies a route has."""

    runtime: Runtime
    principal: Principal
    context: RequestContext

    @property
    def audit(self) -> AuditQueue:
        """Where reads put their audit events (written in batches; see ``audit.queue``)."""
        return audit_queue(self.runtime.db)


async def current_caller(request: Request, credentials: BearerDep) -> Caller:
    runtime: Runtime = request.app.state.runtime
    principal = await _principal(runtime, credentials, request)
    return Caller(runtime, principal, _context(request))


CallerDep = Annotated[Caller, Depends(current_caller)]


async def caller_of(request: Request) -> Caller:
    """``current_caller`` for a route that declares no dependency at all (FastAPI's
    dependency solving costs the hottest read a tenth of its CPU): the bearer token read by
    the same ``HTTPBearer``. Document it with ``query_openapi(..., auth=BearerDep)``."""
    return await current_caller(request, await _bearer(request))


def require_project_action(
    runtime: Runtime, principal: Principal, project_id: str, subject: Subject, action: str
) -> ProjectRole:
    """The caller's role in the project when it allows ``action``; PermissionDenied otherwise.

    The role comes from ``identity.access_cache`` (looked up when not cached).
    """
    return allowed(access_cache(runtime.db).role(principal, project_id), subject, action)


def require_org_admin(principal: Principal) -> None:
    if not principal.is_org_admin:
        raise PermissionDenied("Only organization admins may do this")
