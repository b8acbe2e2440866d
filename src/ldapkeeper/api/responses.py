"""JSON responses serialized in the handler's own thread.

A sync route that returns a pydantic model has FastAPI validate it against the route's
``response_model`` once more, in another threadpool hand-off, before serializing it. A
route whose model is already the response schema can return `model_response` instead and
keep ``response_model`` for the OpenAPI document: the same bytes, one hand-off fewer.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def model_response(model: BaseModel, *, exclude_none: bool = False) -> Response:
    """``model`` as JSON, as FastAPI sends a route's ``response_model`` (field aliases;
    ``exclude_none`` as the route's ``response_model_exclude_none``)."""
    return Response(
        model.model_dump_json(by_alias=True, exclude_none=exclude_none),
        media_type="application/json",
    )
