"""``ldapkeeper secrets``: read a project's secrets (``/api/v3/secrets/raw``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from ldapkeeper.cli.client import ApiClient, open_client
from ldapkeeper.cli.options import DEFAULT_ENVIRONMENT, EnvironmentOption, ProjectOption
from ldapkeeper.cli.output import (
    OutputFormat,
    OutputOption,
    emit,
    field,
    print_record,
    print_table,
    reports_failures,
)
from ldapkeeper.cli.projects import project_id

BASE = "/api/v3/secrets/raw"

app = typer.Typer(
    help="Secrets of a project environment and path (rotations write theirs here).",
    no_args_is_help=True,
)

SecretPathOption = Annotated[str, typer.Option("--path", help="Secret path (folder).")]


def _where(
    client: ApiClient, project: str | None, environment: str, path: str
) -> dict[str, str | bool]:
    return {
        "workspaceId": project_id(client, project),
        "environment": environment,
        "secretPath": path,
    }


@app.command("list")
@reports_failures
def list_secrets(
    project: ProjectOption = None,
    environment: EnvironmentOption = DEFAULT_ENVIRONMENT,
    path: SecretPathOption = "/",
    recursive: Annotated[bool, typer.Option(help="Include the folders below --path.")] = False,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Fetch and show the values too (hidden otherwise).")
    ] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List the secrets at an environment and path; values only with --reveal."""
    with open_client() as client:
        params = _where(client, project, environment, path)
        params.update({"recursive": recursive, "viewSecretValue": reveal})
        body = client.get(BASE, params=params)
    columns = [
        ("KEY", field("secretKey")),
        ("PATH", field("secretPath")),
        ("VERSION", field("version")),
        ("UPDATED", field("updatedAt")),
    ]
    if reveal:
        columns.insert(1, ("VALUE", field("secretValue")))
    emit(
        body,
        output,
        lambda: print_table(body.get("secrets") or [], columns, empty="no secrets"),
    )


@app.command("get")
@reports_failures
def get_secret(
    name: Annotated[str, typer.Argument(help="The secret's key.", show_default=False)],
    project: ProjectOption = None,
    environment: EnvironmentOption = DEFAULT_ENVIRONMENT,
    path: SecretPathOption = "/",
    version: Annotated[
        int | None, typer.Option(help="An older version of the secret.", min=1)
    ] = None,
    plain: Annotated[
        bool, typer.Option("--plain", help="Print only the value (for scripts).")
    ] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show one secret with its value (--plain: the value alone)."""
    with open_client() as client:
        params = _where(client, project, environment, path)
        if version is not None:
            params["version"] = str(version)
        body = client.get(f"{BASE}/{quote(name, safe='')}", params=params)
    if plain:
        typer.echo(body["secret"]["secretValue"])
        return
    emit(body, output, lambda: print_record(body["secret"]))
