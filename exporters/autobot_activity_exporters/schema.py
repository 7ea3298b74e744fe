"""Create or upgrade the activity schema with the Alembic migrations shipped in this package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

VERSION_TABLE = "autobot_activity_alembic_version"
"""Our own version table, so the host application's Alembic history is never touched."""
MIGRATIONS = Path(__file__).parent / "migrations"
_ADVISORY_LOCK_KEY = 0x6175746F626F74  # "autobot": serialises concurrent starters on PostgreSQL


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the shipped migrations, bound to an open connection if given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest shipped migration: what ``upgrade`` brings a database to."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> str | None:
    """Apply the migrations up to ``revision`` in one transaction; returns the new revision.

    On PostgreSQL a transaction-scoped advisory lock makes concurrent starters (several
    processes exporting at once) wait for the first one instead of racing it.
    """
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY}
            )
        return await connection.run_sync(_upgrade, revision)


def _upgrade(connection: Connection, revision: str) -> str | None:
    command.upgrade(alembic_config(connection), revision)
    return MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE}
    ).get_current_revision()
