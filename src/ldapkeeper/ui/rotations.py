"""Secret Rotations: create an LDAP Password rotation from a connection, the list with
status and schedule, a detail page with history, Rotate now, the generated credentials
(for those allowed), and delete. Every action is a ``RotationService`` call, as in the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from ldapkeeper.api.deps import ContextDep
from ldapkeeper.audit.service import RequestContext
from ldapkeeper.connections.service import available_connections
from ldapkeeper.errors import BadRequest
from ldapkeeper.identity.authorization import require
from ldapkeeper.identity.permissions import Subject
from ldapkeeper.rotations.errors import RotationNotFound
from ldapkeeper.rotations.schemas import (
    GeneratedCredentials,
    PasswordRequirements,
    RotateAtUtc,
    RotationCreate,
    RotationPublic,
    SecretsMapping,
)
from ldapkeeper.ui.context import ProjectPage, ProjectPageDep
from ldapkeeper.ui.forms import FormDep, FormErrors, body_from, validate
from ldapkeeper.ui.rendering import UiRoute, is_htmx, redirect, render

router = APIRouter(
    prefix="/projects/{project_id}/secret-rotations", route_class=UiRoute, include_in_schema=False
)

S = Subject.SECRET_ROTATIONS
METHODS = (
    ("connection-principal", "Connection principal (the connection's account sets it)"),
    ("target-principal", "Target principal (the account changes its own password)"),
)
TEXT_FIELDS = (
    "name",
    "description",
    "connectionId",
    "environment",
    "secretPath",
    "rotationInterval",
    "rotateAtUtc.hours",
    "rotateAtUtc.minutes",
    "parameters.dn",
    "parameters.rotationMethod",
    "parameters.passwordRequirements.length",
    "parameters.passwordRequirements.required.digits",
    "parameters.passwordRequirements.required.lowercase",
    "parameters.passwordRequirements.required.uppercase",
    "parameters.passwordRequirements.required.symbols",
    "parameters.passwordRequirements.allowedSymbols",
    "secretsMapping.dn",
    "secretsMapping.password",
)
TEMPORARY_PASSWORD = "temporaryParameters.password"
CHECKBOXES = ("isAutoRotationEnabled",)
# Groups that a model-level message belongs to (e.g. "the required characters exceed...").
GROUPS = (
    "rotateAtUtc",
    "parameters.passwordRequirements",
    "parameters.passwordRequirements.required",
    "secretsMapping",
    "temporaryParameters",
)
ALL_FIELDS = (*TEXT_FIELDS, TEMPORARY_PASSWORD, *CHECKBOXES, *GROUPS)


def _defaults(page: ProjectPage, connection_id: str | None) -> dict[str, Any]:
    """A new rotation's form: the API's own defaults."""
    rules = PasswordRequirements()
    mapping = SecretsMapping()
    at = RotateAtUtc()
    interval = RotationCreate.model_fields["rotation_interval"].default
    return {
        "connectionId": connection_id or "",
        "environment": page.environments[0].slug if page.environments else "",
        "secretPath": "/",
        "isAutoRotationEnabled": True,
        "rotationInterval": str(interval),
        "rotateAtUtc.hours": str(at.hours),
        "rotateAtUtc.minutes": str(at.minutes),
        "parameters.rotationMethod": "connection-principal",
        "parameters.passwordRequirements.length": str(rules.length),
        "parameters.passwordRequirements.required.digits": str(rules.required.digits),
        "parameters.passwordRequirements.required.lowercase": str(rules.required.lowercase),
        "parameters.passwordRequirements.required.uppercase": str(rules.required.uppercase),
        "parameters.passwordRequirements.required.symbols": str(rules.required.symbols),
        "parameters.passwordRequirements.allowedSymbols": rules.allowed_symbols,
        "secretsMapping.dn": mapping.dn,
        "secretsMapping.password": mapping.password,
    }


def _rotation(page: ProjectPage, rotation_id: str) -> RotationPublic:
    """A rotation of this project (another project's is "not found")."""
    rotation = page.runtime.rotations.get(principal=page.principal, rotation_id=rotation_id)
    if rotation.project_id != page.project.id:
        raise RotationNotFound()
    return rotation


def _form_page(
    request: Request,
    page: ProjectPage,
    context: RequestContext,
    *,
    values: dict[str, Any],
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    connections = available_connections(
        page.runtime.db, principal=page.principal, context=context, project_id=page.project.id
    )
    return render(
        request,
        "rotations/new.html",
        {
            "page": page,
            "section": "secret-rotations",
            "values": values,
            "errors": errors or FormErrors(),
            "connections": connections,
            "methods": METHODS,
        },
        status=status,
        fragment=False,
    )


@router.get("")
def list_rotations(
    request: Request,
    page: ProjectPageDep,
    deleted: Annotated[bool, Query()] = False,
) -> Response:
    """Every rotation of the project with its status, last and next run and last error."""
    rotations = page.runtime.rotations.list_rotations(
        principal=page.principal, project_id=page.project.id
    )
    return render(
        request,
        "rotations/list.html",
        {
            "page": page,
            "section": "secret-rotations",
            "rotations": rotations,
            "notice": "The rotation was deleted." if deleted else None,
        },
        fragment=False,
    )


@router.get("/new")
def new_rotation(
    request: Request,
    page: ProjectPageDep,
    context: ContextDep,
    connection_id: Annotated[str | None, Query(alias="connectionId", max_length=64)] = None,
) -> Response:
    """The LDAP Password rotation form, optionally for one connection."""
    with page.runtime.db.read() as session:
        require(session, page.principal, page.project.id, S, "create")
    return _form_page(request, page, context, values=_defaults(page, connection_id))


@router.post("")
def create_rotation(
    request: Request, page: ProjectPageDep, context: ContextDep, form: FormDep
) -> Response:
    """Create the rotation; it rotates the account's password at once."""
    extra: dict[str, Any] = {"projectId": page.project.id}
    if form.get("parameters.rotationMethod") == "target-principal" and form.get(TEMPORARY_PASSWORD):
        extra[TEMPORARY_PASSWORD] = form.get(TEMPORARY_PASSWORD)
    body = body_from(form, text=TEXT_FIELDS, checkboxes=CHECKBOXES, extra=extra)
    values: dict[str, Any] = {**form.echo(), "isAutoRotationEnabled": form.checked(CHECKBOXES[0])}
    checked = validate(RotationCreate, body, ALL_FIELDS)
    if isinstance(checked, FormErrors):
        return _form_page(request, page, context, values=values, errors=checked, status=422)
    try:
        rotation = page.runtime.rotations.create(
            principal=page.principal, body=checked, context=context
        )
    except BadRequest as exc:
        errors = FormErrors()
        errors.add("", exc.message)
        return _form_page(request, page, context, values=values, errors=errors, status=400)
    return redirect(request, page.url(f"/secret-rotations/{rotation.id}?created=true"))


def _detail(
    request: Request,
    page: ProjectPage,
    rotation: RotationPublic,
    *,
    notice: str | None = None,
    error: str | None = None,
    credentials: GeneratedCredentials | None = None,
    status: int = 200,
) -> Response:
    history = page.runtime.rotations.history(principal=page.principal, rotation_id=rotation.id)
    return render(
        request,
        "rotations/detail.html",
        {
            "page": page,
            "section": "secret-rotations",
            "rotation": rotation,
            "history": history,
            "notice": notice,
            "error": error,
            "credentials": credentials,
        },
        status=status,
        fragment=False,
    )


@router.get("/{rotation_id}")
def rotation_detail(
    request: Request,
    page: ProjectPageDep,
    rotation_id: str,
    created: Annotated[bool, Query()] = False,
    rotated: Annotated[bool, Query()] = False,
) -> Response:
    """One rotation: settings, status, schedule and the history of its attempts."""
    rotation = _rotation(page, rotation_id)
    notice = None
    if created:
        notice = "Rotation created: the password was rotated and the secrets were written."
    elif rotated:
        notice = "The password was rotated."
    return _detail(request, page, rotation, notice=notice)


@router.post("/{rotation_id}/rotate")
def rotate_now(
    request: Request,
    page: ProjectPageDep,
    context: ContextDep,
    form: FormDep,
    rotation_id: str,
) -> Response:
    """Rotate now; a failure shows on the rotation's page."""
    del form
    rotation = _rotation(page, rotation_id)
    try:
        page.runtime.rotations.rotate_now(
            principal=page.principal, rotation_id=rotation.id, context=context
        )
    except BadRequest as exc:
        rotation = _rotation(page, rotation_id)
        return _detail(request, page, rotation, error=exc.message, status=400)
    return redirect(request, page.url(f"/secret-rotations/{rotation.id}?rotated=true"))


@router.post("/{rotation_id}/generated-credentials")
def reveal_credentials(
    request: Request,
    page: ProjectPageDep,
    context: ContextDep,
    form: FormDep,
    rotation_id: str,
) -> Response:
    """The current and previous generated credentials, for those allowed to read them."""
    del form
    rotation = _rotation(page, rotation_id)
    credentials = page.runtime.rotations.generated_credentials(
        principal=page.principal, rotation_id=rotation.id, context=context
    )
    if is_htmx(request):
        return render(request, "rotations/credentials.html", {"credentials": credentials})
    return _detail(request, page, rotation, credentials=credentials)


@router.get("/{rotation_id}/delete")
def confirm_delete(request: Request, page: ProjectPageDep, rotation_id: str) -> Response:
    """Delete, step one: are you sure, and what happens to the secrets and the account?"""
    rotation = _rotation(page, rotation_id)
    with page.runtime.db.read() as session:
        require(session, page.principal, page.project.id, S, "delete")
    return render(
        request,
        "rotations/confirm_delete.html",
        {"page": page, "section": "secret-rotations", "rotation": rotation, "error": None},
        fragment=False,
    )


@router.post("/{rotation_id}/delete")
def delete(
    request: Request,
    page: ProjectPageDep,
    context: ContextDep,
    form: FormDep,
    rotation_id: str,
) -> Response:
    """Delete, step two."""
    rotation = _rotation(page, rotation_id)
    try:
        page.runtime.rotations.delete(
            principal=page.principal,
            rotation_id=rotation.id,
            delete_secrets=form.checked("deleteSecrets"),
            revoke_generated_credentials=form.checked("revokeGeneratedCredentials"),
            context=context,
        )
    except BadRequest as exc:
        return render(
            request,
            "rotations/confirm_delete.html",
            {
                "page": page,
                "section": "secret-rotations",
                "rotation": rotation,
                "error": exc.message,
            },
            status=400,
            fragment=False,
        )
    return redirect(request, page.url("/secret-rotations?deleted=true"))
