"""The folder tree of an environment: paths, creation on demand, rename, delete.

Every environment has a root folder ``/`` (made with the environment). A folder row keeps
its full ``path``, so a rename rewrites the paths below it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, delete, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ldapkeeper.db.base import utcnow
from ldapkeeper.db.models import Environment, Folder, Project, Secret, SecretRotation
from ldapkeeper.projects.service import get_environment
from ldapkeeper.secrets.errors import (
    FolderAlreadyExists,
    FolderHoldsRotation,
    FolderNotEmpty,
    FolderNotFound,
    InvalidSecretPath,
    RootFolderImmutable,
)

ROOT = "/"
ROOT_NAME = "root"
FOLDER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_PATH_LENGTH = 1024


@dataclass(frozen=True)
class FolderWithEnvironment:
    """A folder and the environment it belongs to (what the folder API answers with)."""

    folder: Folder
    environment: Environment


def check_folder_name(name: str) -> str:
    """``name`` when it is a folder name (letters, digits, ``-``, ``_``; 1-64); ValueError else."""
    if not FOLDER_NAME.match(name):
        raise ValueError("must be 1-64 characters: letters, digits, dashes and underscores only")
    return name


def normalize_path(path: str) -> str:
    """The canonical form of a secret path ("/", "/a/b"); ValueError when it is not one.

    A missing leading slash, a trailing slash and repeated slashes are forgiven.
    """
    segments = [segment for segment in path.strip().split("/") if segment]
    for segment in segments:
        if not FOLDER_NAME.match(segment):
            raise ValueError(
                "every folder of a path must be 1-64 letters, digits, dashes or underscores"
            )
    canonical = "/" + "/".join(segments)
    if len(canonical) > MAX_PATH_LENGTH:
        raise ValueError(f"must be at most {MAX_PATH_LENGTH} characters")
    return canonical


def canonical_path(path: str) -> str:
    """``normalize_path`` for the services: InvalidSecretPath (400) instead of ValueError."""
    try:
        return normalize_path(path)
    except ValueError as exc:
        raise InvalidSecretPath(f"Invalid secret path: {exc}") from exc


def _checked_name(name: str) -> str:
    try:
        return check_folder_name(name)
    except ValueError as exc:
        raise InvalidSecretPath(f"Invalid folder name: {exc}") from exc


def join_path(parent: str, name: str) -> str:
    """The path of folder ``name`` inside ``parent``."""
    return f"{parent.rstrip('/')}/{name}"


def parent_of(path: str) -> str:
    """The parent path of a non-root path."""
    head = path.rsplit("/", 1)[0]
    return head or ROOT


def find_folder(session: Session, *, environment_id: str, path: str) -> Folder | None:
    """The folder at ``path`` of the environment, or None."""
    return session.scalar(
        select(Folder).where(Folder.environment_id == environment_id, Folder.path == path)
    )


def ensure_folder(session: Session, *, project_id: str, environment_id: str, path: str) -> Folder:
    """The folder at ``path``, creating it and any missing parent in the caller's transaction.

    Raises InvalidSecretPath (400) for a malformed path. Safe against a concurrent creator
    (PostgreSQL): a lost insert race falls back to the winner's row.
    """
    canonical = canonical_path(path)
    folder = find_folder(session, environment_id=environment_id, path=ROOT)
    if folder is None:
        raise FolderNotFound("Environment has no root folder")
    current = ROOT
    for name in [segment for segment in canonical.split("/") if segment]:
        current = join_path(current, name)
        child = find_folder(session, environment_id=environment_id, path=current)
        if child is None:
            child = _insert_folder(
                session,
                project_id=project_id,
                environment_id=environment_id,
                parent=folder,
                name=name,
                description=None,
            )
            if child is None:
                child = find_folder(session, environment_id=environment_id, path=current)
                if child is None:  # pragma: no cover - the winner's row vanished again
                    raise FolderNotFound(f"Folder '{current}' not found")
        folder = child
    return folder


def _insert_folder(
    session: Session,
    *,
    project_id: str,
    environment_id: str,
    parent: Folder,
    name: str,
    description: str | None,
) -> Folder | None:
    """Insert a child folder in a savepoint; None when another transaction made it first."""
    folder = Folder(
        project_id=project_id,
        environment_id=environment_id,
        parent_id=parent.id,
        name=name,
        path=join_path(parent.path, name),
        description=description,
    )
    try:
        with session.begin_nested():
            session.add(folder)
            session.flush()
    except IntegrityError:
        return None
    return folder


def _subtree_query(folder: Folder) -> Select[Folder]:
    """The folder and every folder below it."""
    query = select(Folder).where(Folder.environment_id == folder.environment_id)
    if folder.path == ROOT:
        return query
    return query.where(
        or_(Folder.path == folder.path, Folder.path.startswith(folder.path + "/", autoescape=True))
    )


def folders_at(
    session: Session, *, environment_id: str, path: str, recursive: bool
) -> Sequence[Folder]:
    """The folder at ``path`` and, with ``recursive``, all below it; empty if it does not exist."""
    folder = find_folder(session, environment_id=environment_id, path=canonical_path(path))
    if folder is None:
        return []
    if not recursive:
        return [folder]
    return session.scalars(_subtree_query(folder).order_by(Folder.path)).all()


def list_folders(
    session: Session, *, project_id: str, environment: str, path: str, recursive: bool
) -> Sequence[Folder]:
    """The folders inside ``path`` (children, or every descendant with ``recursive``).

    An unknown path has no folders (an empty list, as Infisical answers); an unknown
    environment is EnvironmentNotFound (404).
    """
    env = get_environment(session, project_id=project_id, slug=environment)
    parent = find_folder(session, environment_id=env.id, path=canonical_path(path))
    if parent is None:
        return []
    if recursive:
        below = _subtree_query(parent).where(Folder.id != parent.id)
        return session.scalars(below.order_by(Folder.path)).all()
    return session.scalars(
        select(Folder).where(Folder.parent_id == parent.id).order_by(Folder.name)
    ).all()


def get_folder_by_id(session: Session, *, org_id: str, folder_id: str) -> FolderWithEnvironment:
    """A folder of the organization by id, with its environment; FolderNotFound otherwise."""
    row = session.execute(
        select(Folder, Environment)
        .join(Environment, Environment.id == Folder.environment_id)
        .join(Project, Project.id == Folder.project_id)
        .where(Folder.id == folder_id, Project.org_id == org_id)
    ).first()
    if row is None:
        raise FolderNotFound(f"Folder with ID '{folder_id}' not found")
    return FolderWithEnvironment(row[0], row[1])


def create_folder(
    session: Session,
    *,
    project_id: str,
    environment: str,
    parent_path: str,
    name: str,
    description: str | None,
) -> Folder:
    """Create folder ``name`` inside ``parent_path`` (made on demand); 400 if it exists."""
    env = get_environment(session, project_id=project_id, slug=environment)
    parent = ensure_folder(session, project_id=project_id, environment_id=env.id, path=parent_path)
    _checked_name(name)
    if find_folder(session, environment_id=env.id, path=join_path(parent.path, name)) is not None:
        raise FolderAlreadyExists(name, parent.path)
    folder = _insert_folder(
        session,
        project_id=project_id,
        environment_id=env.id,
        parent=parent,
        name=name,
        description=description,
    )
    if folder is None:
        raise FolderAlreadyExists(name, parent.path)
    return folder


def update_folder(
    session: Session, *, folder: Folder, name: str, description: str | None
) -> Folder:
    """Rename a folder (the paths below it follow) and set its description when given.

    Raises RootFolderImmutable for the root, FolderAlreadyExists when a sibling has the name.
    """
    if folder.path == ROOT:
        raise RootFolderImmutable()
    _checked_name(name)
    if name != folder.name:
        old_path = folder.path
        new_path = join_path(parent_of(old_path), name)
        if find_folder(session, environment_id=folder.environment_id, path=new_path) is not None:
            raise FolderAlreadyExists(name, parent_of(old_path))
        below = session.scalars(
            select(Folder).where(
                Folder.environment_id == folder.environment_id,
                Folder.path.startswith(old_path + "/", autoescape=True),
            )
        ).all()
        for child in below:
            child.path = new_path + child.path[len(old_path) :]
        folder.name = name
        folder.path = new_path
    if description is not None:
        folder.description = description
    folder.version += 1
    folder.updated_at = utcnow()
    session.flush()
    return folder


def delete_folder(
    session: Session,
    *,
    project_id: str,
    environment: str,
    path: str,
    folder_id_or_name: str,
    force: bool,
) -> Folder:
    """Delete a folder (named by id, or by name inside ``path``) with everything below it.

    Returns the deleted folder. Refused for the root (RootFolderImmutable), for a folder
    that holds rotation-managed secrets or a rotation (FolderHoldsRotation: deleting them
    would lose a live password), and for a non-empty folder unless ``force`` (FolderNotEmpty).
    """
    env = get_environment(session, project_id=project_id, slug=environment)
    folder = session.scalar(
        select(Folder).where(Folder.id == folder_id_or_name, Folder.environment_id == env.id)
    )
    if folder is None:
        folder = find_folder(
            session, environment_id=env.id, path=join_path(canonical_path(path), folder_id_or_name)
        )
    if folder is None:
        raise FolderNotFound(f"Folder '{folder_id_or_name}' not found")
    if folder.path == ROOT:
        raise RootFolderImmutable()
    subtree_ids = select(_subtree_query(folder).subquery().c.id)
    managed = session.scalar(
        select(
            exists().where(
                Secret.folder_id.in_(subtree_ids), Secret.managed_by_rotation_id.is_not(None)
            )
        )
    )
    if managed or _holds_rotation(session, subtree_ids):
        raise FolderHoldsRotation()
    has_secrets = session.scalar(select(exists().where(Secret.folder_id.in_(subtree_ids))))
    has_children = session.scalar(select(exists().where(Folder.parent_id == folder.id)))
    if (has_secrets or has_children) and not force:
        raise FolderNotEmpty()
    rows = session.scalars(_subtree_query(folder)).all()
    # Deepest first, so no row is deleted while a child still points at it.
    ids = [row.id for row in sorted(rows, key=lambda row: row.path.count("/"), reverse=True)]
    session.execute(delete(Secret).where(Secret.folder_id.in_(ids)))
    for folder_id in ids:
        session.execute(delete(Folder).where(Folder.id == folder_id))
    return folder


def _holds_rotation(session: Session, folder_ids: Select[str]) -> bool:
    return bool(session.scalar(select(exists().where(SecretRotation.folder_id.in_(folder_ids)))))
