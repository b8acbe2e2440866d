"""``ldapkeeper projects``: the projects the identity may see, and finding one by id or slug."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from ldapkeeper.cli.client import ApiClient, ApiError, JsonObject, open_client
from ldapkeeper.cli.options import DEFAULT_PROJECT
from ldapkeeper.cli.output import OutputFormat, OutputOption, emit, print_table, reports_failures

PROJECTS_PATH = "/api/v1/projects"

app = typer.Typer(
    help="Projects (and their environments) this identity may see.",
    no_args_is_help=True,
)


def resolve_project(client: ApiClient, ref: str) -> JsonObject:
    """The visible project whose id or slug is ``ref``.

    Raises:
        ApiError: (404) when no visible project matches.
    """
    projects: list[Any] = client.get(PROJECTS_PATH).get("projects") or []
    for project in projects:
        if isinstance(project, dict) and ref in (project.get("id"), project.get("slug")):
            return project
    raise ApiError(
        404, f"no project {ref!r} is visible to this identity (see `ldapkeeper projects list`)"
    )


def project_id(client: ApiClient, project: str | None) -> str:
    """The id of the project ``project`` names (id or slug; None: the default project)."""
    return str(resolve_project(client, project or DEFAULT_PROJECT)["id"])


def _environments(project: Mapping[str, Any]) -> str:
    return ", ".join(str(env.get("slug")) for env in project.get("environments") or [])


@app.command("list")
@reports_failures
def list_projects(output: OutputOption = OutputFormat.table) -> None:
    """List the projects this identity may see, with their environments."""
    with open_client() as client:
        body = client.get(PROJECTS_PATH)
    emit(
        body,
        output,
        lambda: print_table(
            body.get("projects") or [],
            [
                ("ID", lambda p: p.get("id")),
                ("SLUG", lambda p: p.get("slug")),
                ("NAME", lambda p: p.get("name")),
                ("ENVIRONMENTS", _environments),
            ],
            empty="no projects",
        ),
    )
