"""Databases for tests: a fresh SQLite file always, a fresh PostgreSQL database when one answers.

PostgreSQL comes from ``LDAPKEEPER_TEST_DATABASE_URL`` or the local server on 127.0.0.1:5432.
Each test gets its own database cloned from a migrated template, so tests never share state.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from ldapkeeper.db.migrate import upgrade
from ldapkeeper.db.session import Database
from tests.support.ci import missing

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BACKENDS = ["sqlite", "postgresql"]


def _admin_conninfo() -> str:
    url = make_url(os.environ.get("LDAPKEEPER_TEST_DATABASE_URL", DEFAULT_PG))
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _url_for(name: str) -> str:
    url = make_url(os.environ.get("LDAPKEEPER_TEST_DATABASE_URL", DEFAULT_PG))
    return url.set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False
    )


def postgres_available() -> bool:
    try:
        with psycopg.connect(_admin_conninfo(), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated template database, dropped at the end of the session."""
    if not postgres_available():
        missing("no PostgreSQL answers (set LDAPKEEPER_TEST_DATABASE_URL)")
    name = f"ldapkeeper_tpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database = Database(_url_for(name))
    upgrade(database)
    database.dispose()
    yield name
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def fresh_postgres_url(template: str | None) -> tuple[str, str]:
    """A new database cloned from ``template`` (or with no tables when None): name and URL."""
    name = f"ldapkeeper_t_{uuid.uuid4().hex[:12]}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(statement)
    return name, _url_for(name)


def drop_postgres(name: str) -> None:
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each backend (migrations not applied yet on SQLite)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ldapkeeper.db'}"
        return
    template = request.getfixturevalue("postgres_template")
    name, url = fresh_postgres_url(template)
    yield url
    drop_postgres(name)


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, for what only PostgreSQL does."""
    name, url = fresh_postgres_url(postgres_template)
    yield url
    drop_postgres(name)


def sqlite_file_bytes(url: str) -> bytes:
    """Everything SQLite keeps on disk for ``url``: the database file, its WAL and SHM."""
    path = Path(url.removeprefix("sqlite:///"))
    files = [path, *path.parent.glob(path.name + "-*")]
    return b"".join(p.read_bytes() for p in files if p.is_file())


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ldapkeeper.db'}"


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database of each backend without any table (for migration tests)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ldapkeeper.db'}"
        return
    if not postgres_available():
        missing("no PostgreSQL answers (set LDAPKEEPER_TEST_DATABASE_URL)")
    name, url = fresh_postgres_url(None)
    yield url
    drop_postgres(name)
