"""How the API commands print: the API's JSON unchanged, or rich tables; one-line errors.

Results go to stdout; errors, progress and notes to stderr, so a script that captures stdout
gets only what it asked for.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from ldapkeeper.cli.client import ApiError, ApiUnreachable, one_line
from ldapkeeper.cli.config import ConfigError

P = ParamSpec("P")
R = TypeVar("R")

# Wide enough that ids, DNs and 48-character passwords are never folded when piped.
PIPE_WIDTH = 400


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output",
        "-o",
        case_sensitive=False,
        help="table: a readable table; json: the API's response body, unchanged.",
    ),
]


def console(*, stderr: bool = False) -> Console:
    """A console on the current stdout (or stderr); never folds lines when not a terminal."""
    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return probe
    return Console(stderr=stderr, width=PIPE_WIDTH, soft_wrap=True)


def print_json(body: Any) -> None:
    """``body`` as indented JSON on stdout."""
    typer.echo(json.dumps(body, indent=2, ensure_ascii=False))


def cell(value: Any) -> str:
    """A table cell: blank for null, yes/no for booleans, JSON for lists and objects."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False) if value else ""
    return str(value)


Column = tuple[str, Callable[[Mapping[str, Any]], Any]]


def field(*path: str) -> Callable[[Mapping[str, Any]], Any]:
    """A getter of a nested key (``field("credentials", "url")``); missing keys give None."""

    def get(item: Mapping[str, Any]) -> Any:
        value: Any = item
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        return value

    return get


def print_table(
    items: Iterable[Mapping[str, Any]], columns: Sequence[Column], *, empty: str
) -> None:
    """One row per item; ``empty`` (on stderr) when there is none."""
    rows = list(items)
    if not rows:
        typer.echo(empty, err=True)
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold", pad_edge=False)
    for title, _ in columns:
        table.add_column(title, overflow="fold")
    for item in rows:
        table.add_row(*(cell(get(item)) for _, get in columns))
    console().print(table)


def flatten(item: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``(dotted.key, value)`` pairs of a nested object, in its own order."""
    pairs: list[tuple[str, Any]] = []
    for key, value in item.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            pairs.extend(flatten(value, f"{name}."))
        else:
            pairs.append((name, value))
    return pairs


def print_record(item: Mapping[str, Any]) -> None:
    """One object as a two-column table of its (flattened) fields."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in flatten(item):
        table.add_row(name, cell(value))
    console().print(table)


def emit(
    body: Mapping[str, Any],
    output: OutputFormat,
    table: Callable[[], None],
) -> None:
    """``body`` as JSON, or the table ``table`` prints."""
    if output is OutputFormat.json:
        print_json(body)
    else:
        table()


def note(message: str) -> None:
    """A line for the person at the terminal (stderr)."""
    typer.echo(message, err=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr and exit with ``code``."""
    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(code)


def usage_error(message: str) -> NoReturn:
    """A usage error: Typer's own presentation and exit code 2."""
    raise typer.BadParameter(message)


def reports_failures(command: Callable[P, R]) -> Callable[P, R]:
    """Make a command turn a refusal, a network failure or missing credentials into one
    line on stderr and exit code 1, instead of a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (ApiError, ApiUnreachable, ConfigError) as exc:
            fail(str(exc))

    return run
