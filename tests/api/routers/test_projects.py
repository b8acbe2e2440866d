from typing import Any

import pytest
from tests.support.app import Api

PROJECTS = "/api/v1/projects"


def _project_ids(api: Api, headers: dict[str, str]) -> list[str]:
    response = api.client.get(PROJECTS, headers=headers)
    assert response.status_code == 200, response.text
    return [p["id"] for p in response.json()["projects"]]


def _create(api: Api, slug: str, headers: dict[str, str] | None = None) -> Any:
    return api.client.post(
        PROJECTS, json={"name": slug.title(), "slug": slug}, headers=headers or api.admin
    )


def test_bootstrap_project_is_default_with_dev_staging_prod(api: Api) -> None:
    [project] = api.client.get(PROJECTS, headers=api.admin).json()["projects"]
    assert (project["name"], project["slug"]) == ("default", "default")
    assert [(e["slug"], e["name"]) for e in project["environments"]] == [
        ("dev", "Development"),
        ("staging", "Staging"),
        ("prod", "Production"),
    ]
    assert all(set(e) == {"id", "name", "slug"} for e in project["environments"])


def test_projects_list_needs_a_token(api: Api) -> None:
    assert api.client.get(PROJECTS).status_code == 401


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_project_member_sees_the_project(api: Api, role: str) -> None:
    assert _project_ids(api, api.identity_with_role(role)) == [api.project_id]


def test_no_access_member_does_not_see_the_project(api: Api) -> None:
    assert _project_ids(api, api.identity_with_role("no-access")) == []


def test_identity_without_membership_sees_no_project(api: Api) -> None:
    assert _project_ids(api, api.identity_with_role("none")) == []


def test_member_sees_only_the_projects_they_belong_to(api: Api) -> None:
    _create(api, "hidden")
    assert _project_ids(api, api.identity_with_role("viewer")) == [api.project_id]


def test_org_admin_sees_every_project_sorted_by_name(api_any_db: Api) -> None:
    api = api_any_db
    for name in ("zeta", "alpha"):
        api.client.post(PROJECTS, json={"name": name, "slug": name}, headers=api.admin)
    names = [p["name"] for p in api.client.get(PROJECTS, headers=api.admin).json()["projects"]]
    assert names == ["alpha", "default", "zeta"]


def test_org_admin_creates_a_project_with_the_default_environments(api: Api) -> None:
    response = _create(api, "payments")
    assert response.status_code == 200, response.text
    project = response.json()["project"]
    assert project["slug"] == "payments"
    assert [e["slug"] for e in project["environments"]] == ["dev", "staging", "prod"]
    assert project["id"] in _project_ids(api, api.admin)


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_non_org_admin_cannot_create_projects(api: Api, role: str) -> None:
    assert _create(api, "mine", api.identity_with_role(role)).status_code == 403


def test_duplicate_project_slug_is_400(api: Api) -> None:
    assert _create(api, "twice").status_code == 200
    assert _create(api, "twice").status_code == 400


@pytest.mark.parametrize("slug", ["Upper", "under_score", "-lead", "trail-", "a" * 65, ""])
def test_invalid_project_slug_is_422(api: Api, slug: str) -> None:
    response = api.client.post(PROJECTS, json={"name": "x", "slug": slug}, headers=api.admin)
    assert response.status_code == 422


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_project_member_gets_the_project(api: Api, role: str) -> None:
    response = api.client.get(f"{PROJECTS}/{api.project_id}", headers=api.identity_with_role(role))
    assert response.status_code == 200
    assert response.json()["project"]["id"] == api.project_id


@pytest.mark.parametrize("role", ["no-access", "none"])
def test_outsider_cannot_get_the_project(api: Api, role: str) -> None:
    response = api.client.get(f"{PROJECTS}/{api.project_id}", headers=api.identity_with_role(role))
    assert response.status_code == 403


def _add_environment(api: Api, headers: dict[str, str], slug: str = "qa") -> Any:
    return api.client.post(
        f"{PROJECTS}/{api.project_id}/environments",
        json={"name": "Quality", "slug": slug},
        headers=headers,
    )


def test_project_admin_adds_an_environment(api: Api) -> None:
    response = _add_environment(api, api.identity_with_role("admin"))
    assert response.status_code == 200, response.text
    assert response.json()["environment"]["slug"] == "qa"
    project = api.client.get(f"{PROJECTS}/{api.project_id}", headers=api.admin).json()
    assert [e["slug"] for e in project["project"]["environments"]][-1] == "qa"


@pytest.mark.parametrize("role", ["member", "viewer", "no-access"])
def test_non_admin_cannot_add_an_environment(api: Api, role: str) -> None:
    assert _add_environment(api, api.identity_with_role(role)).status_code == 403


def test_duplicate_environment_slug_is_400(api: Api) -> None:
    assert _add_environment(api, api.admin, slug="dev").status_code == 400


def test_environment_of_an_unknown_project_is_404(api: Api) -> None:
    response = api.client.post(
        f"{PROJECTS}/unknown/environments", json={"name": "Q", "slug": "q"}, headers=api.admin
    )
    assert response.status_code == 404
