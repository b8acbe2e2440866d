"""Infisical's v3 raw secrets routes, as the ``infisicalsdk`` client calls them (SPEC 5).

Reads are the hot path: the dependencies are async and the caller, project and role come
from ``identity.access_cache``; one statement reads environment, folder and secret, on the
event loop (SQLite, and PostgreSQL through ``db.async_reads`` when nothing else needs
reading) or on a read thread (``api.offload``); the audit event is queued (``audit.queue``:
written in batches within half a second) instead of a durable write.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy.orm import Session

from ldapkeeper.api.deps import (
    BearerDep,
    Caller,
    CallerDep,
    ContextDep,
    PrincipalDep,
    RuntimeDep,
    caller_of,
)
from ldapkeeper.api.offload import run_read
from ldapkeeper.api.query import query_model, query_openapi
from ldapkeeper.api.responses import model_response
from ldapkeeper.audit.service import Event, record
from ldapkeeper.db.async_reads import async_reads
from ldapkeeper.identity.access_cache import access_cache
from ldapkeeper.identity.authorization import allowed
from ldapkeeper.identity.permissions import ProjectRole, Subject, is_allowed
from ldapkeeper.identity.principal import Principal
from ldapkeeper.runtime import Runtime
from ldapkeeper.secrets import service
from ldapkeeper.secrets.errors import (
    InvalidSecretPath,
    SecretTagsUnsupported,
    UnsupportedSecretType,
)
from ldapkeeper.secrets.schemas import (
    SECRET_NAME_PATTERN,
    ProjectRef,
    SecretCreate,
    SecretDelete,
    SecretGetQuery,
    SecretList,
    SecretListQuery,
    SecretOne,
    SecretPublic,
    SecretType,
    SecretUpdate,
)
from ldapkeeper.secrets.service import SecretView

router = APIRouter(prefix="/api/v3/secrets", tags=["secrets"])

SecretNameParam = Annotated[
    str,
    Path(pattern=SECRET_NAME_PATTERN, description="The secret's key (no whitespace, '/', ':')"),
]


def _authorize(
    runtime: Runtime, principal: Principal, ref: ProjectRef, action: str
) -> tuple[str, bool]:
    """The project's id once ``action`` is allowed there, and whether values may be read.

    Project and role come from ``identity.access_cache`` (looked up when not cached).
    """

    def resolve(session: Session) -> str:
        return service.resolve_project(
            session, org_id=principal.org_id, project_id=ref.ref_id, project_slug=ref.ref_slug
        ).id

    project_id = access_cache(runtime.db).project_id(
        principal.org_id, ref.ref_id, ref.ref_slug, resolve
    )
    return project_id, _may_read(access_cache(runtime.db).role(principal, project_id), action)


def _may_read(role: ProjectRole, action: str) -> bool:
    """PermissionDenied unless ``role`` allows ``action`` on secrets; whether it may also
    read their values."""
    allowed(role, Subject.SECRETS, action)
    return is_allowed(role, Subject.SECRETS, "read-value")


def _shared_only(secret_type: SecretType) -> None:
    if secret_type != "shared":
        raise UnsupportedSecretType()


def _event(view: SecretView) -> dict[str, object]:
    """Audit metadata of one secret: where it is and which version; never its value."""
    return {
        "environment": view.environment,
        "secretPath": view.secret_path,
        "secretKey": view.key,
        "secretId": view.id,
        "version": view.version,
    }


@router.get("/raw", response_model=SecretList, openapi_extra=query_openapi(SecretListQuery))
def list_secrets(
    caller: CallerDep,
    query: Annotated[SecretListQuery, Depends(query_model(SecretListQuery))],
) -> Response:
    """The secrets of a folder (``recursive``: and below). Values need ``read-value`` and
    ``viewSecretValue``; otherwise they are masked and ``secretValueHidden`` is true."""
    runtime, principal = caller.runtime, caller.principal
    project_id, may_read = _authorize(runtime, principal, query, "describe")
    with runtime.db.read() as session:
        # No secret carries a tag, so a tag filter matches none.
        views = (
            []
            if query.tag_slugs
            else service.list_secrets(
                session,
                runtime.keyring,
                project_id=project_id,
                environment=query.environment,
                secret_path=query.secret_path,
                recursive=query.recursive,
                reveal=may_read and query.view_secret_value,
                expand=query.expand_secret_references,
            )
        )
    caller.audit.add(
        Event(
            "get-secrets",
            principal,
            project_id,
            {
                "environment": query.environment,
                "secretPath": query.secret_path,
                "recursive": query.recursive,
                "count": len(views),
            },
            caller.context,
        )
    )
    return model_response(
        SecretList(secrets=[SecretPublic.from_view(view) for view in views], imports=[])
    )


_GET_PATH = {"secret_name": SecretNameParam}
_get_query = query_model(SecretGetQuery, path=_GET_PATH)


@router.get(
    "/raw/{secret_name}",
    response_model=SecretOne,
    openapi_extra=query_openapi(SecretGetQuery, path=_GET_PATH, auth=BearerDep),
)
async def get_secret(request: Request) -> Response:
    """One secret (or, with ``version``, one of its versions)."""
    # The hottest route declares no parameter: see ``api.query``.
    caller = await caller_of(request)
    query = await _get_query(request)
    secret_name: str = request.path_params["secret_name"]
    _shared_only(query.type)
    db = caller.runtime.db
    if not db.is_sqlite:
        answer = await _read_current_on_loop(caller, secret_name, query)
        if answer is not None:
            return answer
    return await run_read(db, _read_one, caller, secret_name, query)


async def _read_current_on_loop(
    caller: Caller, secret_name: str, query: SecretGetQuery
) -> Response | None:
    """PostgreSQL: the current value read on the event loop (``db.async_reads``) when the
    project, the caller's role and the data key are cached and the value has no
    references to expand; None (nothing done) when the read needs more than that one
    statement."""
    runtime, principal = caller.runtime, caller.principal
    cache = access_cache(runtime.db)
    project_id = cache.cached_project_id(principal.org_id, query.ref_id, query.ref_slug)
    role = None if project_id is None else cache.cached_role(principal, project_id)
    if project_id is None or role is None or query.version is not None:
        return None
    may_read = _may_read(role, "describe")
    try:
        params = service.secret_read_params(
            project_id=project_id,
            environment=query.environment,
            secret_path=query.secret_path,
            key=secret_name,
        )
    except InvalidSecretPath:
        return None  # the read in full tells which error it is
    row = await async_reads(runtime.db).first(service.READ_SECRET_PREPARED, params)
    view = service.cached_secret_view(
        runtime.keyring,
        row,
        environment=query.environment,
        path=params["path"],
        key=secret_name,
        reveal=may_read and query.view_secret_value,
        expand=query.expand_secret_references,
    )
    if view is None:
        return None
    return _answer_one(caller, project_id, view)


def _read_one(caller: Caller, secret_name: str, query: SecretGetQuery) -> Response:
    runtime, principal = caller.runtime, caller.principal
    project_id, may_read = _authorize(runtime, principal, query, "describe")
    # The database itself: the current value is one prepared statement, no Session.
    view = service.get_secret(
        runtime.db,
        runtime.keyring,
        project_id=project_id,
        environment=query.environment,
        secret_path=query.secret_path,
        key=secret_name,
        version=query.version,
        reveal=may_read and query.view_secret_value,
        expand=query.expand_secret_references,
    )
    return _answer_one(caller, project_id, view)


def _answer_one(caller: Caller, project_id: str, view: SecretView) -> Response:
    """The read's audit event (queued) and its answer."""
    caller.audit.add(
        Event("get-secret", caller.principal, project_id, _event(view), caller.context)
    )
    return model_response(SecretOne(secret=SecretPublic.from_view(view)))


@router.post("/raw/{secret_name}", response_model=SecretOne)
def create_secret(
    secret_name: SecretNameParam,
    body: SecretCreate,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> SecretOne:
    """Create a secret; its folder path is made on demand. 400 if the name is taken."""
    _shared_only(body.type)
    if body.tag_ids:
        raise SecretTagsUnsupported()
    project_id, may_read = _authorize(runtime, principal, body, "create")
    with runtime.db.write() as session:
        view = service.create_secret(
            session,
            runtime.keyring,
            project_id=project_id,
            environment=body.environment,
            secret_path=body.secret_path,
            key=secret_name,
            value=body.secret_value,
            comment=body.secret_comment,
            skip_multiline_encoding=body.skip_multiline_encoding,
            reveal=may_read,
        )
        record(
            session,
            event_type="create-secret",
            actor=principal,
            project_id=project_id,
            metadata=_event(view),
            context=context,
        )
    return SecretOne(secret=SecretPublic.from_view(view))


@router.patch("/raw/{secret_name}", response_model=SecretOne)
def update_secret(
    secret_name: SecretNameParam,
    body: SecretUpdate,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> SecretOne:
    """Change a secret's value, comment or name: a new version. Rotation-managed: 400."""
    _shared_only(body.type)
    if body.tag_ids:
        raise SecretTagsUnsupported()
    project_id, may_read = _authorize(runtime, principal, body, "edit")
    with runtime.db.write() as session:
        view = service.update_secret(
            session,
            runtime.keyring,
            project_id=project_id,
            environment=body.environment,
            secret_path=body.secret_path,
            key=secret_name,
            new_key=body.new_secret_name,
            value=body.secret_value,
            comment=body.secret_comment,
            skip_multiline_encoding=body.skip_multiline_encoding,
            reveal=may_read,
        )
        metadata = _event(view)
        if view.key != secret_name:
            metadata["renamedFrom"] = secret_name
        record(
            session,
            event_type="update-secret",
            actor=principal,
            project_id=project_id,
            metadata=metadata,
            context=context,
        )
    return SecretOne(secret=SecretPublic.from_view(view))


@router.delete("/raw/{secret_name}", response_model=SecretOne)
def delete_secret(
    secret_name: SecretNameParam,
    body: SecretDelete,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> SecretOne:
    """Delete a secret with its versions; answers the deleted secret. Rotation-managed: 400."""
    _shared_only(body.type)
    project_id, may_read = _authorize(runtime, principal, body, "delete")
    with runtime.db.write() as session:
        view = service.delete_secret(
            session,
            runtime.keyring,
            project_id=project_id,
            environment=body.environment,
            secret_path=body.secret_path,
            key=secret_name,
            reveal=may_read,
        )
        record(
            session,
            event_type="delete-secret",
            actor=principal,
            project_id=project_id,
            metadata=_event(view),
            context=context,
        )
    return SecretOne(secret=SecretPublic.from_view(view))
