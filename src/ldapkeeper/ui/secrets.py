"""The secrets of a folder: keys and masked values; a value is revealed on request, and only
to a role that may read values (``read-value``), as in the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from ldapkeeper.api.deps import ContextDep, require_project_action
from ldapkeeper.audit.service import RequestContext, record
from ldapkeeper.identity.permissions import Subject
from ldapkeeper.secrets import service
from ldapkeeper.secrets.folders import canonical_path, join_path, list_folders, parent_of
from ldapkeeper.secrets.service import SecretView
from ldapkeeper.ui.context import ProjectPage, ProjectPageDep
from ldapkeeper.ui.forms import FormDep
from ldapkeeper.ui.rendering import UiRoute, is_htmx, render

router = APIRouter(
    prefix="/projects/{project_id}/secrets", route_class=UiRoute, include_in_schema=False
)

EnvironmentQuery = Annotated[str | None, Query(max_length=64)]
PathQuery = Annotated[str, Query(max_length=1024)]


def _breadcrumbs(path: str) -> list[tuple[str, str]]:
    """``/a/b`` → ``[("/", "/"), ("a", "/a"), ("b", "/a/b")]``."""
    crumbs = [("/", "/")]
    current = "/"
    for name in [segment for segment in path.split("/") if segment]:
        current = join_path(current, name)
        crumbs.append((name, current))
    return crumbs


def _folder_page(
    request: Request,
    page: ProjectPage,
    context: RequestContext,
    *,
    environment: str,
    path: str,
    revealed: SecretView | None = None,
) -> Response:
    runtime = page.runtime
    require_project_action(runtime, page.principal, page.project.id, Subject.SECRETS, "describe")
    path = canonical_path(path)
    with runtime.db.write() as session:
        views = service.list_secrets(
            session,
            runtime.keyring,
            project_id=page.project.id,
            environment=environment,
            secret_path=path,
            recursive=False,
            reveal=False,
            expand=False,
        )
        folders = [
            folder.name
            for folder in list_folders(
                session,
                project_id=page.project.id,
                environment=environment,
                path=path,
                recursive=False,
            )
        ]
        record(
            session,
            event_type="get-secrets",
            actor=page.principal,
            project_id=page.project.id,
            metadata={
                "environment": environment,
                "secretPath": path,
                "recursive": False,
                "count": len(views),
            },
            context=context,
        )
    return render(
        request,
        "secrets/list.html",
        {
            "page": page,
            "section": "secrets",
            "environment": environment,
            "path": path,
            "parent": parent_of(path) if path != "/" else None,
            "breadcrumbs": _breadcrumbs(path),
            "folders": folders,
            "secrets": views,
            "revealed": revealed,
            "may_reveal": page.may(Subject.SECRETS, "read-value"),
            "join_path": join_path,
        },
        fragment=False,
    )


@router.get("")
def folder(
    request: Request,
    page: ProjectPageDep,
    context: ContextDep,
    environment: EnvironmentQuery = None,
    path: PathQuery = "/",
) -> Response:
    """The secrets and sub-folders of one folder of one environment, values masked."""
    env = environment or (page.environments[0].slug if page.environments else "")
    return _folder_page(request, page, context, environment=env, path=path)


@router.post("/reveal")
def reveal(request: Request, page: ProjectPageDep, context: ContextDep, form: FormDep) -> Response:
    """One secret's value, for a role that may read values (403 otherwise)."""
    runtime = page.runtime
    require_project_action(runtime, page.principal, page.project.id, Subject.SECRETS, "read-value")
    environment, path = form.get("environment"), canonical_path(form.get("path", "/"))
    with runtime.db.write() as session:
        view = service.get_secret(
            session,
            runtime.keyring,
            project_id=page.project.id,
            environment=environment,
            secret_path=path,
            key=form.get("key"),
            version=None,
            reveal=True,
            expand=False,
        )
        record(
            session,
            event_type="get-secret",
            actor=page.principal,
            project_id=page.project.id,
            metadata={
                "environment": view.environment,
                "secretPath": view.secret_path,
                "secretKey": view.key,
                "secretId": view.id,
                "version": view.version,
            },
            context=context,
        )
    if is_htmx(request):
        return render(request, "secrets/value.html", {"secret": view})
    return _folder_page(request, page, context, environment=environment, path=path, revealed=view)
