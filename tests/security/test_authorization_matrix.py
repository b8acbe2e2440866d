"""Every route and every kind of caller gets exactly the status SPEC section 2 gives it:
the API with bearer tokens, the web UI with the same tokens as its session cookie.

Routes are enumerated from the app itself: a route without an expectation here fails
``test_every_route_has_an_expectation``, so a new route cannot be forgotten. Destructive
calls get fresh objects, so one cell never changes what another sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, routing
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from ldapkeeper.ui import csrf
from ldapkeeper.ui.session import PRESESSION_COOKIE, SESSION_COOKIE
from tests.security.world import (
    CALLERS,
    CONNECTIONS,
    FOLDERS,
    ROTATIONS,
    SECRETS,
    UNAUTHENTICATED,
    ProjectObjects,
    World,
    ok,
    unique,
)
from tests.security.world import world as world
from tests.support.app import ADMIN_EMAIL, ADMIN_PASSWORD, CLIENT_ID, CLIENT_SECRET

pytestmark = pytest.mark.slapd

Roles = frozenset[str]
ALL_ROLES: Roles = frozenset({"admin", "member", "viewer"})
WRITERS: Roles = frozenset({"admin", "member"})
ADMIN: Roles = frozenset({"admin"})
#: The project role of each caller in project A (where every call of the matrix is aimed).
ROLE_IN_A = {"org-admin": "admin", "project-admin": "admin", "member": "member", "viewer": "viewer"}


@dataclass(frozen=True)
class Call:
    """One request: built per caller, since destructive calls need fresh objects."""

    method: str
    url: str
    params: dict[str, Any] | None = None
    json: Any = None


Build = Callable[[World], Call]


@dataclass(frozen=True)
class Expect:
    """Who may call a route, and what the others get.

    ``access``: ``public`` (no token needed), ``token`` (any valid token), ``org-admin``,
    or ``project`` (the project roles in ``roles``). ``refused``: the status of a caller
    whose role in the project is too low; ``hidden``: of one with no role there at all
    (routes that address an object by id answer 404, so they do not tell it exists).
    """

    access: str
    roles: Roles = frozenset()
    refused: int = 403
    hidden: int = 403

    def status(self, caller: str) -> int:
        if self.access == "public":
            return 200
        if caller in UNAUTHENTICATED:
            return 401
        if self.access == "token":
            return 200
        if self.access == "org-admin":
            return 200 if caller == "org-admin" else 403
        role = ROLE_IN_A.get(caller)
        if role is None:
            return self.hidden
        return 200 if role in self.roles else self.refused


PUBLIC = Expect("public")
TOKEN = Expect("token")
ORG_ADMIN = Expect("org-admin")


def project(roles: Roles, *, hidden: int = 403, refused: int = 403) -> Expect:
    return Expect("project", roles, refused=refused, hidden=hidden)


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    route: str
    expect: Expect
    build: Build = field(repr=False)


def _get(url: str, **params: Any) -> Build:
    return lambda _w: Call("GET", url, params or None)


def _a(w: World) -> ProjectObjects:
    return w.a


def _where(w: World, path: str = "/") -> dict[str, str]:
    return {"workspaceId": w.a.project_id, "environment": "dev", "secretPath": path}


def _fresh_connection_call(method: str, suffix: str = "", body: Any = None) -> Build:
    def build(w: World) -> Call:
        connection_id, _name = w.new_connection(w.a.project_id)
        return Call(method, f"{CONNECTIONS}/{connection_id}{suffix}", json=body)

    return build


def _fresh_rotation_delete(w: World) -> Call:
    rotation_id, _name, _path = w.new_rotation(w.a)
    return Call("DELETE", f"{ROTATIONS}/{rotation_id}", {"deleteSecrets": "true"})


def _fresh_secret(method: str) -> Build:
    def build(w: World) -> Call:
        name = w.new_secret(w.a.project_id)
        body: dict[str, Any] = {**_where(w), "type": "shared"}
        if method == "PATCH":
            body["secretValue"] = "changed"
        return Call(method, f"{SECRETS}/{name}", json=body)

    return build


def _fresh_folder(method: str) -> Build:
    def build(w: World) -> Call:
        folder_id, _name = w.new_folder(w.a.project_id)
        if method == "PATCH":
            body = {"projectId": w.a.project_id, "environment": "dev", "name": unique("renamed")}
        else:
            body = {"projectId": w.a.project_id, "environment": "dev", "path": "/"}
        return Call(method, f"{FOLDERS}/{folder_id}", json=body)

    return build


def _revoke(w: World) -> Call:
    identity_id, secret_id = w.new_client_secret()
    return Call(
        "POST", f"/api/v1/identities/{identity_id}/universal-auth/client-secrets/{secret_id}/revoke"
    )


def _client_secrets(method: str) -> Build:
    def build(w: World) -> Call:
        identity_id, _client_id, _secret = w.new_identity(unique("holder"))
        url = f"/api/v1/identities/{identity_id}/universal-auth/client-secrets"
        return Call(method, url, json={} if method == "POST" else None)

    return build


def _membership(w: World) -> Call:
    identity_id, _client_id, _secret = w.new_identity(unique("joiner"))
    url = f"/api/v1/projects/{w.a.project_id}/memberships"
    return Call("PUT", url, json={"identityId": identity_id, "role": "viewer"})


def _connection_body(w: World, project_id: str | None) -> dict[str, Any]:
    return {
        "name": unique("new-conn"),
        "method": "simple-bind",
        **({"projectId": project_id} if project_id else {}),
        "credentials": {
            "provider": "open-ldap",
            "url": w.slapd.ldaps_url,
            "dn": w.slapd.admin_dn,
            "password": w.slapd.admin_password,
            "sslCertificate": w.slapd.ca_pem,
        },
    }


def _admin_login(_w: World) -> Call:
    return Call(
        "POST", "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )


def _client_login(_w: World) -> Call:
    return Call(
        "POST",
        "/api/v1/auth/universal-auth/login",
        json={"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET},
    )


# hidden=404: the route addresses one object by id (or name), so a caller who may not see
# the project learns nothing, not even that the object exists.
CASES: list[Case] = [
    # -- public --------------------------------------------------------------------------
    Case("openapi", "GET", "/openapi.json", PUBLIC, _get("/openapi.json")),
    Case("docs", "GET", "/docs", PUBLIC, _get("/docs")),
    Case("docs-oauth2", "GET", "/docs/oauth2-redirect", PUBLIC, _get("/docs/oauth2-redirect")),
    Case("redoc", "GET", "/redoc", PUBLIC, _get("/redoc")),
    Case("status", "GET", "/api/status", PUBLIC, _get("/api/status")),
    Case("metrics", "GET", "/metrics", PUBLIC, _get("/metrics")),
    Case("user-login", "POST", "/api/v1/auth/login", PUBLIC, _admin_login),
    Case("ua-login", "POST", "/api/v1/auth/universal-auth/login", PUBLIC, _client_login),
    # -- projects ------------------------------------------------------------------------
    Case("projects", "GET", "/api/v1/projects", TOKEN, _get("/api/v1/projects")),
    Case(
        "project-create",
        "POST",
        "/api/v1/projects",
        ORG_ADMIN,
        lambda w: Call("POST", "/api/v1/projects", json={"name": "P", "slug": unique("p")}),
    ),
    Case(
        "project",
        "GET",
        "/api/v1/projects/{project_id}",
        project(ALL_ROLES),
        lambda w: Call("GET", f"/api/v1/projects/{w.a.project_id}"),
    ),
    Case(
        "environment-create",
        "POST",
        "/api/v1/projects/{project_id}/environments",
        project(ADMIN),
        lambda w: Call(
            "POST",
            f"/api/v1/projects/{w.a.project_id}/environments",
            json={"name": "QA", "slug": unique("qa")},
        ),
    ),
    # -- users, identities, memberships, audit -------------------------------------------
    Case("users", "GET", "/api/v1/users", ORG_ADMIN, _get("/api/v1/users")),
    Case(
        "user-create",
        "POST",
        "/api/v1/users",
        ORG_ADMIN,
        lambda w: Call(
            "POST",
            "/api/v1/users",
            json={"email": f"{unique('u')}@example.test", "password": "long-enough-password"},
        ),
    ),
    Case("identities", "GET", "/api/v1/identities", ORG_ADMIN, _get("/api/v1/identities")),
    Case(
        "identity-create",
        "POST",
        "/api/v1/identities",
        ORG_ADMIN,
        lambda w: Call("POST", "/api/v1/identities", json={"name": unique("made")}),
    ),
    Case(
        "client-secret-create",
        "POST",
        "/api/v1/identities/{identity_id}/universal-auth/client-secrets",
        ORG_ADMIN,
        _client_secrets("POST"),
    ),
    Case(
        "client-secrets",
        "GET",
        "/api/v1/identities/{identity_id}/universal-auth/client-secrets",
        ORG_ADMIN,
        _client_secrets("GET"),
    ),
    Case(
        "client-secret-revoke",
        "POST",
        "/api/v1/identities/{identity_id}/universal-auth/client-secrets/{secret_id}/revoke",
        ORG_ADMIN,
        _revoke,
    ),
    Case(
        "memberships",
        "GET",
        "/api/v1/projects/{project_id}/memberships",
        project(ADMIN),
        lambda w: Call("GET", f"/api/v1/projects/{w.a.project_id}/memberships"),
    ),
    Case(
        "membership-set",
        "PUT",
        "/api/v1/projects/{project_id}/memberships",
        project(ADMIN),
        _membership,
    ),
    Case(
        "audit-project",
        "GET",
        "/api/v1/audit-logs",
        project(ADMIN),
        lambda w: Call("GET", "/api/v1/audit-logs", {"projectId": w.a.project_id}),
    ),
    Case("audit-org", "GET", "/api/v1/audit-logs", ORG_ADMIN, _get("/api/v1/audit-logs")),
    # -- app connections -----------------------------------------------------------------
    Case(
        "connection-options",
        "GET",
        "/api/v1/app-connections/options",
        TOKEN,
        _get("/api/v1/app-connections/options"),
    ),
    Case(
        "connections-all-apps",
        "GET",
        "/api/v1/app-connections",
        project(ALL_ROLES),
        lambda w: Call("GET", "/api/v1/app-connections", {"projectId": w.a.project_id}),
    ),
    Case(
        "connections",
        "GET",
        CONNECTIONS,
        project(ALL_ROLES),
        lambda w: Call("GET", CONNECTIONS, {"projectId": w.a.project_id}),
    ),
    Case(
        "connections-available",
        "GET",
        f"{CONNECTIONS}/available",
        project(ALL_ROLES),
        lambda w: Call("GET", f"{CONNECTIONS}/available", {"projectId": w.a.project_id}),
    ),
    Case(
        "connection-by-name",
        "GET",
        f"{CONNECTIONS}/connection-name/{{name}}",
        project(ALL_ROLES, hidden=404),
        lambda w: Call(
            "GET",
            f"{CONNECTIONS}/connection-name/{w.a.connection_name}",
            {"projectId": w.a.project_id},
        ),
    ),
    Case(
        "connection",
        "GET",
        f"{CONNECTIONS}/{{connection_id}}",
        project(ALL_ROLES, hidden=404),
        lambda w: Call("GET", f"{CONNECTIONS}/{w.a.connection_id}"),
    ),
    Case(
        "connection-create",
        "POST",
        CONNECTIONS,
        project(ADMIN),
        lambda w: Call("POST", CONNECTIONS, json=_connection_body(w, w.a.project_id)),
    ),
    Case(
        "connection-create-org-level",
        "POST",
        CONNECTIONS,
        ORG_ADMIN,
        lambda w: Call("POST", CONNECTIONS, json=_connection_body(w, None)),
    ),
    Case(
        "connection-update",
        "PATCH",
        f"{CONNECTIONS}/{{connection_id}}",
        project(ADMIN, hidden=404),
        lambda w: Call(
            "PATCH", f"{CONNECTIONS}/{w.a.connection_id}", json={"description": unique("d")}
        ),
    ),
    Case(
        "connection-delete",
        "DELETE",
        f"{CONNECTIONS}/{{connection_id}}",
        project(ADMIN, hidden=404),
        _fresh_connection_call("DELETE"),
    ),
    Case(
        "connection-check",
        "POST",
        f"{CONNECTIONS}/{{connection_id}}/check",
        project(WRITERS, hidden=404),
        lambda w: Call("POST", f"{CONNECTIONS}/{w.a.connection_id}/check"),
    ),
    # -- secret rotations ----------------------------------------------------------------
    Case(
        "rotation-options",
        "GET",
        "/api/v2/secret-rotations/options",
        TOKEN,
        _get("/api/v2/secret-rotations/options"),
    ),
    Case(
        "rotations-all",
        "GET",
        "/api/v2/secret-rotations",
        project(ALL_ROLES),
        lambda w: Call("GET", "/api/v2/secret-rotations", {"projectId": w.a.project_id}),
    ),
    Case(
        "rotations",
        "GET",
        ROTATIONS,
        project(ALL_ROLES),
        lambda w: Call("GET", ROTATIONS, {"projectId": w.a.project_id}),
    ),
    Case(
        "rotation-by-name",
        "GET",
        f"{ROTATIONS}/rotation-name/{{name}}",
        project(ALL_ROLES),
        lambda w: Call(
            "GET",
            f"{ROTATIONS}/rotation-name/{w.a.rotation_name}",
            {"projectId": w.a.project_id, "environment": "dev", "secretPath": w.a.rotation_path},
        ),
    ),
    Case(
        "rotation",
        "GET",
        f"{ROTATIONS}/{{rotation_id}}",
        project(ALL_ROLES, hidden=404),
        lambda w: Call("GET", f"{ROTATIONS}/{w.a.rotation_id}"),
    ),
    Case(
        "rotation-create",
        "POST",
        ROTATIONS,
        project(WRITERS),
        lambda w: Call("POST", ROTATIONS, json=w.rotation_body(w.a.project_id, w.a.connection_id)),
    ),
    Case(
        "rotation-update",
        "PATCH",
        f"{ROTATIONS}/{{rotation_id}}",
        project(WRITERS, hidden=404),
        lambda w: Call("PATCH", f"{ROTATIONS}/{w.a.rotation_id}", json={"description": "x"}),
    ),
    Case(
        "rotation-delete",
        "DELETE",
        f"{ROTATIONS}/{{rotation_id}}",
        project(WRITERS, hidden=404),
        _fresh_rotation_delete,
    ),
    Case(
        "rotation-generated-credentials",
        "GET",
        f"{ROTATIONS}/{{rotation_id}}/generated-credentials",
        project(ADMIN, hidden=404),
        lambda w: Call("GET", f"{ROTATIONS}/{w.a.rotation_id}/generated-credentials"),
    ),
    Case(
        "rotation-rotate",
        "POST",
        f"{ROTATIONS}/{{rotation_id}}/rotate-secrets",
        project(WRITERS, hidden=404),
        lambda w: Call("POST", f"{ROTATIONS}/{w.a.rotation_id}/rotate-secrets"),
    ),
    Case(
        "rotation-history",
        "GET",
        f"{ROTATIONS}/{{rotation_id}}/history",
        project(ALL_ROLES, hidden=404),
        lambda w: Call("GET", f"{ROTATIONS}/{w.a.rotation_id}/history"),
    ),
    # -- secrets -------------------------------------------------------------------------
    Case("secrets", "GET", SECRETS, project(ALL_ROLES), lambda w: Call("GET", SECRETS, _where(w))),
    Case(
        "secret",
        "GET",
        f"{SECRETS}/{{secret_name}}",
        project(ALL_ROLES),
        lambda w: Call("GET", f"{SECRETS}/{w.a.secret_name}", _where(w)),
    ),
    Case(
        "secret-create",
        "POST",
        f"{SECRETS}/{{secret_name}}",
        project(WRITERS),
        lambda w: Call(
            "POST",
            f"{SECRETS}/NEW_{unique('S').replace('-', '_')}",
            json={**_where(w), "type": "shared", "secretValue": "v"},
        ),
    ),
    Case(
        "secret-update",
        "PATCH",
        f"{SECRETS}/{{secret_name}}",
        project(WRITERS),
        _fresh_secret("PATCH"),
    ),
    Case(
        "secret-delete",
        "DELETE",
        f"{SECRETS}/{{secret_name}}",
        project(WRITERS),
        _fresh_secret("DELETE"),
    ),
    # -- folders -------------------------------------------------------------------------
    Case(
        "folders",
        "GET",
        FOLDERS,
        project(ALL_ROLES),
        lambda w: Call("GET", FOLDERS, {"projectId": w.a.project_id, "environment": "dev"}),
    ),
    Case(
        "folder-create",
        "POST",
        FOLDERS,
        project(WRITERS),
        lambda w: Call(
            "POST",
            FOLDERS,
            json={"projectId": w.a.project_id, "environment": "dev", "name": unique("f")},
        ),
    ),
    Case(
        "folder",
        "GET",
        f"{FOLDERS}/{{folder_id}}",
        project(ALL_ROLES, hidden=404),
        lambda w: Call("GET", f"{FOLDERS}/{w.a.folder_id}"),
    ),
    Case(
        "folder-update",
        "PATCH",
        f"{FOLDERS}/{{folder_id}}",
        project(WRITERS, hidden=404),
        _fresh_folder("PATCH"),
    ),
    Case(
        "folder-delete",
        "DELETE",
        f"{FOLDERS}/{{folder_id_or_name}}",
        project(WRITERS),
        _fresh_folder("DELETE"),
    ),
]


def app_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path) of every route the app answers, included routers flattened."""
    flatten: Callable[[list[BaseRoute]], Iterator[Any]] | None = getattr(
        routing, "iter_route_contexts", None
    )
    for route in flatten(app.routes) if flatten else app.routes:
        for method in sorted(set(getattr(route, "methods", None) or ()) - {"HEAD"}):
            yield method, str(getattr(route, "path", ""))


API_PREFIXES = ("/api/", "/docs", "/openapi.json", "/redoc", "/metrics")


def is_ui(path: str) -> bool:
    return not path.startswith(API_PREFIXES)


def send(world: World, caller: str, call: Call) -> httpx.Response:
    response: httpx.Response = world.api.client.request(
        call.method, call.url, params=call.params, json=call.json, headers=world.callers[caller]
    )
    return response


def test_every_route_has_an_expectation(world: World) -> None:
    routes = {r for r in app_routes(world.api.app) if not is_ui(r[1])}
    expected = {(case.method, case.route) for case in CASES}
    assert sorted(routes - expected) == [], "API routes without an expectation in CASES"
    assert sorted(expected - routes) == [], "expectations for routes the app does not have"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_route_answers_each_caller_as_the_spec_says(world: World, case: Case, caller: str) -> None:
    response = send(world, caller, case.build(world))
    expected = case.expect.status(caller)
    assert response.status_code == expected, (case.name, caller, response.text[:300])
    if expected >= 400:
        assert response.json()["statusCode"] == expected


# -- ids of project B used from project A ------------------------------------------------

CROSS_PROJECT_CALLERS = ("project-admin", "org-admin")


def _b_in_a(w: World) -> list[tuple[str, Call]]:
    """Calls made in project A's name that carry an id or name of project B."""
    a, b = w.a, w.b
    where_a = _where(w)
    return [
        (
            "B's connection by name in A",
            Call(
                "GET",
                f"{CONNECTIONS}/connection-name/{b.connection_name}",
                {"projectId": a.project_id},
            ),
        ),
        (
            "rotation in A on B's connection",
            Call("POST", ROTATIONS, json=w.rotation_body(a.project_id, b.connection_id)),
        ),
        (
            "B's rotation by name in A",
            Call(
                "GET",
                f"{ROTATIONS}/rotation-name/{b.rotation_name}",
                {"projectId": a.project_id, "environment": "dev", "secretPath": b.rotation_path},
            ),
        ),
        ("B's secret read in A", Call("GET", f"{SECRETS}/{b.secret_name}", where_a)),
        (
            "B's secret changed in A",
            Call(
                "PATCH",
                f"{SECRETS}/{b.secret_name}",
                json={**where_a, "type": "shared", "secretValue": "hijacked"},
            ),
        ),
        (
            "B's secret deleted in A",
            Call("DELETE", f"{SECRETS}/{b.secret_name}", json={**where_a, "type": "shared"}),
        ),
        (
            "B's folder renamed in A",
            Call(
                "PATCH",
                f"{FOLDERS}/{b.folder_id}",
                json={"projectId": a.project_id, "environment": "dev", "name": "hijacked"},
            ),
        ),
        (
            "B's folder deleted in A",
            Call(
                "DELETE",
                f"{FOLDERS}/{b.folder_id}",
                json={"projectId": a.project_id, "environment": "dev", "path": "/"},
            ),
        ),
        (
            "B's folder by name deleted in A",
            Call(
                "DELETE",
                f"{FOLDERS}/{b.folder_name}",
                json={"projectId": a.project_id, "environment": "dev", "path": "/"},
            ),
        ),
    ]


def test_project_admin_cannot_reach_objects_of_another_project(world: World) -> None:
    b = world.b
    calls = [
        Call("GET", f"{CONNECTIONS}/{b.connection_id}"),
        Call("PATCH", f"{CONNECTIONS}/{b.connection_id}", json={"description": "x"}),
        Call("POST", f"{CONNECTIONS}/{b.connection_id}/check"),
        Call("DELETE", f"{CONNECTIONS}/{b.connection_id}"),
        Call("GET", f"{ROTATIONS}/{b.rotation_id}"),
        Call("PATCH", f"{ROTATIONS}/{b.rotation_id}", json={"description": "x"}),
        Call("GET", f"{ROTATIONS}/{b.rotation_id}/generated-credentials"),
        Call("GET", f"{ROTATIONS}/{b.rotation_id}/history"),
        Call("POST", f"{ROTATIONS}/{b.rotation_id}/rotate-secrets"),
        Call("DELETE", f"{ROTATIONS}/{b.rotation_id}"),
        Call("GET", f"{FOLDERS}/{b.folder_id}"),
        Call("PATCH", f"{FOLDERS}/{b.folder_id}", json={"name": "hijacked"}),
    ]
    answers = [(c.method, c.url, send(world, "project-admin", c).status_code) for c in calls]
    assert [a for a in answers if a[2] != 404] == []


@pytest.mark.parametrize("caller", CROSS_PROJECT_CALLERS)
def test_ids_of_another_project_are_refused_in_this_ones_name(world: World, caller: str) -> None:
    answers = [(what, send(world, caller, call)) for what, call in _b_in_a(world)]
    assert [(what, r.status_code) for what, r in answers if r.status_code not in (400, 404)] == []


def test_project_b_is_unchanged_after_the_cross_project_attempts(world: World) -> None:
    client, admin, b = world.api.client, world.admin, world.b
    where_b = {"workspaceId": b.project_id, "environment": "dev", "secretPath": "/"}
    for caller in CROSS_PROJECT_CALLERS:
        for _what, call in _b_in_a(world):
            send(world, caller, call)
    secret = ok(client.get(f"{SECRETS}/{b.secret_name}", params=where_b, headers=admin))
    assert secret["secret"]["secretValue"] == "secret-value"
    folder = ok(client.get(f"{FOLDERS}/{b.folder_id}", headers=admin))
    assert folder["folder"]["name"] == b.folder_name
    ok(client.get(f"{CONNECTIONS}/{b.connection_id}", headers=admin))
    rotations_a = ok(client.get(ROTATIONS, params={"projectId": world.a.project_id}, headers=admin))
    used = [r for r in rotations_a["secretRotations"] if r["connectionId"] == b.connection_id]
    assert used == []


def test_project_list_shows_only_the_callers_projects(world: World) -> None:
    def visible(caller: str) -> set[str]:
        listed = ok(world.api.client.get("/api/v1/projects", headers=world.callers[caller]))
        return {p["id"] for p in listed["projects"]}

    a, b = world.a.project_id, world.b.project_id
    assert visible("org-admin") >= {a, b}
    assert visible("member") == {a}
    assert visible("other-admin") == {b}
    assert visible("no-access") == set()


def test_viewer_never_receives_a_secret_value(world: World) -> None:
    viewer = world.callers["viewer"]
    one = ok(
        world.api.client.get(
            f"{SECRETS}/{world.a.secret_name}", params=_where(world), headers=viewer
        )
    )
    listed = ok(world.api.client.get(SECRETS, params=_where(world), headers=viewer))
    secrets_seen = [one["secret"], *listed["secrets"]]
    assert all(s["secretValueHidden"] for s in secrets_seen)
    assert all(s["secretValue"] == "<hidden-by-infisical>" for s in secrets_seen)


# -- the web UI: the same callers, with the token as the session cookie ----------------------

PASS, LOGIN = "pass", "login"


@dataclass(frozen=True)
class UiExpect:
    """``public``: anyone gets through; ``session``: any valid session; ``project``: the
    roles in ``roles`` (others: 403, no role in the project: 404); ``logout``: everyone
    ends on the login page. No valid session: sent to the login page."""

    access: str
    roles: Roles = frozenset()

    def outcome(self, caller: str) -> str | int:
        if self.access == "public":
            return PASS
        if self.access == "logout" or caller in UNAUTHENTICATED:
            return LOGIN
        if self.access == "session":
            return PASS
        role = ROLE_IN_A.get(caller)
        if role is None:
            return 404
        return PASS if role in self.roles else 403


@dataclass(frozen=True)
class UiCase:
    name: str
    method: str
    route: str
    expect: UiExpect
    build: Callable[[World], tuple[str, dict[str, str] | None]] = field(repr=False)


def _page(suffix: str) -> Callable[[World], tuple[str, dict[str, str] | None]]:
    return lambda w: (f"/projects/{w.a.project_id}{suffix}", None)


def _conn_page(suffix: str) -> Callable[[World], tuple[str, dict[str, str] | None]]:
    return lambda w: (
        f"/projects/{w.a.project_id}/integrations/app-connections/{w.a.connection_id}{suffix}",
        None,
    )


def _rot_page(suffix: str) -> Callable[[World], tuple[str, dict[str, str] | None]]:
    return lambda w: (
        f"/projects/{w.a.project_id}/secret-rotations/{w.a.rotation_id}{suffix}",
        None,
    )


def _connection_form(w: World, name: str) -> dict[str, str]:
    return {
        "name": name,
        "method": "simple-bind",
        "credentials.provider": "open-ldap",
        "credentials.url": w.slapd.ldaps_url,
        "credentials.dn": w.slapd.admin_dn,
        "credentials.password": w.slapd.admin_password,
        "credentials.sslCertificate": w.slapd.ca_pem,
        "credentials.sslRejectUnauthorized": "true",
    }


def _ui_connection_create(w: World) -> tuple[str, dict[str, str] | None]:
    url = f"/projects/{w.a.project_id}/integrations/app-connections/ldap"
    return url, _connection_form(w, unique("ui-conn"))


def _ui_connection_edit(w: World) -> tuple[str, dict[str, str] | None]:
    url = f"/projects/{w.a.project_id}/integrations/app-connections/{w.a.connection_id}/edit"
    return url, _connection_form(w, w.a.connection_name)


def _ui_connection_delete(w: World) -> tuple[str, dict[str, str] | None]:
    connection_id, _name = w.new_connection(w.a.project_id)
    return f"/projects/{w.a.project_id}/integrations/app-connections/{connection_id}/delete", {}


def _ui_rotation_create(w: World) -> tuple[str, dict[str, str] | None]:
    body = w.rotation_body(w.a.project_id, w.a.connection_id)
    form = {
        "name": body["name"],
        "connectionId": body["connectionId"],
        "environment": "dev",
        "secretPath": body["secretPath"],
        "rotationInterval": "30",
        "isAutoRotationEnabled": "on",
        "rotateAtUtc.hours": "0",
        "rotateAtUtc.minutes": "0",
        "parameters.dn": body["parameters"]["dn"],
        "parameters.rotationMethod": "connection-principal",
        "parameters.passwordRequirements.length": "48",
        "parameters.passwordRequirements.required.digits": "1",
        "parameters.passwordRequirements.required.lowercase": "1",
        "parameters.passwordRequirements.required.uppercase": "1",
        "parameters.passwordRequirements.required.symbols": "0",
        "parameters.passwordRequirements.allowedSymbols": "-_.~!*",
        "secretsMapping.dn": "LDAP_DN",
        "secretsMapping.password": "LDAP_PASSWORD",
    }
    return f"/projects/{w.a.project_id}/secret-rotations", form


def _ui_rotation_delete(w: World) -> tuple[str, dict[str, str] | None]:
    rotation_id, _name, _path = w.new_rotation(w.a)
    return f"/projects/{w.a.project_id}/secret-rotations/{rotation_id}/delete", {}


def _ui_reveal(w: World) -> tuple[str, dict[str, str] | None]:
    form = {"environment": "dev", "path": "/", "key": w.a.secret_name}
    return f"/projects/{w.a.project_id}/secrets/reveal", form


UI_PUBLIC, UI_SESSION = UiExpect("public"), UiExpect("session")


def ui_project(roles: Roles) -> UiExpect:
    return UiExpect("project", roles)


CONNS = "/projects/{project_id}/integrations/app-connections"
ROTS = "/projects/{project_id}/secret-rotations"
UI_CASES: list[UiCase] = [
    UiCase("home", "GET", "/", UI_SESSION, lambda w: ("/", None)),
    UiCase("login-page", "GET", "/login", UI_PUBLIC, lambda w: ("/login", None)),
    UiCase(
        "login",
        "POST",
        "/login",
        UI_PUBLIC,
        lambda w: ("/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
    ),
    UiCase("logout", "POST", "/logout", UiExpect("logout"), lambda w: ("/logout", {})),
    UiCase("no-projects", "GET", "/no-projects", UI_SESSION, lambda w: ("/no-projects", None)),
    UiCase(
        "switch",
        "GET",
        "/projects/switch",
        ui_project(ALL_ROLES),
        lambda w: (f"/projects/switch?project={w.a.project_id}", None),
    ),
    UiCase("static", "GET", "/static/{name:path}", UI_PUBLIC, lambda w: ("/static/ui.css", None)),
    UiCase("project", "GET", "/projects/{project_id}", ui_project(ALL_ROLES), _page("")),
    UiCase("ui-connections", "GET", CONNS, ui_project(ALL_ROLES), _page(CONNS[22:])),
    UiCase(
        "ui-connection-new", "GET", f"{CONNS}/new", ui_project(ADMIN), _page(f"{CONNS[22:]}/new")
    ),
    UiCase(
        "ui-connection-new-ldap",
        "GET",
        f"{CONNS}/new/ldap",
        ui_project(ADMIN),
        _page(f"{CONNS[22:]}/new/ldap"),
    ),
    UiCase(
        "ui-connection-create", "POST", f"{CONNS}/ldap", ui_project(ADMIN), _ui_connection_create
    ),
    UiCase(
        "ui-connection-edit-page",
        "GET",
        f"{CONNS}/{{connection_id}}/edit",
        ui_project(ADMIN),
        _conn_page("/edit"),
    ),
    UiCase(
        "ui-connection-edit",
        "POST",
        f"{CONNS}/{{connection_id}}/edit",
        ui_project(ADMIN),
        _ui_connection_edit,
    ),
    UiCase(
        "ui-connection-check",
        "POST",
        f"{CONNS}/{{connection_id}}/check",
        ui_project(WRITERS),
        lambda w: (_conn_page("/check")(w)[0], {}),
    ),
    UiCase(
        "ui-connection-delete-page",
        "GET",
        f"{CONNS}/{{connection_id}}/delete",
        ui_project(ADMIN),
        _conn_page("/delete"),
    ),
    UiCase(
        "ui-connection-delete",
        "POST",
        f"{CONNS}/{{connection_id}}/delete",
        ui_project(ADMIN),
        _ui_connection_delete,
    ),
    UiCase("ui-rotations", "GET", ROTS, ui_project(ALL_ROLES), _page("/secret-rotations")),
    UiCase(
        "ui-rotation-new", "GET", f"{ROTS}/new", ui_project(WRITERS), _page("/secret-rotations/new")
    ),
    UiCase("ui-rotation-create", "POST", ROTS, ui_project(WRITERS), _ui_rotation_create),
    UiCase("ui-rotation", "GET", f"{ROTS}/{{rotation_id}}", ui_project(ALL_ROLES), _rot_page("")),
    UiCase(
        "ui-rotation-rotate",
        "POST",
        f"{ROTS}/{{rotation_id}}/rotate",
        ui_project(WRITERS),
        lambda w: (_rot_page("/rotate")(w)[0], {}),
    ),
    UiCase(
        "ui-rotation-credentials",
        "POST",
        f"{ROTS}/{{rotation_id}}/generated-credentials",
        ui_project(ADMIN),
        lambda w: (_rot_page("/generated-credentials")(w)[0], {}),
    ),
    UiCase(
        "ui-rotation-delete-page",
        "GET",
        f"{ROTS}/{{rotation_id}}/delete",
        ui_project(WRITERS),
        _rot_page("/delete"),
    ),
    UiCase(
        "ui-rotation-delete",
        "POST",
        f"{ROTS}/{{rotation_id}}/delete",
        ui_project(WRITERS),
        _ui_rotation_delete,
    ),
    UiCase(
        "ui-secrets",
        "GET",
        "/projects/{project_id}/secrets",
        ui_project(ALL_ROLES),
        _page("/secrets"),
    ),
    UiCase(
        "ui-secret-reveal",
        "POST",
        "/projects/{project_id}/secrets/reveal",
        ui_project(WRITERS),
        _ui_reveal,
    ),
]


def send_ui(
    world: World, caller: str, method: str, url: str, form: dict[str, str] | None
) -> str | int:
    """The outcome of one UI request made with the caller's token as the session cookie."""
    browser = TestClient(world.api.app, raise_server_exceptions=False)
    token = world.callers[caller].get("Authorization", "").removeprefix("Bearer ")
    if token:
        browser.cookies.set(SESSION_COOKIE, token)
    else:
        browser.get("/login")  # the pre-login cookie the login form's token is tied to
    binding = token or browser.cookies.get(PRESESSION_COOKIE) or ""
    headers = {csrf.CSRF_HEADER: csrf.token_for(binding)}
    if method == "GET":
        response = browser.get(url, follow_redirects=False)
    else:
        response = browser.post(url, data=form or {}, headers=headers, follow_redirects=False)
    status: int = response.status_code
    if status in (302, 303) and response.headers["location"].startswith("/login"):
        return LOGIN
    if status in (401, 403, 404) or status >= 500:
        return status
    return PASS


def test_every_ui_route_has_an_expectation(world: World) -> None:
    routes = {r for r in app_routes(world.api.app) if is_ui(r[1])}
    expected = {(case.method, case.route) for case in UI_CASES}
    assert sorted(routes - expected) == [], "UI routes without an expectation in UI_CASES"
    assert sorted(expected - routes) == [], "expectations for UI routes the app does not have"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("case", UI_CASES, ids=[case.name for case in UI_CASES])
def test_ui_route_answers_each_caller_as_the_spec_says(
    world: World, case: UiCase, caller: str
) -> None:
    url, form = case.build(world)
    assert send_ui(world, caller, case.method, url, form) == case.expect.outcome(caller)
