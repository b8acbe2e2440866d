"""Query-string models for hot routes: parsed in one pydantic call, documented as FastAPI
documents them.

FastAPI turns ``Annotated[Model, Query()]`` into the model by looking at every field's
aliases and annotation on every request, which cost the secret read about a tenth of its
CPU. ``query_model(Model, path=...)`` is a dependency that validates the route's path
parameters and its query string with pydantic directly and, when they are invalid, raises
the RequestValidationError FastAPI would have raised: the same errors, path ones first,
located under ``path``/``query``. Declare it after the caller's dependency, as FastAPI
checks a route's own parameters after its dependencies (so a bad token is still a 401).
``query_openapi(Model)`` gives the route the OpenAPI parameters that FastAPI generates for
``Annotated[Model, Query()]``, taken from FastAPI itself.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, TypeAdapter, ValidationError

M = TypeVar("M", bound=BaseModel)


def _located(exc: ValidationError, *prefix: str) -> list[dict[str, Any]]:
    return [{**error, "loc": (*prefix, *error["loc"])} for error in exc.errors()]


def query_model(
    model: type[M], *, path: Mapping[str, TypeAdapter[Any]] | None = None
) -> Callable[[Request], Coroutine[Any, Any, M]]:
    """A dependency: the request's query string as ``model``, once the path parameters
    named in ``path`` pass their adapters; 422 as FastAPI answers it."""
    path_adapters = dict(path or {})

    async def parse(request: Request) -> M:
        errors: list[dict[str, Any]] = []
        for name, adapter in path_adapters.items():
            try:
                adapter.validate_python(request.path_params.get(name))
            except ValidationError as exc:
                errors += _located(exc, "path", name)
        try:
            value = model.model_validate(dict(request.query_params))
        except ValidationError as exc:
            errors += _located(exc, "query")
        if errors:
            raise RequestValidationError(errors)
        return value

    return parse


def query_openapi(model: type[BaseModel]) -> dict[str, Any]:
    """The ``openapi_extra`` that documents ``model``'s fields as query parameters, exactly
    as FastAPI documents ``Annotated[model, Query()]`` (appended after the path's own)."""

    def documented(query: BaseModel) -> None:
        """Never called: its signature is the documentation."""

    # Set here, not written above: the model is a variable (and annotations are strings).
    documented.__annotations__ = {"query": Annotated[model, Query()], "return": None}
    probe = FastAPI()
    probe.get("/")(documented)
    operation = get_openapi(title="", version="", routes=probe.routes)["paths"]["/"]["get"]
    return {"parameters": operation["parameters"]}
