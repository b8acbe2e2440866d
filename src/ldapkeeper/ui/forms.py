"""HTML forms validated by the API's own request models.

A form field is named by its JSON path in the API body (``credentials.url``,
``parameters.passwordRequirements.length``), so the flat form nests into exactly the body
the API would receive, the API's pydantic model validates it, and each ``{path, message}``
issue — the same text a 422 carries — lands next to the field of that name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from ldapkeeper.api.errors import validation_issues
from ldapkeeper.ui import csrf

M = TypeVar("M", bound=BaseModel)

#: Every form field of the UI that carries a password: never typed back into a page, and
#: sent exactly as typed (the API never trims a password).
PASSWORD_FIELDS = frozenset({"password", "credentials.password", "temporaryParameters.password"})


@dataclass(frozen=True)
class FormFields:
    """A submitted form's text fields (CSRF already checked)."""

    values: Mapping[str, str]

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def checked(self, name: str) -> bool:
        return name in self.values

    def echo(self) -> dict[str, str]:
        """What may be typed back into the form: everything except passwords."""
        return {
            name: value
            for name, value in self.values.items()
            if name != csrf.CSRF_FIELD and name not in PASSWORD_FIELDS
        }


async def checked_form(request: Request) -> FormFields:
    """The request's form once its CSRF token matches the session; CsrfRefused otherwise."""
    form = await request.form()
    values = {k: v for k, v in form.multi_items() if not isinstance(v, UploadFile)}
    submitted = values.get(csrf.CSRF_FIELD) or request.headers.get(csrf.CSRF_HEADER)
    csrf.verify(request, submitted)
    return FormFields(values)


FormDep = Annotated[FormFields, Depends(checked_form)]


@dataclass
class FormErrors:
    """Validation or business-rule messages, by field name ("" for the whole form)."""

    by_field: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.by_field.setdefault(name, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.by_field)

    def of(self, name: str) -> list[str]:
        return self.by_field.get(name, [])

    def general(self) -> list[str]:
        return self.by_field.get("", [])

    @classmethod
    def from_validation(cls, exc: ValidationError, fields: Iterable[str]) -> FormErrors:
        """Each API issue under the longest field name its path starts with (else general).

        A field-level message is prefixed with nothing; a general one keeps its path, as the
        API's 422 shows it.
        """
        names = sorted(fields, key=len, reverse=True)
        errors = cls()
        for issue in validation_issues(list(exc.errors())):
            path, message = issue["path"], issue["message"]
            owner = next((n for n in names if path == n or path.startswith(n + ".")), None)
            if owner is None:
                errors.add("", f"{path}: {message}")
            else:
                errors.add(owner, message)
        return errors


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "c": 2}`` → ``{"a": {"b": 1}, "c": 2}``."""
    tree: dict[str, Any] = {}
    for name, value in flat.items():
        node = tree
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def body_from(
    form: FormFields,
    *,
    text: Iterable[str] = (),
    checkboxes: Iterable[str] = (),
    lines: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The API body a form describes.

    ``text`` fields are sent when not blank (a blank optional field takes the API's default;
    a blank required one is "Field required", as in the API); ``checkboxes`` are booleans;
    ``lines`` are lists of non-blank lines. ``extra`` adds or overrides fields.
    """
    flat: dict[str, Any] = {}
    for name in text:
        value = form.get(name)
        if value if name in PASSWORD_FIELDS else value.strip():
            flat[name] = value
    for name in checkboxes:
        flat[name] = form.checked(name)
    for name in lines:
        flat[name] = [line.strip() for line in form.get(name).splitlines() if line.strip()]
    flat.update(extra or {})
    return nest(flat)


def validate(model: type[M], body: dict[str, Any], fields: Iterable[str]) -> M | FormErrors:
    """``model`` validated from ``body`` like the API does, or the issues by field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        return FormErrors.from_validation(exc, fields)
