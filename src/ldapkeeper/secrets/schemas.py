"""Request and response models of Infisical's v3 raw secrets and v2 folders routes.

Field names and defaults follow what the ``infisicalsdk`` client sends and parses.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from ldapkeeper.db.models import Folder
from ldapkeeper.schemas import ApiModel
from ldapkeeper.secrets.folders import FolderWithEnvironment, check_folder_name, normalize_path
from ldapkeeper.secrets.service import SecretView

# Infisical's mask for a value the caller may not see.
HIDDEN_SECRET_VALUE = "<hidden-by-infisical>"
SECRET_NAME = re.compile(r"^[^\s/:]{1,256}$")
SECRET_NAME_PATTERN = SECRET_NAME.pattern


def _secret_name(value: str) -> str:
    if not SECRET_NAME.match(value):
        raise ValueError("must be 1-256 characters without whitespace, '/' or ':'")
    return value


SecretName = Annotated[str, AfterValidator(_secret_name)]
SecretPath = Annotated[str, Field(max_length=1024), AfterValidator(normalize_path)]
FolderName = Annotated[str, AfterValidator(check_folder_name)]
EnvironmentSlug = Annotated[str, Field(min_length=1, max_length=64)]
SecretType = Literal["shared", "personal"]


class ProjectRef(ApiModel):
    """Which project: ``workspaceId``/``projectId``, or ``workspaceSlug``/``projectSlug``."""

    workspace_id: str | None = Field(default=None, max_length=64)
    project_id: str | None = Field(default=None, max_length=64)
    workspace_slug: str | None = Field(default=None, max_length=64)
    project_slug: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _names_a_project(self) -> ProjectRef:
        if self.ref_id is None and self.ref_slug is None:
            raise ValueError("workspaceId (or projectId) or workspaceSlug is required")
        return self

    @property
    def ref_id(self) -> str | None:
        return self.workspace_id or self.project_id

    @property
    def ref_slug(self) -> str | None:
        return self.workspace_slug or self.project_slug


# --- secrets: requests --------------------------------------------------------------------


class SecretListQuery(ProjectRef):
    environment: EnvironmentSlug
    secret_path: SecretPath = "/"
    recursive: bool = False
    include_imports: bool = Field(default=False, alias="include_imports")
    expand_secret_references: bool = False
    view_secret_value: bool = True
    tag_slugs: str | None = Field(default=None, max_length=1024)


class SecretGetQuery(ProjectRef):
    environment: EnvironmentSlug
    secret_path: SecretPath = "/"
    version: int | None = Field(default=None, ge=1)
    type: SecretType = "shared"
    include_imports: bool = Field(default=False, alias="include_imports")
    expand_secret_references: bool = False
    view_secret_value: bool = True


class _SecretWrite(ProjectRef):
    environment: EnvironmentSlug
    secret_path: SecretPath = "/"
    type: SecretType = "shared"
    tag_ids: list[str] | None = None
    # Accepted for compatibility with Infisical's clients; not stored.
    secret_metadata: list[Any] | None = None
    secret_reminder_repeat_days: float | None = None
    secret_reminder_note: str | None = Field(default=None, max_length=1024)


class SecretCreate(_SecretWrite):
    secret_value: str = ""
    secret_comment: str = Field(default="", max_length=10_000)
    skip_multiline_encoding: bool = False


class SecretUpdate(_SecretWrite):
    secret_value: str | None = None
    secret_comment: str | None = Field(default=None, max_length=10_000)
    new_secret_name: SecretName | None = None
    skip_multiline_encoding: bool | None = None


class SecretDelete(ProjectRef):
    environment: EnvironmentSlug
    secret_path: SecretPath = "/"
    type: SecretType = "shared"


# --- secrets: responses ---------------------------------------------------------------------


class SecretTagPublic(ApiModel):
    id: str
    slug: str
    name: str
    color: str | None = None


class SecretPublic(ApiModel):
    """Every key is always present (the SDK's ``BaseSecret`` has no defaults for most)."""

    id: str
    id_: str = Field(alias="_id")
    workspace: str
    environment: str
    version: int
    type: Literal["shared"] = "shared"
    secret_key: str
    secret_value: str
    secret_comment: str
    secret_path: str
    tags: list[SecretTagPublic]
    secret_value_hidden: bool
    skip_multiline_encoding: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_view(cls, view: SecretView) -> SecretPublic:
        """The wire form of a secret; a hidden value becomes Infisical's mask."""
        return cls(
            id=view.id,
            id_=view.id,
            workspace=view.project_id,
            environment=view.environment,
            version=view.version,
            secret_key=view.key,
            secret_value=HIDDEN_SECRET_VALUE if view.value is None else view.value,
            secret_comment=view.comment,
            secret_path=view.secret_path,
            tags=[],
            secret_value_hidden=view.value is None,
            skip_multiline_encoding=view.skip_multiline_encoding,
            created_at=view.created_at,
            updated_at=view.updated_at,
        )


class SecretImportPublic(ApiModel):
    secret_path: str
    environment: str
    folder_id: str | None = None
    secrets: list[SecretPublic]


class SecretList(ApiModel):
    secrets: list[SecretPublic]
    imports: list[SecretImportPublic]


class SecretOne(ApiModel):
    secret: SecretPublic


# --- folders ----------------------------------------------------------------------------------


class FolderListQuery(ProjectRef):
    environment: EnvironmentSlug
    path: SecretPath = "/"
    # Infisical's older name of ``path``.
    directory: SecretPath | None = None
    recursive: bool = False


class FolderCreate(ProjectRef):
    environment: EnvironmentSlug
    name: FolderName
    path: SecretPath = "/"
    directory: SecretPath | None = None
    description: str | None = Field(default=None, max_length=256)


class FolderUpdate(ApiModel):
    # The id in the URL names the folder: projectId and environment, when sent, must match
    # it; path (where the SDK says the folder is) is accepted and not needed.
    workspace_id: str | None = Field(default=None, max_length=64)
    project_id: str | None = Field(default=None, max_length=64)
    environment: EnvironmentSlug | None = None
    name: FolderName
    path: SecretPath | None = None
    description: str | None = Field(default=None, max_length=256)


class FolderDelete(ProjectRef):
    environment: EnvironmentSlug
    path: SecretPath = "/"
    directory: SecretPath | None = None
    force_delete: bool = False


class FolderPublic(ApiModel):
    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    env_id: str
    path: str
    parent_id: str | None
    version: int
    description: str | None

    @classmethod
    def from_row(cls, folder: Folder) -> FolderPublic:
        return cls(
            id=folder.id,
            name=folder.name,
            created_at=folder.created_at,
            updated_at=folder.updated_at,
            env_id=folder.environment_id,
            path=folder.path,
            parent_id=folder.parent_id,
            version=folder.version,
            description=folder.description,
        )


class FolderEnvironmentPublic(ApiModel):
    env_id: str
    env_name: str
    env_slug: str


class FolderDetailPublic(FolderPublic):
    project_id: str
    environment: FolderEnvironmentPublic

    @classmethod
    def from_found(cls, found: FolderWithEnvironment) -> FolderDetailPublic:
        folder = found.folder
        return cls(
            id=folder.id,
            name=folder.name,
            created_at=folder.created_at,
            updated_at=folder.updated_at,
            env_id=folder.environment_id,
            path=folder.path,
            parent_id=folder.parent_id,
            version=folder.version,
            description=folder.description,
            project_id=folder.project_id,
            environment=FolderEnvironmentPublic(
                env_id=found.environment.id,
                env_name=found.environment.name,
                env_slug=found.environment.slug,
            ),
        )


class FolderList(ApiModel):
    folders: list[FolderPublic]


class FolderOne(ApiModel):
    folder: FolderPublic


class FolderDetailOne(ApiModel):
    folder: FolderDetailPublic
