"""The official ``infisicalsdk`` client, unmodified, against a live server over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from infisical_sdk import InfisicalSDKClient
from infisical_sdk.infisical_requests import APIError
from tests.secrets.client import admin_secrets, machine_identity, project_slug, write_managed
from tests.support.app import CLIENT_ID, CLIENT_SECRET, LiveServer

HIDDEN = "<hidden-by-infisical>"


def _login(server: LiveServer, client_id: str, client_secret: str) -> InfisicalSDKClient:
    # cache_ttl=None: every call reaches the server (the cache would answer repeats itself).
    client = InfisicalSDKClient(host=server.url, cache_ttl=None)
    client.auth.universal_auth.login(client_id=client_id, client_secret=client_secret)
    return client


@pytest.fixture
def sdk(live_server: LiveServer) -> Iterator[InfisicalSDKClient]:
    """The SDK logged in with the bootstrap admin machine identity."""
    client = _login(live_server, CLIENT_ID, CLIENT_SECRET)
    yield client
    client.close()


@pytest.fixture
def project_id(live_server: LiveServer) -> str:
    return live_server.api.project_id


def test_universal_auth_login_answers_a_bearer_token(live_server: LiveServer) -> None:
    client = InfisicalSDKClient(host=live_server.url, cache_ttl=None)
    login = client.auth.universal_auth.login(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert login.tokenType == "Bearer"
    assert client.get_token() == login.accessToken


def test_lists_secrets_written_through_the_api(
    live_server: LiveServer, sdk: InfisicalSDKClient, project_id: str
) -> None:
    secrets = admin_secrets(live_server.api)
    secrets.create("DB_USER", "app", path="/app")
    secrets.create("DB_PASSWORD", "hunter2", path="/app")
    listed = sdk.secrets.list_secrets(
        project_id=project_id, environment_slug="dev", secret_path="/app"
    )
    assert {(s.secretKey, s.secretValue) for s in listed.secrets} == {
        ("DB_USER", "app"),
        ("DB_PASSWORD", "hunter2"),
    }
    assert listed.imports == []


def test_lists_recursively(
    live_server: LiveServer, sdk: InfisicalSDKClient, project_id: str
) -> None:
    admin_secrets(live_server.api).create("DEEP", "d", path="/app/deeper")
    listed = sdk.secrets.list_secrets(
        project_id=project_id, environment_slug="dev", secret_path="/app", recursive=True
    )
    assert [(s.secretPath, s.secretKey) for s in listed.secrets] == [("/app/deeper", "DEEP")]


def test_lists_by_project_slug(live_server: LiveServer, sdk: InfisicalSDKClient) -> None:
    admin_secrets(live_server.api).create("SLUGGED", "s")
    slug = project_slug(live_server.api, live_server.api.project_id)
    listed = sdk.secrets.list_secrets(project_slug=slug, environment_slug="dev", secret_path="/")
    assert [s.secretKey for s in listed.secrets] == ["SLUGGED"]


def test_gets_a_secret_by_name(
    live_server: LiveServer, sdk: InfisicalSDKClient, project_id: str
) -> None:
    admin_secrets(live_server.api).create("API_KEY", "abc123", path="/svc")
    secret = sdk.secrets.get_secret_by_name(
        secret_name="API_KEY", project_id=project_id, environment_slug="dev", secret_path="/svc"
    )
    assert (secret.secretKey, secret.secretValue, secret.secretPath) == (
        "API_KEY",
        "abc123",
        "/svc",
    )
    assert (secret.version, secret.type, secret.secretValueHidden) == (1, "shared", False)


def test_gets_an_older_version(
    live_server: LiveServer, sdk: InfisicalSDKClient, project_id: str
) -> None:
    secrets = admin_secrets(live_server.api)
    secrets.create("TOKEN", "first")
    secrets.update("TOKEN", secretValue="second")
    secret = sdk.secrets.get_secret_by_name(
        secret_name="TOKEN",
        project_id=project_id,
        environment_slug="dev",
        secret_path="/",
        version="1",
    )
    assert (secret.version, secret.secretValue) == (1, "first")


def test_expands_references_by_default(
    live_server: LiveServer, sdk: InfisicalSDKClient, project_id: str
) -> None:
    secrets = admin_secrets(live_server.api)
    secrets.create("HOST", "db.internal")
    secrets.create("URL", "postgres://${HOST}")
    secret = sdk.secrets.get_secret_by_name(
        secret_name="URL", project_id=project_id, environment_slug="dev", secret_path="/"
    )
    assert secret.secretValue == "postgres://db.internal"


def test_creates_a_secret(sdk: InfisicalSDKClient, project_id: str) -> None:
    created = sdk.secrets.create_secret_by_name(
        secret_name="CREATED",
        project_id=project_id,
        environment_slug="dev",
        secret_path="/made/on/demand",
        secret_value="v1",
        secret_comment="from the sdk",
    )
    assert (created.secretKey, created.secretValue, created.version) == ("CREATED", "v1", 1)
    fetched = sdk.secrets.get_secret_by_name(
        secret_name="CREATED",
        project_id=project_id,
        environment_slug="dev",
        secret_path="/made/on/demand",
    )
    assert (fetched.secretValue, fetched.secretComment) == ("v1", "from the sdk")


def test_creating_an_existing_secret_is_a_400(sdk: InfisicalSDKClient, project_id: str) -> None:
    arguments = {
        "secret_name": "TWICE",
        "project_id": project_id,
        "environment_slug": "dev",
        "secret_path": "/",
        "secret_value": "v",
    }
    sdk.secrets.create_secret_by_name(**arguments)
    with pytest.raises(APIError) as caught:
        sdk.secrets.create_secret_by_name(**arguments)
    assert caught.value.status_code == 400


def test_updates_a_secret_to_a_new_version(sdk: InfisicalSDKClient, project_id: str) -> None:
    sdk.secrets.create_secret_by_name(
        secret_name="UPDATED",
        project_id=project_id,
        environment_slug="dev",
        secret_path="/",
        secret_value="old",
    )
    updated = sdk.secrets.update_secret_by_name(
        current_secret_name="UPDATED",
        project_id=project_id,
        environment_slug="dev",
        secret_path="/",
        secret_value="new",
    )
    assert (updated.secretValue, updated.version) == ("new", 2)


def test_renames_a_secret(sdk: InfisicalSDKClient, project_id: str) -> None:
    sdk.secrets.create_secret_by_name(
        secret_name="BEFORE",
        project_id=project_id,
        environment_slug="dev",
        secret_path="/",
        secret_value="kept",
    )
    renamed = sdk.secrets.update_secret_by_name(
        current_secret_name="BEFORE",
        project_id=project_id,
        environment_slug="dev",
        secret_path="/",
        new_secret_name="AFTER",
    )
    assert (renamed.secretKey, renamed.secretValue) == ("AFTER", "kept")


def test_deletes_a_secret(sdk: InfisicalSDKClient, project_id: str) -> None:
    sdk.secrets.create_secret_by_name(
        secret_name="DOOMED",
        project_id=project_id,
        environment_slug="dev",
        secret_path="/",
        secret_value="bye",
    )
    deleted = sdk.secrets.delete_secret_by_name(
        secret_name="DOOMED", project_id=project_id, environment_slug="dev", secret_path="/"
    )
    assert deleted.secretKey == "DOOMED"
    with pytest.raises(APIError) as caught:
        sdk.secrets.get_secret_by_name(
            secret_name="DOOMED", project_id=project_id, environment_slug="dev", secret_path="/"
        )
    assert caught.value.status_code == 404


def test_a_rotation_managed_secret_is_read_only(
    live_server: LiveServer, sdk: InfisicalSDKClient, project_id: str
) -> None:
    write_managed(live_server.api, key="LDAP_PASSWORD", value="rotated", path="/ldap")
    with pytest.raises(APIError) as caught:
        sdk.secrets.update_secret_by_name(
            current_secret_name="LDAP_PASSWORD",
            project_id=project_id,
            environment_slug="dev",
            secret_path="/ldap",
            secret_value="mine",
        )
    assert caught.value.status_code == 400
    assert caught.value.response["message"] == (
        "This secret is managed by a secret rotation and cannot be edited"
    )


def test_reads_a_rotation_managed_secret(
    live_server: LiveServer, sdk: InfisicalSDKClient, project_id: str
) -> None:
    write_managed(live_server.api, key="LDAP_PASSWORD", value="rotated-pw", path="/ldap")
    secret = sdk.secrets.get_secret_by_name(
        secret_name="LDAP_PASSWORD",
        project_id=project_id,
        environment_slug="dev",
        secret_path="/ldap",
    )
    assert secret.secretValue == "rotated-pw"


def test_a_viewer_sees_the_value_hidden(live_server: LiveServer, project_id: str) -> None:
    admin_secrets(live_server.api).create("VISIBLE", "not-for-viewers")
    viewer = _login(live_server, *machine_identity(live_server.api, "viewer"))
    listed = viewer.secrets.list_secrets(
        project_id=project_id, environment_slug="dev", secret_path="/"
    )
    secret = viewer.secrets.get_secret_by_name(
        secret_name="VISIBLE", project_id=project_id, environment_slug="dev", secret_path="/"
    )
    assert [(s.secretKey, s.secretValue, s.secretValueHidden) for s in listed.secrets] == [
        ("VISIBLE", HIDDEN, True)
    ]
    assert (secret.secretValue, secret.secretValueHidden) == (HIDDEN, True)


def test_a_viewer_may_not_create(live_server: LiveServer, project_id: str) -> None:
    viewer = _login(live_server, *machine_identity(live_server.api, "viewer"))
    with pytest.raises(APIError) as caught:
        viewer.secrets.create_secret_by_name(
            secret_name="NOPE",
            project_id=project_id,
            environment_slug="dev",
            secret_path="/",
            secret_value="x",
        )
    assert caught.value.status_code == 403


def test_view_secret_value_false_hides_the_value(
    live_server: LiveServer, sdk: InfisicalSDKClient, project_id: str
) -> None:
    admin_secrets(live_server.api).create("MASKED", "clear")
    listed = sdk.secrets.list_secrets(
        project_id=project_id, environment_slug="dev", secret_path="/", view_secret_value=False
    )
    assert [s.secretValue for s in listed.secrets] == [HIDDEN]


# --- folders ------------------------------------------------------------------------------


def test_creates_a_folder(sdk: InfisicalSDKClient, project_id: str) -> None:
    folder = sdk.folders.create_folder(
        name="ldap", environment_slug="dev", project_id=project_id, description="accounts"
    )
    assert (folder.name, folder.path, folder.description) == ("ldap", "/ldap", "accounts")


def test_lists_folders(sdk: InfisicalSDKClient, project_id: str) -> None:
    sdk.folders.create_folder(
        name="ad", environment_slug="dev", project_id=project_id, path="/ldap"
    )
    top = sdk.folders.list_folders(project_id=project_id, environment_slug="dev", path="/")
    everything = sdk.folders.list_folders(
        project_id=project_id, environment_slug="dev", path="/", recursive=True
    )
    assert [f.name for f in top.folders] == ["ldap"]
    assert [f.name for f in everything.folders] == ["ldap", "ad"]


def test_gets_a_folder_by_id(sdk: InfisicalSDKClient, project_id: str) -> None:
    created = sdk.folders.create_folder(name="ldap", environment_slug="dev", project_id=project_id)
    folder = sdk.folders.get_folder_by_id(id=created.id)
    assert (folder.path, folder.projectId) == ("/ldap", project_id)
    assert (folder.environment.envSlug, folder.environment.envId) == ("dev", created.envId)


def test_updates_a_folder(sdk: InfisicalSDKClient, project_id: str) -> None:
    created = sdk.folders.create_folder(name="old", environment_slug="dev", project_id=project_id)
    updated = sdk.folders.update_folder(
        folder_id=created.id, name="new", environment_slug="dev", project_id=project_id
    )
    assert (updated.name, updated.path, updated.version) == ("new", "/new", 2)


def test_deletes_a_folder(sdk: InfisicalSDKClient, project_id: str) -> None:
    created = sdk.folders.create_folder(name="gone", environment_slug="dev", project_id=project_id)
    deleted = sdk.folders.delete_folder(
        folder_id_or_name="gone", environment_slug="dev", project_id=project_id
    )
    assert deleted.id == created.id
    remaining = sdk.folders.list_folders(project_id=project_id, environment_slug="dev", path="/")
    assert remaining.folders == []
