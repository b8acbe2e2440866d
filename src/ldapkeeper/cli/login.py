"""``ldapkeeper login`` and ``logout``: keep a server's URL and machine identity for later."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from ldapkeeper.cli import config
from ldapkeeper.cli.client import ApiClient
from ldapkeeper.cli.config import CLIENT_ID_ENV, CLIENT_SECRET_ENV, URL_ENV, Credentials
from ldapkeeper.cli.options import PasswordStdinOption, read_secret
from ldapkeeper.cli.output import note

DEFAULT_URL = "http://127.0.0.1:8080"


def login(
    url: Annotated[
        str,
        typer.Option(envvar=URL_ENV, show_envvar=True, help="The server's base URL."),
    ] = DEFAULT_URL,
    client_id: Annotated[
        str | None,
        typer.Option(
            envvar=CLIENT_ID_ENV,
            show_envvar=True,
            help="The machine identity's client id (prompted for when absent).",
            show_default=False,
        ),
    ] = None,
    password_stdin: PasswordStdinOption = False,
) -> None:
    """Log in with a machine identity and store the credentials for the other commands.

    The client secret comes from --password-stdin, LDAPKEEPER_CLIENT_SECRET or a hidden prompt.
    The file is $XDG_CONFIG_HOME/ldapkeeper/credentials.json (or ~/.config/...), mode 0600.
    It also caches the access token, renewed when it expires.
    """
    if client_id is None:
        client_id = typer.prompt("Client id")
    if password_stdin:
        client_secret = read_secret("Client secret", from_stdin=True)
    else:
        client_secret = os.environ.get(CLIENT_SECRET_ENV) or read_secret(
            "Client secret", from_stdin=False
        )
    credentials = Credentials(config.normalize_url(url), client_id, client_secret)
    # Saved only once the server accepted it, with the token it issued.
    with ApiClient(credentials, persist_token=False) as client:
        client.login()
        path = config.save(client.credentials)
    note(f"logged in to {credentials.url} as {client_id}; credentials saved to {path}")


def logout() -> None:
    """Forget the stored credentials and cached token."""
    path = config.credentials_path()
    if config.remove(path):
        note(f"removed {path}")
    else:
        note(f"not logged in ({path} does not exist)")
