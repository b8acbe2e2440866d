"""The secret reads parse their query string themselves (api.query): they must answer every
request as FastAPI's own ``Annotated[Model, Query()]`` parsing did, and document the same."""

from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Query
from fastapi.openapi.utils import get_openapi
from fastapi.testclient import TestClient
from tests.support.app import Api

from ldapkeeper.api.errors import install_error_handlers
from ldapkeeper.api.routers.secrets import SecretNameParam
from ldapkeeper.secrets.schemas import SecretGetQuery, SecretListQuery

ONE = "/api/v3/secrets/raw/{name}"
MANY = "/api/v3/secrets/raw"


def _fastapi_parsing() -> FastAPI:
    """The routes as they were declared before: FastAPI parses the query models."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/api/v3/secrets/raw/{secret_name}")
    def one(secret_name: SecretNameParam, query: Annotated[SecretGetQuery, Query()]) -> None:
        """The route's former parameters."""

    @app.get("/api/v3/secrets/raw")
    def many(query: Annotated[SecretListQuery, Query()]) -> None:
        """The route's former parameters."""

    return app


@pytest.fixture(scope="module")
def reference() -> TestClient:
    return TestClient(_fastapi_parsing(), raise_server_exceptions=False)


INVALID_ONE = [
    ("KEY", ""),
    ("KEY", "environment=dev"),
    ("KEY", "workspaceId=p"),
    ("KEY", "workspaceId=p&environment=dev&version=0"),
    ("KEY", "workspaceId=p&environment=dev&version=two"),
    ("KEY", "workspaceId=p&environment=dev&type=team"),
    ("KEY", "workspaceId=p&environment=dev&secretPath=/a/../b"),
    ("KEY", "workspaceId=p&environment=dev&viewSecretValue=maybe"),
    ("KEY", "workspaceId=p&environment=&expandSecretReferences=x"),
    ("KEY", f"workspaceId={'p' * 65}&environment=dev"),
    ("HAS%20SPACE", "workspaceId=p&environment=dev"),
    ("HAS%20SPACE", "environment=dev&version=0"),
    ("A:B", ""),
]
INVALID_MANY = [
    "",
    "workspaceSlug=s",
    "workspaceId=p&environment=dev&recursive=deep",
    "workspaceId=p&environment=dev&secretPath=//x//&tagSlugs=" + "t" * 1025,
]


def _message(response: Any) -> Any:
    return (response.status_code, response.json()["message"])


@pytest.mark.parametrize(("name", "query"), INVALID_ONE)
def test_an_invalid_secret_read_is_answered_as_fastapi_did(
    api: Api, reference: TestClient, name: str, query: str
) -> None:
    url = f"{ONE.format(name=name)}?{query}"
    ours = api.client.get(url, headers=api.admin)
    assert ours.status_code == 422
    assert _message(ours) == _message(reference.get(url))


@pytest.mark.parametrize("query", INVALID_MANY)
def test_an_invalid_secret_listing_is_answered_as_fastapi_did(
    api: Api, reference: TestClient, query: str
) -> None:
    url = f"{MANY}?{query}"
    ours = api.client.get(url, headers=api.admin)
    assert ours.status_code == 422
    assert _message(ours) == _message(reference.get(url))


def test_a_bad_token_is_answered_before_a_bad_query(api: Api) -> None:
    response = api.client.get(
        f"{ONE.format(name='HAS%20SPACE')}?version=0", headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/api/v3/secrets/raw/{secret_name}", "/api/v3/secrets/raw"])
def test_the_documented_parameters_are_fastapis(api: Api, path: str) -> None:
    expected = get_openapi(title="", version="", routes=_fastapi_parsing().routes)
    ours = api.client.get("/openapi.json").json()
    assert ours["paths"][path]["get"]["parameters"] == expected["paths"][path]["get"]["parameters"]


def test_the_secret_read_documents_the_bearer_security_of_the_listing(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    read, listing = paths[ONE.replace("{name}", "{secret_name}")]["get"], paths[MANY]["get"]
    assert read["security"] == listing["security"] != []
