"""The one place where errors become HTTP responses, in Infisical's error envelope."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ldapkeeper.errors import (
    BadRequest,
    DomainError,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    Unauthorized,
)

log = logging.getLogger("ldapkeeper.api")

_KINDS: list[tuple[type[DomainError], int, str]] = [
    (BadRequest, 400, "BadRequest"),
    (Unauthorized, 401, "UnauthorizedError"),
    (PermissionDenied, 403, "PermissionDenied"),
    (NotFound, 404, "NotFound"),
    (TooManyRequests, 429, "TooManyRequests"),
]
_STATUS_NAMES = {
    400: "BadRequest",
    401: "UnauthorizedError",
    403: "PermissionDenied",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    422: "ValidationFailure",
    429: "TooManyRequests",
    500: "InternalServerError",
}


class ValidationIssue(BaseModel):
    path: str
    message: str


class ErrorDetails(BaseModel):
    code: str


class ErrorResponse(BaseModel):
    """Every error body (SPEC section 1)."""

    reqId: str
    statusCode: int
    message: str | list[ValidationIssue]
    error: str
    details: ErrorDetails | None = None


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def error_json(
    request_id: str,
    status: int,
    message: str | list[dict[str, str]],
    *,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A response in the error envelope."""
    body: dict[str, Any] = {
        "reqId": request_id,
        "statusCode": status,
        "message": message,
        "error": _STATUS_NAMES.get(status, "Error"),
    }
    if code is not None:
        body["details"] = {"code": code}
    return JSONResponse(body, status_code=status, headers=headers)


def unexpected_error(request_id: str, exc: BaseException) -> JSONResponse:
    """The 500 of an exception nobody handled: its type is logged, none of its text is sent."""
    # The type only: an exception's text could carry a value we cannot vouch for.
    log.error("unhandled error", extra={"error_type": type(exc).__name__, "reqId": request_id})
    return error_json(request_id, 500, "Something went wrong")


def error_response(
    request: Request,
    status: int,
    message: str | list[dict[str, str]],
    *,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return error_json(request_id(request), status, message, code=code, headers=headers)


def _issue_path(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_issues(errors: list[Any]) -> list[dict[str, str]]:
    """pydantic errors → ``{path, message}``; the input value is never included."""
    return [
        {"path": _issue_path(tuple(e.get("loc", ()))), "message": str(e.get("msg"))} for e in errors
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        for kind, status, _name in _KINDS:
            if isinstance(exc, kind):
                headers = None
                if isinstance(exc, TooManyRequests):
                    headers = {"Retry-After": str(exc.retry_after)}
                return error_response(request, status, exc.message, code=exc.code, headers=headers)
        return error_response(request, 400, exc.message, code=exc.code)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, 422, validation_issues(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = (
            exc.detail
            if isinstance(exc.detail, str)
            else _STATUS_NAMES.get(exc.status_code, "Error")
        )
        return error_response(request, exc.status_code, message, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Reached only by a failure outside api.middleware.RequestFrame, which answers the rest.
        return unexpected_error(request_id(request), exc)
