"""Templates, security headers and the HTML form of errors for every UI route.

``UiRoute`` is the route class of the UI router: it turns domain errors into pages (a
missing or expired session into the login page), and puts the Content-Security-Policy on
every UI response. The API's JSON error handler never sees a UI route's error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined

from ldapkeeper.api.errors import request_id, validation_issues
from ldapkeeper.errors import (
    BadRequest,
    DomainError,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    Unauthorized,
)
from ldapkeeper.ui import csrf

log = logging.getLogger("ldapkeeper.ui")

HTMX_VERSION = "2.0.11"
#: No inline script or style anywhere: scripts and styles come from /static only.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
LOGIN_PATH = "/login"


def _utc(value: datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


templates = Environment(
    loader=PackageLoader("ldapkeeper.ui", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["utc"] = _utc
templates.globals["htmx_version"] = HTMX_VERSION


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (then a fragment answers, not a whole page)."""
    return request.headers.get("HX-Request") == "true"


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    binding: str | None = None,
    fragment: bool | None = None,
) -> HTMLResponse:
    """Render ``template`` with the request's CSRF token; ``fragment`` defaults to htmx-ness.

    ``binding`` overrides what the CSRF token is tied to (a cookie set by this response).
    """
    tied_to = binding or csrf.binding_of(request)
    values: dict[str, Any] = {
        "request": request,
        "csrf_field": csrf.CSRF_FIELD,
        "csrf_token": csrf.token_for(tied_to) if tied_to else "",
        "fragment": is_htmx(request) if fragment is None else fragment,
        "page": None,
        "notice": None,
    }
    values.update(context or {})
    body = templates.get_template(template).render(values)
    return HTMLResponse(body, status_code=status)


def redirect(request: Request, url: str) -> Response:
    """See Other to ``url``; for htmx an ``HX-Redirect`` so the whole page changes."""
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def status_of(exc: DomainError) -> int:
    """The HTTP status of a domain error (the same kinds the API maps)."""
    for kind, status in (
        (Unauthorized, 401),
        (PermissionDenied, 403),
        (NotFound, 404),
        (TooManyRequests, 429),
        (BadRequest, 400),
    ):
        if isinstance(exc, kind):
            return status
    return 400


_TITLES = {
    400: "Request refused",
    403: "Permission denied",
    404: "Not found",
    422: "Invalid request",
    429: "Too many requests",
    500: "Something went wrong",
}


def error_page(request: Request, status: int, messages: list[str]) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"status": status, "title": _TITLES.get(status, "Error"), "messages": messages},
        status=status,
    )


def _handle(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Unauthorized):
        return redirect(request, LOGIN_PATH)
    if isinstance(exc, DomainError):
        return error_page(request, status_of(exc), [exc.message])
    if isinstance(exc, RequestValidationError):
        issues = validation_issues(list(exc.errors()))
        return error_page(request, 422, [f"{i['path']}: {i['message']}" for i in issues])
    # The type only: an exception's text could carry a value we cannot vouch for.
    log.error(
        "unhandled UI error",
        extra={"error_type": type(exc).__name__, "reqId": request_id(request)},
    )
    return error_page(request, 500, ["The server could not complete this request."])


class UiRoute(APIRoute):
    """A UI route: errors become pages, and every response gets the UI's CSP."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await inner(request)
            except Exception as exc:  # noqa: BLE001 - every UI error becomes a page
                response = _handle(request, exc)
            response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            return response

        return handler
