"""``/api/v3/secrets/raw``: shapes, parameters, hidden values, permissions, managed secrets."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from tests.secrets.client import (
    RawSecrets,
    admin_secrets,
    create_project,
    project_slug,
    write_managed,
)
from tests.support.app import Api

from ldapkeeper.api.offload import run_read
from ldapkeeper.api.routers import secrets as secrets_router
from ldapkeeper.audit.queue import audit_queue
from ldapkeeper.db.models import AuditEvent

SECRET_KEYS = {
    "id",
    "_id",
    "workspace",
    "environment",
    "version",
    "type",
    "secretKey",
    "secretValue",
    "secretComment",
    "secretPath",
    "tags",
    "secretValueHidden",
    "skipMultilineEncoding",
    "createdAt",
    "updatedAt",
}
HIDDEN = "<hidden-by-infisical>"
MANAGED_MESSAGE = "This secret is managed by a secret rotation and cannot be edited"


@pytest.fixture
def admin(api: Api) -> RawSecrets:
    return admin_secrets(api)


def _as(api: Api, role: str) -> RawSecrets:
    return RawSecrets(api, api.identity_with_role(role), api.project_id)


def _keys(response_json: dict[str, list[dict[str, str]]]) -> list[str]:
    return [secret["secretKey"] for secret in response_json["secrets"]]


# --- shapes --------------------------------------------------------------------------------


def test_create_answers_a_secret_with_every_key(admin: RawSecrets) -> None:
    response = admin.create("DB_PASSWORD", "hunter2")
    assert response.status_code == 200, response.text
    secret = response.json()["secret"]
    assert set(secret) == SECRET_KEYS
    assert secret["id"] == secret["_id"]
    assert (secret["type"], secret["tags"], secret["secretComment"]) == ("shared", [], "")


def test_create_answers_the_value_the_project_and_the_environment(admin: RawSecrets) -> None:
    secret = admin.create("DB_PASSWORD", "hunter2").json()["secret"]
    assert (secret["secretValue"], secret["secretValueHidden"]) == ("hunter2", False)
    assert (secret["workspace"], secret["environment"]) == (admin.project_id, "dev")
    assert (secret["secretPath"], secret["version"]) == ("/", 1)


def test_timestamps_are_utc_with_z(admin: RawSecrets) -> None:
    secret = admin.create("WHEN").json()["secret"]
    assert secret["createdAt"].endswith("Z")
    assert secret["updatedAt"].endswith("Z")


def test_list_answers_secrets_and_empty_imports(admin: RawSecrets) -> None:
    admin.create("A")
    body = admin.list(include_imports="true").json()
    assert set(body) == {"secrets", "imports"}
    assert body["imports"] == []
    assert set(body["secrets"][0]) == SECRET_KEYS


def test_list_is_sorted_by_key(admin: RawSecrets) -> None:
    for key in ("ZETA", "ALPHA", "MID"):
        admin.create(key)
    assert _keys(admin.list().json()) == ["ALPHA", "MID", "ZETA"]


def test_comment_and_multiline_flag_round_trip(admin: RawSecrets) -> None:
    admin.create("NOTED", secretComment="why it exists", skipMultilineEncoding=True)
    secret = admin.get("NOTED").json()["secret"]
    assert (secret["secretComment"], secret["skipMultilineEncoding"]) == ("why it exists", True)


def test_create_without_a_value_stores_an_empty_value(api: Api) -> None:
    response = api.client.post(
        "/api/v3/secrets/raw/EMPTY",
        json={"workspaceId": api.project_id, "environment": "dev"},
        headers=api.admin,
    )
    assert response.json()["secret"]["secretValue"] == ""


# --- projects, environments, paths --------------------------------------------------------


def test_list_by_workspace_slug(api: Api, admin: RawSecrets) -> None:
    admin.create("BY_SLUG")
    response = api.client.get(
        "/api/v3/secrets/raw",
        params={"workspaceSlug": project_slug(api, api.project_id), "environment": "dev"},
        headers=api.admin,
    )
    assert _keys(response.json()) == ["BY_SLUG"]


def test_create_by_project_slug(api: Api) -> None:
    response = api.client.post(
        "/api/v3/secrets/raw/SLUGGED",
        json={
            "projectSlug": project_slug(api, api.project_id),
            "environment": "dev",
            "secretValue": "x",
        },
        headers=api.admin,
    )
    assert response.json()["secret"]["workspace"] == api.project_id


def test_a_request_naming_no_project_is_a_validation_failure(api: Api) -> None:
    response = api.client.get(
        "/api/v3/secrets/raw", params={"environment": "dev"}, headers=api.admin
    )
    assert (response.status_code, response.json()["error"]) == (422, "ValidationFailure")


def test_unknown_project_is_not_found(api: Api) -> None:
    response = RawSecrets(api, api.admin, "00000000-0000-4000-8000-000000000000").list()
    assert response.status_code == 404


def test_unknown_environment_is_not_found(api: Api) -> None:
    response = RawSecrets(api, api.admin, api.project_id, environment="nope").list()
    assert response.status_code == 404


def test_environments_hold_separate_secrets(api: Api, admin: RawSecrets) -> None:
    admin.create("ONLY_DEV")
    prod = RawSecrets(api, api.admin, api.project_id, environment="prod")
    assert prod.list().json()["secrets"] == []


def test_create_in_a_missing_path_creates_its_folders(api: Api, admin: RawSecrets) -> None:
    admin.create("NESTED", path="/ldap/ad")
    folders = api.client.get(
        "/api/v2/folders",
        params={"projectId": api.project_id, "environment": "dev", "path": "/ldap"},
        headers=api.admin,
    ).json()["folders"]
    assert [f["path"] for f in folders] == ["/ldap/ad"]


def test_list_without_recursive_shows_only_the_folder(admin: RawSecrets) -> None:
    admin.create("TOP")
    admin.create("BELOW", path="/sub")
    assert _keys(admin.list().json()) == ["TOP"]


def test_list_recursive_includes_subfolders_with_their_paths(admin: RawSecrets) -> None:
    admin.create("TOP")
    admin.create("BELOW", path="/sub")
    secrets = admin.list(recursive="true").json()["secrets"]
    assert [(s["secretPath"], s["secretKey"]) for s in secrets] == [("/", "TOP"), ("/sub", "BELOW")]


def test_list_recursive_accepts_python_style_booleans(admin: RawSecrets) -> None:
    admin.create("BELOW", path="/sub")
    assert _keys(admin.list(recursive="True").json()) == ["BELOW"]


def test_list_of_a_path_that_does_not_exist_is_empty(admin: RawSecrets) -> None:
    response = admin.list(path="/nowhere")
    assert (response.status_code, response.json()["secrets"]) == (200, [])


def test_secret_path_is_normalized(admin: RawSecrets) -> None:
    admin.create("NORMAL", path="ldap//ad/")
    assert admin.get("NORMAL", path="/ldap/ad").json()["secret"]["secretPath"] == "/ldap/ad"


def test_a_path_with_dot_dot_is_a_validation_failure(admin: RawSecrets) -> None:
    assert admin.create("ESCAPE", path="/a/../b").status_code == 422


def test_a_tag_filter_matches_no_secret(admin: RawSecrets) -> None:
    admin.create("UNTAGGED")
    assert admin.list(tagSlugs="prod-only").json()["secrets"] == []


# --- get, versions ------------------------------------------------------------------------


def test_get_by_name(admin: RawSecrets) -> None:
    admin.create("API_KEY", "abc", path="/svc")
    secret = admin.get("API_KEY", path="/svc").json()["secret"]
    assert (secret["secretKey"], secret["secretValue"], secret["secretPath"]) == (
        "API_KEY",
        "abc",
        "/svc",
    )


def test_get_unknown_is_not_found(admin: RawSecrets) -> None:
    response = admin.get("MISSING")
    assert (response.status_code, response.json()["message"]) == (
        404,
        "Secret with name 'MISSING' not found",
    )


def test_get_a_version_answers_that_versions_value(admin: RawSecrets) -> None:
    admin.create("ROTATING", "first")
    admin.update("ROTATING", secretValue="second")
    secret = admin.get("ROTATING", version="1").json()["secret"]
    assert (secret["version"], secret["secretValue"]) == (1, "first")


def test_get_an_unknown_version_is_not_found(admin: RawSecrets) -> None:
    admin.create("ONCE")
    assert admin.get("ONCE", version="9").status_code == 404


def test_personal_secrets_are_refused(admin: RawSecrets) -> None:
    admin.create("SHARED")
    assert admin.get("SHARED", type="personal").status_code == 400


def test_an_invalid_secret_name_is_a_validation_failure(admin: RawSecrets) -> None:
    assert admin.create("HAS:COLON").status_code == 422


# --- writes -------------------------------------------------------------------------------


def test_update_makes_a_new_version_with_the_new_value(admin: RawSecrets) -> None:
    admin.create("TOKEN", "old")
    secret = admin.update("TOKEN", secretValue="new").json()["secret"]
    assert (secret["version"], secret["secretValue"]) == (2, "new")


def test_update_of_the_comment_keeps_the_value(admin: RawSecrets) -> None:
    admin.create("TOKEN", "kept")
    secret = admin.update("TOKEN", secretComment="rotated by hand").json()["secret"]
    assert (secret["secretValue"], secret["secretComment"]) == ("kept", "rotated by hand")


def test_update_with_new_secret_name_renames(admin: RawSecrets) -> None:
    admin.create("OLD_NAME", "v")
    admin.update("OLD_NAME", newSecretName="NEW_NAME")
    assert admin.get("OLD_NAME").status_code == 404
    assert admin.get("NEW_NAME").json()["secret"]["secretValue"] == "v"


def test_rename_to_a_taken_name_is_refused(admin: RawSecrets) -> None:
    admin.create("ONE")
    admin.create("TWO")
    response = admin.update("ONE", newSecretName="TWO")
    assert (response.status_code, response.json()["message"]) == (
        400,
        "Secret with name 'TWO' already exists",
    )


def test_update_of_an_unknown_secret_is_not_found(admin: RawSecrets) -> None:
    assert admin.update("GHOST", secretValue="x").status_code == 404


def test_creating_an_existing_name_is_refused(admin: RawSecrets) -> None:
    admin.create("TWICE")
    response = admin.create("TWICE")
    assert (response.status_code, response.json()["message"]) == (
        400,
        "Secret with name 'TWICE' already exists",
    )


def test_delete_answers_the_deleted_secret(admin: RawSecrets) -> None:
    admin.create("DOOMED", "bye")
    secret = admin.delete("DOOMED").json()["secret"]
    assert (secret["secretKey"], secret["secretValue"]) == ("DOOMED", "bye")


def test_a_deleted_secret_is_gone(admin: RawSecrets) -> None:
    admin.create("DOOMED")
    admin.delete("DOOMED")
    assert admin.get("DOOMED").status_code == 404


def test_tags_are_refused(admin: RawSecrets) -> None:
    assert admin.create("TAGGED", tagIds=["t1"]).status_code == 400


def test_unknown_body_fields_are_ignored(admin: RawSecrets) -> None:
    response = admin.create(
        "EXTRA", secretMetadata=[{"key": "a", "value": "b"}], secretReminderNote="n", anything=1
    )
    assert response.status_code == 200


# --- hidden values and permissions --------------------------------------------------------


def test_view_secret_value_false_hides_listed_values(admin: RawSecrets) -> None:
    admin.create("MASKED", "clear")
    secret = admin.list(viewSecretValue="false").json()["secrets"][0]
    assert (secret["secretValue"], secret["secretValueHidden"]) == (HIDDEN, True)


def test_view_secret_value_false_hides_a_single_value(admin: RawSecrets) -> None:
    admin.create("MASKED", "clear")
    secret = admin.get("MASKED", viewSecretValue="false").json()["secret"]
    assert (secret["secretValue"], secret["secretValueHidden"]) == (HIDDEN, True)


def test_a_viewer_lists_keys_with_hidden_values(api: Api, admin: RawSecrets) -> None:
    admin.create("VISIBLE_KEY", "invisible-value")
    response = _as(api, "viewer").list()
    assert response.status_code == 200
    secret = response.json()["secrets"][0]
    assert (secret["secretKey"], secret["secretValue"], secret["secretValueHidden"]) == (
        "VISIBLE_KEY",
        HIDDEN,
        True,
    )
    assert "invisible-value" not in response.text


def test_a_viewer_gets_a_hidden_value_even_with_references_expanded(
    api: Api, admin: RawSecrets
) -> None:
    admin.create("BASE", "base-value")
    admin.create("REF", "${BASE}")
    response = _as(api, "viewer").get("REF", expandSecretReferences="true")
    assert response.json()["secret"]["secretValue"] == HIDDEN
    assert "base-value" not in response.text


@pytest.mark.parametrize("write", ["create", "update", "delete"])
def test_a_viewer_may_not_write(api: Api, admin: RawSecrets, write: str) -> None:
    admin.create("EXISTING")
    viewer = _as(api, "viewer")
    calls = {
        "create": lambda: viewer.create("NEW"),
        "update": lambda: viewer.update("EXISTING", secretValue="x"),
        "delete": lambda: viewer.delete("EXISTING"),
    }
    response = calls[write]()
    assert (response.status_code, response.json()["error"]) == (403, "PermissionDenied")


def test_a_member_reads_values(api: Api, admin: RawSecrets) -> None:
    admin.create("SHARED", "for-members")
    assert _as(api, "member").get("SHARED").json()["secret"]["secretValue"] == "for-members"


def test_a_member_creates_updates_and_deletes(api: Api) -> None:
    member = _as(api, "member")
    assert member.create("MINE", "1").status_code == 200
    assert member.update("MINE", secretValue="2").status_code == 200
    assert member.delete("MINE").status_code == 200


def test_no_access_may_not_even_list(api: Api) -> None:
    assert _as(api, "no-access").list().status_code == 403


def test_an_identity_outside_the_project_is_refused(api: Api) -> None:
    other = create_project(api, "other")
    admin_secrets(api, other).create("OTHER_SECRET", "other-value")
    member_of_default = RawSecrets(api, api.identity_with_role("member"), other)
    response = member_of_default.get("OTHER_SECRET")
    assert response.status_code == 403
    assert "other-value" not in response.text


def test_a_project_never_lists_another_projects_secrets(api: Api, admin: RawSecrets) -> None:
    other = create_project(api, "other")
    admin_secrets(api, other).create("OTHER_SECRET")
    admin.create("MINE")
    assert _keys(admin.list(recursive="true").json()) == ["MINE"]


def test_without_a_token_is_unauthorized(api: Api) -> None:
    response = RawSecrets(api, {}, api.project_id).list()
    assert response.status_code == 401


def test_a_validation_failure_never_echoes_the_value(api: Api) -> None:
    response = api.client.post(
        "/api/v3/secrets/raw/LEAK",
        json={
            "workspaceId": api.project_id,
            "environment": "dev",
            "secretValue": {"nested": "hunter2-do-not-echo"},
        },
        headers=api.admin,
    )
    assert response.status_code == 422
    assert "hunter2-do-not-echo" not in response.text


def test_a_validation_failure_of_another_field_never_echoes_the_value(api: Api) -> None:
    response = api.client.post(
        "/api/v3/secrets/raw/LEAK",
        json={
            "workspaceId": api.project_id,
            "environment": "dev",
            "secretPath": "/bad path",
            "secretValue": "hunter2-do-not-echo",
        },
        headers=api.admin,
    )
    assert response.status_code == 422
    assert "hunter2-do-not-echo" not in response.text


# --- rotation-managed secrets -------------------------------------------------------------


def test_a_managed_secret_is_readable(api: Api, admin: RawSecrets) -> None:
    write_managed(api, key="LDAP_PASSWORD", value="rotated-pw")
    assert admin.get("LDAP_PASSWORD").json()["secret"]["secretValue"] == "rotated-pw"


def test_a_managed_secret_cannot_be_updated(api: Api, admin: RawSecrets) -> None:
    write_managed(api, key="LDAP_PASSWORD", value="rotated-pw")
    response = admin.update("LDAP_PASSWORD", secretValue="mine")
    assert (response.status_code, response.json()["message"]) == (400, MANAGED_MESSAGE)


def test_a_managed_secret_cannot_be_renamed(api: Api, admin: RawSecrets) -> None:
    write_managed(api, key="LDAP_PASSWORD", value="rotated-pw")
    response = admin.update("LDAP_PASSWORD", newSecretName="STOLEN")
    assert (response.status_code, response.json()["message"]) == (400, MANAGED_MESSAGE)


def test_a_managed_secret_cannot_be_deleted(api: Api, admin: RawSecrets) -> None:
    write_managed(api, key="LDAP_PASSWORD", value="rotated-pw")
    response = admin.delete("LDAP_PASSWORD")
    assert (response.status_code, response.json()["message"]) == (400, MANAGED_MESSAGE)


def test_creating_the_name_of_a_managed_secret_is_refused(api: Api, admin: RawSecrets) -> None:
    write_managed(api, key="LDAP_PASSWORD", value="rotated-pw")
    assert admin.create("LDAP_PASSWORD", "mine").status_code == 400


def test_a_refused_edit_leaves_the_managed_value(api: Api, admin: RawSecrets) -> None:
    write_managed(api, key="LDAP_PASSWORD", value="rotated-pw")
    admin.update("LDAP_PASSWORD", secretValue="mine")
    secret = admin.get("LDAP_PASSWORD").json()["secret"]
    assert (secret["secretValue"], secret["version"]) == ("rotated-pw", 1)


# --- references ---------------------------------------------------------------------------


def test_references_stay_as_written_unless_expansion_is_asked(admin: RawSecrets) -> None:
    admin.create("HOST", "db.internal")
    admin.create("URL", "postgres://${HOST}")
    assert admin.get("URL").json()["secret"]["secretValue"] == "postgres://${HOST}"


def test_a_local_reference_is_expanded_when_asked(admin: RawSecrets) -> None:
    admin.create("HOST", "db.internal")
    admin.create("URL", "postgres://${HOST}")
    secret = admin.get("URL", expandSecretReferences="true").json()["secret"]
    assert secret["secretValue"] == "postgres://db.internal"


def test_a_reference_to_another_environment_and_path_is_expanded(
    api: Api, admin: RawSecrets
) -> None:
    prod = RawSecrets(api, api.admin, api.project_id, environment="prod")
    prod.create("USER", "svc-prod", path="/ldap/ad")
    admin.create("WHO", "${prod.ldap.ad.USER}")
    listed = admin.list(expandSecretReferences="true").json()["secrets"]
    assert listed[0]["secretValue"] == "svc-prod"


def test_a_reference_cycle_is_refused(admin: RawSecrets) -> None:
    admin.create("A", "${B}")
    admin.create("B", "${A}")
    response = admin.get("A", expandSecretReferences="true")
    assert (response.status_code, response.json()["message"]) == (
        400,
        "Secret reference cycle: dev:/:A -> dev:/:B -> dev:/:A",
    )


def test_a_rotation_written_value_is_never_expanded(api: Api, admin: RawSecrets) -> None:
    admin.create("B", "expanded")
    write_managed(api, key="LDAP_PASSWORD", value="x${B}y")
    secret = admin.get("LDAP_PASSWORD", expandSecretReferences="true").json()["secret"]
    assert secret["secretValue"] == "x${B}y"


def test_a_reference_to_a_rotation_written_value_substitutes_it(
    api: Api, admin: RawSecrets
) -> None:
    write_managed(api, key="LDAP_PASSWORD", value="rotated-pw", path="/ldap")
    admin.create("DSN", "ldaps://svc:${dev.ldap.LDAP_PASSWORD}@dc")
    secret = admin.get("DSN", expandSecretReferences="true").json()["secret"]
    assert secret["secretValue"] == "ldaps://svc:rotated-pw@dc"


# --- audit --------------------------------------------------------------------------------


def _audit(api: Api) -> list[dict[str, object]]:
    response = api.client.get(
        "/api/v1/audit-logs", params={"projectId": api.project_id}, headers=api.admin
    )
    events: list[dict[str, object]] = response.json()["auditLogs"]
    return events


def test_reads_and_writes_are_audited_with_infisicals_event_names(
    api: Api, admin: RawSecrets
) -> None:
    admin.create("AUDITED", "v1")
    admin.get("AUDITED")
    admin.list()
    admin.update("AUDITED", secretValue="v2")
    admin.delete("AUDITED")
    types = {event["type"] for event in _audit(api)}
    assert {"create-secret", "get-secret", "get-secrets", "update-secret", "delete-secret"} <= types


def test_audit_events_name_the_secret(api: Api, admin: RawSecrets) -> None:
    admin.create("AUDITED", "v1", path="/svc")
    event = next(e for e in _audit(api) if e["type"] == "create-secret")
    metadata = event["metadata"]
    assert isinstance(metadata, dict)
    assert (metadata["secretKey"], metadata["secretPath"], metadata["environment"]) == (
        "AUDITED",
        "/svc",
        "dev",
    )


def test_audit_events_never_hold_a_value(api: Api, admin: RawSecrets) -> None:
    admin.create("AUDITED", "value-not-for-audit-1")
    admin.update("AUDITED", secretValue="value-not-for-audit-2")
    admin.get("AUDITED")
    text = api.client.get(
        "/api/v1/audit-logs", params={"projectId": api.project_id}, headers=api.admin
    ).text
    assert "value-not-for-audit" not in text


# --- both databases -----------------------------------------------------------------------


def test_write_and_read_back_on_every_database(api_any_db: Api) -> None:
    secrets = admin_secrets(api_any_db)
    secrets.create("PORTABLE", "v1", path="/a/b")
    secrets.update("PORTABLE", path="/a/b", secretValue="v2")
    secret = secrets.get("PORTABLE", path="/a/b", version="1").json()["secret"]
    assert secret["secretValue"] == "v1"
    assert _keys(secrets.list(path="/a", recursive="true").json()) == ["PORTABLE"]


# --- PostgreSQL: the current value read on the event loop ------------------------------------


def _no_offloaded_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record reads that go the long way (``run_read``) instead of failing them."""
    taken: list[str] = []
    real = run_read

    async def recording(*args: Any, **kwargs: Any) -> Any:
        taken.append("run_read")
        return await real(*args, **kwargs)

    monkeypatch.setattr(secrets_router, "run_read", recording)
    return taken


def test_a_repeated_read_on_postgresql_is_answered_on_the_loop(
    api_postgres: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = admin_secrets(api_postgres)
    admin.create("ON_LOOP", "loop-value", comment="a comment")
    first = admin.get("ON_LOOP")  # fills the access cache and the data key
    taken = _no_offloaded_reads(monkeypatch)
    second = admin.get("ON_LOOP")
    assert taken == []
    assert second.status_code == 200
    assert second.json() == first.json()
    assert second.json()["secret"]["secretValue"] == "loop-value"


def test_a_read_on_the_loop_is_audited(api_postgres: Api) -> None:
    admin = admin_secrets(api_postgres)
    admin.create("AUDITED", "v")
    admin.get("AUDITED")
    admin.get("AUDITED")
    audit_queue(api_postgres.runtime.db).flush()
    with api_postgres.runtime.db.read() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.type == "get-secret")).all()
    assert [event.event_metadata["secretKey"] for event in events] == ["AUDITED", "AUDITED"]


def test_a_value_with_references_on_postgresql_is_expanded_the_long_way(
    api_postgres: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = admin_secrets(api_postgres)
    admin.create("HOST", "db.internal")
    admin.create("URL", "postgres://${HOST}")
    admin.get("HOST")
    taken = _no_offloaded_reads(monkeypatch)
    secret = admin.get("URL", expandSecretReferences="true").json()["secret"]
    assert secret["secretValue"] == "postgres://db.internal"
    assert taken == ["run_read"]


def test_a_missing_secret_on_the_loop_is_not_found(api_postgres: Api) -> None:
    admin = admin_secrets(api_postgres)
    admin.create("PRESENT")
    admin.get("PRESENT")
    response = admin.get("ABSENT")
    assert (response.status_code, response.json()["error"]) == (404, "NotFound")


def test_a_viewer_on_the_loop_gets_a_hidden_value(api_postgres: Api) -> None:
    admin_secrets(api_postgres).create("SEEN", "not-for-viewers")
    viewer = RawSecrets(
        api_postgres, api_postgres.identity_with_role("viewer"), api_postgres.project_id
    )
    viewer.get("SEEN")
    response = viewer.get("SEEN")
    assert response.json()["secret"]["secretValue"] == HIDDEN
    assert "not-for-viewers" not in response.text


def test_no_access_on_the_loop_is_refused(api_postgres: Api) -> None:
    admin_secrets(api_postgres).create("GUARDED")
    outsider = RawSecrets(
        api_postgres, api_postgres.identity_with_role("no-access"), api_postgres.project_id
    )
    outsider.get("GUARDED")
    response = outsider.get("GUARDED")
    assert response.status_code == 403
