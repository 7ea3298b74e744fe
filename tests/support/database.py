"""The real databases behind the tests: PostgreSQL on 127.0.0.1:5432 and SQLite files."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import asyncpg
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from autobot_activity_exporters import ActivitySpanExporter
from autobot_activity_exporters.database import create_engine
from autobot_activity_exporters.models import INTEGRITY_TABLES, TABLES
from autobot_activity_exporters.schema import upgrade
from autobot_activity_exporters.store import ActivityStore
from autobot_activity_exporters.viewer import Viewer
from support.journal import counters

PG_HOST, PG_PORT = "127.0.0.1", 5432
T = TypeVar("T")


def pg_available() -> bool:
    """Whether the real PostgreSQL answers on 127.0.0.1:5432."""
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync or async test code, on a thread of its own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def pg_admin(sql: str, database: str = "postgres") -> None:
    connection = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", database=database
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def on_engine(url: str, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``work`` with a short-lived engine on ``url``."""
    engine = create_engine(url)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


async def drop_abandoned_test_databases() -> None:
    """Drop the databases of earlier test sessions that were killed before their teardown."""
    connection = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", database="postgres"
    )
    try:
        names = await connection.fetch(
            "SELECT datname FROM pg_database"
            " WHERE datname ~ '^autobot_activity_test_[0-9]+(_empty)?$'"
        )
        for (name,) in names:
            pid = int(name.removesuffix("_empty").rsplit("_", 1)[1])
            if pid != os.getpid() and not _process_alive(pid):
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def table_rows(url: str, table: str) -> list[dict[str, Any]]:
    """Every row of a table at ``url``, oldest first, as typed values keyed by column name."""

    async def fetch(engine: AsyncEngine) -> list[dict[str, Any]]:
        statement = select(TABLES[table]).order_by(TABLES[table].c.timestamp)
        async with engine.connect() as connection:
            return [dict(row._mapping) for row in await connection.execute(statement)]

    return run_async(on_engine(url, fetch))


class ActivityDB:
    """A real database behind a real ActivitySpanExporter (journal in the test's state
    folder), with sync helpers for assertions."""

    def __init__(self, url: str, dialect: str) -> None:
        self.url = url
        self.dialect = dialect
        self.metrics = InMemoryMetricReader()
        self.exporter = ActivitySpanExporter(
            url, timeout=30, meter_provider=MeterProvider(metric_readers=[self.metrics])
        )

    def export(self, spans: Iterable[ReadableSpan], *, deliver: bool = True) -> SpanExportResult:
        """Journal the spans; with ``deliver``, also wait until they are delivered (asserted:
        a SUCCESS that only means "waiting" must be asked for with ``deliver=False``)."""
        result = self.exporter.export(list(spans))
        if deliver:
            assert self.exporter.force_flush(30_000), "journaled activities were not delivered"
        return result

    def pending(self) -> int:
        """Activities journaled and not yet delivered."""
        return self.exporter.journal.status().pending

    def counters(self) -> dict[tuple[str, str], int]:
        """The exporter's dropped / quarantined / refused counters, by reason."""
        return counters(self.metrics)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of a table, oldest first, as typed values keyed by column name."""
        return table_rows(self.url, table)

    def sql(self, *statements: str) -> None:
        """Run statements in one transaction (for tests that change the database itself)."""

        async def execute(engine: AsyncEngine) -> None:
            async with engine.begin() as connection:
                for statement in statements:
                    await connection.execute(text(statement))

        run_async(on_engine(self.url, execute))

    def ensure_schema(self) -> None:
        """Create the tables now (the exporter would on its first export)."""
        run_async(on_engine(self.url, upgrade))

    @property
    def store(self) -> ActivityStore:
        """A new ActivityStore on this database seeing every row (``async with db.store as s``)."""
        return ActivityStore(self.url, viewer=Viewer.system())


async def truncate_all(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {', '.join([*TABLES, *INTEGRITY_TABLES])}"))
