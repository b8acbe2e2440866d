import json
from typing import Any

import pytest
from tests.support.app import build_api

ERROR_STATUSES = ("400", "401", "403", "404", "422", "429", "500")
ERROR_REF = "#/components/schemas/ErrorResponse"


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The document, fetched once: it does not change while the app runs."""
    data = tmp_path_factory.mktemp("openapi")
    api = build_api(data, f"sqlite:///{data / 'ldapkeeper.db'}")
    try:
        response = api.client.get("/openapi.json")
    finally:
        api.client.close()
        api.runtime.db.dispose()
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_every_operation_declares_the_error_envelope(document: dict[str, Any]) -> None:
    missing = [
        f"{method} {path} {status}"
        for method, path, operation in _operations(document)
        for status in ERROR_STATUSES
        if operation["responses"].get(status, {}).get("content", {}).get("application/json")
        != {"schema": {"$ref": ERROR_REF}}
    ]
    assert missing == []


def test_document_has_no_fastapi_validation_error_schema(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in json.dumps(document)


def test_every_schema_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    unresolved = {
        ref
        for ref in _refs(document)
        if not ref.startswith("#/components/schemas/")
        or ref.removeprefix("#/components/schemas/") not in schemas
    }
    assert unresolved == set()


def test_error_envelope_schema_has_the_spec_fields(document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["ErrorResponse"]
    assert set(schema["required"]) == {"reqId", "statusCode", "message", "error"}
    assert set(schema["properties"]) == {"reqId", "statusCode", "message", "error", "details"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/universal-auth/login"),
        ("GET", "/api/v1/projects"),
        ("POST", "/api/v1/projects"),
        ("GET", "/api/v1/projects/{project_id}"),
        ("POST", "/api/v1/projects/{project_id}/environments"),
        ("GET", "/api/v1/projects/{project_id}/memberships"),
        ("PUT", "/api/v1/projects/{project_id}/memberships"),
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/users"),
        ("GET", "/api/v1/identities"),
        ("POST", "/api/v1/identities"),
        ("GET", "/api/v1/identities/{identity_id}/universal-auth/client-secrets"),
        ("POST", "/api/v1/identities/{identity_id}/universal-auth/client-secrets"),
        (
            "POST",
            "/api/v1/identities/{identity_id}/universal-auth/client-secrets/{secret_id}/revoke",
        ),
        ("GET", "/api/v1/audit-logs"),
        ("GET", "/api/status"),
    ],
)
def test_management_route_is_documented(document: dict[str, Any], method: str, path: str) -> None:
    assert method.lower() in document["paths"].get(path, {})


def test_authenticated_routes_declare_bearer_security(document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/v1/projects"]["get"]
    schemes = document["components"]["securitySchemes"]
    assert [scheme["scheme"] for scheme in schemes.values()] == ["bearer"]
    assert operation["security"] == [{name: []} for name in schemes]
