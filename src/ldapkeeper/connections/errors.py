"""Errors of app connections. Messages never hold a password."""

from __future__ import annotations

from ldapkeeper.errors import BadRequest, NotFound


class ConnectionNotFound(NotFound):
    """No such connection visible to the caller (another project's id is "not found" too)."""

    def __init__(self) -> None:
        super().__init__("App connection not found")


class DuplicateConnectionName(BadRequest):
    """The name is already taken in the project (or among org-level connections)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"An app connection named '{name}' already exists", code="duplicate_name")


class ConnectionValidationFailed(BadRequest):
    """The directory refused the bind that proves the credentials; ``code`` says why."""

    def __init__(self, reason: str, *, code: str) -> None:
        super().__init__(f"Unable to validate connection: {reason}", code=code)


class ConnectionInUse(BadRequest):
    """The connection cannot be deleted while a secret rotation uses it."""

    def __init__(self, count: int) -> None:
        noun = "rotation uses" if count == 1 else "rotations use"
        super().__init__(
            f"Cannot delete the app connection: {count} secret {noun} it",
            code="connection_in_use",
        )


class ConnectionChanged(BadRequest):
    """The connection changed (e.g. a rotation stored a new password) during the bind."""

    def __init__(self) -> None:
        super().__init__(
            "The app connection changed while the new credentials were being validated; "
            "reload it and try again",
            code="connection_changed",
        )
