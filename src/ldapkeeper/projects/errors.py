"""Errors of projects, environments and folders."""

from ldapkeeper.errors import BadRequest, NotFound


class ProjectNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Project not found")


class EnvironmentNotFound(NotFound):
    def __init__(self, slug: str) -> None:
        super().__init__(f"Environment '{slug}' not found")


class DuplicateSlug(BadRequest):
    pass
