"""The one permission check that services and routers call."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ldapkeeper.errors import PermissionDenied
from ldapkeeper.identity.permissions import ProjectRole, Subject, is_allowed
from ldapkeeper.identity.principal import Principal
from ldapkeeper.identity.service import project_role


def require(
    session: Session, principal: Principal, project_id: str, subject: Subject, action: str
) -> ProjectRole:
    """The caller's role in the project when it allows ``action``; PermissionDenied otherwise."""
    return allowed(project_role(session, principal, project_id), subject, action)


def allowed(role: ProjectRole, subject: Subject, action: str) -> ProjectRole:
    """``role`` when it allows ``action`` on ``subject``; PermissionDenied otherwise."""
    if not is_allowed(role, subject, action):
        raise PermissionDenied(f"You are not allowed to {action} on {subject.value}")
    return role
