from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.support.app import Api

AUDIT = "/api/v1/audit-logs"


def _events(api: Api, headers: dict[str, str] | None = None, **params: Any) -> list[Any]:
    response = api.client.get(AUDIT, params=params, headers=headers or api.admin)
    assert response.status_code == 200, response.text
    events: list[Any] = response.json()["auditLogs"]
    return events


def _new_project(api: Api, slug: str) -> str:
    response = api.client.post(
        "/api/v1/projects", json={"name": slug, "slug": slug}, headers=api.admin
    )
    assert response.status_code == 200, response.text
    project_id: str = response.json()["project"]["id"]
    return project_id


def test_event_has_the_spec_fields(api: Api) -> None:
    _new_project(api, "audited")
    event = _events(api, eventType="create-project")[0]
    assert set(event) == {
        "id",
        "type",
        "actor",
        "projectId",
        "metadata",
        "ip",
        "userAgent",
        "createdAt",
    }
    assert event["actor"]["type"] == "identity"
    assert event["metadata"] == {"name": "audited", "slug": "audited"}
    assert event["createdAt"].endswith("Z")


def test_events_are_listed_newest_first(api: Api) -> None:
    for slug in ("first", "second", "third"):
        _new_project(api, slug)
    slugs = [e["metadata"]["slug"] for e in _events(api, eventType="create-project")]
    assert slugs == ["third", "second", "first"]


def test_filter_by_project(api: Api) -> None:
    project_a = _new_project(api, "project-a")
    _new_project(api, "project-b")
    events = _events(api, projectId=project_a)
    assert events
    assert {e["projectId"] for e in events} == {project_a}


def test_filter_by_event_type(api: Api) -> None:
    _new_project(api, "typed")
    events = _events(api, eventType="create-project")
    assert events
    assert {e["type"] for e in events} == {"create-project"}


def test_filter_by_dates(api: Api) -> None:
    _new_project(api, "dated")
    now = datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).isoformat()
    yesterday = (now - timedelta(days=1)).isoformat()
    assert _events(api, startDate=yesterday, endDate=tomorrow)
    assert _events(api, startDate=tomorrow) == []
    assert _events(api, endDate=yesterday) == []


def test_dates_without_a_zone_are_utc(api: Api) -> None:
    _new_project(api, "zoneless")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).replace(tzinfo=None)
    assert _events(api, startDate=yesterday.isoformat(timespec="seconds"))


def test_limit_and_offset_page_through_events(api: Api) -> None:
    for slug in ("p-one", "p-two", "p-three"):
        _new_project(api, slug)
    every = _events(api, eventType="create-project")
    first = _events(api, eventType="create-project", limit=2)
    rest = _events(api, eventType="create-project", limit=2, offset=2)
    assert [e["id"] for e in first + rest] == [e["id"] for e in every]
    assert len(first) == 2


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"offset": -1}])
def test_out_of_range_paging_is_422(api: Api, params: dict[str, int]) -> None:
    assert api.client.get(AUDIT, params=params, headers=api.admin).status_code == 422


def test_whole_log_is_for_org_admins_only(api: Api) -> None:
    project_admin = api.identity_with_role("admin")
    assert api.client.get(AUDIT, headers=project_admin).status_code == 403


@pytest.mark.parametrize("role", ["member", "viewer", "no-access"])
def test_project_log_is_refused_to_non_admins(api: Api, role: str) -> None:
    headers = api.identity_with_role(role)
    response = api.client.get(AUDIT, params={"projectId": api.project_id}, headers=headers)
    assert response.status_code == 403


def test_project_admin_reads_their_projects_log(api: Api) -> None:
    headers = api.identity_with_role("admin")
    events = _events(api, headers=headers, projectId=api.project_id)
    assert {e["projectId"] for e in events} == {api.project_id}


def test_project_admin_cannot_read_another_projects_log(api: Api) -> None:
    other = _new_project(api, "other")
    headers = api.identity_with_role("admin")
    response = api.client.get(AUDIT, params={"projectId": other}, headers=headers)
    assert response.status_code == 403


def test_unknown_project_is_404(api: Api) -> None:
    response = api.client.get(AUDIT, params={"projectId": "nope"}, headers=api.admin)
    assert response.status_code == 404


def test_audit_log_requires_a_token(api: Api) -> None:
    assert api.client.get(AUDIT).status_code == 401


def test_audit_log_never_holds_a_client_secret_or_token(api: Api) -> None:
    identity = api.client.post("/api/v1/identities", json={"name": "bot"}, headers=api.admin)
    identity_id = identity.json()["identity"]["id"]
    created = api.client.post(
        f"/api/v1/identities/{identity_id}/universal-auth/client-secrets",
        json={"description": "ci"},
        headers=api.admin,
    ).json()
    token = api.login(identity.json()["identity"]["clientId"], created["clientSecret"])
    text = api.client.get(AUDIT, headers=api.admin).text
    assert created["clientSecret"] not in text
    assert token["Authorization"].removeprefix("Bearer ") not in text
    types = {e["type"] for e in _events(api)}
    assert {
        "create-identity",
        "create-identity-universal-auth-client-secret",
        "login-identity-universal-auth",
    } <= types
