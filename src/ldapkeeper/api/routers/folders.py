"""Infisical's v2 folders routes, as the ``infisicalsdk`` client calls them (SPEC 5)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ldapkeeper.api.deps import ContextDep, PrincipalDep, RuntimeDep, require_project_action
from ldapkeeper.audit.service import record
from ldapkeeper.identity.permissions import Subject, is_allowed
from ldapkeeper.identity.principal import Principal
from ldapkeeper.identity.service import project_role
from ldapkeeper.runtime import Runtime
from ldapkeeper.secrets import folders, service
from ldapkeeper.secrets.errors import FolderNotFound
from ldapkeeper.secrets.folders import FolderWithEnvironment
from ldapkeeper.secrets.schemas import (
    FolderCreate,
    FolderDelete,
    FolderDetailOne,
    FolderDetailPublic,
    FolderList,
    FolderListQuery,
    FolderOne,
    FolderPublic,
    FolderUpdate,
    ProjectRef,
)

router = APIRouter(prefix="/api/v2/folders", tags=["folders"])


def _authorize(runtime: Runtime, principal: Principal, ref: ProjectRef, action: str) -> str:
    """The project's id once ``action`` on its secrets is allowed."""
    with runtime.db.read() as session:
        project = service.resolve_project(
            session, org_id=principal.org_id, project_id=ref.ref_id, project_slug=ref.ref_slug
        )
    require_project_action(runtime, principal, project.id, Subject.SECRETS, action)
    return project.id


def _find(runtime: Runtime, principal: Principal, folder_id: str, action: str) -> None:
    """Authorize ``action`` on the project that holds the folder (404 if none visible)."""
    with runtime.db.read() as session:
        found = folders.get_folder_by_id(session, org_id=principal.org_id, folder_id=folder_id)
        role = project_role(session, principal, found.folder.project_id)
    if not is_allowed(role, Subject.SECRETS, "describe"):
        # Like any id of a project the caller cannot see: a 403 would tell that it exists.
        raise FolderNotFound(f"Folder with ID '{folder_id}' not found")
    require_project_action(runtime, principal, found.folder.project_id, Subject.SECRETS, action)


def _path(path: str, directory: str | None, fields: set[str]) -> str:
    # ``directory`` is Infisical's older name of ``path``: used only when ``path`` is absent.
    return directory if directory is not None and "path" not in fields else path


@router.get("", response_model=FolderList)
def list_folders(
    query: Annotated[FolderListQuery, Query()], runtime: RuntimeDep, principal: PrincipalDep
) -> FolderList:
    """The folders inside ``path`` (``recursive``: every folder below it)."""
    project_id = _authorize(runtime, principal, query, "describe")
    with runtime.db.read() as session:
        rows = folders.list_folders(
            session,
            project_id=project_id,
            environment=query.environment,
            path=_path(query.path, query.directory, query.model_fields_set),
            recursive=query.recursive,
        )
        return FolderList(folders=[FolderPublic.from_row(row) for row in rows])


@router.post("", response_model=FolderOne)
def create_folder(
    body: FolderCreate, runtime: RuntimeDep, principal: PrincipalDep, context: ContextDep
) -> FolderOne:
    """Create a folder (its parents on demand); 400 if it exists."""
    project_id = _authorize(runtime, principal, body, "create")
    with runtime.db.write() as session:
        folder = folders.create_folder(
            session,
            project_id=project_id,
            environment=body.environment,
            parent_path=_path(body.path, body.directory, body.model_fields_set),
            name=body.name,
            description=body.description,
        )
        record(
            session,
            event_type="create-folder",
            actor=principal,
            project_id=project_id,
            metadata={"environment": body.environment, "folderPath": folder.path},
            context=context,
        )
        return FolderOne(folder=FolderPublic.from_row(folder))


@router.get("/{folder_id}", response_model=FolderDetailOne)
def get_folder(folder_id: str, runtime: RuntimeDep, principal: PrincipalDep) -> FolderDetailOne:
    """One folder with its project and environment."""
    _find(runtime, principal, folder_id, "describe")
    with runtime.db.read() as session:
        found = folders.get_folder_by_id(session, org_id=principal.org_id, folder_id=folder_id)
        return FolderDetailOne(folder=FolderDetailPublic.from_found(found))


def _matches(found: FolderWithEnvironment, body: FolderUpdate) -> bool:
    project_id = body.workspace_id or body.project_id
    if project_id is not None and project_id != found.folder.project_id:
        return False
    return body.environment is None or body.environment == found.environment.slug


@router.patch("/{folder_id}", response_model=FolderOne)
def update_folder(
    folder_id: str,
    body: FolderUpdate,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> FolderOne:
    """Rename a folder (the paths below follow) or change its description."""
    _find(runtime, principal, folder_id, "edit")
    with runtime.db.write() as session:
        found = folders.get_folder_by_id(session, org_id=principal.org_id, folder_id=folder_id)
        if not _matches(found, body):
            raise FolderNotFound(f"Folder with ID '{folder_id}' not found")
        old_path = found.folder.path
        folder = folders.update_folder(
            session, folder=found.folder, name=body.name, description=body.description
        )
        record(
            session,
            event_type="update-folder",
            actor=principal,
            project_id=folder.project_id,
            metadata={
                "environment": found.environment.slug,
                "folderPath": folder.path,
                "renamedFrom": old_path,
            },
            context=context,
        )
        return FolderOne(folder=FolderPublic.from_row(folder))


@router.delete("/{folder_id_or_name}", response_model=FolderOne)
def delete_folder(
    folder_id_or_name: str,
    body: FolderDelete,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> FolderOne:
    """Delete a folder by id, or by name inside ``path``; non-empty needs ``forceDelete``."""
    project_id = _authorize(runtime, principal, body, "delete")
    with runtime.db.write() as session:
        folder = folders.delete_folder(
            session,
            project_id=project_id,
            environment=body.environment,
            path=_path(body.path, body.directory, body.model_fields_set),
            folder_id_or_name=folder_id_or_name,
            force=body.force_delete,
        )
        public = FolderPublic.from_row(folder)
        record(
            session,
            event_type="delete-folder",
            actor=principal,
            project_id=project_id,
            metadata={"environment": body.environment, "folderPath": folder.path},
            context=context,
        )
        return FolderOne(folder=public)
