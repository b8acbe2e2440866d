"""`model_response`: the same JSON as FastAPI's own serialization of a response model."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI, Response
from fastapi.testclient import TestClient

from ldapkeeper.api.responses import model_response
from ldapkeeper.schemas import ApiModel


class Inner(ApiModel):
    error_code: str | None = None
    latency_ms: float


class Sample(ApiModel):
    display_name: str
    created_at: datetime
    inner: Inner
    note: str | None = None


SAMPLE = Sample(
    display_name="corp-ldap",
    created_at=datetime(2026, 11, 29, 19, 0, 1, 123456, tzinfo=UTC),
    inner=Inner(latency_ms=2.5),
)


def answers(exclude_none: bool) -> tuple[httpx.Response, httpx.Response]:
    app = FastAPI()

    @app.get("/by-fastapi", response_model=Sample, response_model_exclude_none=exclude_none)
    def by_fastapi() -> Sample:
        return SAMPLE

    @app.get("/by-handler", response_model=Sample, response_model_exclude_none=exclude_none)
    def by_handler() -> Response:
        return model_response(SAMPLE, exclude_none=exclude_none)

    client = TestClient(app)
    return client.get("/by-fastapi"), client.get("/by-handler")


@pytest.mark.parametrize("exclude_none", [False, True])
def test_model_response_is_what_fastapi_sends_for_the_response_model(exclude_none: bool) -> None:
    expected, answered = answers(exclude_none)
    assert answered.content == expected.content
    assert answered.headers["content-type"] == expected.headers["content-type"]
