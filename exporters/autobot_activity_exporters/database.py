"""Where the activity database is and how to connect to it: one place for every entry point."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from autobot_activity_otel import settings

DEFAULT_DATABASE_FILE = "autobot_activity.db"
CONNECT_TIMEOUT_SECONDS = 10.0

_ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


def resolve_database_url(database_url: str | None = None) -> str:
    """The URL to use: the argument, else the environment, else an SQLite file in the cwd.

    Plain ``postgresql://`` and ``sqlite:///`` URLs are rewritten to the async drivers. A URL
    that could never be written to is refused at once (``ValueError``, see
    ``check_database_url``), rather than kept waiting in the journal.
    """
    source = "database_url" if database_url else settings.DATABASE_URL
    url = database_url or settings.text(settings.DATABASE_URL)
    if not url:
        return f"sqlite+aiosqlite:///{Path.cwd() / DEFAULT_DATABASE_FILE}"
    parsed = _parsed(url, source)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is not None:
        url = parsed.set(drivername=driver).render_as_string(hide_password=False)
    check_database_url(url, source)
    return url


def _parsed(database_url: str, source: str) -> URL:
    try:
        return make_url(database_url)
    except Exception:
        raise ValueError(
            f"{source} is not a database URL (expected postgresql://user@host:port/database"
            " or sqlite:///path)"
        ) from None


SUPPORTED_BACKENDS = ("postgresql", "sqlite")
POSTGRES_EXTRA = "pip install 'autobot-activity-exporters[postgres]'"


def safe_url(database_url: str) -> str:
    """The URL for messages: driver, user, host, port and database; the password as ``***``."""
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def check_database_url(database_url: str, source: str = settings.DATABASE_URL) -> None:
    """Refuse at once a URL that could never be written to (``ValueError`` naming ``source``):
    one that does not parse, a database other than PostgreSQL or SQLite, or PostgreSQL
    without asyncpg installed."""
    url = _parsed(database_url, source)
    backend = url.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise ValueError(
            f"{source} names a {backend} database; activities can be stored in PostgreSQL or SQLite"
        )
    if url.get_driver_name() == "asyncpg" and importlib.util.find_spec("asyncpg") is None:
        raise ValueError(
            f"{source} is a PostgreSQL URL, but asyncpg is not installed: {POSTGRES_EXTRA}"
        )


def create_schema_from_env() -> bool:
    """Whether to create or upgrade the schema on first use (default yes)."""
    return settings.boolean(settings.CREATE_SCHEMA, True)


def create_engine(
    database_url: str, *, connect_timeout: float = CONNECT_TIMEOUT_SECONDS
) -> AsyncEngine:
    """An async engine tuned for audit writes.

    SQLite uses no pool (each aiosqlite connection owns a non-daemon thread that would keep
    the interpreter alive), WAL journaling so readers do not block the exporter, and a busy
    timeout. asyncpg gets a connect timeout so an unreachable server fails fast.
    """
    url = make_url(database_url)
    options: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        options["poolclass"] = NullPool
    elif url.get_driver_name() == "asyncpg":
        options["connect_args"] = {"timeout": connect_timeout}
        options["pool_pre_ping"] = True
    engine = create_async_engine(url, **options)
    if url.get_backend_name() == "sqlite":
        pragmas = ["PRAGMA busy_timeout = 10000"]
        if url.database not in (None, "", ":memory:"):
            pragmas.append("PRAGMA journal_mode = WAL")
        event.listen(engine.sync_engine, "connect", functools.partial(_run_pragmas, pragmas))
    return engine


def _run_pragmas(pragmas: list[str], dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in pragmas:
        cursor.execute(pragma)
    cursor.close()
