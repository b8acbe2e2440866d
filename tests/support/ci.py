"""CI strictness: with CI=true a missing server fails the run instead of skipping."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing(reason: str) -> None:
    """Skip with ``reason`` outside CI; fail under CI=true (CI must prove what it claims)."""
    if in_ci():
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)
