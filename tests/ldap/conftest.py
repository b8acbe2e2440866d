"""Fixtures for the LDAP adapter's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from ldapkeeper.ldap import LdapDirectory
from tests.ldap.builders import make_directory
from tests.support.ldap_extra import starttls_staller

__all__ = ["directory", "starttls_staller"]  # fixtures of this folder


@pytest.fixture
def directory(tmp_path: Path) -> LdapDirectory:
    """The adapter, allowed to reach 127.0.0.0/8, 5 s timeout, CA files in a temp dir."""
    return make_directory(tmp_path)
