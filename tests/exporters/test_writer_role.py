"""The append-only writer role (migration 0010_writer_role), proved with a real login in it.

As that login a batch is written through the exporter's real path (COPY into a temporary
staging table, ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` under forced row-level
security); reading, changing and removing rows, altering the tables and acting as the system
viewer all fail; and a schema it may not upgrade is reported with the command to run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import asyncpg
import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from support import planted, require
from support.database import (
    PG_HOST,
    PG_PORT,
    on_engine,
    pg_available,
    run_async,
    truncate_all,
)
from support.ingest import (
    WRITER_LOGIN,
    as_login,
    ensure_writer_login,
    outdated_database,
    revision_behind,
)
from support.spans import SpanCapture

from autobot_activity_exporters import ActivitySpanExporter
from autobot_activity_exporters.database import create_engine
from autobot_activity_exporters.schema import (
    VERSION_TABLE,
    SchemaNotCurrent,
    head_revision,
    require_current,
    upgrade,
)
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.recording import ActivityRecord

USER, ORG = uuid.UUID(int=0xA01), uuid.UUID(int=0xA02)
PASSWORD = planted.plant("Writer-planted-Pw-3390")


@pytest.fixture
def owner_url(postgres_activity_url: str | None) -> Iterator[str]:
    require(postgres_activity_url is not None, "PostgreSQL not reachable on 127.0.0.1:5432")
    assert postgres_activity_url is not None
    ensure_writer_login()
    planted.archive_database(postgres_activity_url)
    run_async(on_engine(postgres_activity_url, truncate_all))
    yield postgres_activity_url
    planted.archive_database(postgres_activity_url)


def record_activities(spans: SpanCapture) -> list:
    spans.clear()
    with activity_context(user_id=USER, org_id=ORG, session_id="writer"):
        terminal = ActivityRecord(ActivityType.TERMINAL, "execute")
        terminal.set_text(attr.PROCESS_COMMAND_LINE, f"mysql -p{PASSWORD}", "command")
        terminal.end()
        file = ActivityRecord(ActivityType.FILE, "read")
        file.end()
    return spans.activities()


async def _owner_counts(url: str) -> dict[str, int]:
    connection = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", database=url.rsplit("/", 1)[1]
    )
    try:
        await connection.execute(
            "SELECT set_config('autobot_activity.viewer_role', 'system', false)"
        )
        return {
            table: await connection.fetchval(f"SELECT count(*) FROM {table}")
            for table in ("terminal_activities", "file_activities", "secret_usage")
        }
    finally:
        await connection.close()


def test_a_writer_login_writes_batches_through_the_exporter(
    owner_url: str, spans: SpanCapture
) -> None:
    activities = record_activities(spans)
    exporter = ActivitySpanExporter(as_login(owner_url, WRITER_LOGIN), timeout=30)
    try:
        assert exporter.export(activities) is SpanExportResult.SUCCESS
        assert exporter.force_flush(30_000)
        assert exporter.export(activities) is SpanExportResult.SUCCESS  # ON CONFLICT DO NOTHING
        assert exporter.force_flush(30_000)
        assert exporter.journal.status().pending == 0
    finally:
        exporter.shutdown()
    counts = run_async(_owner_counts(owner_url))
    assert counts == {"terminal_activities": 1, "file_activities": 1, "secret_usage": 1}


FORBIDDEN = [
    "SELECT count(*) FROM terminal_activities",
    "SELECT id FROM secret_usage LIMIT 1",
    "UPDATE terminal_activities SET command = 'rewritten'",
    "DELETE FROM terminal_activities",
    "DELETE FROM secret_usage",
    "TRUNCATE terminal_activities",
    "ALTER TABLE terminal_activities NO FORCE ROW LEVEL SECURITY",
    "ALTER TABLE terminal_activities DISABLE ROW LEVEL SECURITY",
    "DROP POLICY autobot_activity_prune ON terminal_activities",
    "DROP TABLE file_activities",
    f"UPDATE {VERSION_TABLE} SET version_num = '0001'",
    "GRANT autobot_activity_app TO CURRENT_USER",
    "SELECT entry_hash FROM activity_chain",
    "SELECT note FROM activity_checkpoints",
    "UPDATE activity_chain SET row_count = 0",
    "DELETE FROM activity_chain",
    "DELETE FROM activity_checkpoints",
    "INSERT INTO activity_chain_prunes DEFAULT VALUES",
]


@pytest.mark.parametrize("statement", FORBIDDEN)
@pytest.mark.parametrize("viewer", ["none", "system"])
async def test_a_writer_login_cannot_read_change_or_remove(
    owner_url: str, spans: SpanCapture, statement: str, viewer: str
) -> None:
    exporter = ActivitySpanExporter(owner_url, timeout=30)
    assert exporter.export(record_activities(spans)) is SpanExportResult.SUCCESS
    exporter.shutdown()
    connection = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=WRITER_LOGIN, database=owner_url.rsplit("/", 1)[1]
    )
    try:
        async with connection.transaction():
            if viewer == "system":
                await connection.execute(
                    "SELECT set_config('autobot_activity.viewer_role', 'system', true)"
                )
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute(statement)
    finally:
        await connection.close()
    counts = await _owner_counts(owner_url)
    assert counts == {"terminal_activities": 1, "file_activities": 1, "secret_usage": 1}


async def test_the_system_viewer_is_refused_to_a_writer_login(owner_url: str) -> None:
    connection = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=WRITER_LOGIN, database=owner_url.rsplit("/", 1)[1]
    )
    try:
        await connection.execute(
            "SELECT set_config('autobot_activity.viewer_role', 'system', false)"
        )
        assert await connection.fetchval("SELECT autobot_activity_maintainer()") is False
    finally:
        await connection.close()


@pytest.fixture
def behind() -> Iterator[str]:
    require(pg_available(), "PostgreSQL not reachable on 127.0.0.1:5432")
    with outdated_database() as url:
        yield url


async def test_a_writer_login_says_what_to_run_when_the_schema_is_behind(
    behind: str, caplog: pytest.LogCaptureFixture, spans: SpanCapture
) -> None:
    engine = create_engine(as_login(behind, WRITER_LOGIN))
    try:
        with pytest.raises(SchemaNotCurrent, match="run `autobot-activity db upgrade` as the"):
            await require_current(engine)
        with pytest.raises(SchemaNotCurrent) as raised:
            await upgrade(engine)  # what the exporter calls: it may not migrate
        assert raised.value.current == revision_behind() and raised.value.head == head_revision()
        assert "run `autobot-activity db upgrade` as the tables' owner" in caplog.text
    finally:
        await engine.dispose()
    caplog.clear()
    exporter = ActivitySpanExporter(as_login(behind, WRITER_LOGIN), timeout=30)
    try:  # the exporter does not fail: the batch waits in its journal, the log says why
        assert exporter.export(record_activities(spans)) is SpanExportResult.SUCCESS
        assert not exporter.force_flush(2_000)
        assert exporter.journal.status().pending == 2
    finally:
        exporter.shutdown(timeout_millis=1000)
    assert "run `autobot-activity db upgrade` as the tables' owner" in caplog.text
    owner = create_engine(behind)
    try:
        assert await upgrade(owner) == head_revision()  # the owner can
    finally:
        await owner.dispose()
    later = ActivitySpanExporter(as_login(behind, WRITER_LOGIN), timeout=30)
    try:  # once upgraded, what waited is delivered
        assert later.journal.drain(time.monotonic() + 30)
    finally:
        later.shutdown()
