"""Create or upgrade the activity schema with the Alembic migrations shipped in this package."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

_logger = logging.getLogger(__name__)

VERSION_TABLE = "autobot_activity_alembic_version"
"""Our own version table, so the host application's Alembic history is never touched."""
MIGRATIONS = Path(__file__).parent / "migrations"
_ADVISORY_LOCK_KEY = 0x6175746F626F74  # "autobot": serialises concurrent starters on PostgreSQL


INSUFFICIENT_PRIVILEGE = "42501"


class SchemaNotCurrent(RuntimeError):
    """The database's schema is not the revision this code writes, and this login may not
    change it: the tables' owner has to upgrade it. The message says what to run."""

    def __init__(self, current: str | None, head: str | None) -> None:
        super().__init__(
            f"activity schema at revision {current or 'none'}, this code writes {head}:"
            " run `autobot-activity db upgrade` as the tables' owner"
        )
        self.current = current
        self.head = head


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the shipped migrations, bound to an open connection if given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest shipped migration: what ``upgrade`` brings a database to."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current_revision)


async def require_current(engine: AsyncEngine) -> None:
    """Raise ``SchemaNotCurrent`` unless the database is at the shipped head: for logins that
    must not migrate (the append-only writer, the ingest service)."""
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise SchemaNotCurrent(current, head)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> str | None:
    """Apply the migrations up to ``revision`` in one transaction; returns the new revision.

    A database already at the head is left alone (no lock, no DDL), so a login without the
    right to migrate, such as the append-only writer, passes; one that is behind and lacks
    the right raises ``SchemaNotCurrent``, which says what to run. On PostgreSQL a
    transaction-scoped advisory lock makes concurrent starters (several processes exporting
    at once) wait for the first one instead of racing it.
    """
    current = await current_revision(engine)
    if revision == "head" and current == head_revision():
        return current
    try:
        return await _upgrade_locked(engine, revision)
    except sa_exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
            raise
        outdated = SchemaNotCurrent(current, head_revision())
        _logger.error("%s", outdated)  # callers may log only the error's type
        raise outdated from exc


async def _upgrade_locked(engine: AsyncEngine, revision: str) -> str | None:
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY}
            )
        return await connection.run_sync(_upgrade, revision)


def _upgrade(connection: Connection, revision: str) -> str | None:
    command.upgrade(alembic_config(connection), revision)
    return _current_revision(connection)


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE}
    ).get_current_revision()
