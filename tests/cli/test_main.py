import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ldapkeeper.bootstrap import current_org_id
from ldapkeeper.cli.main import app
from ldapkeeper.db.session import Database
from ldapkeeper.identity.tokens import load_signing_key
from ldapkeeper.kms.errors import DataKeyMissing
from ldapkeeper.kms.keyring import KeyRing
from ldapkeeper.kms.root_key import ROOT_KEY_FILE, generate_root_key_text, parse_root_key


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Settings of a command run: a data directory and SQLite database under tmp."""
    for name in list(os.environ):
        if name.startswith("LDAPKEEPER_"):
            monkeypatch.delenv(name)
    return {
        "LDAPKEEPER_DATA_DIR": str(tmp_path / "data"),
        "LDAPKEEPER_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'ldapkeeper.db'}",
    }


def _run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def _signing_key_opens_with(env: dict[str, str], root_text: str) -> bool:
    database = Database(env["LDAPKEEPER_DATABASE_URL"])
    try:
        with database.read() as session:
            org_id = current_org_id(session)
            assert org_id is not None
            try:
                load_signing_key(session, KeyRing(parse_root_key(root_text)), org_id)
            except DataKeyMissing:
                return False
            return True
    finally:
        database.dispose()


def test_help_lists_the_local_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "worker", "migrate", "bootstrap", "keys"):
        assert command in result.output


def test_keys_help_lists_rotate_root() -> None:
    result = CliRunner().invoke(app, ["keys", "--help"])
    assert result.exit_code == 0
    assert "rotate-root" in result.output


def test_migrate_creates_the_schema(env: dict[str, str]) -> None:
    result = _run(env, "migrate")
    assert result.exit_code == 0, result.output
    assert "migrations applied" in result.output
    assert Path(env["LDAPKEEPER_DATA_DIR"], "ldapkeeper.db").exists()


def test_bootstrap_prints_generated_credentials(env: dict[str, str]) -> None:
    result = _run(env, "bootstrap")
    assert result.exit_code == 0, result.output
    assert "admin@ldapkeeper.local" in result.output
    assert "admin password:" in result.output
    assert "client id:" in result.output
    assert "client secret:" in result.output


def test_bootstrap_a_second_time_prints_no_credentials(env: dict[str, str]) -> None:
    _run(env, "bootstrap")
    result = _run(env, "bootstrap")
    assert result.exit_code == 0, result.output
    assert "already bootstrapped" in result.output
    assert "password" not in result.output
    assert "secret" not in result.output


def test_bootstrap_takes_credentials_from_the_environment(env: dict[str, str]) -> None:
    env |= {
        "LDAPKEEPER_BOOTSTRAP_ADMIN_EMAIL": "ops@example.test",
        "LDAPKEEPER_BOOTSTRAP_ADMIN_PASSWORD": "given-password-canary",
        "LDAPKEEPER_BOOTSTRAP_CLIENT_ID": "given-client",
        "LDAPKEEPER_BOOTSTRAP_CLIENT_SECRET": "given-secret-canary",
    }
    result = _run(env, "bootstrap")
    assert result.exit_code == 0, result.output
    assert "ops@example.test" in result.output
    assert "given-client" in result.output
    assert "canary" not in result.output


def test_bootstrap_generates_the_root_key_file(env: dict[str, str]) -> None:
    _run(env, "bootstrap")
    key_file = Path(env["LDAPKEEPER_DATA_DIR"], ROOT_KEY_FILE)
    assert _signing_key_opens_with(env, key_file.read_text())


def test_rotate_root_rewraps_and_replaces_the_key_file(env: dict[str, str], tmp_path: Path) -> None:
    _run(env, "bootstrap")
    key_file = Path(env["LDAPKEEPER_DATA_DIR"], ROOT_KEY_FILE)
    old_key = key_file.read_text()
    new_key = generate_root_key_text()
    new_key_file = tmp_path / "new.key"
    new_key_file.write_text(new_key + "\n")
    result = _run(env, "keys", "rotate-root", "--new-key-file", str(new_key_file))
    assert result.exit_code == 0, result.output
    assert "re-wrapped" in result.output
    assert key_file.read_text().strip() == new_key
    assert _signing_key_opens_with(env, new_key)
    assert not _signing_key_opens_with(env, old_key)


def test_rotate_root_with_the_key_in_the_environment_leaves_files_alone(
    env: dict[str, str], tmp_path: Path
) -> None:
    old_key = generate_root_key_text()
    env["LDAPKEEPER_ROOT_KEY"] = old_key
    _run(env, "bootstrap")
    new_key_file = tmp_path / "new.key"
    new_key_file.write_text(generate_root_key_text())
    result = _run(env, "keys", "rotate-root", "--new-key-file", str(new_key_file))
    assert result.exit_code == 0, result.output
    assert "LDAPKEEPER_ROOT_KEY" in result.output
    assert not Path(env["LDAPKEEPER_DATA_DIR"], ROOT_KEY_FILE).exists()
    assert _signing_key_opens_with(env, new_key_file.read_text())


@pytest.mark.parametrize(
    "content", ["not base64!", "c2hvcnQ=", None], ids=["garbage", "short", "missing"]
)
def test_rotate_root_with_a_bad_key_file_fails_in_one_line(
    env: dict[str, str], tmp_path: Path, content: str | None
) -> None:
    _run(env, "bootstrap")
    key_file = Path(env["LDAPKEEPER_DATA_DIR"], ROOT_KEY_FILE)
    old_key = key_file.read_text()
    new_key_file = tmp_path / "new.key"
    if content is not None:
        new_key_file.write_text(content)
    result = _run(env, "keys", "rotate-root", "--new-key-file", str(new_key_file))
    assert result.exit_code != 0
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output
    assert key_file.read_text() == old_key
    assert _signing_key_opens_with(env, old_key)


def test_rotate_root_with_the_wrong_current_key_fails_in_one_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    _run(env, "bootstrap")
    new_key_file = tmp_path / "new.key"
    new_key_file.write_text(generate_root_key_text())
    result = _run(
        env | {"LDAPKEEPER_ROOT_KEY": generate_root_key_text()},
        *("keys", "rotate-root", "--new-key-file", str(new_key_file)),
    )
    assert result.exit_code != 0
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert _signing_key_opens_with(env, Path(env["LDAPKEEPER_DATA_DIR"], ROOT_KEY_FILE).read_text())


def test_rotate_root_without_the_current_key_creates_none(
    env: dict[str, str], tmp_path: Path
) -> None:
    # Bootstrapped with the key in the environment, rotated from a shell without it.
    _run(env | {"LDAPKEEPER_ROOT_KEY": generate_root_key_text()}, "bootstrap")
    new_key_file = tmp_path / "new.key"
    new_key_file.write_text(generate_root_key_text())
    result = _run(env, "keys", "rotate-root", "--new-key-file", str(new_key_file))
    assert result.exit_code != 0
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not Path(env["LDAPKEEPER_DATA_DIR"], ROOT_KEY_FILE).exists()


def test_bootstrap_prints_only_the_credentials_it_generated(env: dict[str, str]) -> None:
    env["LDAPKEEPER_BOOTSTRAP_ADMIN_PASSWORD"] = "given-password-canary"
    result = _run(env, "bootstrap")
    assert result.exit_code == 0, result.output
    assert "client secret:" in result.output
    assert "canary" not in result.output


def test_serve_refuses_several_processes_on_sqlite(env: dict[str, str]) -> None:
    result = _run({**env, "LDAPKEEPER_SERVE_PROCESSES": "2"}, "serve")
    assert result.exit_code == 2
    assert "needs PostgreSQL" in result.output


def test_serve_refusing_several_processes_creates_no_database(env: dict[str, str]) -> None:
    _run({**env, "LDAPKEEPER_SERVE_PROCESSES": "2"}, "serve")
    assert not Path(env["LDAPKEEPER_DATA_DIR"], "ldapkeeper.db").exists()
