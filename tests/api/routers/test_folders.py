"""``/api/v2/folders``: the shapes the SDK parses, the tree rules, permissions."""

from __future__ import annotations

from typing import Any

import httpx
from tests.secrets.client import admin_secrets, create_project, write_managed
from tests.support.app import Api

FOLDER_KEYS = {
    "id",
    "name",
    "createdAt",
    "updatedAt",
    "envId",
    "path",
    "parentId",
    "version",
    "description",
}


def _create(
    api: Api, name: str, path: str = "/", headers: dict[str, str] | None = None, **extra: Any
) -> httpx.Response:
    response: httpx.Response = api.client.post(
        "/api/v2/folders",
        json={
            "projectId": api.project_id,
            "environment": "dev",
            "name": name,
            "path": path,
            **extra,
        },
        headers=api.admin if headers is None else headers,
    )
    return response


def _list(api: Api, path: str = "/", **params: Any) -> list[dict[str, Any]]:
    response = api.client.get(
        "/api/v2/folders",
        params={"projectId": api.project_id, "environment": "dev", "path": path, **params},
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    folders: list[dict[str, Any]] = response.json()["folders"]
    return folders


def _delete(api: Api, id_or_name: str, path: str = "/", **extra: Any) -> httpx.Response:
    response: httpx.Response = api.client.request(
        "DELETE",
        f"/api/v2/folders/{id_or_name}",
        json={"projectId": api.project_id, "environment": "dev", "path": path, **extra},
        headers=api.admin,
    )
    return response


def _patch(api: Api, folder_id: str, **body: Any) -> httpx.Response:
    response: httpx.Response = api.client.patch(
        f"/api/v2/folders/{folder_id}",
        json={"projectId": api.project_id, "environment": "dev", **body},
        headers=api.admin,
    )
    return response


def test_create_answers_the_folder_with_every_key(api: Api) -> None:
    response = _create(api, "ldap", description="directory accounts")
    assert response.status_code == 200, response.text
    folder = response.json()["folder"]
    assert set(folder) == FOLDER_KEYS
    assert (folder["name"], folder["path"], folder["version"], folder["description"]) == (
        "ldap",
        "/ldap",
        1,
        "directory accounts",
    )


def test_create_makes_missing_parents(api: Api) -> None:
    _create(api, "ad", path="/ldap/corp")
    assert [f["path"] for f in _list(api, recursive="true")] == [
        "/ldap",
        "/ldap/corp",
        "/ldap/corp/ad",
    ]


def test_creating_an_existing_folder_is_refused(api: Api) -> None:
    _create(api, "ldap")
    response = _create(api, "ldap")
    assert (response.status_code, response.json()["message"]) == (
        400,
        "Folder with name 'ldap' already exists at path '/'",
    )


def test_an_invalid_folder_name_is_a_validation_failure(api: Api) -> None:
    assert _create(api, "no/slash").status_code == 422


def test_list_shows_only_the_children_of_the_path(api: Api) -> None:
    _create(api, "b", path="/a")
    _create(api, "c")
    assert [f["name"] for f in _list(api)] == ["a", "c"]


def test_list_items_carry_every_key(api: Api) -> None:
    _create(api, "a")
    assert set(_list(api)[0]) == FOLDER_KEYS


def test_list_recursive_shows_every_folder_below(api: Api) -> None:
    _create(api, "c", path="/a/b")
    assert [f["path"] for f in _list(api, path="/a", recursive="True")] == ["/a/b", "/a/b/c"]


def test_list_of_an_unknown_path_is_empty(api: Api) -> None:
    assert _list(api, path="/nowhere") == []


def test_list_accepts_the_legacy_directory_parameter(api: Api) -> None:
    _create(api, "b", path="/a")
    response = api.client.get(
        "/api/v2/folders",
        params={"projectId": api.project_id, "environment": "dev", "directory": "/a"},
        headers=api.admin,
    )
    assert [f["name"] for f in response.json()["folders"]] == ["b"]


def test_get_by_id_adds_project_and_environment(api: Api) -> None:
    created = _create(api, "ldap").json()["folder"]
    folder = api.client.get(f"/api/v2/folders/{created['id']}", headers=api.admin).json()["folder"]
    assert folder["projectId"] == api.project_id
    assert folder["environment"]["envSlug"] == "dev"
    assert folder["environment"]["envId"] == created["envId"]
    assert folder["environment"]["envName"] == "Development"
    assert set(folder) >= FOLDER_KEYS


def test_get_an_unknown_id_is_not_found(api: Api) -> None:
    response = api.client.get(
        "/api/v2/folders/00000000-0000-4000-8000-000000000000", headers=api.admin
    )
    assert response.status_code == 404


def test_get_a_folder_of_another_project_is_refused(api: Api) -> None:
    other = create_project(api, "other")
    folder = api.client.post(
        "/api/v2/folders",
        json={"projectId": other, "environment": "dev", "name": "private"},
        headers=api.admin,
    ).json()["folder"]
    member = api.identity_with_role("member")
    response = api.client.get(f"/api/v2/folders/{folder['id']}", headers=member)
    assert response.status_code == 404  # as for any id the caller may not see


def test_patch_renames_and_bumps_the_version(api: Api) -> None:
    created = _create(api, "old").json()["folder"]
    folder = _patch(api, created["id"], name="new", path="/").json()["folder"]
    assert (folder["name"], folder["path"], folder["version"]) == ("new", "/new", 2)


def test_a_rename_moves_the_folders_and_secrets_below(api: Api) -> None:
    created = _create(api, "old").json()["folder"]
    admin_secrets(api).create("INSIDE", "v", path="/old/deeper")
    _patch(api, created["id"], name="new")
    assert [f["path"] for f in _list(api, path="/new")] == ["/new/deeper"]
    assert admin_secrets(api).get("INSIDE", path="/new/deeper").status_code == 200


def test_a_rename_onto_a_sibling_is_refused(api: Api) -> None:
    created = _create(api, "one").json()["folder"]
    _create(api, "two")
    assert _patch(api, created["id"], name="two").status_code == 400


def test_patch_sets_the_description(api: Api) -> None:
    created = _create(api, "ldap").json()["folder"]
    folder = _patch(api, created["id"], name="ldap", description="accounts").json()["folder"]
    assert folder["description"] == "accounts"


def test_patch_naming_another_project_is_not_found(api: Api) -> None:
    created = _create(api, "ldap").json()["folder"]
    other = create_project(api, "other")
    response = api.client.patch(
        f"/api/v2/folders/{created['id']}",
        json={"projectId": other, "environment": "dev", "name": "moved"},
        headers=api.admin,
    )
    assert response.status_code == 404


def test_the_root_folder_cannot_be_renamed(api: Api) -> None:
    child = _create(api, "a").json()["folder"]
    assert _patch(api, child["parentId"], name="elsewhere").status_code == 400


def test_delete_by_name_answers_the_deleted_folder(api: Api) -> None:
    _create(api, "b", path="/a")
    response = _delete(api, "b", path="/a")
    assert (response.status_code, response.json()["folder"]["name"]) == (200, "b")
    assert _list(api, path="/a") == []


def test_delete_by_id(api: Api) -> None:
    created = _create(api, "gone").json()["folder"]
    assert _delete(api, created["id"]).status_code == 200
    assert _list(api) == []


def test_delete_of_an_unknown_folder_is_not_found(api: Api) -> None:
    assert _delete(api, "ghost").status_code == 404


def test_a_folder_with_secrets_needs_force_delete(api: Api) -> None:
    admin_secrets(api).create("INSIDE", path="/full")
    response = _delete(api, "full")
    assert response.status_code == 400
    assert admin_secrets(api).get("INSIDE", path="/full").status_code == 200


def test_a_folder_with_subfolders_needs_force_delete(api: Api) -> None:
    _create(api, "child", path="/parent")
    assert _delete(api, "parent").status_code == 400


def test_force_delete_removes_the_folder_with_its_contents(api: Api) -> None:
    admin_secrets(api).create("INSIDE", path="/full/deeper")
    assert _delete(api, "full", forceDelete=True).status_code == 200
    assert _list(api, recursive="true") == []
    assert admin_secrets(api).list(recursive="true").json()["secrets"] == []


def test_a_folder_holding_rotation_secrets_is_never_deleted(api: Api) -> None:
    write_managed(api, key="LDAP_PASSWORD", value="live-pw", path="/ldap/svc")
    response = _delete(api, "ldap", forceDelete=True)
    assert (response.status_code, response.json()["message"]) == (
        400,
        "This folder contains secrets managed by a secret rotation and cannot be deleted",
    )


def test_a_viewer_lists_folders(api: Api) -> None:
    _create(api, "visible")
    response = api.client.get(
        "/api/v2/folders",
        params={"projectId": api.project_id, "environment": "dev"},
        headers=api.identity_with_role("viewer"),
    )
    assert [f["name"] for f in response.json()["folders"]] == ["visible"]


def test_a_viewer_may_not_create_a_folder(api: Api) -> None:
    response = _create(api, "nope", headers=api.identity_with_role("viewer"))
    assert response.status_code == 403


def test_a_viewer_may_not_delete_a_folder(api: Api) -> None:
    _create(api, "kept")
    response = api.client.request(
        "DELETE",
        "/api/v2/folders/kept",
        json={"projectId": api.project_id, "environment": "dev", "path": "/"},
        headers=api.identity_with_role("viewer"),
    )
    assert response.status_code == 403


def test_folder_writes_are_audited(api: Api) -> None:
    created = _create(api, "audited").json()["folder"]
    _patch(api, created["id"], name="renamed")
    _delete(api, created["id"])
    events = api.client.get(
        "/api/v1/audit-logs", params={"projectId": api.project_id}, headers=api.admin
    ).json()["auditLogs"]
    assert {"create-folder", "update-folder", "delete-folder"} <= {e["type"] for e in events}
