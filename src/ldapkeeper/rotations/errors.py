"""Errors of secret rotations."""

from ldapkeeper.errors import BadRequest, NotFound


class RotationNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Secret rotation not found")


class RotationInProgress(BadRequest):
    def __init__(self) -> None:
        super().__init__("A rotation is already in progress", code="rotation_in_progress")


class BindAccountChangingPassword(BadRequest):
    def __init__(self) -> None:
        super().__init__(
            "The connection's bind account is changing its own password; try again shortly",
            code="connection_busy",
        )


class RotationFailed(BadRequest):
    """A rotation attempt failed; the message is redacted."""


class ImmutableParameter(BadRequest):
    pass
