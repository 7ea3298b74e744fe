"""Monthly partitions on PostgreSQL: the conversion in place and back, months made ahead
(also by the append-only writer), stragglers, and rows that are still written once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from alembic import command
from opentelemetry.sdk.trace.export import SpanExportResult
from sqlalchemy.ext.asyncio import AsyncEngine
from support.database import PG_HOST, PG_PORT
from support.ingest import WRITER_LOGIN, as_login, ensure_writer_login
from support.spans import SpanCapture

from autobot_activity_exporters import ActivitySpanExporter
from autobot_activity_exporters.cli import main
from autobot_activity_exporters.database import create_engine
from autobot_activity_exporters.models import TABLES
from autobot_activity_exporters.partitions import MONTHS_AHEAD, ensure_partitions
from autobot_activity_exporters.schema import alembic_config, head_revision, upgrade
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.recording import ActivityRecord

pytestmark = pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)

NOW = datetime.now(UTC)
AGES = {"old": timedelta(days=400), "recent": timedelta(days=40), "now": timedelta(0)}
FAR = NOW + timedelta(days=3650)
"""Beyond every month made ahead: a straggler for the default partition."""


@pytest.fixture
async def engine(empty_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(empty_database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _migrate(engine: AsyncEngine, revision: str, *, down: bool = False) -> None:
    step = command.downgrade if down else command.upgrade
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: step(alembic_config(sync), revision))


async def _connect(url: str, user: str = "postgres") -> asyncpg.Connection:
    return await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=user, database=url.rsplit("/", 1)[1]
    )


async def _snapshot(connection: asyncpg.Connection) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (as the superuser: no row-level security), by id."""
    return {
        table: [dict(row) for row in await connection.fetch(f"SELECT * FROM {table} ORDER BY id")]
        for table in TABLES
    }


async def _describe(connection: asyncpg.Connection, table: str) -> dict[str, Any]:
    """What the conversion must carry over or change: kind, key, policies, grants, flags."""
    return {
        "kind": await connection.fetchval(
            "SELECT relkind::text FROM pg_class WHERE oid = $1::regclass", table
        ),
        "key": await connection.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = $1::regclass AND contype = 'p'",
            table,
        ),
        "policies": sorted(
            tuple(row)
            for row in await connection.fetch(
                "SELECT policyname, cmd, roles::text, qual FROM pg_policies WHERE tablename = $1",
                table,
            )
        ),
        "grants": await connection.fetchval(
            "SELECT relacl::text FROM pg_class WHERE oid = $1::regclass", table
        ),
        "security": tuple(
            await connection.fetchrow(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = $1::regclass",
                table,
            )
        ),
        "indexes": sorted(
            await connection.fetchval(
                "SELECT array_agg(pg_get_indexdef(indexrelid)) FROM pg_index"
                " WHERE indrelid = $1::regclass AND NOT indisprimary",
                table,
            )
        ),
    }


async def test_an_existing_database_is_partitioned_in_place_and_back(
    empty_database_url: str, engine: AsyncEngine
) -> None:
    await _migrate(engine, "0011_chain")
    connection = await _connect(empty_database_url)
    try:
        for label, age in {**AGES, "far": NOW - FAR}.items():
            activity = uuid.uuid4()
            await connection.execute(
                "INSERT INTO terminal_activities (id, user_id, metadata, timestamp, command,"
                " secrets_used) VALUES ($1, $2, $3, $4, $5, '{}')",
                activity,
                uuid.uuid4(),
                json.dumps({"label": label}),
                NOW - age,
                f"echo {label}",
            )
            await connection.execute(
                "INSERT INTO secret_usage (id, metadata, timestamp, activity_type, activity_id,"
                " access_granted) VALUES ($1, '{}', $2, 'terminal', $3, true)",
                uuid.uuid4(),
                NOW - age + timedelta(seconds=1),
                activity,
            )
        # a column of the operator's own, with a check: carried over too
        await connection.execute(
            "ALTER TABLE secret_usage ADD COLUMN site_seq bigint CHECK (site_seq >= 0)"
        )
        await connection.execute("UPDATE secret_usage SET site_seq = 7")
        before = await _snapshot(connection)
        plain = {table: await _describe(connection, table) for table in TABLES}

        await _migrate(engine, "0012_partitions")
        assert await _snapshot(connection) == before
        assert {row["site_seq"] for row in before["secret_usage"]} == {7}
        for table in TABLES:
            described = await _describe(connection, table)
            assert described["kind"] == "p"
            assert described["key"] == 'PRIMARY KEY (id, "timestamp")'
            for carried in ("policies", "grants", "security"):
                assert described[carried] == plain[table][carried], (table, carried)
            assert len(described["indexes"]) == len(plain[table]["indexes"])
        where = dict(
            await connection.fetch(
                "SELECT metadata->>'label', tableoid::regclass::text FROM terminal_activities"
            )
        )
        month = {label: (NOW - age).strftime("%Y%m") for label, age in AGES.items()}
        assert where == {
            **{label: f"terminal_activities_p{month[label]}" for label in AGES},
            "far": "terminal_activities_default",
        }
        ahead = (NOW.replace(day=1) + timedelta(days=31 * MONTHS_AHEAD)).strftime("%Y%m")
        assert await connection.fetchval(f"SELECT to_regclass('secret_usage_p{ahead}')::text")

        await _migrate(engine, "0011_chain", down=True)
        assert await _snapshot(connection) == before
        for table in TABLES:
            assert await _describe(connection, table) == plain[table], table
        assert await connection.fetchval("SELECT count(*) FROM pg_inherits") == 0
        assert await upgrade(engine) == head_revision()  # and up again, now to the head
        assert await _snapshot(connection) == before
    finally:
        await connection.close()


async def test_a_straggler_moves_to_its_month_when_the_month_is_made(
    empty_database_url: str, engine: AsyncEngine
) -> None:
    await upgrade(engine)
    connection = await _connect(empty_database_url)
    try:
        straggler = uuid.uuid4()
        await connection.execute(
            "INSERT INTO file_activities (id, metadata, timestamp, operation)"
            " VALUES ($1, '{}', $2, 'read')",
            straggler,
            FAR,
        )
        where = "SELECT tableoid::regclass::text FROM file_activities WHERE id = $1"
        assert await connection.fetchval(where, straggler) == "file_activities_default"
        assert await ensure_partitions(engine, FAR) == len(TABLES) * (MONTHS_AHEAD + 1)
        assert await connection.fetchval(where, straggler) == f"file_activities_p{FAR:%Y%m}"
        assert await ensure_partitions(engine, FAR) == 0  # already there
    finally:
        await connection.close()


async def test_the_writer_login_makes_a_month_and_appends_into_it_once(
    empty_database_url: str, engine: AsyncEngine, spans: SpanCapture
) -> None:
    """The append-only writer may run the function (its owner's rights make the table) and
    insert through the parent; a row written twice is stored once, the primary key being
    ``(id, timestamp)`` and the timestamp part of what is written."""
    await upgrade(engine)
    ensure_writer_login()
    writer = create_engine(as_login(empty_database_url, WRITER_LOGIN))
    later = NOW + timedelta(days=31 * (MONTHS_AHEAD + 2))
    try:
        assert await ensure_partitions(writer, later) > 0
    finally:
        await writer.dispose()
    connection = await _connect(empty_database_url, WRITER_LOGIN)
    activity = uuid.uuid4()
    try:
        for _ in range(2):
            await connection.execute(
                "INSERT INTO terminal_activities (id, metadata, timestamp, secrets_used)"
                " VALUES ($1, '{}', $2, '{}') ON CONFLICT DO NOTHING",
                activity,
                later,
            )
    finally:
        await connection.close()
    owner = await _connect(empty_database_url)
    try:
        where = await owner.fetch(
            "SELECT tableoid::regclass::text FROM terminal_activities WHERE id = $1", activity
        )
        assert [row[0] for row in where] == [f"terminal_activities_p{later:%Y%m}"]
    finally:
        await owner.close()

    with activity_context(user_id=uuid.uuid4()):
        record = ActivityRecord(ActivityType.TERMINAL, "execute")
        record.declare_secrets([uuid.uuid4()])
        record.end()
    exporter = ActivitySpanExporter(as_login(empty_database_url, WRITER_LOGIN), timeout=30)
    try:
        for _ in range(2):  # a replay of the same spans
            assert exporter.export(spans.activities()) is SpanExportResult.SUCCESS
            assert exporter.force_flush(30_000)
    finally:
        exporter.shutdown()
    owner = await _connect(empty_database_url)
    try:
        counts = await owner.fetchrow(
            "SELECT (SELECT count(*) FROM terminal_activities WHERE id = $1),"
            " (SELECT count(*) FROM secret_usage WHERE activity_id = $1)",
            record.activity_id,
        )
    finally:
        await owner.close()
    assert tuple(counts) == (1, 1)


async def test_db_upgrade_and_every_writer_make_the_coming_months(
    empty_database_url: str, engine: AsyncEngine, spans: SpanCapture, capsys: Any
) -> None:
    """A missing coming month is made again by ``db upgrade`` and by an exporter's first
    write (once per process and month)."""
    await upgrade(engine)
    coming = (NOW.replace(day=1) + timedelta(days=32)).strftime("%Y%m")
    partition = f"terminal_activities_p{coming}"
    connection = await _connect(empty_database_url)
    try:
        exists = f"SELECT to_regclass('{partition}') IS NOT NULL"
        await connection.execute(f"DROP TABLE {partition}")
        upgrading = ["db", "upgrade", "--database-url", empty_database_url]
        assert await asyncio.to_thread(main, upgrading) == 0  # (it runs its own loop)
        assert "monthly partitions made" in capsys.readouterr().out
        assert await connection.fetchval(exists)

        await connection.execute(f"DROP TABLE {partition}")
        with activity_context(user_id=uuid.uuid4()):
            ActivityRecord(ActivityType.FILE, "read").end()
        exporter = ActivitySpanExporter(empty_database_url, timeout=30)
        try:
            assert exporter.export(spans.activities()) is SpanExportResult.SUCCESS
            assert exporter.force_flush(30_000)
        finally:
            exporter.shutdown()
        assert await connection.fetchval(exists)
    finally:
        await connection.close()
