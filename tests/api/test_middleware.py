import logging
from collections.abc import Iterator

import httpx
import pytest
from tests.support.app import Api, LiveServer

from ldapkeeper.api.middleware import SECURITY_HEADERS

LIMIT = 1_048_576  # the default LDAPKEEPER_MAX_REQUEST_BYTES


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        chunk = min(size, total - sent)
        sent += chunk
        yield b" " * chunk


def _explode_route(api: Api) -> str:
    @api.app.get("/api/test-only/explode")
    def explode() -> None:
        raise RuntimeError("unexpected")

    return "/api/test-only/explode"


def _assert_413(response: httpx.Response) -> None:
    assert response.status_code == 413
    body = response.json()
    assert (body["statusCode"], body["error"]) == (413, "PayloadTooLarge")


def test_body_over_the_declared_limit_is_413(api: Api) -> None:
    response = api.client.post(
        "/api/v1/projects",
        content=b" " * (LIMIT + 1),
        headers={**api.admin, "Content-Type": "application/json"},
    )
    _assert_413(response)


def test_streamed_body_over_the_limit_is_413(api: Api) -> None:
    response = api.client.post(
        "/api/v1/projects",
        content=_chunks(LIMIT + 1),
        headers={**api.admin, "Content-Type": "application/json"},
    )
    _assert_413(response)


def test_body_at_the_limit_is_accepted(api: Api) -> None:
    body = b'{"name": "Big", "slug": "big"}'
    response = api.client.post(
        "/api/v1/projects",
        content=body + b" " * (LIMIT - len(body)),
        headers={**api.admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("case", ["ok", "unauthorized", "not-found", "too-large", "unexpected"])
def test_every_response_carries_the_security_headers(api: Api, case: str) -> None:
    response = _response(api, case)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


@pytest.mark.parametrize("case", ["ok", "unauthorized", "not-found", "too-large", "unexpected"])
def test_every_response_carries_a_request_id(api: Api, case: str) -> None:
    response = _response(api, case)
    assert response.headers["X-Request-Id"].startswith("req-")


@pytest.mark.parametrize("case", ["unauthorized", "not-found", "too-large", "unexpected"])
def test_error_body_names_the_request_id_of_its_header(api: Api, case: str) -> None:
    response = _response(api, case)
    assert response.json()["reqId"] == response.headers["X-Request-Id"]


def test_request_ids_differ_between_requests(api: Api) -> None:
    ids = {api.client.get("/api/status").headers["X-Request-Id"] for _ in range(5)}
    assert len(ids) == 5


def test_requests_are_counted_by_route_template(api: Api) -> None:
    api.client.get(f"/api/v1/projects/{api.project_id}", headers=api.admin)
    metrics = api.client.get("/metrics").text
    assert 'route="/api/v1/projects/{project_id}"' in metrics
    assert api.project_id not in metrics


def test_unexpected_errors_are_counted_as_500(api: Api) -> None:
    _response(api, "unexpected")
    metrics = api.client.get("/metrics").text
    assert 'route="/api/test-only/explode",status="500"' in metrics


def _response(api: Api, case: str) -> httpx.Response:
    response: httpx.Response
    if case == "ok":
        response = api.client.get("/api/status")
    elif case == "unauthorized":
        response = api.client.get("/api/v1/projects")
    elif case == "not-found":
        response = api.client.get("/api/v1/projects/none", headers=api.admin)
    elif case == "too-large":
        response = api.client.post(
            "/api/v1/projects",
            content=b" " * (LIMIT + 1),
            headers={**api.admin, "Content-Type": "application/json"},
        )
    else:
        response = api.client.get(_explode_route(api))
    return response


def test_unexpected_error_is_logged_by_type_without_its_text(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    @api.app.get("/api/test-only/leak")
    def leak() -> None:
        raise ValueError("password=hunter2-canary")

    with caplog.at_level(logging.ERROR, logger="ldapkeeper"):
        api.client.get("/api/test-only/leak")
    [record] = [r for r in caplog.records if r.name == "ldapkeeper.api"]
    assert record.__dict__["error_type"] == "ValueError"
    assert record.exc_info is None
    assert "hunter2" not in caplog.text


def test_streamed_body_over_the_limit_is_413_from_a_real_server(
    live_server: LiveServer,
) -> None:
    response = httpx.post(
        f"{live_server.url}/api/v1/projects",
        content=_chunks(LIMIT + 1),
        headers={**live_server.api.admin, "Content-Type": "application/json"},
        timeout=30,
    )
    _assert_413(response)
    assert response.headers["X-Request-Id"] == response.json()["reqId"]
