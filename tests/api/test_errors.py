"""The error envelope of SPEC section 1, for every kind of failure."""

from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.app import CLIENT_ID, Api, build_api

CANARY = "Canary-Value-7f3a9e"


def _assert_envelope(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) <= {"reqId", "statusCode", "message", "error", "details"}
    assert body["statusCode"] == status
    assert body["error"] == error
    assert isinstance(body["message"], str | list)
    assert body["reqId"].startswith("req-")
    return body


def test_missing_token_is_401_unauthorized_error(api: Api) -> None:
    _assert_envelope(api.client.get("/api/v1/projects"), 401, "UnauthorizedError")


def test_invalid_token_is_401_unauthorized_error(api: Api) -> None:
    response = api.client.get("/api/v1/projects", headers={"Authorization": "Bearer nonsense"})
    _assert_envelope(response, 401, "UnauthorizedError")


def test_non_bearer_authorization_is_401(api: Api) -> None:
    response = api.client.get("/api/v1/projects", headers={"Authorization": "Basic YTpi"})
    _assert_envelope(response, 401, "UnauthorizedError")


def test_forbidden_action_is_403_permission_denied(api: Api) -> None:
    viewer = api.identity_with_role("viewer")
    response = api.client.post(
        "/api/v1/projects", json={"name": "New", "slug": "new"}, headers=viewer
    )
    _assert_envelope(response, 403, "PermissionDenied")


def test_unknown_record_is_404_not_found(api: Api) -> None:
    response = api.client.get("/api/v1/projects/no-such-project", headers=api.admin)
    body = _assert_envelope(response, 404, "NotFound")
    assert body["message"] == "Project not found"


def test_unknown_route_is_404_in_the_envelope(api: Api) -> None:
    _assert_envelope(api.client.get("/api/v1/nothing-here"), 404, "NotFound")


def test_wrong_method_is_405_in_the_envelope(api: Api) -> None:
    _assert_envelope(api.client.delete("/api/status"), 405, "MethodNotAllowed")


def test_business_rule_failure_is_400_bad_request(api: Api) -> None:
    response = api.client.post(
        "/api/v1/projects", json={"name": "Default", "slug": "default"}, headers=api.admin
    )
    _assert_envelope(response, 400, "BadRequest")


def test_invalid_body_is_422_validation_failure_with_paths(api: Api) -> None:
    response = api.client.post(
        "/api/v1/projects", json={"name": "", "slug": "Not A Slug"}, headers=api.admin
    )
    body = _assert_envelope(response, 422, "ValidationFailure")
    assert sorted(issue["path"] for issue in body["message"]) == ["name", "slug"]
    assert all(set(issue) == {"path", "message"} for issue in body["message"])


def test_missing_field_is_named_in_422(api: Api) -> None:
    response = api.client.post("/api/v1/auth/universal-auth/login", json={"clientId": "x"})
    body = _assert_envelope(response, 422, "ValidationFailure")
    assert [issue["path"] for issue in body["message"]] == ["clientSecret"]


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/api/v1/projects", {"name": "ok", "slug": CANARY}),
        ("/api/v1/projects", {"name": {"nested": CANARY}, "slug": "ok"}),
        ("/api/v1/users", {"email": CANARY, "password": "long-enough-password"}),
        ("/api/v1/users", {"email": "a@b.c", "password": CANARY * 100}),
        ("/api/v1/identities", {"name": "bot", "orgRole": CANARY}),
        ("/api/v1/identities", {"name": "bot", "accessTokenTTL": CANARY}),
    ],
    ids=["slug", "wrong-type", "pattern", "too-long", "enum", "integer"],
)
def test_422_never_echoes_the_input_value(api: Api, path: str, payload: dict[str, Any]) -> None:
    response = api.client.post(path, json=payload, headers=api.admin)
    _assert_envelope(response, 422, "ValidationFailure")
    assert CANARY not in response.text


def test_422_on_a_login_password_never_echoes_it(api: Api) -> None:
    response = api.client.post(
        "/api/v1/auth/universal-auth/login", json={"clientId": "x", "clientSecret": [CANARY]}
    )
    _assert_envelope(response, 422, "ValidationFailure")
    assert CANARY not in response.text


def test_malformed_json_is_422_without_the_input(api: Api) -> None:
    response = api.client.post(
        "/api/v1/auth/universal-auth/login",
        content=f'{{"clientId": "x", "clientSecret": "{CANARY}"',
        headers={"Content-Type": "application/json"},
    )
    _assert_envelope(response, 422, "ValidationFailure")
    assert CANARY not in response.text


def test_invalid_query_parameter_is_422_without_the_input(api: Api) -> None:
    response = api.client.get(f"/api/v1/audit-logs?limit={CANARY}", headers=api.admin)
    _assert_envelope(response, 422, "ValidationFailure")
    assert CANARY not in response.text


def test_too_many_failed_logins_is_429_with_retry_after(tmp_path: Path, sqlite_url: str) -> None:
    api = build_api(tmp_path / "data", sqlite_url, login_max_failures=3)
    try:
        for _ in range(3):
            failed = api.client.post(
                "/api/v1/auth/universal-auth/login",
                json={"clientId": CLIENT_ID, "clientSecret": "wrong"},
            )
            _assert_envelope(failed, 401, "UnauthorizedError")
        response = api.client.post(
            "/api/v1/auth/universal-auth/login",
            json={"clientId": CLIENT_ID, "clientSecret": "wrong"},
        )
        _assert_envelope(response, 429, "TooManyRequests")
        assert 1 <= int(response.headers["Retry-After"]) <= 300
    finally:
        api.client.close()
        api.runtime.db.dispose()


def test_unexpected_exception_is_500_without_trace_or_text(api: Api) -> None:
    @api.app.get("/api/test-only/explode")
    def explode() -> None:
        raise RuntimeError(f"password={CANARY} in a stack frame")

    response = api.client.get("/api/test-only/explode")
    body = _assert_envelope(response, 500, "InternalServerError")
    assert body["message"] == "Something went wrong"
    assert CANARY not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
