"""Where the API commands find the server and identity: environment, stored login, token cache."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ldapkeeper.cli import config
from ldapkeeper.cli.config import CachedToken, ConfigError, Credentials

STORED = Credentials(
    "https://keeper.example.test",
    "stored-id",
    "stored-secret",
    CachedToken("cached-token", datetime.now(UTC) + timedelta(hours=1)),
)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    for name in (config.URL_ENV, config.CLIENT_ID_ENV, config.CLIENT_SECRET_ENV):
        monkeypatch.delenv(name, raising=False)
    return home


def test_config_dir_follows_xdg_config_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config.credentials_path() == tmp_path / "xdg" / "ldapkeeper" / "credentials.json"


def test_config_dir_defaults_to_dot_config(isolated_home: Path) -> None:
    assert config.config_dir() == isolated_home / ".config" / "ldapkeeper"


def test_relative_xdg_config_home_is_ignored(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    assert config.config_dir() == isolated_home / ".config" / "ldapkeeper"


def test_save_is_0600_even_with_a_permissive_umask() -> None:
    old = os.umask(0)
    try:
        path = config.save(STORED)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_save_then_load_round_trips_the_token() -> None:
    config.save(STORED)
    loaded = config.load_stored()
    assert loaded is not None
    assert loaded.token is not None
    assert loaded.token.access_token == "cached-token"


def test_a_file_that_is_not_json_is_a_config_error() -> None:
    path = config.credentials_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        config.load_stored()


def test_environment_wins_over_the_stored_login(monkeypatch: pytest.MonkeyPatch) -> None:
    config.save(STORED)
    monkeypatch.setenv(config.URL_ENV, "http://other.example.test:8080/")
    assert config.resolve().url == "http://other.example.test:8080"


def test_stored_secret_is_not_used_for_another_client_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config.save(STORED)
    monkeypatch.setenv(config.CLIENT_ID_ENV, "another-id")
    with pytest.raises(ConfigError, match=config.CLIENT_SECRET_ENV):
        config.resolve()


def test_cached_token_is_used_with_the_stored_identity() -> None:
    config.save(STORED)
    assert config.resolve().token == STORED.token


def test_cached_token_is_not_used_with_another_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    config.save(STORED)
    monkeypatch.setenv(config.CLIENT_SECRET_ENV, "another-secret")
    assert config.resolve().token is None


def test_nothing_configured_names_every_missing_variable() -> None:
    with pytest.raises(ConfigError) as raised:
        config.resolve()
    assert all(
        name in str(raised.value)
        for name in (config.URL_ENV, config.CLIENT_ID_ENV, config.CLIENT_SECRET_ENV)
    )


def test_credentials_repr_hides_the_secret_and_token() -> None:
    assert "stored-secret" not in repr(STORED)
    assert "cached-token" not in repr(STORED)
