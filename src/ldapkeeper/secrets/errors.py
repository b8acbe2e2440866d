"""Errors of secrets and folders. Messages name keys and paths, never values."""

from __future__ import annotations

from ldapkeeper.errors import BadRequest, NotFound


class SecretNotFound(NotFound):
    def __init__(self, key: str) -> None:
        super().__init__(f"Secret with name '{key}' not found")


class SecretVersionNotFound(NotFound):
    def __init__(self, key: str, version: int) -> None:
        super().__init__(f"Version {version} of secret '{key}' not found")


class SecretAlreadyExists(BadRequest):
    def __init__(self, key: str) -> None:
        super().__init__(f"Secret with name '{key}' already exists")


class SecretManagedByRotation(BadRequest):
    """A user tried to change a secret that only its rotation may write."""

    def __init__(self) -> None:
        super().__init__("This secret is managed by a secret rotation and cannot be edited")


class SecretManagedByOtherRotation(BadRequest):
    def __init__(self, key: str) -> None:
        super().__init__(f"Secret '{key}' is managed by another secret rotation")


class UnsupportedSecretType(BadRequest):
    def __init__(self) -> None:
        super().__init__("Only shared secrets are supported; personal secrets are not")


class SecretTagsUnsupported(BadRequest):
    def __init__(self) -> None:
        super().__init__("Secret tags are not supported")


class InvalidSecretPath(BadRequest):
    pass


class FolderNotFound(NotFound):
    def __init__(self, what: str = "Folder not found") -> None:
        super().__init__(what)


class FolderAlreadyExists(BadRequest):
    def __init__(self, name: str, parent: str) -> None:
        super().__init__(f"Folder with name '{name}' already exists at path '{parent}'")


class FolderNotEmpty(BadRequest):
    def __init__(self) -> None:
        super().__init__(
            "Folder contains secrets or folders; set forceDelete to delete it with its contents"
        )


class FolderHoldsRotation(BadRequest):
    """Deleting the folder would delete what a rotation writes (and so lose a password)."""

    def __init__(self) -> None:
        super().__init__(
            "This folder contains secrets managed by a secret rotation and cannot be deleted"
        )


class RootFolderImmutable(BadRequest):
    def __init__(self) -> None:
        super().__init__("The root folder cannot be renamed or deleted")


class SecretReferenceCycle(BadRequest):
    def __init__(self, chain: list[str]) -> None:
        super().__init__("Secret reference cycle: " + " -> ".join(chain))


class SecretReferenceTooDeep(BadRequest):
    def __init__(self, max_depth: int) -> None:
        super().__init__(f"Secret references are nested deeper than {max_depth} levels")


class ExpandedValueTooLarge(BadRequest):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The expanded secret value exceeds {limit} characters")
