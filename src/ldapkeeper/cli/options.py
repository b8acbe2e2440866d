"""Options shared by the API commands, and reading passwords without the command line."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from ldapkeeper.cli.output import usage_error

DEFAULT_PROJECT = "default"
DEFAULT_ENVIRONMENT = "dev"

# None when not given, so that a project named in --from-file is kept unless overridden.
ProjectOption = Annotated[
    str | None,
    typer.Option(
        "--project",
        "-p",
        envvar="LDAPKEEPER_PROJECT",
        show_envvar=True,
        help=f"Project id or slug (default: the {DEFAULT_PROJECT!r} project).",
        show_default=False,
    ),
]
EnvironmentOption = Annotated[
    str,
    typer.Option(
        "--environment",
        "-e",
        envvar="LDAPKEEPER_ENVIRONMENT",
        help="Environment slug.",
        show_envvar=True,
    ),
]
PathOption = Annotated[str, typer.Option("--path", help="Secret path (folder), e.g. /ldap.")]
PasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password (or secret) from stdin instead of a hidden prompt; "
        "one trailing newline is dropped.",
    ),
]
FromFileOption = Annotated[
    Path | None,
    typer.Option(
        "--from-file",
        help="JSON file with the API's request body ('-' for stdin); flags override its fields.",
        dir_okay=False,
        allow_dash=True,
    ),
]


def read_secret(prompt: str, *, from_stdin: bool) -> str:
    """A password from stdin (``--password-stdin``) or from a hidden prompt; never empty.

    The value is kept exactly as typed except for the line ending that closes it.
    """
    if from_stdin:
        value = sys.stdin.read()
        if value.endswith("\r\n"):
            value = value[:-2]
        elif value.endswith("\n"):
            value = value[:-1]
        if not value:
            usage_error("--password-stdin: stdin is empty")
        return value
    value = typer.prompt(prompt, hide_input=True)
    if not isinstance(value, str) or not value:
        usage_error("the password must not be empty")
    return value


def read_body(path: Path) -> dict[str, Any]:
    """The JSON object in ``path`` (``-``: stdin), for ``--from-file``.

    Failures are usage errors (exit 2): the file is part of the command line.
    """
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        usage_error(f"--from-file: cannot read {path}: {exc.strerror or type(exc).__name__}")
    try:
        body = json.loads(text)
    except ValueError as exc:
        usage_error(f"--from-file: {path} is not JSON ({exc})")
    if not isinstance(body, dict):
        usage_error(f"--from-file: {path} must hold a JSON object")
    return body


def is_uuid(text: str) -> bool:
    """True when ``text`` is a UUID (a record id) rather than a name or slug."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def overlay(base: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with every flag that was given (not None) set over it; nested
    dicts of flags go into the same nested objects of the body."""
    body = dict(base)
    for key, value in flags.items():
        if isinstance(value, dict):
            current = body.get(key)
            nested = overlay(current if isinstance(current, dict) else {}, value)
            if nested or key in body:
                body[key] = nested
        elif value is not None:
            body[key] = value
    return body
