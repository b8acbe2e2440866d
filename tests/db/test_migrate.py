from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from ldapkeeper.db.base import Base
from ldapkeeper.db.migrate import MIGRATIONS, upgrade
from ldapkeeper.db.session import Database


@pytest.fixture
def empty_db(empty_database_url: str) -> Iterator[Database]:
    database = Database(empty_database_url)
    yield database
    database.dispose()


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _version(database: Database) -> str | None:
    with database.engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _tables(database: Database) -> set[str]:
    return set(inspect(database.engine).get_table_names())


def test_migrations_create_every_table_on_an_empty_database(empty_db: Database) -> None:
    assert _tables(empty_db) == set()
    upgrade(empty_db)
    assert _tables(empty_db) == set(Base.metadata.tables) | {"alembic_version"}
    assert _version(empty_db) == _head()


def test_migrating_twice_is_a_no_op(empty_db: Database) -> None:
    upgrade(empty_db)
    tables = _tables(empty_db)
    upgrade(empty_db)
    assert _tables(empty_db) == tables
    assert _version(empty_db) == _head()


def test_migrated_schema_matches_the_models(empty_db: Database) -> None:
    upgrade(empty_db)
    with empty_db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True},
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
