"""The ``ldapkeeper`` command: local server/operator commands and the API commands."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from ldapkeeper.bootstrap import BootstrapResult
from ldapkeeper.cli import connections, login, projects, rotations, secrets
from ldapkeeper.cli.output import reports_failures
from ldapkeeper.kms.errors import KmsError
from ldapkeeper.settings import Settings

app = typer.Typer(
    name="ldapkeeper",
    help="Self-hosted secrets service that rotates LDAP and Active Directory passwords.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Root key operations.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _print_bootstrap(result: BootstrapResult | None) -> None:
    if result is None:
        return
    lines = [
        "ldapkeeper: first start, created the organization and the 'default' project.",
        f"  admin user:      {result.admin_email}",
    ]
    # Only what was generated: a value given in LDAPKEEPER_BOOTSTRAP_* is never echoed.
    if result.password_generated:
        lines.append(f"  admin password:  {result.admin_password}")
    lines.append(f"  client id:       {result.client_id}")
    if result.secret_generated:
        lines.append(f"  client secret:   {result.client_secret}")
    if result.generated:
        lines.append("  These are shown once; keep them now.")
    else:
        lines.append("  (credentials taken from LDAPKEEPER_BOOTSTRAP_*)")
    # Straight to the terminal, never through the log pipeline.
    print("\n".join(lines), file=sys.stderr, flush=True)


@app.command()
def serve() -> None:
    """Run the HTTP server (and, on SQLite or when enabled, the rotation worker)."""
    import uvicorn

    from ldapkeeper.app import create_app
    from ldapkeeper.logs import configure_logging
    from ldapkeeper.runtime import build_runtime

    settings = Settings()
    configure_logging(settings.log_level)
    processes = settings.serve_processes
    if processes > 1 and settings.is_sqlite:
        typer.echo(
            "error: LDAPKEEPER_SERVE_PROCESSES above 1 needs PostgreSQL "
            "(SQLite is written by one process)",
            err=True,
        )
        raise typer.Exit(2)
    runtime = build_runtime(settings)
    _print_bootstrap(runtime.bootstrap_result)
    print(
        f"ldapkeeper: listening on http://{settings.host}:{settings.port}/ "
        f"(log in there; API docs at /docs)",
        file=sys.stderr,
        flush=True,
    )
    if processes == 1:
        uvicorn.run(
            create_app(runtime),
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=True,
        )
        return
    # Migrated and bootstrapped above; each process builds its own runtime (and runs its own
    # rotation worker, which claims with SKIP LOCKED beside the others).
    runtime.db.dispose()
    uvicorn.run(
        "ldapkeeper.app:app_from_environment",
        factory=True,
        workers=processes,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=True,
    )


@app.command()
def worker() -> None:
    """Run the rotation worker alone (PostgreSQL scale-out)."""
    from ldapkeeper.logs import configure_logging
    from ldapkeeper.runtime import build_runtime

    settings = Settings()
    configure_logging(settings.log_level)
    runtime = build_runtime(settings)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    worker = runtime.worker()
    worker.start()
    typer.echo(f"ldapkeeper worker {worker.worker_id}: running", err=True)
    stopping.wait()
    worker.stop()


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    from ldapkeeper.db.migrate import upgrade
    from ldapkeeper.db.session import Database

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(Database(settings.effective_database_url))
    typer.echo("migrations applied")


@app.command()
def bootstrap() -> None:
    """Migrate and create the organization, admin user and identity on an empty database."""
    from ldapkeeper.runtime import build_runtime

    runtime = build_runtime(Settings())
    if runtime.bootstrap_result is None:
        typer.echo("already bootstrapped; nothing to do")
    _print_bootstrap(runtime.bootstrap_result)


@keys_app.command("rotate-root")
def rotate_root(
    new_key_file: Annotated[
        Path, typer.Option("--new-key-file", help="File holding the new root key (base64)")
    ],
) -> None:
    """Re-wrap every data key under a new root key (records are not touched)."""
    from ldapkeeper.db.session import Database
    from ldapkeeper.kms.root_key import ROOT_KEY_FILE, parse_root_key, write_key_file
    from ldapkeeper.runtime import open_keyring

    settings = Settings()
    try:
        new_root = parse_root_key(new_key_file.read_text())
    except (OSError, KmsError) as exc:
        typer.echo(f"error: cannot use {new_key_file}: {exc}", err=True)
        raise typer.Exit(1) from exc
    key_file = settings.data_dir / ROOT_KEY_FILE
    if settings.root_key is None and not key_file.exists():
        # open_keyring would generate a fresh key here: never the one that wrapped the data.
        typer.echo(
            f"error: no current root key: set LDAPKEEPER_ROOT_KEY ({key_file} is absent)",
            err=True,
        )
        raise typer.Exit(1)
    db = Database(settings.effective_database_url)
    try:
        keyring = open_keyring(settings)
        with db.write() as session:
            count = keyring.rewrap_all(session, new_root)
    except KmsError as exc:
        typer.echo(f"error: nothing re-wrapped: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    if settings.root_key is None:
        write_key_file(key_file, new_key_file.read_text().strip())
        typer.echo(f"re-wrapped {count} data keys; {key_file} updated")
    else:
        typer.echo(
            f"re-wrapped {count} data keys; start servers with LDAPKEEPER_ROOT_KEY set to the "
            "new key (LDAPKEEPER_ROOT_KEY_PREVIOUS may keep the old one until all have restarted)"
        )


# API commands: talk to a server over HTTP (LDAPKEEPER_URL or `ldapkeeper login`).
app.command("login")(reports_failures(login.login))
app.command("logout")(reports_failures(login.logout))
app.add_typer(connections.app, name="connections")
app.add_typer(rotations.app, name="rotations")
app.add_typer(secrets.app, name="secrets")
app.add_typer(projects.app, name="projects")


if __name__ == "__main__":
    app()
