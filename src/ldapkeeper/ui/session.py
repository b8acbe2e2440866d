"""The UI's cookies: the session (an access token from a login) and the pre-login binding.

Both are HttpOnly and SameSite=Strict, and Secure whenever the page was served over https.
"""

from __future__ import annotations

import secrets

from fastapi import Request, Response

#: The cookie that ``api.deps.get_principal`` accepts instead of a bearer token.
SESSION_COOKIE = "ldapkeeper_session"
#: A random value that binds the login form's CSRF token before any session exists.
PRESESSION_COOKIE = "ldapkeeper_presession"
PRESESSION_SECONDS = 3600


def is_secure(request: Request) -> bool:
    """Whether the request came over https (then every cookie is ``Secure``)."""
    return request.url.scheme == "https"


def _set(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=is_secure(request),
    )


def _clear(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="strict", secure=is_secure(request)
    )


def start_session(response: Response, request: Request, *, token: str, max_age: int) -> None:
    """Keep the access token in the session cookie; the pre-login cookie has done its job."""
    _set(response, request, SESSION_COOKIE, token, max_age)
    _clear(response, request, PRESESSION_COOKIE)


def end_session(response: Response, request: Request) -> None:
    _clear(response, request, SESSION_COOKIE)


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def presession(request: Request) -> tuple[str, bool]:
    """The request's pre-login value, and whether it is new (then ``keep_presession`` it)."""
    value = request.cookies.get(PRESESSION_COOKIE)
    if value:
        return value, False
    return secrets.token_urlsafe(32), True


def keep_presession(response: Response, request: Request, value: str) -> None:
    _set(response, request, PRESESSION_COOKIE, value, PRESESSION_SECONDS)
