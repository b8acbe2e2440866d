"""The API commands of ``ldapkeeper`` with Typer's runner against a live server on 127.0.0.1."""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from tests.support.app import CLIENT_ID, CLIENT_SECRET, LiveServer, free_port
from tests.support.rotations import (
    create_rotation,
    rotation_body,
    slapd_admin_connection,
    stored_secret,
)
from tests.support.slapd import LdapUser, SlapdServer
from typer.testing import CliRunner, Result

from ldapkeeper.cli.main import app

SECRET_ENV = ("LDAPKEEPER_URL", "LDAPKEEPER_CLIENT_ID", "LDAPKEEPER_CLIENT_SECRET")
ROTATIONS = "/api/v2/secret-rotations/ldap-password"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME and XDG_CONFIG_HOME, and none of the caller's LDAPKEEPER_* settings."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    for name in (*SECRET_ENV, "LDAPKEEPER_PROJECT", "LDAPKEEPER_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def server_env(live_server: LiveServer) -> dict[str, str]:
    """Only the three variables a script sets."""
    return {
        "LDAPKEEPER_URL": live_server.url,
        "LDAPKEEPER_CLIENT_ID": CLIENT_ID,
        "LDAPKEEPER_CLIENT_SECRET": CLIENT_SECRET,
    }


def run(args: Sequence[str], env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env, input=stdin)


def json_out(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def credentials_file(home: Path) -> Path:
    return home / "config" / "ldapkeeper" / "credentials.json"


@pytest.fixture
def connection(live_server: LiveServer, slapd: SlapdServer) -> dict[str, Any]:
    """A connection of the default project binding as slapd's password admin over ldaps."""
    return slapd_admin_connection(live_server.api, slapd)


@pytest.fixture
def rotation(
    live_server: LiveServer, connection: dict[str, Any], ldap_user: LdapUser
) -> dict[str, Any]:
    """A rotation of ``ldap_user`` into /ldap of dev (created, so rotated once)."""
    return create_rotation(
        live_server.api, rotation_body(live_server.api, connection["id"], ldap_user.dn)
    )


def create_flags(slapd: SlapdServer, ca_file: Path, *, name: str = "corp-ldap") -> list[str]:
    ca_file.write_text(slapd.ca_pem)
    return [
        "connections",
        "create",
        "--name",
        name,
        "--provider",
        "open-ldap",
        "--url",
        slapd.ldaps_url,
        "--dn",
        slapd.admin_dn,
        "--ca-file",
        str(ca_file),
        "--password-stdin",
        "--output",
        "json",
    ]


# --- the command itself ------------------------------------------------------------------


def test_help_lists_server_worker_and_api_commands() -> None:
    result = run(["--help"])
    assert result.exit_code == 0
    for command in ("serve", "worker", "connections", "rotations", "secrets", "login"):
        assert command in result.stdout


# --- credentials and failures ------------------------------------------------------------


def test_connections_list_json_with_only_the_three_variables(server_env: dict[str, str]) -> None:
    assert json_out(run(["connections", "list", "--output", "json"], server_env)) == {
        "appConnections": []
    }


def test_wrong_client_secret_exits_1_with_one_line(server_env: dict[str, str]) -> None:
    env = {**server_env, "LDAPKEEPER_CLIENT_SECRET": "not-the-secret"}
    result = run(["connections", "list"], env)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: login to ")


def test_wrong_client_secret_prints_no_traceback(server_env: dict[str, str]) -> None:
    env = {**server_env, "LDAPKEEPER_CLIENT_SECRET": "not-the-secret"}
    result = run(["connections", "list"], env)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_missing_credentials_exit_1_naming_what_to_set() -> None:
    result = run(["connections", "list"])
    assert result.exit_code == 1
    assert "ldapkeeper login" in result.stderr


def test_unreachable_server_exits_1_with_one_line() -> None:
    env = {
        "LDAPKEEPER_URL": f"http://127.0.0.1:{free_port()}",
        "LDAPKEEPER_CLIENT_ID": CLIENT_ID,
        "LDAPKEEPER_CLIENT_SECRET": CLIENT_SECRET,
    }
    result = run(["projects", "list"], env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach http://127.0.0.1:")
    assert result.stderr.count("\n") == 1


def test_unknown_connection_id_exits_1(server_env: dict[str, str]) -> None:
    result = run(["connections", "get", str(uuid.uuid4())], server_env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert result.stdout == ""


def test_unknown_project_exits_1(server_env: dict[str, str]) -> None:
    result = run(["connections", "list", "--project", "nope"], server_env)
    assert result.exit_code == 1
    assert "no project 'nope'" in result.stderr


def test_unknown_output_format_is_a_usage_error(server_env: dict[str, str]) -> None:
    assert run(["projects", "list", "--output", "yaml"], server_env).exit_code == 2


# --- login -----------------------------------------------------------------------------------


def test_login_writes_a_0600_file(live_server: LiveServer, isolated_home: Path) -> None:
    result = run(
        ["login", "--url", live_server.url, "--client-id", CLIENT_ID, "--password-stdin"],
        stdin=CLIENT_SECRET + "\n",
    )
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(credentials_file(isolated_home).stat().st_mode) == 0o600


def test_login_makes_a_0700_directory(live_server: LiveServer, isolated_home: Path) -> None:
    run(
        ["login", "--url", live_server.url, "--client-id", CLIENT_ID, "--password-stdin"],
        stdin=CLIENT_SECRET,
    )
    assert stat.S_IMODE(credentials_file(isolated_home).parent.stat().st_mode) == 0o700


def test_login_reads_the_secret_from_a_hidden_prompt(
    live_server: LiveServer, isolated_home: Path
) -> None:
    result = run(["login", "--url", live_server.url, "--client-id", CLIENT_ID], stdin=CLIENT_SECRET)
    assert result.exit_code == 0, result.output
    assert CLIENT_SECRET not in result.stdout


def test_login_with_a_wrong_secret_stores_nothing(
    live_server: LiveServer, isolated_home: Path
) -> None:
    result = run(
        ["login", "--url", live_server.url, "--client-id", CLIENT_ID, "--password-stdin"],
        stdin="wrong",
    )
    assert result.exit_code == 1
    assert not credentials_file(isolated_home).exists()


def test_commands_use_the_stored_login(live_server: LiveServer) -> None:
    run(
        ["login", "--url", live_server.url, "--client-id", CLIENT_ID, "--password-stdin"],
        stdin=CLIENT_SECRET,
    )
    projects = json_out(run(["projects", "list", "-o", "json"]))["projects"]
    assert [p["slug"] for p in projects] == ["default"]


def test_a_rejected_cached_token_is_replaced(live_server: LiveServer, isolated_home: Path) -> None:
    run(
        ["login", "--url", live_server.url, "--client-id", CLIENT_ID, "--password-stdin"],
        stdin=CLIENT_SECRET,
    )
    path = credentials_file(isolated_home)
    stored = json.loads(path.read_text())
    path.write_text(json.dumps({**stored, "accessToken": "revoked.token.value"}))
    assert run(["projects", "list"]).exit_code == 0
    assert json.loads(path.read_text())["accessToken"] != "revoked.token.value"


def test_an_expired_cached_token_is_renewed(live_server: LiveServer, isolated_home: Path) -> None:
    run(
        ["login", "--url", live_server.url, "--client-id", CLIENT_ID, "--password-stdin"],
        stdin=CLIENT_SECRET,
    )
    path = credentials_file(isolated_home)
    stored = json.loads(path.read_text())
    expired = {**stored, "accessToken": "expired", "accessTokenExpiresAt": "2000-01-01T00:00:00Z"}
    path.write_text(json.dumps(expired))
    assert run(["projects", "list"]).exit_code == 0
    assert json.loads(path.read_text())["accessTokenExpiresAt"] > "2001"


def test_logout_removes_the_stored_login(live_server: LiveServer, isolated_home: Path) -> None:
    run(
        ["login", "--url", live_server.url, "--client-id", CLIENT_ID, "--password-stdin"],
        stdin=CLIENT_SECRET,
    )
    assert run(["logout"]).exit_code == 0
    assert not credentials_file(isolated_home).exists()


# --- projects --------------------------------------------------------------------------------


def test_projects_list_json_is_the_api_body(
    live_server: LiveServer, server_env: dict[str, str]
) -> None:
    body = json_out(run(["projects", "list", "--output", "json"], server_env))
    assert body["projects"][0]["id"] == live_server.api.project_id


def test_projects_list_table_shows_the_default_project(server_env: dict[str, str]) -> None:
    result = run(["projects", "list"], server_env)
    assert "default" in result.stdout
    assert "dev, staging, prod" in result.stdout


# --- connections ------------------------------------------------------------------------


@pytest.mark.slapd
def test_connections_create_binds_the_real_directory(
    live_server: LiveServer, server_env: dict[str, str], slapd: SlapdServer, tmp_path: Path
) -> None:
    result = run(
        create_flags(slapd, tmp_path / "ca.pem"), server_env, stdin=slapd.admin_password + "\n"
    )
    created = json_out(result)["appConnection"]
    assert (created["name"], created["projectId"]) == ("corp-ldap", live_server.api.project_id)


@pytest.mark.slapd
def test_connections_create_with_a_wrong_password_prints_the_server_message(
    server_env: dict[str, str], slapd: SlapdServer, tmp_path: Path
) -> None:
    result = run(create_flags(slapd, tmp_path / "ca.pem"), server_env, stdin="wrong-password")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: Unable to validate connection:")


@pytest.mark.slapd
def test_connections_create_reads_the_password_from_a_hidden_prompt(
    server_env: dict[str, str], slapd: SlapdServer, tmp_path: Path
) -> None:
    flags = [f for f in create_flags(slapd, tmp_path / "ca.pem") if f != "--password-stdin"]
    result = run(flags, server_env, stdin=slapd.admin_password + "\n")
    assert result.exit_code == 0, result.output
    assert slapd.admin_password not in result.output


@pytest.mark.slapd
def test_connections_create_from_file_sends_the_api_body(
    live_server: LiveServer, server_env: dict[str, str], slapd: SlapdServer, tmp_path: Path
) -> None:
    body = {
        "name": "from-file",
        "method": "simple-bind",
        "projectId": live_server.api.project_id,
        "credentials": {
            "provider": "open-ldap",
            "url": slapd.ldaps_url,
            "dn": slapd.admin_dn,
            "password": slapd.admin_password,
            "sslCertificate": slapd.ca_pem,
        },
    }
    path = tmp_path / "connection.json"
    path.write_text(json.dumps(body))
    result = run(["connections", "create", "--from-file", str(path), "-o", "json"], server_env)
    assert json_out(result)["appConnection"]["name"] == "from-file"


def test_connections_create_without_flags_is_a_usage_error(server_env: dict[str, str]) -> None:
    assert run(["connections", "create", "--password-stdin"], server_env, stdin="x").exit_code == 2


@pytest.mark.slapd
def test_connections_create_validation_failure_is_one_line(
    server_env: dict[str, str], slapd: SlapdServer, tmp_path: Path
) -> None:
    flags = create_flags(slapd, tmp_path / "ca.pem", name="Not A Slug")
    result = run(flags, server_env, stdin=slapd.admin_password)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: name: ")
    assert result.stderr.count("\n") == 1


@pytest.mark.slapd
def test_connections_list_table_shows_the_connection(
    server_env: dict[str, str], connection: dict[str, Any]
) -> None:
    result = run(["connections", "list"], server_env)
    assert connection["id"] in result.stdout


@pytest.mark.slapd
def test_connections_get_by_name_answers_the_api_object(
    server_env: dict[str, str], connection: dict[str, Any]
) -> None:
    body = json_out(run(["connections", "get", connection["name"], "-o", "json"], server_env))
    assert body == {"appConnection": connection}


@pytest.mark.slapd
def test_connections_check_binds_with_the_stored_credentials(
    server_env: dict[str, str], connection: dict[str, Any]
) -> None:
    result = run(["connections", "check", connection["id"]], server_env)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok (")


@pytest.mark.slapd
def test_connections_check_exits_1_when_the_bind_fails(
    live_server: LiveServer, server_env: dict[str, str], slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    from tests.support.rotations import create_connection

    own = create_connection(
        live_server.api,
        url=slapd.ldaps_url,
        dn=ldap_user.dn,
        password=ldap_user.password,
        ca_pem=slapd.ca_pem,
        name="user-bind",
    )
    slapd.set_password(ldap_user.dn, "changed-behind-our-back-1")
    result = run(["connections", "check", own["id"]], server_env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: bind failed: invalid_credentials")


@pytest.mark.slapd
def test_connections_delete_removes_the_connection(
    live_server: LiveServer, server_env: dict[str, str], connection: dict[str, Any]
) -> None:
    assert run(["connections", "delete", connection["id"], "--yes"], server_env).exit_code == 0
    response = live_server.api.client.get(
        f"/api/v1/app-connections/ldap/{connection['id']}", headers=live_server.api.admin
    )
    assert response.status_code == 404


@pytest.mark.slapd
def test_connections_delete_without_yes_asks_first(
    live_server: LiveServer, server_env: dict[str, str], connection: dict[str, Any]
) -> None:
    result = run(["connections", "delete", connection["id"]], server_env, stdin="n\n")
    assert result.exit_code == 1
    response = live_server.api.client.get(
        f"/api/v1/app-connections/ldap/{connection['id']}", headers=live_server.api.admin
    )
    assert response.status_code == 200


# --- rotations ---------------------------------------------------------------------------


@pytest.mark.slapd
def test_rotations_create_rotates_the_users_password(
    server_env: dict[str, str], connection: dict[str, Any], slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    flags = ["--name", "svc", "--connection", connection["name"], "--dn", ldap_user.dn]
    result = run(["rotations", "create", *flags, "--path", "/ldap", "-o", "json"], server_env)
    assert json_out(result)["secretRotation"]["rotationStatus"] == "success"
    assert not slapd.can_bind(ldap_user.dn, ldap_user.password)


@pytest.mark.slapd
def test_rotations_create_target_principal_takes_the_password_from_stdin(
    live_server: LiveServer,
    server_env: dict[str, str],
    connection: dict[str, Any],
    slapd: SlapdServer,
    ldap_user: LdapUser,
) -> None:
    flags = ["--name", "self", "--connection", connection["id"], "--dn", ldap_user.dn]
    flags += ["--method", "target-principal", "--password-stdin", "--path", "/ldap"]
    result = run(["rotations", "create", *flags], server_env, stdin=ldap_user.password + "\n")
    assert result.exit_code == 0, result.output
    assert slapd.can_bind(ldap_user.dn, stored_secret(live_server.api, "LDAP_PASSWORD"))


@pytest.mark.slapd
def test_rotations_list_json_is_the_api_body(
    server_env: dict[str, str], rotation: dict[str, Any]
) -> None:
    body = json_out(run(["rotations", "list", "-o", "json"], server_env))
    assert [r["id"] for r in body["secretRotations"]] == [rotation["id"]]


@pytest.mark.slapd
def test_rotations_get_by_name_shows_the_rotation(
    server_env: dict[str, str], rotation: dict[str, Any]
) -> None:
    result = run(["rotations", "get", rotation["name"]], server_env)
    assert result.exit_code == 0, result.output
    assert rotation["id"] in result.stdout


@pytest.mark.slapd
def test_rotations_rotate_changes_the_stored_password(
    live_server: LiveServer,
    server_env: dict[str, str],
    rotation: dict[str, Any],
    slapd: SlapdServer,
) -> None:
    before = stored_secret(live_server.api, "LDAP_PASSWORD")
    assert run(["rotations", "rotate", rotation["id"]], server_env).exit_code == 0
    after = stored_secret(live_server.api, "LDAP_PASSWORD")
    assert after != before
    assert slapd.can_bind(rotation["parameters"]["dn"], after)


@pytest.mark.slapd
def test_rotations_history_lists_the_attempts(
    server_env: dict[str, str], rotation: dict[str, Any]
) -> None:
    run(["rotations", "rotate", rotation["id"]], server_env)
    body = json_out(run(["rotations", "history", rotation["id"], "-o", "json"], server_env))
    assert [h["status"] for h in body["history"]] == ["success", "success"]


@pytest.mark.slapd
def test_rotations_credentials_show_the_active_password(
    live_server: LiveServer, server_env: dict[str, str], rotation: dict[str, Any]
) -> None:
    body = json_out(run(["rotations", "credentials", rotation["id"], "-o", "json"], server_env))
    active = body["generatedCredentials"][body["activeIndex"]]["password"]
    assert active == stored_secret(live_server.api, "LDAP_PASSWORD")


@pytest.mark.slapd
def test_rotate_all_summarizes_every_rotation(
    live_server: LiveServer,
    server_env: dict[str, str],
    connection: dict[str, Any],
    slapd: SlapdServer,
) -> None:
    for uid in ("all-one", "all-two"):
        dn = slapd.add_user(f"{uid}-{uuid.uuid4().hex[:8]}", "Initial-password-1")
        create_rotation(
            live_server.api,
            rotation_body(live_server.api, connection["id"], dn, name=uid, secret_path=f"/{uid}"),
        )
    result = run(["rotations", "rotate", "--all"], server_env)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2 rotated, 0 failed"


@pytest.mark.slapd
def test_rotate_all_exits_1_and_reports_each_failure(
    server_env: dict[str, str], rotation: dict[str, Any], slapd: SlapdServer
) -> None:
    slapd.delete_user(rotation["parameters"]["dn"])
    result = run(["rotations", "rotate", "--all"], server_env)
    assert result.exit_code == 1
    assert result.stdout.strip() == "0 rotated, 1 failed"
    assert result.stderr.startswith(f"error: {rotation['name']} ({rotation['id']}): ")


def test_rotate_needs_a_rotation_or_all(server_env: dict[str, str]) -> None:
    assert run(["rotations", "rotate"], server_env).exit_code == 2


@pytest.mark.slapd
def test_rotations_rotate_of_an_unknown_name_exits_1(
    server_env: dict[str, str], rotation: dict[str, Any]
) -> None:
    result = run(["rotations", "rotate", "no-such-rotation"], server_env)
    assert result.exit_code == 1
    assert "no rotation named 'no-such-rotation'" in result.stderr


# --- secrets -----------------------------------------------------------------------------


@pytest.mark.slapd
def test_secrets_get_prints_the_rotated_password(
    live_server: LiveServer, server_env: dict[str, str], rotation: dict[str, Any]
) -> None:
    result = run(["secrets", "get", "LDAP_PASSWORD", "--path", "/ldap"], server_env)
    assert stored_secret(live_server.api, "LDAP_PASSWORD") in result.stdout


@pytest.mark.slapd
def test_secrets_get_plain_prints_only_the_value(
    live_server: LiveServer, server_env: dict[str, str], rotation: dict[str, Any]
) -> None:
    result = run(["secrets", "get", "LDAP_PASSWORD", "--path", "/ldap", "--plain"], server_env)
    assert result.stdout == stored_secret(live_server.api, "LDAP_PASSWORD") + "\n"


@pytest.mark.slapd
def test_secrets_list_hides_values_without_reveal(
    live_server: LiveServer, server_env: dict[str, str], rotation: dict[str, Any]
) -> None:
    result = run(["secrets", "list", "--path", "/ldap"], server_env)
    assert "LDAP_PASSWORD" in result.stdout
    assert stored_secret(live_server.api, "LDAP_PASSWORD") not in result.stdout


@pytest.mark.slapd
def test_secrets_list_reveal_json_holds_the_values(
    live_server: LiveServer, server_env: dict[str, str], rotation: dict[str, Any]
) -> None:
    args = ["secrets", "list", "--path", "/ldap", "--reveal", "-o", "json"]
    values = {s["secretKey"]: s["secretValue"] for s in json_out(run(args, server_env))["secrets"]}
    assert values["LDAP_PASSWORD"] == stored_secret(live_server.api, "LDAP_PASSWORD")


def test_secrets_get_of_a_missing_secret_exits_1(server_env: dict[str, str]) -> None:
    result = run(["secrets", "get", "NOPE"], server_env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
