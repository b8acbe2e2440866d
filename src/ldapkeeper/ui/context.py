"""Who is looking at a page, and the project the page belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ldapkeeper.api.deps import RuntimeDep, get_principal
from ldapkeeper.identity.permissions import ProjectRole, Subject, is_allowed
from ldapkeeper.identity.principal import Principal
from ldapkeeper.identity.service import project_role
from ldapkeeper.projects.errors import ProjectNotFound
from ldapkeeper.projects.service import environments, get_project, visible_projects
from ldapkeeper.runtime import Runtime


def ui_principal(runtime: RuntimeDep, request: Request) -> Principal:
    """The logged-in user of the session cookie (never a bearer header: the UI's CSRF
    tokens are tied to the cookie); InvalidToken sends the browser to the login page."""
    return get_principal(runtime, None, request)


PrincipalDep = Annotated[Principal, Depends(ui_principal)]


@dataclass(frozen=True)
class ProjectLink:
    id: str
    name: str
    slug: str


@dataclass(frozen=True)
class EnvironmentLink:
    id: str
    name: str
    slug: str


@dataclass(frozen=True)
class ProjectPage:
    """What every project page shows: the project, the picker's choices, the caller's role."""

    runtime: Runtime
    principal: Principal
    project: ProjectLink
    projects: list[ProjectLink]
    environments: list[EnvironmentLink]
    role: ProjectRole

    def may(self, subject: str, action: str) -> bool:
        """Whether the caller's role allows ``action`` (for showing a button; the service
        decides again when it is pressed)."""
        return is_allowed(self.role, Subject(subject), action)

    def url(self, suffix: str = "") -> str:
        return f"/projects/{self.project.id}{suffix}"


def load_project_page(runtime: Runtime, principal: Principal, project_id: str) -> ProjectPage:
    """The page context of ``project_id``; ProjectNotFound when the caller has no role there."""
    with runtime.db.read() as session:
        project = get_project(session, org_id=principal.org_id, project_id=project_id)
        role = project_role(session, principal, project.id)
        if role is ProjectRole.NO_ACCESS:
            raise ProjectNotFound()
        links = [ProjectLink(p.id, p.name, p.slug) for p in visible_projects(session, principal)]
        envs = [EnvironmentLink(e.id, e.name, e.slug) for e in environments(session, project.id)]
        return ProjectPage(
            runtime=runtime,
            principal=principal,
            project=ProjectLink(project.id, project.name, project.slug),
            projects=links,
            environments=envs,
            role=role,
        )


def project_page(runtime: RuntimeDep, principal: PrincipalDep, project_id: str) -> ProjectPage:
    return load_project_page(runtime, principal, project_id)


ProjectPageDep = Annotated[ProjectPage, Depends(project_page)]


def landing_project(runtime: Runtime, principal: Principal) -> ProjectLink | None:
    """Where a login lands: the ``default`` project when visible, else the first one."""
    with runtime.db.read() as session:
        projects = [ProjectLink(p.id, p.name, p.slug) for p in visible_projects(session, principal)]
    preferred = [p for p in projects if "default" in (p.slug, p.name)]
    choices = preferred or projects
    return choices[0] if choices else None
