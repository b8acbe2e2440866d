"""CSRF tokens tied to the session.

A form's token is an HMAC keyed by the session cookie's value (before login: by the
pre-login cookie's), so it is valid for that session only, needs no server-side state
(every server process accepts it), and reveals nothing about the cookie. Every UI POST
must carry it as the form field ``csrf_token`` (or the ``X-CSRF-Token`` header).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from fastapi import Request

from ldapkeeper.errors import PermissionDenied
from ldapkeeper.ui.session import PRESESSION_COOKIE, SESSION_COOKIE

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_PURPOSE = b"ldapkeeper-ui-csrf-v1"


class CsrfRefused(PermissionDenied):
    """A form without a valid token for the caller's session (403)."""

    def __init__(self) -> None:
        super().__init__(
            "This form has expired or did not come from this site. Reload the page and try again.",
            code="csrf_refused",
        )


def token_for(binding: str) -> str:
    """The CSRF token of the session (or pre-login value) ``binding``."""
    digest = hmac.new(binding.encode("utf-8"), _PURPOSE, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def binding_of(request: Request) -> str | None:
    """What the request's tokens are tied to: the session, else the pre-login value."""
    return request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRESESSION_COOKIE) or None


def verify(request: Request, submitted: str | None) -> None:
    """Raise CsrfRefused unless ``submitted`` is the token of the request's session."""
    binding = binding_of(request)
    if not binding or not submitted:
        raise CsrfRefused()
    if not hmac.compare_digest(token_for(binding).encode(), submitted.encode()):
        raise CsrfRefused()
