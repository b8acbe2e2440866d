"""Base classes of domain errors; each kind maps to one HTTP status in ``api.errors``.

Domain packages subclass these in their own ``errors.py``. A message must never contain a
password or secret value.
"""

from __future__ import annotations


class DomainError(Exception):
    """A failure that a client can act on. ``code`` goes to ``details.code`` when set."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class BadRequest(DomainError):
    """A business rule refused the request (400)."""


class Unauthorized(DomainError):
    """Missing, invalid, expired or revoked credentials (401)."""


class PermissionDenied(DomainError):
    """The caller is known but not allowed (403)."""


class NotFound(DomainError):
    """No such record visible to the caller (404)."""


class TooManyRequests(DomainError):
    """Throttled (429); ``retry_after`` seconds go to the Retry-After header."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
