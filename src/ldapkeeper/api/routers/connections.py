"""LDAP App Connections under ``/api/v1/app-connections`` (Infisical's routes, SPEC section 3).

Handlers take the caller as one dependency (`CallerDep`: no threadpool hand-off when the
token was seen lately) and answer with `model_response` (their model is the route's
response schema, so FastAPI need not validate it again in another hand-off): one hand-off
per request, the handler's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from ldapkeeper.api.deps import CallerDep, PrincipalDep
from ldapkeeper.api.responses import model_response
from ldapkeeper.connections import service
from ldapkeeper.connections.schemas import (
    APP,
    OPTIONS,
    AppConnectionList,
    AppConnectionOne,
    AppConnectionOptions,
    AppConnectionPublic,
    AvailableConnection,
    AvailableConnectionList,
    CheckError,
    CheckResult,
    LdapConnectionCreate,
    LdapConnectionUpdate,
)
from ldapkeeper.runtime import Runtime

router = APIRouter(prefix="/api/v1/app-connections", tags=["app-connections"])

ProjectIdQuery = Annotated[
    str | None,
    Query(
        alias="projectId",
        max_length=64,
        description="The project; absent for org-level connections",
    ),
]
ConnectionId = Annotated[str, Path(max_length=64, description="The connection's id")]


def _services(runtime: Runtime) -> service.Services:
    return service.Services(db=runtime.db, keyring=runtime.keyring, directory=runtime.directory)


@router.get("/options", response_model=AppConnectionOptions)
def list_options(principal: PrincipalDep) -> Response:
    """The kinds of app connection this server offers (LDAP, simple bind)."""
    del principal  # authenticated, nothing else to check
    return model_response(OPTIONS)


@router.get("", response_model=AppConnectionList)
def list_all(
    caller: CallerDep,
    project_id: ProjectIdQuery = None,
) -> Response:
    """Connections of every app in the project (or the org-level ones), sorted by name.

    LDAP is the only app, so this is the LDAP list.
    """
    return list_ldap(caller, project_id)


@router.get("/ldap", response_model=AppConnectionList)
def list_ldap(
    caller: CallerDep,
    project_id: ProjectIdQuery = None,
) -> Response:
    """LDAP connections in the project (or the org-level ones), sorted by name."""
    rows = service.list_connections(
        caller.runtime.db, principal=caller.principal, context=caller.context, project_id=project_id
    )
    return model_response(
        AppConnectionList(app_connections=[AppConnectionPublic.from_row(r) for r in rows])
    )


@router.get("/ldap/available", response_model=AvailableConnectionList)
def list_available(
    caller: CallerDep,
    project_id: ProjectIdQuery = None,
) -> Response:
    """LDAP connections the caller may use in a rotation of the project."""
    rows = service.available_connections(
        caller.runtime.db, principal=caller.principal, context=caller.context, project_id=project_id
    )
    return model_response(
        AvailableConnectionList(
            app_connections=[
                AvailableConnection(
                    app=APP, name=r.name, id=r.id, project_id=r.project_id, org_id=r.org_id
                )
                for r in rows
            ]
        )
    )


@router.get("/ldap/connection-name/{name}", response_model=AppConnectionOne)
def get_by_name(
    name: str,
    caller: CallerDep,
    project_id: ProjectIdQuery = None,
) -> Response:
    """One LDAP connection by name in the project (or among the org-level ones)."""
    row = service.get_connection_by_name(
        caller.runtime.db,
        principal=caller.principal,
        context=caller.context,
        name=name,
        project_id=project_id,
    )
    return model_response(AppConnectionOne(app_connection=AppConnectionPublic.from_row(row)))


@router.get("/ldap/{connection_id}", response_model=AppConnectionOne)
def get_one(connection_id: ConnectionId, caller: CallerDep) -> Response:
    """One LDAP connection by id (never its password)."""
    row = service.get_connection(
        caller.runtime.db,
        principal=caller.principal,
        context=caller.context,
        connection_id=connection_id,
    )
    return model_response(AppConnectionOne(app_connection=AppConnectionPublic.from_row(row)))


@router.post("/ldap", response_model=AppConnectionOne)
def create(body: LdapConnectionCreate, caller: CallerDep) -> Response:
    """Bind with the credentials, then store the connection (nothing is stored on failure)."""
    row = service.create_connection(
        _services(caller.runtime), principal=caller.principal, context=caller.context, body=body
    )
    return model_response(AppConnectionOne(app_connection=AppConnectionPublic.from_row(row)))


@router.patch("/ldap/{connection_id}", response_model=AppConnectionOne)
def update(
    connection_id: ConnectionId,
    body: LdapConnectionUpdate,
    caller: CallerDep,
) -> Response:
    """Change the name, description or the whole credentials (re-bound first)."""
    row = service.update_connection(
        _services(caller.runtime),
        principal=caller.principal,
        context=caller.context,
        connection_id=connection_id,
        body=body,
    )
    return model_response(AppConnectionOne(app_connection=AppConnectionPublic.from_row(row)))


@router.delete("/ldap/{connection_id}", response_model=AppConnectionOne)
def delete(connection_id: ConnectionId, caller: CallerDep) -> Response:
    """Delete a connection; answers with the deleted one."""
    row = service.delete_connection(
        caller.runtime.db,
        principal=caller.principal,
        context=caller.context,
        connection_id=connection_id,
    )
    return model_response(AppConnectionOne(app_connection=AppConnectionPublic.from_row(row)))


@router.post(
    "/ldap/{connection_id}/check", response_model=CheckResult, response_model_exclude_none=True
)
def check(connection_id: ConnectionId, caller: CallerDep) -> Response:
    """Bind with the stored credentials: ``ok``, or ``error`` with a code and a message."""
    outcome = service.check_connection(
        _services(caller.runtime),
        principal=caller.principal,
        context=caller.context,
        connection_id=connection_id,
    )
    error = (
        CheckError(code=outcome.error.code, message=outcome.error.message)
        if outcome.error
        else None
    )
    result = CheckResult(
        status="ok" if outcome.ok else "error", latency_ms=outcome.latency_ms, error=error
    )
    return model_response(result, exclude_none=True)
