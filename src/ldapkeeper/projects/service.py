"""Projects and their environments. Each project gets its own data key and root folders."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ldapkeeper.db.models import Environment, Folder, Project, ProjectMembership
from ldapkeeper.identity.principal import Principal
from ldapkeeper.kms.keyring import KeyRing, Scope
from ldapkeeper.projects.errors import DuplicateSlug, EnvironmentNotFound, ProjectNotFound

DEFAULT_ENVIRONMENTS = (("Development", "dev"), ("Staging", "staging"), ("Production", "prod"))


def create_environment(session: Session, *, project: Project, name: str, slug: str) -> Environment:
    """Add an environment with its root folder ``/``."""
    exists = session.scalar(
        select(Environment.id).where(Environment.project_id == project.id, Environment.slug == slug)
    )
    if exists:
        raise DuplicateSlug(f"Environment '{slug}' already exists in this project")
    position = session.scalar(
        select(func.count()).select_from(Environment).where(Environment.project_id == project.id)
    )
    env = Environment(project_id=project.id, name=name, slug=slug, position=position or 0)
    session.add(env)
    session.flush()
    session.add(Folder(project_id=project.id, environment_id=env.id, name="root", path="/"))
    session.flush()
    return env


def create_project(
    session: Session, *, keyring: KeyRing, org_id: str, name: str, slug: str, description: str = ""
) -> Project:
    """A project with the default environments and its own data key."""
    if session.scalar(select(Project.id).where(Project.org_id == org_id, Project.slug == slug)):
        raise DuplicateSlug(f"A project with slug '{slug}' already exists")
    project = Project(org_id=org_id, name=name, slug=slug, description=description)
    session.add(project)
    session.flush()
    keyring.create_data_key(session, Scope.project(project.id))
    for env_name, env_slug in DEFAULT_ENVIRONMENTS:
        create_environment(session, project=project, name=env_name, slug=env_slug)
    return project


def get_project(session: Session, *, org_id: str, project_id: str) -> Project:
    project = session.get(Project, project_id)
    if project is None or project.org_id != org_id:
        raise ProjectNotFound()
    return project


def get_project_by_slug(session: Session, *, org_id: str, slug: str) -> Project:
    project = session.scalar(select(Project).where(Project.org_id == org_id, Project.slug == slug))
    if project is None:
        raise ProjectNotFound()
    return project


def visible_projects(session: Session, principal: Principal) -> Sequence[Project]:
    """Projects the caller may see: all for org admins, else those with a non-blocked role."""
    query = select(Project).where(Project.org_id == principal.org_id).order_by(Project.name)
    if not principal.is_org_admin:
        column = (
            ProjectMembership.user_id if principal.kind == "user" else ProjectMembership.identity_id
        )
        member_of = select(ProjectMembership.project_id).where(
            column == principal.id, ProjectMembership.role != "no-access"
        )
        query = query.where(Project.id.in_(member_of))
    return session.scalars(query).all()


def environments(session: Session, project_id: str) -> Sequence[Environment]:
    return session.scalars(
        select(Environment)
        .where(Environment.project_id == project_id)
        .order_by(Environment.position)
    ).all()


def get_environment(session: Session, *, project_id: str, slug: str) -> Environment:
    env = session.scalar(
        select(Environment).where(Environment.project_id == project_id, Environment.slug == slug)
    )
    if env is None:
        raise EnvironmentNotFound(slug)
    return env
