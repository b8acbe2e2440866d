"""Base of every request and response model: camelCase on the wire, unknown fields ignored."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class ApiModel(BaseModel):
    """camelCase aliases, names accepted too; extra fields ignored (Infisical clients send more)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", from_attributes=True
    )


def _slug(value: str) -> str:
    if not 1 <= len(value) <= 64 or not SLUG.match(value):
        raise ValueError("must be a slug: lowercase letters, digits and single dashes, 1-64 long")
    return value


Slug = Annotated[str, AfterValidator(_slug)]
