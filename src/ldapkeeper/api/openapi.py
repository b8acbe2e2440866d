"""OpenAPI document: every operation declares the error envelope, never HTTPValidationError."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ldapkeeper.api.errors import ErrorResponse

_ERRORS = {
    "400": "Business rule failed",
    "401": "Missing or invalid token",
    "403": "Not allowed",
    "404": "Not found",
    "422": "Request validation failed",
    "429": "Too many requests",
    "500": "Internal error",
}
_REF = {"$ref": "#/components/schemas/ErrorResponse"}


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, model_schema in _error_schemas().items():
            components[name] = model_schema
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                for status, description in _ERRORS.items():
                    responses[status] = {
                        "description": description,
                        "content": {"application/json": {"schema": _REF}},
                    }
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]


def _error_schemas() -> dict[str, Any]:
    schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    defs: dict[str, Any] = schema.pop("$defs", {})
    return {"ErrorResponse": schema, **defs}
