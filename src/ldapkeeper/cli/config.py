"""Where the API commands find the server and the machine identity to log in with.

Each of URL, client id and client secret comes from its environment variable
(``LDAPKEEPER_URL``, ``LDAPKEEPER_CLIENT_ID``, ``LDAPKEEPER_CLIENT_SECRET``) or else from the
file ``ldapkeeper login`` writes: ``$XDG_CONFIG_HOME/ldapkeeper/credentials.json`` (or
``~/.config/ldapkeeper/credentials.json``), mode 0600 in a 0700 directory. The file may also
cache the last access token, used only with exactly the credentials it was issued for.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

URL_ENV = "LDAPKEEPER_URL"
CLIENT_ID_ENV = "LDAPKEEPER_CLIENT_ID"
CLIENT_SECRET_ENV = "LDAPKEEPER_CLIENT_SECRET"
FILE_MODE = 0o600
DIR_MODE = 0o700


class ConfigError(Exception):
    """The credentials are missing or the credentials file cannot be used (one-line message)."""


@dataclass(frozen=True)
class CachedToken:
    """An access token and the moment after which it is no longer worth sending."""

    access_token: str = field(repr=False)
    expires_at: datetime

    def is_fresh(self, now: datetime) -> bool:
        return now < self.expires_at


@dataclass(frozen=True)
class Credentials:
    """A server and the machine identity to log in to it with (the secret is never shown)."""

    url: str
    client_id: str
    client_secret: str = field(repr=False)
    token: CachedToken | None = field(default=None, repr=False)

    def same_identity(self, other: Credentials) -> bool:
        """True when both name the same server, client id and client secret."""
        return (self.url, self.client_id, self.client_secret) == (
            other.url,
            other.client_id,
            other.client_secret,
        )


def normalize_url(url: str) -> str:
    """The server URL without surrounding blanks or trailing slashes."""
    return url.strip().rstrip("/")


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/ldapkeeper`` (an absolute XDG path only, as the spec says), else
    ``~/.config/ldapkeeper``."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "ldapkeeper"


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def load_stored(path: Path | None = None) -> Credentials | None:
    """The credentials saved by ``ldapkeeper login``, or None when there are none.

    Raises:
        ConfigError: when the file exists but is not a credentials file.
    """
    path = path or credentials_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {type(exc).__name__}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"cannot read {path}: not a JSON object")
    url, client_id, client_secret = raw.get("url"), raw.get("clientId"), raw.get("clientSecret")
    if not (isinstance(url, str) and url and isinstance(client_id, str) and client_id) or not (
        isinstance(client_secret, str) and client_secret
    ):
        raise ConfigError(f"cannot read {path}: url, clientId or clientSecret missing")
    token = None
    access_token, expires_at = raw.get("accessToken"), _parse_time(raw.get("accessTokenExpiresAt"))
    if isinstance(access_token, str) and access_token and expires_at is not None:
        token = CachedToken(access_token, expires_at)
    return Credentials(normalize_url(url), client_id, client_secret, token)


def save(credentials: Credentials, path: Path | None = None) -> Path:
    """Write the credentials (and cached token) atomically with mode 0600 in a 0700 directory.

    Raises:
        ConfigError: when the file cannot be written.
    """
    path = path or credentials_path()
    body: dict[str, str] = {
        "url": credentials.url,
        "clientId": credentials.client_id,
        "clientSecret": credentials.client_secret,
    }
    if credentials.token is not None:
        body["accessToken"] = credentials.token.access_token
        body["accessTokenExpiresAt"] = (
            credentials.token.expires_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        )
    try:
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        path.parent.chmod(DIR_MODE)
        # mkstemp creates the file 0600 from the start: the secret is never readable by others.
        fd, tmp_name = tempfile.mkstemp(prefix=".credentials-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(body, handle, indent=2)
                handle.write("\n")
            os.chmod(tmp_name, FILE_MODE)
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None
    return path


def remove(path: Path | None = None) -> bool:
    """Delete the stored credentials; False when there were none."""
    path = path or credentials_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ConfigError(f"cannot remove {path}: {exc.strerror or type(exc).__name__}") from None
    return True


def resolve() -> Credentials:
    """The credentials to use: each value from its environment variable, else the stored file.

    The stored secret is used only with the stored client id, and the cached token only with
    exactly the stored credentials.

    Raises:
        ConfigError: when the URL, client id or client secret is missing.
    """
    stored = load_stored()
    url = os.environ.get(URL_ENV) or (stored.url if stored else "")
    client_id = os.environ.get(CLIENT_ID_ENV) or (stored.client_id if stored else "")
    client_secret = os.environ.get(CLIENT_SECRET_ENV) or (
        stored.client_secret if stored and stored.client_id == client_id else ""
    )
    missing = [
        name
        for name, value in (
            (URL_ENV, url),
            (CLIENT_ID_ENV, client_id),
            (CLIENT_SECRET_ENV, client_secret),
        )
        if not value
    ]
    if missing:
        raise ConfigError(f"not logged in: run `ldapkeeper login` or set {', '.join(missing)}")
    credentials = Credentials(normalize_url(url), client_id, client_secret)
    if stored is not None and stored.same_identity(credentials):
        return replace(credentials, token=stored.token)
    return credentials


def store_token(credentials: Credentials) -> None:
    """Cache ``credentials.token`` in the stored file if the file holds these credentials.

    Best effort: a token that cannot be cached is simply asked for again next time.
    """
    try:
        stored = load_stored()
        if stored is not None and stored.same_identity(credentials):
            save(credentials)
    except ConfigError:
        pass
