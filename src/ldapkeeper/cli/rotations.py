"""``ldapkeeper rotations``: LDAP password rotations (``/api/v2/secret-rotations``)."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ldapkeeper.cli.client import ApiClient, ApiError, ApiUnreachable, JsonObject, open_client
from ldapkeeper.cli.connections import connection_id
from ldapkeeper.cli.options import (
    DEFAULT_ENVIRONMENT,
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
    console,
    emit,
    field,
    note,
    print_json,
    print_record,
    print_table,
    reports_failures,
    usage_error,
)
from ldapkeeper.cli.projects import project_id

BASE = "/api/v2/secret-rotations/ldap-password"
METHODS = ("connection-principal", "target-principal")

app = typer.Typer(
    help="LDAP password rotations: a directory account's password, rotated into secrets.",
    no_args_is_help=True,
)

RotationArgument = Annotated[
    str,
    typer.Argument(help="The rotation's id, or its name in the project.", show_default=False),
]
FilterEnvironmentOption = Annotated[
    str | None,
    typer.Option(
        "--environment", "-e", help="Only rotations of this environment (to tell names apart)."
    ),
]
FilterPathOption = Annotated[
    str | None,
    typer.Option("--path", help="Only rotations at this secret path (to tell names apart)."),
]


def _matches(rotation: JsonObject, environment: str | None, path: str | None) -> bool:
    env = (rotation.get("environment") or {}).get("slug")
    return (environment is None or env == environment) and (
        path is None or rotation.get("secretPath") == path
    )


def _project_rotations(
    client: ApiClient, project: str | None, environment: str | None, path: str | None
) -> list[JsonObject]:
    params = {"projectId": project_id(client, project)}
    rotations: list[JsonObject] = client.get(BASE, params=params).get("secretRotations") or []
    return [r for r in rotations if _matches(r, environment, path)]


def rotation_id(
    client: ApiClient,
    ref: str,
    project: str | None,
    environment: str | None = None,
    path: str | None = None,
) -> str:
    """The id of the rotation ``ref`` names: an id as given, or the one rotation of the
    project with that name (``environment`` and ``path`` narrow the search).

    Raises:
        ApiError: (404) when none matches; (400) when several do.
    """
    if is_uuid(ref):
        return ref
    found = [
        r for r in _project_rotations(client, project, environment, path) if r.get("name") == ref
    ]
    if not found:
        raise ApiError(404, f"no rotation named {ref!r} in the project")
    if len(found) > 1:
        raise ApiError(
            400, f"several rotations are named {ref!r}: give --environment and --path, or the id"
        )
    return str(found[0]["id"])


def _print_rotations(rotations: list[JsonObject]) -> None:
    print_table(
        rotations,
        [
            ("ID", field("id")),
            ("NAME", field("name")),
            ("ENV", field("environment", "slug")),
            ("PATH", field("secretPath")),
            ("DN", field("parameters", "dn")),
            ("STATUS", field("rotationStatus")),
            ("LAST ROTATED", field("lastRotatedAt")),
            ("NEXT", field("nextRotationAt")),
        ],
        empty="no rotations",
    )


@app.command("list")
@reports_failures
def list_rotations(
    project: ProjectOption = None,
    environment: FilterEnvironmentOption = None,
    path: FilterPathOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List the LDAP password rotations of a project."""
    with open_client() as client:
        body = client.get(BASE, params={"projectId": project_id(client, project)})
    if environment is not None or path is not None:
        body = {
            **body,
            "secretRotations": [
                r for r in body.get("secretRotations") or [] if _matches(r, environment, path)
            ],
        }
    emit(body, output, lambda: _print_rotations(body.get("secretRotations") or []))


@app.command("get")
@reports_failures
def get_rotation(
    rotation: RotationArgument,
    project: ProjectOption = None,
    environment: FilterEnvironmentOption = None,
    path: FilterPathOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show one rotation: schedule, status, mapping (never a password)."""
    with open_client() as client:
        body = client.get(f"{BASE}/{rotation_id(client, rotation, project, environment, path)}")
    emit(body, output, lambda: print_record(body["secretRotation"]))


def _rotate_at(value: str | None) -> dict[str, int] | None:
    if value is None:
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        usage_error("--rotate-at must be HH:MM (UTC), e.g. 03:30")
    return {"hours": int(match[1]), "minutes": int(match[2])}


@app.command("create")
@reports_failures
def create_rotation(
    name: Annotated[
        str | None, typer.Option(help="Name: lowercase letters, digits and '-'.")
    ] = None,
    connection: Annotated[
        str | None, typer.Option(help="The LDAP connection's id or name.", show_default=False)
    ] = None,
    dn: Annotated[
        str | None,
        typer.Option(help="The account to rotate (DN, or UPN with active-directory)."),
    ] = None,
    environment: Annotated[
        str | None,
        typer.Option(
            "--environment",
            "-e",
            help=f"Environment of the secrets (default: {DEFAULT_ENVIRONMENT}).",
            show_default=False,
        ),
    ] = None,
    path: Annotated[
        str | None,
        typer.Option(help="Secret path, created if missing (default: /).", show_default=False),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            help="connection-principal (the bind account resets it) or target-principal "
            "(the account changes its own) (default: connection-principal).",
            show_default=False,
        ),
    ] = None,
    interval: Annotated[
        int | None, typer.Option(help="Days between rotations (default: 30).", min=1)
    ] = None,
    rotate_at: Annotated[
        str | None, typer.Option(help="Time of day (UTC) to rotate at, HH:MM (default: 00:00).")
    ] = None,
    auto_rotation: Annotated[
        bool | None,
        typer.Option(
            "--auto-rotation/--no-auto-rotation",
            help="Rotate on the schedule (default: on).",
            show_default=False,
        ),
    ] = None,
    length: Annotated[
        int | None, typer.Option(help="Length of generated passwords (default: 48).", min=1)
    ] = None,
    dn_secret: Annotated[
        str | None, typer.Option(help="Secret holding the DN (default: LDAP_DN).")
    ] = None,
    password_secret: Annotated[
        str | None, typer.Option(help="Secret holding the password (default: LDAP_PASSWORD).")
    ] = None,
    description: Annotated[str | None, typer.Option(help="Free text, up to 256.")] = None,
    from_file: FromFileOption = None,
    password_stdin: PasswordStdinOption = False,
    project: ProjectOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Create a rotation; it changes the account's password at once and writes the secrets.

    With target-principal, the account's current password is needed once:
    from a hidden prompt, from stdin (--password-stdin),
    or from temporaryParameters.password in --from-file.
    """
    if from_file is not None and str(from_file) == "-" and password_stdin:
        usage_error("--from-file - and --password-stdin cannot both read stdin")
    if method is not None and method not in METHODS:
        usage_error(f"--method must be one of {', '.join(METHODS)}")
    base = read_body(from_file) if from_file is not None else {}
    body = overlay(
        base,
        {
            "name": name,
            "description": description,
            "environment": environment,
            "secretPath": path,
            "isAutoRotationEnabled": auto_rotation,
            "rotationInterval": interval,
            "rotateAtUtc": _rotate_at(rotate_at),
            "parameters": {
                "dn": dn,
                "rotationMethod": method,
                "passwordRequirements": {"length": length},
            },
            "secretsMapping": {"dn": dn_secret, "password": password_secret},
        },
    )
    body.setdefault("environment", DEFAULT_ENVIRONMENT)
    parameters = body.get("parameters") or {}
    missing = [
        option
        for option, present in (
            ("--name", body.get("name")),
            ("--connection", connection or body.get("connectionId")),
            ("--dn", parameters.get("dn")),
        )
        if not present
    ]
    if missing:
        usage_error(f"missing {', '.join(missing)} (or give them in --from-file)")
    target_principal = parameters.get("rotationMethod") == "target-principal"
    if password_stdin and not target_principal:
        usage_error("--password-stdin is for --method target-principal (the account's password)")
    with open_client() as client:
        if project is not None or "projectId" not in body:
            body["projectId"] = project_id(client, project)
        if connection is not None:
            body["connectionId"] = connection_id(client, connection, str(body["projectId"]))
        temporary = body.get("temporaryParameters") or {}
        if target_principal and (password_stdin or not temporary.get("password")):
            body["temporaryParameters"] = {
                "password": read_secret(
                    "Current password of the account", from_stdin=password_stdin
                )
            }
        created = client.post(BASE, json=body)
    emit(created, output, lambda: print_record(created["secretRotation"]))


def _rotate_one(client: ApiClient, rotation_ref: str) -> JsonObject:
    return client.post(f"{BASE}/{rotation_ref}/rotate-secrets")


def _rotate_all(
    client: ApiClient,
    project: str | None,
    environment: str | None,
    path: str | None,
    output: OutputFormat,
) -> None:
    rotations = _project_rotations(client, project, environment, path)
    rotated: list[JsonObject] = []
    failed: list[dict[str, Any]] = []
    progress_console = console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=progress_console,
        disable=not progress_console.is_terminal,
    ) as progress:
        task = progress.add_task("rotating", total=len(rotations))
        for rotation in rotations:
            progress.update(task, description=f"rotating {rotation.get('name')}")
            try:
                rotated.append(_rotate_one(client, str(rotation["id"]))["secretRotation"])
            except (ApiError, ApiUnreachable) as exc:
                failed.append(
                    {"id": rotation.get("id"), "name": rotation.get("name"), "message": str(exc)}
                )
            progress.advance(task)
    if output is OutputFormat.json:
        print_json({"rotated": rotated, "failed": failed})
    else:
        typer.echo(f"{len(rotated)} rotated, {len(failed)} failed")
    for failure in failed:
        note(f"error: {failure['name']} ({failure['id']}): {failure['message']}")
    if failed:
        raise typer.Exit(1)


@app.command("rotate")
@reports_failures
def rotate(
    rotation: Annotated[
        str | None,
        typer.Argument(help="The rotation's id or name (or use --all).", show_default=False),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Rotate every rotation of the project.")
    ] = False,
    project: ProjectOption = None,
    environment: FilterEnvironmentOption = None,
    path: FilterPathOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Rotate now: one rotation, or --all of a project with a progress bar and a summary.

    Exit 1 when the rotation (or any of --all) failed; each failure's message goes to stderr.
    """
    if all_ == (rotation is not None):
        usage_error("give either a ROTATION or --all")
    with open_client() as client:
        if rotation is None:
            _rotate_all(client, project, environment, path, output)
            return
        body = _rotate_one(client, rotation_id(client, rotation, project, environment, path))
    done = body["secretRotation"]
    if output is OutputFormat.json:
        print_json(body)
    else:
        typer.echo(f"rotated {done.get('name')} ({done.get('id')}) at {done.get('lastRotatedAt')}")


@app.command("history")
@reports_failures
def history(
    rotation: RotationArgument,
    project: ProjectOption = None,
    environment: FilterEnvironmentOption = None,
    path: FilterPathOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List a rotation's attempts, newest first (no secrets)."""
    with open_client() as client:
        target = rotation_id(client, rotation, project, environment, path)
        body = client.get(f"{BASE}/{target}/history")
    emit(
        body,
        output,
        lambda: print_table(
            body.get("history") or [],
            [
                ("STARTED", field("startedAt")),
                ("FINISHED", field("finishedAt")),
                ("STATUS", field("status")),
                ("STEP", field("step")),
                ("MANUAL", field("manual")),
                ("ERROR", field("errorCode")),
                ("MESSAGE", field("message")),
            ],
            empty="no attempts yet",
        ),
    )


def _print_credentials(body: JsonObject) -> None:
    active = body.get("activeIndex")
    slots = [
        {"slot": index, "active": index == active, **credential}
        for index, credential in enumerate(body.get("generatedCredentials") or [])
    ]
    print_table(
        slots,
        [
            ("SLOT", field("slot")),
            ("ACTIVE", field("active")),
            ("DN", field("dn")),
            ("PASSWORD", field("password")),
        ],
        empty="no generated credentials",
    )


@app.command("credentials")
@reports_failures
def credentials(
    rotation: RotationArgument,
    project: ProjectOption = None,
    environment: FilterEnvironmentOption = None,
    path: FilterPathOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show the current and previous generated credentials (passwords included)."""
    with open_client() as client:
        target = rotation_id(client, rotation, project, environment, path)
        body = client.get(f"{BASE}/{target}/generated-credentials")
    emit(body, output, lambda: _print_credentials(body))
