"""Errors of secret rotations."""

from ldapkeeper.errors import BadRequest, NotFound


class RotationNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Secret rotation not found")


class RotationInProgress(BadRequest):
    def __init__(self) -> None:
        super().__init__("A rotation is already in progress", code="rotation_in_progress")


class RotationFailed(BadRequest):
    """A rotation attempt failed; the message is redacted."""


class ImmutableParameter(BadRequest):
    pass
