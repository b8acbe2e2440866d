"""The routes of /api/v1/app-connections: shapes, names, versions, permissions, audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from httpx import Response
from tests.connections.bodies import (
    ROUTE,
    create,
    created_id,
    error_code,
    seed_body,
    slapd_body,
)
from tests.support.app import Api
from tests.support.slapd import LdapUser, SlapdServer

pytestmark = pytest.mark.slapd

CONNECTION_KEYS = {
    "id",
    "name",
    "description",
    "projectId",
    "orgId",
    "version",
    "app",
    "method",
    "credentials",
    "credentialsHash",
    "isPlatformManagedCredentials",
    "gatewayId",
    "createdAt",
    "updatedAt",
}
CREDENTIAL_KEYS = {
    "provider",
    "url",
    "dn",
    "sslRejectUnauthorized",
    "sslCertificate",
    "startTls",
    "failoverUrls",
}


def new_project(api: Api, slug: str) -> str:
    response = api.client.post(
        "/api/v1/projects", json={"name": slug, "slug": slug}, headers=api.admin
    )
    assert response.status_code == 200, response.text
    project_id: str = response.json()["project"]["id"]
    return project_id


def user_body(slapd: SlapdServer, user: LdapUser, project_id: str | None, **kw: Any) -> Any:
    """A body binding as ``user`` (``kw`` overrides, e.g. another password)."""
    values: dict[str, Any] = {"dn": user.dn, "password": user.password, **kw}
    return slapd_body(slapd, project_id, **values)


# -- shapes ---------------------------------------------------------------------------------


def test_seed_response_has_exactly_the_documented_keys(api: Api, slapd: SlapdServer) -> None:
    connection = create(api.client, api.admin, seed_body(slapd, api.project_id)).json()
    assert set(connection["appConnection"]) == CONNECTION_KEYS
    assert set(connection["appConnection"]["credentials"]) == CREDENTIAL_KEYS


def test_seed_response_echoes_the_request_without_the_password(
    api: Api, slapd: SlapdServer
) -> None:
    body = seed_body(slapd, api.project_id)
    connection = create(api.client, api.admin, body).json()["appConnection"]
    sent = {k: v for k, v in body["credentials"].items() if k != "password"}
    assert {k: connection["credentials"][k] for k in sent} == sent
    assert (connection["name"], connection["projectId"]) == ("my-ldap-connection", api.project_id)


def test_seed_response_describes_a_new_ldap_connection(api: Api, slapd: SlapdServer) -> None:
    connection = create(api.client, api.admin, seed_body(slapd, api.project_id)).json()
    got = connection["appConnection"]
    assert (got["version"], got["app"], got["method"]) == (1, "ldap", "simple-bind")
    assert (got["isPlatformManagedCredentials"], got["gatewayId"]) == (False, None)
    assert got["orgId"] == api.runtime.org_id
    assert got["createdAt"].endswith("Z")


def test_credentials_hash_is_sha256_hex(api: Api, slapd: SlapdServer) -> None:
    got = create(api.client, api.admin, seed_body(slapd, api.project_id)).json()
    digest = got["appConnection"]["credentialsHash"]
    assert len(digest) == 64
    assert int(digest, 16) >= 0


def test_options_offer_ldap_simple_bind(api: Api) -> None:
    response = api.client.get(f"{ROUTE[:-5]}/options", headers=api.admin)
    assert response.json() == {
        "appConnectionOptions": [{"name": "LDAP", "app": "ldap", "methods": ["simple-bind"]}]
    }


def test_routes_need_a_token(api: Api) -> None:
    assert api.client.get(ROUTE, params={"projectId": api.project_id}).status_code == 401


# -- reading --------------------------------------------------------------------------------


def test_get_by_id_returns_the_connection(api: Api, slapd: SlapdServer) -> None:
    connection_id = created_id(api.client, api.admin, slapd_body(slapd, api.project_id))
    got = api.client.get(f"{ROUTE}/{connection_id}", headers=api.admin).json()
    assert got["appConnection"]["id"] == connection_id


def test_unknown_id_is_not_found(api: Api) -> None:
    response = api.client.get(f"{ROUTE}/00000000-0000-4000-8000-000000000000", headers=api.admin)
    assert response.status_code == 404


def test_get_by_name_returns_the_connection(api: Api, slapd: SlapdServer) -> None:
    connection_id = created_id(api.client, api.admin, slapd_body(slapd, api.project_id))
    response = api.client.get(
        f"{ROUTE}/connection-name/corp-ldap",
        params={"projectId": api.project_id},
        headers=api.admin,
    )
    assert response.json()["appConnection"]["id"] == connection_id


def test_get_by_name_without_project_finds_the_org_level_one(api: Api, slapd: SlapdServer) -> None:
    created_id(api.client, api.admin, slapd_body(slapd, api.project_id))
    org_level = created_id(api.client, api.admin, slapd_body(slapd, None))
    response = api.client.get(f"{ROUTE}/connection-name/corp-ldap", headers=api.admin)
    assert response.json()["appConnection"]["id"] == org_level


def test_list_is_sorted_by_name(api: Api, slapd: SlapdServer) -> None:
    for name in ("zeta", "alpha", "mid"):
        created_id(api.client, api.admin, slapd_body(slapd, api.project_id, name=name))
    listed = api.client.get(ROUTE, params={"projectId": api.project_id}, headers=api.admin)
    assert [c["name"] for c in listed.json()["appConnections"]] == ["alpha", "mid", "zeta"]


def test_list_of_every_app_holds_the_ldap_connections(api: Api, slapd: SlapdServer) -> None:
    created_id(api.client, api.admin, slapd_body(slapd, api.project_id))
    params = {"projectId": api.project_id}
    every_app = api.client.get(ROUTE[:-5], params=params, headers=api.admin).json()
    ldap_only = api.client.get(ROUTE, params=params, headers=api.admin).json()
    assert every_app == ldap_only


def test_project_list_leaves_out_org_level_connections(api: Api, slapd: SlapdServer) -> None:
    created_id(api.client, api.admin, slapd_body(slapd, None, name="org-wide"))
    listed = api.client.get(ROUTE, params={"projectId": api.project_id}, headers=api.admin)
    assert listed.json()["appConnections"] == []


def test_available_lists_project_and_org_level_connections(api: Api, slapd: SlapdServer) -> None:
    own = created_id(api.client, api.admin, slapd_body(slapd, api.project_id, name="own"))
    shared = created_id(api.client, api.admin, slapd_body(slapd, None, name="shared"))
    response = api.client.get(
        f"{ROUTE}/available", params={"projectId": api.project_id}, headers=api.admin
    )
    assert response.json()["appConnections"] == [
        {"app": "ldap", "name": "own", "id": own, "projectId": api.project_id,
         "orgId": api.runtime.org_id},
        {"app": "ldap", "name": "shared", "id": shared, "projectId": None,
         "orgId": api.runtime.org_id},
    ]  # fmt: skip


def test_unknown_project_is_not_found(api: Api) -> None:
    response = api.client.get(
        ROUTE, params={"projectId": "00000000-0000-4000-8000-000000000000"}, headers=api.admin
    )
    assert response.status_code == 404


# -- changing -------------------------------------------------------------------------------


def test_duplicate_name_in_a_project_is_refused(api: Api, slapd: SlapdServer) -> None:
    created_id(api.client, api.admin, slapd_body(slapd, api.project_id))
    response = create(api.client, api.admin, slapd_body(slapd, api.project_id))
    assert (response.status_code, error_code(response)) == (400, "duplicate_name")


def test_same_name_in_another_project_is_allowed(api: Api, slapd: SlapdServer) -> None:
    created_id(api.client, api.admin, slapd_body(slapd, api.project_id))
    other = new_project(api, "other")
    assert create(api.client, api.admin, slapd_body(slapd, other)).status_code == 200


def test_duplicate_org_level_name_is_refused(api: Api, slapd: SlapdServer) -> None:
    created_id(api.client, api.admin, slapd_body(slapd, None))
    response = create(api.client, api.admin, slapd_body(slapd, None))
    assert (response.status_code, error_code(response)) == (400, "duplicate_name")


def test_update_with_new_credentials_rebinds_and_bumps_version(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    connection_id = created_id(api.client, api.admin, user_body(slapd, ldap_user, api.project_id))
    before = api.client.get(f"{ROUTE}/{connection_id}", headers=api.admin).json()
    slapd.set_password(ldap_user.dn, "Fresh-password-2")
    creds = user_body(slapd, ldap_user, None, password="Fresh-password-2")["credentials"]
    response = api.client.patch(
        f"{ROUTE}/{connection_id}", json={"credentials": creds}, headers=api.admin
    )
    after = response.json()["appConnection"]
    assert after["version"] == 2
    assert after["credentialsHash"] != before["appConnection"]["credentialsHash"]


def test_update_with_a_wrong_password_changes_nothing(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    connection_id = created_id(api.client, api.admin, user_body(slapd, ldap_user, api.project_id))
    creds = user_body(slapd, ldap_user, None, password="Wrong-password-3")["credentials"]
    response = api.client.patch(
        f"{ROUTE}/{connection_id}", json={"credentials": creds}, headers=api.admin
    )
    assert (response.status_code, error_code(response)) == (400, "invalid_credentials")
    got = api.client.get(f"{ROUTE}/{connection_id}", headers=api.admin).json()
    assert got["appConnection"]["version"] == 1


def test_rename_bumps_version(api: Api, slapd: SlapdServer) -> None:
    connection_id = created_id(api.client, api.admin, slapd_body(slapd, api.project_id))
    response = api.client.patch(
        f"{ROUTE}/{connection_id}",
        json={"name": "renamed", "description": "main directory"},
        headers=api.admin,
    )
    got = response.json()["appConnection"]
    assert (got["name"], got["description"], got["version"]) == ("renamed", "main directory", 2)


def test_rename_to_a_taken_name_is_refused(api: Api, slapd: SlapdServer) -> None:
    created_id(api.client, api.admin, slapd_body(slapd, api.project_id, name="first"))
    second = created_id(api.client, api.admin, slapd_body(slapd, api.project_id, name="second"))
    response = api.client.patch(f"{ROUTE}/{second}", json={"name": "first"}, headers=api.admin)
    assert (response.status_code, error_code(response)) == (400, "duplicate_name")


def test_delete_answers_with_the_deleted_connection(api: Api, slapd: SlapdServer) -> None:
    connection_id = created_id(api.client, api.admin, slapd_body(slapd, api.project_id))
    response = api.client.delete(f"{ROUTE}/{connection_id}", headers=api.admin)
    assert response.json()["appConnection"]["id"] == connection_id


def test_deleted_connection_is_gone(api: Api, slapd: SlapdServer) -> None:
    connection_id = created_id(api.client, api.admin, slapd_body(slapd, api.project_id))
    api.client.delete(f"{ROUTE}/{connection_id}", headers=api.admin)
    assert api.client.get(f"{ROUTE}/{connection_id}", headers=api.admin).status_code == 404


# -- check ----------------------------------------------------------------------------------


def test_check_reports_ok_with_latency(api: Api, slapd: SlapdServer) -> None:
    connection_id = created_id(api.client, api.admin, slapd_body(slapd, api.project_id))
    result = api.client.post(f"{ROUTE}/{connection_id}/check", headers=api.admin).json()
    assert set(result) == {"status", "latencyMs"}
    assert result["status"] == "ok"
    assert result["latencyMs"] > 0


def test_check_reports_a_changed_password_as_an_error(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    connection_id = created_id(api.client, api.admin, user_body(slapd, ldap_user, api.project_id))
    slapd.set_password(ldap_user.dn, "Changed-elsewhere-4")
    result = api.client.post(f"{ROUTE}/{connection_id}/check", headers=api.admin).json()
    assert (result["status"], result["error"]["code"]) == ("error", "invalid_credentials")


def test_check_reports_a_stopped_server_as_an_error(api: Api, slapd: SlapdServer) -> None:
    connection_id = created_id(api.client, api.admin, slapd_body(slapd, api.project_id))
    slapd.stop()
    try:
        result = api.client.post(f"{ROUTE}/{connection_id}/check", headers=api.admin).json()
    finally:
        slapd.start()
    assert (result["status"], result["error"]["code"]) == ("error", "connection_refused")


# -- validation -----------------------------------------------------------------------------

INVALID = [
    ({"name": "Canary_Name_4711"}, "name", "Canary_Name_4711"),
    ({"description": "canary-desc-4711 " * 20}, "description", "canary-desc-4711"),
    ({"credentials.provider": "canary-provider-4711"}, "credentials.provider", "canary-provider"),
    ({"credentials.url": "http://canary-url-4711.test"}, "credentials.url", "canary-url-4711"),
    ({"credentials.url": "ldap://canary:pw4711@h.test"}, "credentials.url", "pw4711"),
    ({"credentials.dn": "canary-dn-4711"}, "credentials.dn", "canary-dn-4711"),
    ({"credentials.dn": "canary4711@corp.test"}, "credentials.dn", "canary4711"),
    ({"credentials.password": ""}, "credentials.password", None),
    ({"credentials.password": "Canary-pw-4711" * 100}, "credentials.password", "Canary-pw-4711"),
    ({"credentials.sslCertificate": "canary-pem-4711"}, "credentials.sslCertificate", "pem-4711"),
    ({"credentials.startTls": True}, "credentials.startTls", None),
    (
        {"credentials.failoverUrls": ["ldaps://ok.test", "ftp://canary-fo-4711.test"]},
        "credentials.failoverUrls.1",
        "canary-fo-4711",
    ),
]


def apply(body: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    for dotted, value in changes.items():
        target = body
        *parents, last = dotted.split(".")
        for key in parents:
            target = target[key]
        target[last] = value
    return body


@pytest.mark.parametrize(("changes", "path", "echo"), INVALID)
def test_invalid_field_is_422_naming_the_field_without_its_value(
    api: Api, slapd: SlapdServer, changes: dict[str, Any], path: str, echo: str | None
) -> None:
    # open-ldap: a UPN is refused with it; the seed body's ldaps URL refuses startTls.
    body = apply(slapd_body(slapd, api.project_id), changes)
    response = create(api.client, api.admin, body)
    assert response.status_code == 422
    assert path in [issue["path"] for issue in response.json()["message"]]
    if echo is not None:
        assert echo not in response.text


# -- permissions ----------------------------------------------------------------------------


@pytest.fixture
def project_connection(api: Api, slapd: SlapdServer) -> str:
    return created_id(api.client, api.admin, slapd_body(slapd, api.project_id))


@pytest.fixture
def org_connection(api: Api, slapd: SlapdServer) -> str:
    return created_id(api.client, api.admin, slapd_body(slapd, None, name="org-wide"))


@pytest.mark.parametrize("role", ["member", "viewer", "no-access"])
def test_only_admins_create_project_connections(api: Api, slapd: SlapdServer, role: str) -> None:
    headers = api.identity_with_role(role)
    response = create(api.client, headers, slapd_body(slapd, api.project_id))
    assert response.status_code == 403


def test_member_cannot_create_org_level_connections(api: Api, slapd: SlapdServer) -> None:
    response = create(api.client, api.identity_with_role("member"), slapd_body(slapd, None))
    assert response.status_code == 403


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_readers_see_the_metadata(api: Api, project_connection: str, role: str) -> None:
    response = api.client.get(f"{ROUTE}/{project_connection}", headers=api.identity_with_role(role))
    assert response.json()["appConnection"]["credentials"]["url"].startswith("ldaps://")


def test_no_access_role_gets_not_found(api: Api, project_connection: str) -> None:
    headers = api.identity_with_role("no-access")
    assert api.client.get(f"{ROUTE}/{project_connection}", headers=headers).status_code == 404


def test_no_access_role_cannot_list(api: Api, project_connection: str) -> None:
    headers = api.identity_with_role("no-access")
    listed = api.client.get(ROUTE, params={"projectId": api.project_id}, headers=headers)
    assert listed.status_code == 403


def test_admin_of_another_project_gets_not_found(api: Api, project_connection: str) -> None:
    other = new_project(api, "other")
    headers = api.identity_with_role("admin", project_id=other)
    assert api.client.get(f"{ROUTE}/{project_connection}", headers=headers).status_code == 404


def test_admin_of_another_project_cannot_delete(api: Api, project_connection: str) -> None:
    other = new_project(api, "other")
    headers = api.identity_with_role("admin", project_id=other)
    assert api.client.delete(f"{ROUTE}/{project_connection}", headers=headers).status_code == 404


def test_another_projects_connection_is_not_available(api: Api, project_connection: str) -> None:
    other = new_project(api, "other")
    response = api.client.get(f"{ROUTE}/available", params={"projectId": other}, headers=api.admin)
    assert response.json()["appConnections"] == []


@pytest.mark.parametrize(
    ("role", "method", "suffix", "status"),
    [
        ("member", "PATCH", "", 403),
        ("member", "DELETE", "", 403),
        ("member", "POST", "/check", 200),
        ("viewer", "PATCH", "", 403),
        ("viewer", "DELETE", "", 403),
        ("viewer", "POST", "/check", 403),
    ],
)
def test_project_roles_per_action(
    api: Api, project_connection: str, role: str, method: str, suffix: str, status: int
) -> None:
    response = api.client.request(
        method,
        f"{ROUTE}/{project_connection}{suffix}",
        json={"description": "x"} if method == "PATCH" else None,
        headers=api.identity_with_role(role),
    )
    assert response.status_code == status


def test_member_may_use_org_level_connections(api: Api, org_connection: str) -> None:
    response = api.client.get(
        f"{ROUTE}/available",
        params={"projectId": api.project_id},
        headers=api.identity_with_role("member"),
    )
    assert [c["id"] for c in response.json()["appConnections"]] == [org_connection]


def test_viewer_has_nothing_available(api: Api, org_connection: str) -> None:
    response = api.client.get(
        f"{ROUTE}/available",
        params={"projectId": api.project_id},
        headers=api.identity_with_role("viewer"),
    )
    assert response.json()["appConnections"] == []


def test_member_cannot_edit_org_level_connections(api: Api, org_connection: str) -> None:
    response = api.client.patch(
        f"{ROUTE}/{org_connection}",
        json={"description": "x"},
        headers=api.identity_with_role("member"),
    )
    assert response.status_code == 403


@pytest.mark.parametrize(("role", "status"), [("member", 200), ("viewer", 403)])
def test_org_level_check_needs_connect_somewhere(
    api: Api, org_connection: str, role: str, status: int
) -> None:
    headers = api.identity_with_role(role)
    response = api.client.post(f"{ROUTE}/{org_connection}/check", headers=headers)
    assert response.status_code == status


def test_org_level_connections_are_listed_without_a_project(api: Api, org_connection: str) -> None:
    listed = api.client.get(ROUTE, headers=api.admin).json()
    assert [c["id"] for c in listed["appConnections"]] == [org_connection]


def test_identity_without_project_role_cannot_see_org_level_connections(
    api: Api, org_connection: str
) -> None:
    headers = api.identity_with_role("none")
    assert api.client.get(f"{ROUTE}/{org_connection}", headers=headers).status_code == 404


# -- audit ----------------------------------------------------------------------------------

Call = Callable[[Api, str], Response]

AUDITED: list[tuple[str, Call]] = [
    ("get-app-connections", lambda a, _: a.client.get(ROUTE, params={"projectId": a.project_id},
                                                      headers=a.admin)),
    ("get-available-app-connection-details",
     lambda a, _: a.client.get(f"{ROUTE}/available", params={"projectId": a.project_id},
                               headers=a.admin)),
    ("get-app-connection", lambda a, c: a.client.get(f"{ROUTE}/{c}", headers=a.admin)),
    ("update-app-connection",
     lambda a, c: a.client.patch(f"{ROUTE}/{c}", json={"description": "d"}, headers=a.admin)),
    ("delete-app-connection", lambda a, c: a.client.delete(f"{ROUTE}/{c}", headers=a.admin)),
    ("check-app-connection", lambda a, c: a.client.post(f"{ROUTE}/{c}/check", headers=a.admin)),
]  # fmt: skip


def events_of(api: Api, event_type: str) -> list[dict[str, Any]]:
    response = api.client.get(
        "/api/v1/audit-logs",
        params={"projectId": api.project_id, "eventType": event_type},
        headers=api.admin,
    )
    events: list[dict[str, Any]] = response.json()["auditLogs"]
    return events


def test_create_is_audited(api: Api, project_connection: str) -> None:
    [event] = events_of(api, "create-app-connection")
    assert event["metadata"]["connectionId"] == project_connection


@pytest.mark.parametrize(("event_type", "call"), AUDITED, ids=[e for e, _ in AUDITED])
def test_route_is_audited(api: Api, project_connection: str, event_type: str, call: Call) -> None:
    assert call(api, project_connection).status_code == 200
    assert len(events_of(api, event_type)) == 1


def test_works_on_every_database(api_any_db: Api, slapd: SlapdServer) -> None:
    api = api_any_db
    connection_id = created_id(api.client, api.admin, seed_body(slapd, api.project_id))
    got = api.client.get(f"{ROUTE}/{connection_id}", headers=api.admin).json()
    assert got["appConnection"]["name"] == "my-ldap-connection"
