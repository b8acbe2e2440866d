"""Projects and environments (own design; the SDK only needs ``GET /api/v1/projects``)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from ldapkeeper.api.deps import (
    ContextDep,
    PrincipalDep,
    RuntimeDep,
    require_org_admin,
    require_project_action,
)
from ldapkeeper.audit.service import record
from ldapkeeper.db.models import Project
from ldapkeeper.identity.permissions import Subject
from ldapkeeper.projects import service
from ldapkeeper.projects.schemas import (
    EnvironmentCreate,
    EnvironmentPublic,
    ProjectCreate,
    ProjectPublic,
)
from ldapkeeper.schemas import ApiModel

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


class ProjectList(ApiModel):
    projects: list[ProjectPublic]


class ProjectOne(ApiModel):
    project: ProjectPublic


class EnvironmentOne(ApiModel):
    environment: EnvironmentPublic


def _public(session: Session, project: Project) -> ProjectPublic:
    envs = [EnvironmentPublic.model_validate(e) for e in service.environments(session, project.id)]
    return ProjectPublic(
        id=project.id,
        name=project.name,
        slug=project.slug,
        description=project.description,
        environments=envs,
        created_at=project.created_at,
        updated_at=project.updated_at,
    )


@router.get("", response_model=ProjectList)
def list_projects(runtime: RuntimeDep, principal: PrincipalDep) -> ProjectList:
    """Projects the caller may see, with their environments."""
    with runtime.db.read() as session:
        projects = service.visible_projects(session, principal)
        return ProjectList(projects=[_public(session, p) for p in projects])


@router.post("", response_model=ProjectOne)
def create_project(
    body: ProjectCreate, runtime: RuntimeDep, principal: PrincipalDep, context: ContextDep
) -> ProjectOne:
    """Create a project with dev, staging and prod (org admins)."""
    require_org_admin(principal)
    with runtime.db.write() as session:
        project = service.create_project(
            session,
            keyring=runtime.keyring,
            org_id=principal.org_id,
            name=body.name,
            slug=body.slug,
            description=body.description,
        )
        record(
            session,
            event_type="create-project",
            actor=principal,
            project_id=project.id,
            metadata={"name": project.name, "slug": project.slug},
            context=context,
        )
        return ProjectOne(project=_public(session, project))


@router.get("/{project_id}", response_model=ProjectOne)
def get_project(project_id: str, runtime: RuntimeDep, principal: PrincipalDep) -> ProjectOne:
    """One project the caller may see."""
    with runtime.db.read() as session:
        project = service.get_project(session, org_id=principal.org_id, project_id=project_id)
    require_project_action(runtime, principal, project_id, Subject.SECRETS, "describe")
    with runtime.db.read() as session:
        return ProjectOne(project=_public(session, project))


@router.post("/{project_id}/environments", response_model=EnvironmentOne)
def create_environment(
    project_id: str,
    body: EnvironmentCreate,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> EnvironmentOne:
    """Add an environment to a project (project admins)."""
    with runtime.db.read() as session:
        service.get_project(session, org_id=principal.org_id, project_id=project_id)
    require_project_action(
        runtime, principal, project_id, Subject.PROJECT_ADMIN, "manage-memberships"
    )
    with runtime.db.write() as session:
        project = service.get_project(session, org_id=principal.org_id, project_id=project_id)
        env = service.create_environment(session, project=project, name=body.name, slug=body.slug)
        record(
            session,
            event_type="create-environment",
            actor=principal,
            project_id=project_id,
            metadata={"slug": env.slug},
            context=context,
        )
        return EnvironmentOne(environment=EnvironmentPublic.model_validate(env))
