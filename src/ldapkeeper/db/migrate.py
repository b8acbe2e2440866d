"""Apply Alembic migrations programmatically (on start and from ``ldapkeeper migrate``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from ldapkeeper.db.session import INSTALL_LOCK_ID, Database

MIGRATIONS = Path(__file__).parent / "migrations"


def upgrade(database: Database) -> None:
    """Bring the schema to the newest revision; a no-op when it is there already.

    On PostgreSQL an advisory lock makes processes that start together migrate one by one.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with database.engine.connect() as connection:
        if not database.is_sqlite:
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": INSTALL_LOCK_ID})
            connection.commit()
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        finally:
            if not database.is_sqlite:
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": INSTALL_LOCK_ID})
                connection.commit()
