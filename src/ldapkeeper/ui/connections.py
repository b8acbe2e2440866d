"""Integrations → App Connections: the seed's four steps, edit, check and delete.

Add Connection → choose LDAP → the Simple Bind form → Connect to Provider. Every action
calls the same ``connections.service`` function as the API, with a body validated by the
API's own request model; the bind password is never written back into a page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from ldapkeeper.api.deps import ContextDep
from ldapkeeper.connections import service
from ldapkeeper.connections.errors import ConnectionNotFound, DuplicateConnectionName
from ldapkeeper.connections.schemas import (
    AppConnectionPublic,
    LdapConnectionCreate,
    LdapConnectionUpdate,
)
from ldapkeeper.errors import BadRequest
from ldapkeeper.identity.authorization import require
from ldapkeeper.identity.permissions import Subject
from ldapkeeper.ui.context import ProjectPage, ProjectPageDep
from ldapkeeper.ui.forms import FormDep, FormErrors, FormFields, body_from, validate
from ldapkeeper.ui.rendering import UiRoute, is_htmx, redirect, render

router = APIRouter(
    prefix="/projects/{project_id}/integrations/app-connections",
    route_class=UiRoute,
    include_in_schema=False,
)

PROVIDERS = (("active-directory", "Active Directory"), ("open-ldap", "OpenLDAP"))
TEXT_FIELDS = (
    "name",
    "description",
    "method",
    "credentials.provider",
    "credentials.url",
    "credentials.dn",
    "credentials.password",
    "credentials.sslCertificate",
)
CHECKBOXES = ("credentials.sslRejectUnauthorized", "credentials.startTls")
LINE_FIELDS = ("credentials.failoverUrls",)
ALL_FIELDS = (*TEXT_FIELDS, *CHECKBOXES, *LINE_FIELDS, "credentials")
NEW_DEFAULTS: dict[str, Any] = {
    "method": "simple-bind",
    "credentials.provider": "active-directory",
    "credentials.sslRejectUnauthorized": True,
    "credentials.startTls": False,
}


def _services(page: ProjectPage) -> service.Services:
    runtime = page.runtime
    return service.Services(db=runtime.db, keyring=runtime.keyring, directory=runtime.directory)


def uses_tls(url: str, start_tls: bool) -> bool:
    """Reject Unauthorized means something only over TLS: ldaps:// or STARTTLS."""
    return url.strip().lower().startswith("ldaps://") or start_tls


def _form_values(form: FormFields) -> dict[str, Any]:
    """What the form shows again after a refusal: every field but the password."""
    values: dict[str, Any] = form.echo()
    start_tls = form.checked("credentials.startTls")
    tls = uses_tls(form.get("credentials.url"), start_tls)
    values["credentials.startTls"] = start_tls
    values["credentials.sslRejectUnauthorized"] = (
        form.checked("credentials.sslRejectUnauthorized") if tls else True
    )
    return values


def _stored_values(connection: AppConnectionPublic) -> dict[str, Any]:
    creds = connection.credentials
    return {
        "name": connection.name,
        "description": connection.description or "",
        "method": connection.method,
        "credentials.provider": creds.provider,
        "credentials.url": creds.url,
        "credentials.dn": creds.dn,
        "credentials.sslCertificate": creds.ssl_certificate or "",
        "credentials.sslRejectUnauthorized": creds.ssl_reject_unauthorized,
        "credentials.startTls": creds.start_tls,
        "credentials.failoverUrls": "\n".join(creds.failover_urls),
    }


def _reject_unauthorized(form: FormFields) -> bool:
    # A disabled checkbox is not submitted: without TLS the API's default (true) stands.
    tls = uses_tls(form.get("credentials.url"), form.checked("credentials.startTls"))
    return form.checked("credentials.sslRejectUnauthorized") if tls else True


def _connections(page: ProjectPage, context: ContextDep) -> list[AppConnectionPublic]:
    rows = service.list_connections(
        page.runtime.db, principal=page.principal, context=context, project_id=page.project.id
    )
    return [AppConnectionPublic.from_row(r) for r in rows]


def _connection(page: ProjectPage, context: ContextDep, connection_id: str) -> AppConnectionPublic:
    """A connection of this project (another project's is "not found", as in the API)."""
    row = service.get_connection(
        page.runtime.db, principal=page.principal, context=context, connection_id=connection_id
    )
    if row.project_id not in (None, page.project.id):
        raise ConnectionNotFound()
    return AppConnectionPublic.from_row(row)


def _require(page: ProjectPage, action: str) -> None:
    with page.runtime.db.read() as session:
        require(session, page.principal, page.project.id, Subject.APP_CONNECTIONS, action)


def _list_page(
    request: Request,
    page: ProjectPage,
    context: ContextDep,
    *,
    created: str | None = None,
    updated: str | None = None,
    deleted: bool = False,
    checks: dict[str, service.CheckOutcome] | None = None,
) -> Response:
    connections = _connections(page, context)
    names = {c.id: c.name for c in connections}
    notice = None
    if created in names:
        notice = f"LDAP connection “{names[created]}” is connected and ready to use."
    elif updated in names:
        notice = f"LDAP connection “{names[updated]}” was updated."
    elif deleted:
        notice = "The connection was deleted."
    return render(
        request,
        "connections/list.html",
        {
            "page": page,
            "section": "app-connections",
            "connections": connections,
            "notice": notice,
            "highlight": created or updated,
            "checks": checks or {},
        },
        fragment=False,
    )


@router.get("")
def list_connections(
    request: Request,
    page: ProjectPageDep,
    context: ContextDep,
    created: Annotated[str | None, Query(max_length=64)] = None,
    updated: Annotated[str | None, Query(max_length=64)] = None,
    deleted: Annotated[bool, Query()] = False,
) -> Response:
    """Step 1: the App Connections tab with its Add Connection button."""
    return _list_page(request, page, context, created=created, updated=updated, deleted=deleted)


@router.get("/new")
def choose_app(request: Request, page: ProjectPageDep) -> Response:
    """Step 2: the apps one can connect (LDAP)."""
    _require(page, service.CREATE)
    return render(
        request, "connections/choose_app.html", {"page": page, "section": "app-connections"}
    )


def _ldap_form(
    request: Request,
    page: ProjectPage,
    *,
    values: dict[str, Any],
    errors: FormErrors | None = None,
    status: int = 200,
    connection: AppConnectionPublic | None = None,
) -> Response:
    return render(
        request,
        "connections/ldap_form.html",
        {
            "page": page,
            "section": "app-connections",
            "values": values,
            "errors": errors or FormErrors(),
            "providers": PROVIDERS,
            "connection": connection,
            "tls": uses_tls(
                str(values.get("credentials.url", "")), bool(values.get("credentials.startTls"))
            ),
        },
        status=status,
    )


@router.get("/new/ldap")
def new_ldap(request: Request, page: ProjectPageDep) -> Response:
    """Step 3: the Simple Bind form, shown as soon as LDAP is chosen."""
    _require(page, service.CREATE)
    return _ldap_form(request, page, values=dict(NEW_DEFAULTS))


def _refused(exc: BadRequest) -> FormErrors:
    errors = FormErrors()
    errors.add("name" if isinstance(exc, DuplicateConnectionName) else "", exc.message)
    return errors


@router.post("/ldap")
def create_ldap(
    request: Request, page: ProjectPageDep, context: ContextDep, form: FormDep
) -> Response:
    """Connect to Provider: bind first; on failure the form comes back with the reason."""
    body = body_from(
        form,
        text=TEXT_FIELDS,
        checkboxes=CHECKBOXES,
        lines=LINE_FIELDS,
        extra={
            "projectId": page.project.id,
            "credentials.sslRejectUnauthorized": _reject_unauthorized(form),
        },
    )
    checked = validate(LdapConnectionCreate, body, ALL_FIELDS)
    if isinstance(checked, FormErrors):
        return _ldap_form(request, page, values=_form_values(form), errors=checked, status=422)
    try:
        row = service.create_connection(
            _services(page), principal=page.principal, context=context, body=checked
        )
    except BadRequest as exc:
        return _ldap_form(
            request, page, values=_form_values(form), errors=_refused(exc), status=400
        )
    return redirect(request, page.url(f"/integrations/app-connections?created={row.id}"))


@router.get("/{connection_id}/edit")
def edit_form(
    request: Request, page: ProjectPageDep, context: ContextDep, connection_id: str
) -> Response:
    """Change name, description or credentials; method and provider stay as they are."""
    _require(page, service.EDIT)
    connection = _connection(page, context, connection_id)
    return _ldap_form(request, page, values=_stored_values(connection), connection=connection)


def _credentials_changed(form: FormFields, stored: AppConnectionPublic) -> bool:
    creds = stored.credentials
    typed_failover = [
        line.strip() for line in form.get("credentials.failoverUrls").splitlines() if line.strip()
    ]
    return (
        form.get("credentials.url").strip() != creds.url
        or form.get("credentials.dn").strip() != creds.dn
        or (form.get("credentials.sslCertificate").strip() or None)
        != ((creds.ssl_certificate or "").strip() or None)
        or form.checked("credentials.startTls") != creds.start_tls
        or _reject_unauthorized(form) != creds.ssl_reject_unauthorized
        or typed_failover != creds.failover_urls
    )


@router.post("/{connection_id}/edit")
def update(
    request: Request,
    page: ProjectPageDep,
    context: ContextDep,
    form: FormDep,
    connection_id: str,
) -> Response:
    """Save: new credentials (which need the password) are re-bound before they are kept."""
    stored = _connection(page, context, connection_id)
    extra: dict[str, Any] = {
        "name": form.get("name"),
        "description": form.get("description") or None,
    }
    if form.get("credentials.password") or _credentials_changed(form, stored):
        extra["credentials.provider"] = stored.credentials.provider
        extra["credentials.sslRejectUnauthorized"] = _reject_unauthorized(form)
        body = body_from(
            form,
            text=[f for f in TEXT_FIELDS if f.startswith("credentials.")],
            checkboxes=CHECKBOXES,
            lines=LINE_FIELDS,
            extra=extra,
        )
    else:
        body = body_from(form, extra=extra)
    values = {**_form_values(form), "method": stored.method}
    values["credentials.provider"] = stored.credentials.provider
    checked = validate(LdapConnectionUpdate, body, ALL_FIELDS)
    if isinstance(checked, FormErrors):
        return _ldap_form(
            request, page, values=values, errors=checked, status=422, connection=stored
        )
    try:
        row = service.update_connection(
            _services(page),
            principal=page.principal,
            context=context,
            connection_id=stored.id,
            body=checked,
        )
    except BadRequest as exc:
        return _ldap_form(
            request, page, values=values, errors=_refused(exc), status=400, connection=stored
        )
    return redirect(request, page.url(f"/integrations/app-connections?updated={row.id}"))


@router.post("/{connection_id}/check")
def check(
    request: Request,
    page: ProjectPageDep,
    context: ContextDep,
    form: FormDep,
    connection_id: str,
) -> Response:
    """Bind with the stored credentials and show the result in the connection's row."""
    del form
    connection = _connection(page, context, connection_id)
    outcome = service.check_connection(
        _services(page), principal=page.principal, context=context, connection_id=connection.id
    )
    if is_htmx(request):
        return render(
            request,
            "connections/check_result.html",
            {"outcome": outcome, "connection": connection},
        )
    return _list_page(request, page, context, checks={connection.id: outcome})


@router.get("/{connection_id}/delete")
def confirm_delete(
    request: Request, page: ProjectPageDep, context: ContextDep, connection_id: str
) -> Response:
    """Delete, step one: are you sure?"""
    _require(page, service.DELETE)
    connection = _connection(page, context, connection_id)
    return render(
        request,
        "connections/confirm_delete.html",
        {"page": page, "section": "app-connections", "connection": connection, "error": None},
    )


@router.post("/{connection_id}/delete")
def delete(
    request: Request,
    page: ProjectPageDep,
    context: ContextDep,
    form: FormDep,
    connection_id: str,
) -> Response:
    """Delete, step two (refused while a rotation uses the connection)."""
    del form
    connection = _connection(page, context, connection_id)
    try:
        service.delete_connection(
            page.runtime.db, principal=page.principal, context=context, connection_id=connection.id
        )
    except BadRequest as exc:
        return render(
            request,
            "connections/confirm_delete.html",
            {
                "page": page,
                "section": "app-connections",
                "connection": connection,
                "error": exc.message,
            },
            status=400,
        )
    return redirect(request, page.url("/integrations/app-connections?deleted=true"))
