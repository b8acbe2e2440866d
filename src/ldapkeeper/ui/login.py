"""Logging in and out, the landing redirect, the project picker, and the static files."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse

from ldapkeeper.api.deps import RuntimeDep
from ldapkeeper.errors import TooManyRequests, Unauthorized
from ldapkeeper.identity.logins import login_user
from ldapkeeper.identity.principal import Principal
from ldapkeeper.identity.schemas import UserLogin
from ldapkeeper.runtime import Runtime
from ldapkeeper.ui import session
from ldapkeeper.ui.context import PrincipalDep, landing_project, load_project_page, ui_principal
from ldapkeeper.ui.forms import FormDep, FormErrors, body_from, validate
from ldapkeeper.ui.rendering import LOGIN_PATH, UiRoute, redirect, render, status_of

router = APIRouter(route_class=UiRoute, include_in_schema=False)

STATIC_DIR = Path(__file__).parent / "static"
#: Every file under static/, by URL path: nothing else is ever served from disk.
STATIC_FILES = {
    path.relative_to(STATIC_DIR).as_posix(): path
    for path in sorted(STATIC_DIR.rglob("*"))
    if path.is_file()
}
#: The project sections the picker can keep when switching project.
SECTIONS = {
    "app-connections": "/integrations/app-connections",
    "secret-rotations": "/secret-rotations",
    "secrets": "/secrets",
}
LOGIN_FIELDS = ("email", "password")


def _current_principal(runtime: Runtime, request: Request) -> Principal | None:
    try:
        return ui_principal(runtime, request)
    except Unauthorized:
        return None


def _landing_url(runtime: Runtime, principal: Principal) -> str:
    project = landing_project(runtime, principal)
    if project is None:
        return "/no-projects"
    return f"/projects/{project.id}{SECTIONS['app-connections']}"


@router.get("/")
def home(runtime: RuntimeDep, request: Request) -> Response:
    """The landing page: the default project's App Connections, or the login page."""
    principal = _current_principal(runtime, request)
    if principal is None:
        return redirect(request, LOGIN_PATH)
    return redirect(request, _landing_url(runtime, principal))


def _login_page(
    request: Request,
    *,
    email: str = "",
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    """The login form; its CSRF token is tied to the pre-login cookie (set here if new)."""
    value, is_new = session.presession(request)
    page = render(
        request,
        "login.html",
        {"email": email, "errors": errors or FormErrors()},
        status=status,
        binding=None if session.session_token(request) else value,
        fragment=False,
    )
    if is_new:
        session.keep_presession(page, request, value)
    return page


@router.get(LOGIN_PATH)
def login_form(runtime: RuntimeDep, request: Request) -> Response:
    """Email and password."""
    if _current_principal(runtime, request) is not None:
        return redirect(request, "/")
    return _login_page(request)


@router.post(LOGIN_PATH)
def login(runtime: RuntimeDep, request: Request, form: FormDep) -> Response:
    """Check the credentials (throttled, as the API's login), then start the session."""
    email = form.get("email")
    checked = validate(UserLogin, body_from(form, text=LOGIN_FIELDS), LOGIN_FIELDS)
    if isinstance(checked, FormErrors):
        return _login_page(request, email=email, errors=checked, status=422)
    settings = runtime.settings
    try:
        issued = login_user(
            db=runtime.db,
            tokens=runtime.tokens,
            policy=runtime.login_policy,
            email=checked.email,
            password=checked.password,
            ttl_seconds=settings.access_token_ttl_seconds,
            max_ttl_seconds=settings.access_token_max_ttl_seconds,
        )
    except (Unauthorized, TooManyRequests) as exc:
        errors = FormErrors()
        errors.add("", exc.message)
        page = _login_page(request, email=email, errors=errors, status=status_of(exc))
        if isinstance(exc, TooManyRequests):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    response = redirect(request, "/")
    session.start_session(response, request, token=issued.access_token, max_age=issued.expires_in)
    return response


@router.post("/logout")
def logout(request: Request, form: FormDep) -> Response:
    """End the session (the cookie is cleared; CSRF-checked like every form)."""
    del form
    response = redirect(request, LOGIN_PATH)
    session.end_session(response, request)
    return response


@router.get("/no-projects")
def no_projects(principal: PrincipalDep, request: Request) -> Response:
    """A user with no project yet."""
    return render(request, "no_projects.html", {"principal": principal})


@router.get("/projects/switch")
def switch_project(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    request: Request,
    project: Annotated[str, Query(max_length=64)],
    section: Annotated[str, Query(max_length=32)] = "app-connections",
) -> Response:
    """The project picker: the same section in another project the caller may see."""
    page = load_project_page(runtime, principal, project)
    return redirect(request, page.url(SECTIONS.get(section, SECTIONS["app-connections"])))


@router.get("/projects/{project_id}")
def project_home(
    runtime: RuntimeDep, principal: PrincipalDep, request: Request, project_id: str
) -> Response:
    """A project opens on Integrations → App Connections."""
    page = load_project_page(runtime, principal, project_id)
    return redirect(request, page.url(SECTIONS["app-connections"]))


@router.get("/static/{name:path}")
def static_file(name: str) -> Response:
    """A file shipped in ``ui/static`` (htmx, the stylesheet, the page script)."""
    path = STATIC_FILES.get(name)
    if path is None:
        return Response("Not found", status_code=404, media_type="text/plain")
    media_type = mimetypes.guess_type(path.name)[0] or "text/plain"
    if media_type == "application/javascript":
        media_type = "text/javascript"
    return FileResponse(
        path, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"}
    )
