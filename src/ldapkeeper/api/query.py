"""Path and query parameters of hot routes: parsed in one pydantic call, documented as
FastAPI documents them.

FastAPI turns ``Annotated[Model, Query()]`` into the model by looking at every field's
aliases and annotation on every request, which cost the secret read about a tenth of its
CPU; and every dependency and parameter a route declares costs it again in FastAPI's
dependency solving. ``query_model(Model, path=...)`` validates the route's path parameters
(declared as FastAPI's ``Annotated[str, Path(...)]``) and its query string with pydantic
directly and, when they are invalid, raises the RequestValidationError FastAPI would have
raised: the same errors, path ones first, located under ``path``/``query``. Call it after
the caller is known, as FastAPI checks a route's own parameters after its dependencies (so
a bad token is still a 401). ``query_openapi(Model, path=..., auth=...)`` gives the route
the OpenAPI parameters (and security) that FastAPI generates for those declarations, taken
from FastAPI itself, for a route that declares none of them in its signature.
"""

from __future__ import annotations

import inspect
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
    model: type[M], *, path: Mapping[str, Any] | None = None
) -> Callable[[Request], Coroutine[Any, Any, M]]:
    """A parser (usable as a dependency): the request's query string as ``model``, once
    the path parameters named in ``path`` (name: annotated type) pass; 422 as FastAPI
    answers it."""
    path_adapters = {name: TypeAdapter(annotation) for name, annotation in (path or {}).items()}

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


def query_openapi(
    model: type[BaseModel], *, path: Mapping[str, Any] | None = None, auth: Any = None
) -> dict[str, Any]:
    """The ``openapi_extra`` that documents ``model``'s fields as query parameters, exactly
    as FastAPI documents ``Annotated[model, Query()]``; with ``path`` (name: annotated
    type), those path parameters before them; with ``auth`` (a dependency's annotated
    type), the security it declares. For what the route's own signature does not declare:
    FastAPI appends these to what it documents from the signature."""

    def documented(**_parameters: object) -> None:
        """Never called: its signature is the documentation."""

    declared = [*(path or {}).items(), ("query", Annotated[model, Query()])]
    if auth is not None:
        declared.append(("credentials", auth))
    documented.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
            for name, annotation in declared
        ],
        return_annotation=None,
    )
    probe = FastAPI()
    probe.get("/" + "".join(f"{{{name}}}/" for name in path or {}))(documented)
    operation = next(iter(get_openapi(title="", version="", routes=probe.routes)["paths"].values()))
    extra = {"parameters": operation["get"]["parameters"]}
    if "security" in operation["get"]:
        extra["security"] = operation["get"]["security"]
    return extra
