"""The CLI's HTTP client on answers a real ldapkeeper never gives (a proxy's error page)."""

from __future__ import annotations

import httpx
import pytest

from ldapkeeper.cli.client import ApiClient, ApiError, error_message
from ldapkeeper.cli.config import Credentials

CREDENTIALS = Credentials("http://keeper.example.test", "client", "secret")


def _proxy_error(request: httpx.Request) -> httpx.Response:
    return httpx.Response(502, text="<html><body>Bad Gateway</body></html>")


def test_an_html_error_page_becomes_its_status_line() -> None:
    client = ApiClient(
        CREDENTIALS, transport=httpx.MockTransport(_proxy_error), persist_token=False
    )
    with client, pytest.raises(ApiError, match="HTTP 502 Bad Gateway"):
        client.get("/api/v1/projects")


def test_a_validation_failure_list_becomes_one_line() -> None:
    response = httpx.Response(
        422,
        json={
            "reqId": "r",
            "statusCode": 422,
            "error": "ValidationFailure",
            "message": [
                {"path": "name", "message": "must be a slug"},
                {"path": "credentials.url", "message": "Field\nrequired"},
            ],
        },
    )
    assert error_message(response) == (
        "name: must be a slug; credentials.url: Field required",
        None,
    )


def test_the_details_code_is_kept() -> None:
    response = httpx.Response(
        400,
        json={
            "reqId": "r",
            "statusCode": 400,
            "error": "BadRequest",
            "message": "Unable to validate connection: invalid credentials",
            "details": {"code": "invalid_credentials"},
        },
    )
    assert error_message(response)[1] == "invalid_credentials"
