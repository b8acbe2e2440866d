"""Roles and the role → action table of SPEC section 2. Every route asks this module."""

from __future__ import annotations

from enum import StrEnum


class ProjectRole(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"
    NO_ACCESS = "no-access"


class OrgRole(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class Subject(StrEnum):
    APP_CONNECTIONS = "app-connections"
    SECRET_ROTATIONS = "secret-rotations"
    SECRETS = "secrets"
    PROJECT_ADMIN = "project-admin"  # memberships, identities, audit log


_ALL = frozenset({ProjectRole.ADMIN, ProjectRole.MEMBER, ProjectRole.VIEWER})
_WRITERS = frozenset({ProjectRole.ADMIN, ProjectRole.MEMBER})
_ADMIN = frozenset({ProjectRole.ADMIN})

PERMISSIONS: dict[Subject, dict[str, frozenset[ProjectRole]]] = {
    Subject.APP_CONNECTIONS: {
        "read-app-connections": _ALL,
        "create-app-connections": _ADMIN,
        "edit-app-connections": _ADMIN,
        "delete-app-connections": _ADMIN,
        "connect-app-connections": _WRITERS,
    },
    Subject.SECRET_ROTATIONS: {
        "read": _ALL,
        "read-generated-credentials": _ADMIN,
        "create": _WRITERS,
        "edit": _WRITERS,
        "delete": _WRITERS,
        "rotate-secrets": _WRITERS,
    },
    Subject.SECRETS: {
        "describe": _ALL,
        "read-value": _WRITERS,
        "create": _WRITERS,
        "edit": _WRITERS,
        "delete": _WRITERS,
    },
    Subject.PROJECT_ADMIN: {
        "manage-memberships": _ADMIN,
        "manage-identities": _ADMIN,
        "read-audit-logs": _ADMIN,
    },
}


def is_allowed(role: ProjectRole, subject: Subject, action: str) -> bool:
    """Whether ``role`` may do ``action`` on ``subject``; an unknown action is never allowed."""
    return role in PERMISSIONS[subject].get(action, frozenset())
