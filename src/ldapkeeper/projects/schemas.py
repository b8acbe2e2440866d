"""Request and response models of projects and environments."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ldapkeeper.schemas import ApiModel, Slug


class EnvironmentPublic(ApiModel):
    id: str
    name: str
    slug: str


class ProjectPublic(ApiModel):
    id: str
    name: str
    slug: str
    description: str
    environments: list[EnvironmentPublic]
    created_at: datetime
    updated_at: datetime


class ProjectCreate(ApiModel):
    name: str = Field(min_length=1, max_length=128)
    slug: Slug
    description: str = Field(default="", max_length=256)


class EnvironmentCreate(ApiModel):
    name: str = Field(min_length=1, max_length=64)
    slug: Slug
