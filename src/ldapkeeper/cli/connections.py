"""``ldapkeeper connections``: LDAP App Connections (``/api/v1/app-connections/ldap``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ldapkeeper.cli.client import ApiClient, JsonObject, open_client
from ldapkeeper.cli.options import (
    FromFileOption,
    PasswordStdinOption,
    ProjectOption,
    is_uuid,
    overlay,
    read_body,
    read_secret,
)
from ldapkeeper.cli.output import (
    OutputFormat,
    OutputOption,
    emit,
    fail,
    field,
    print_json,
    print_record,
    print_table,
    reports_failures,
    usage_error,
)
from ldapkeeper.cli.projects import project_id

BASE = "/api/v1/app-connections/ldap"
PROVIDERS = ("active-directory", "open-ldap")

app = typer.Typer(
    help="LDAP App Connections: bind credentials the server proves by binding.",
    no_args_is_help=True,
)

ConnectionArgument = Annotated[
    str, typer.Argument(help="The connection's id, or its name in the project.", show_default=False)
]
OrgOption = Annotated[
    bool, typer.Option("--org", help="Org-level connections (no project) instead of a project's.")
]


def _scope(client: ApiClient, project: str | None, *, org: bool) -> str | None:
    """The project's id, or None for the org-level connections (``--org``)."""
    if org:
        if project is not None:
            usage_error("--org and --project exclude each other")
        return None
    return project_id(client, project)


def connection_id(client: ApiClient, ref: str, project: str | None, *, org: bool = False) -> str:
    """The id of the connection ``ref`` names: an id as given, or a name looked up in the
    project (or among the org-level ones).

    Raises:
        ApiError: (404) when no such connection is visible.
    """
    if is_uuid(ref):
        return ref
    scope = _scope(client, project, org=org)
    params = {"projectId": scope} if scope is not None else {}
    found = client.get(f"{BASE}/connection-name/{ref}", params=params)
    return str(found["appConnection"]["id"])


def _print_connections(connections: list[JsonObject]) -> None:
    print_table(
        connections,
        [
            ("ID", field("id")),
            ("NAME", field("name")),
            ("PROVIDER", field("credentials", "provider")),
            ("URL", field("credentials", "url")),
            ("BIND DN", field("credentials", "dn")),
            ("VERSION", field("version")),
        ],
        empty="no connections",
    )


@app.command("list")
@reports_failures
def list_connections(
    project: ProjectOption = None,
    org: OrgOption = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List the LDAP connections of a project (or the org-level ones), sorted by name."""
    with open_client() as client:
        scope = _scope(client, project, org=org)
        params = {"projectId": scope} if scope is not None else {}
        body = client.get(BASE, params=params)
    emit(body, output, lambda: _print_connections(body.get("appConnections") or []))


@app.command("get")
@reports_failures
def get_connection(
    connection: ConnectionArgument,
    project: ProjectOption = None,
    org: OrgOption = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show one LDAP connection (never its password)."""
    with open_client() as client:
        body = client.get(f"{BASE}/{connection_id(client, connection, project, org=org)}")
    emit(body, output, lambda: print_record(body["appConnection"]))


def _require(body: dict[str, Any]) -> None:
    credentials = body.get("credentials") or {}
    missing = [
        option
        for option, present in (
            ("--name", body.get("name")),
            ("--provider", credentials.get("provider")),
            ("--url", credentials.get("url")),
            ("--dn", credentials.get("dn")),
        )
        if not present
    ]
    if missing:
        usage_error(f"missing {', '.join(missing)} (or give them in --from-file)")


@app.command("create")
@reports_failures
def create_connection(
    name: Annotated[
        str | None, typer.Option(help="Name: lowercase letters, digits and '-'.")
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(help="active-directory, or open-ldap (any RFC 3062 server)."),
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="ldap://host[:port] or ldaps://host[:port].")
    ] = None,
    dn: Annotated[
        str | None, typer.Option(help="Bind DN (or a UPN user@domain with active-directory).")
    ] = None,
    description: Annotated[str | None, typer.Option(help="Free text, up to 256.")] = None,
    failover_url: Annotated[
        list[str] | None,
        typer.Option("--failover-url", help="Another URL tried when one is down (repeatable)."),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            "--ca-file", help="PEM file of the CA certificate(s) to trust.", dir_okay=False
        ),
    ] = None,
    reject_unauthorized: Annotated[
        bool | None,
        typer.Option(
            "--reject-unauthorized/--no-reject-unauthorized",
            help="Refuse an untrusted TLS certificate (default: reject).",
            show_default=False,
        ),
    ] = None,
    start_tls: Annotated[
        bool | None,
        typer.Option(
            "--start-tls/--no-start-tls",
            help="Upgrade ldap:// with STARTTLS before binding.",
            show_default=False,
        ),
    ] = None,
    from_file: FromFileOption = None,
    password_stdin: PasswordStdinOption = False,
    project: ProjectOption = None,
    org: Annotated[bool, typer.Option("--org", help="Create an org-level connection.")] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Create an LDAP connection; the server binds with it first and stores nothing on failure.

    The bind password comes from a hidden prompt, from stdin (--password-stdin),
    or from credentials.password in --from-file.
    """
    if from_file is not None and str(from_file) == "-" and password_stdin:
        usage_error("--from-file - and --password-stdin cannot both read stdin")
    if provider is not None and provider not in PROVIDERS:
        usage_error(f"--provider must be one of {', '.join(PROVIDERS)}")
    base = read_body(from_file) if from_file is not None else {}
    certificate = None
    if ca_file is not None:
        try:
            certificate = ca_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            usage_error(f"--ca-file: cannot read {ca_file}: {type(exc).__name__}")
    body = overlay(
        base,
        {
            "name": name,
            "description": description,
            "credentials": {
                "provider": provider,
                "url": url,
                "dn": dn,
                "failoverUrls": failover_url or None,
                "sslCertificate": certificate,
                "sslRejectUnauthorized": reject_unauthorized,
                "startTls": start_tls,
            },
        },
    )
    body.setdefault("method", "simple-bind")
    _require(body)
    with open_client() as client:
        if org:
            _scope(client, project, org=True)
            body.pop("projectId", None)
        elif project is not None or "projectId" not in body:
            body["projectId"] = project_id(client, project)
        if password_stdin or not body["credentials"].get("password"):
            body["credentials"]["password"] = read_secret(
                "Bind password", from_stdin=password_stdin
            )
        created = client.post(BASE, json=body)
    emit(created, output, lambda: print_record(created["appConnection"]))


@app.command("check")
@reports_failures
def check_connection(
    connection: ConnectionArgument,
    project: ProjectOption = None,
    org: OrgOption = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Bind with the stored credentials; exit 1 when the bind fails."""
    with open_client() as client:
        body = client.post(f"{BASE}/{connection_id(client, connection, project, org=org)}/check")
    ok = body.get("status") == "ok"
    if output is OutputFormat.json:
        print_json(body)
    elif ok:
        typer.echo(f"ok ({body.get('latencyMs', 0):.0f} ms)")
    if not ok:
        error = body.get("error") or {}
        fail(f"bind failed: {error.get('code', 'error')}: {error.get('message', '')}")


@app.command("delete")
@reports_failures
def delete_connection(
    connection: ConnectionArgument,
    project: ProjectOption = None,
    org: OrgOption = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Delete a connection (refused while a rotation uses it)."""
    with open_client() as client:
        target = connection_id(client, connection, project, org=org)
        if not yes:
            typer.confirm(f"Delete connection {connection}?", abort=True, err=True)
        body = client.delete(f"{BASE}/{target}")
    deleted = body.get("appConnection") or {}
    if output is OutputFormat.json:
        print_json(body)
    else:
        typer.echo(f"deleted connection {deleted.get('name')} ({deleted.get('id')})")
