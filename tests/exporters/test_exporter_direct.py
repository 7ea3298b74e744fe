"""direct.SessionWriter: the ``db=`` write through the caller's own AsyncSession."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from autobot_activity_exporters.database import create_engine
from autobot_activity_exporters.direct import SESSION_WRITER
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.recording import ActivityRecord

if TYPE_CHECKING:
    from support.database import ActivityDB
    from support.spans import SpanCapture

USER = uuid.UUID("0192f0c1-0000-7000-8000-0000000d12ec")


def terminal_record(declared: uuid.UUID) -> ActivityRecord:
    with activity_context(user_id=USER, session_id="direct"):
        activity = ActivityRecord(ActivityType.TERMINAL, "execute")
    activity.set_text(attr.PROCESS_COMMAND_LINE, "make deploy", "command")
    activity.set(attr.PROCESS_EXIT_CODE, 0)
    activity.declare_secrets([declared])
    activity.end()
    return activity


async def test_a_direct_write_and_the_exporter_store_the_activity_once(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    activity_db.ensure_schema()
    declared = uuid.uuid4()
    activity = terminal_record(declared)
    engine = create_engine(activity_db.url)
    try:
        async with AsyncSession(engine) as session:
            await SESSION_WRITER.write(session, activity.snapshot())
            await SESSION_WRITER.write(session, activity.snapshot())
            await session.commit()
    finally:
        await engine.dispose()

    direct = (activity_db.rows("terminal_activities"), activity_db.rows("secret_usage"))
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS
    exported = (activity_db.rows("terminal_activities"), activity_db.rows("secret_usage"))

    assert exported == direct
    row = direct[0][0]
    assert (row["id"], row["user_id"], row["session_id"], row["command"]) == (
        activity.activity_id,
        USER,
        "direct",
        "make deploy",
    )
    assert row["trace_id"] == f"{activity.span.get_span_context().trace_id:032x}"
    assert [usage["secret_id"] for usage in direct[1]] == [declared]


async def test_a_failed_direct_write_leaves_the_callers_transaction_usable(
    activity_db: ActivityDB, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    activity = terminal_record(uuid.uuid4())
    # The write must fail: SQLite gets a database without the tables, PostgreSQL a
    # search_path without them (the caller's temporary table stays reachable).
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}" if activity_db.dialect == "sqlite" else None
    )
    engine = create_engine(url or activity_db.url)
    try:
        async with AsyncSession(engine) as session:
            await session.execute(text("CREATE TEMPORARY TABLE caller_work (n INTEGER)"))
            await session.execute(text("INSERT INTO caller_work VALUES (1)"))
            if activity_db.dialect == "postgresql":
                await session.execute(text("SET LOCAL search_path TO nowhere"))
            with caplog.at_level(logging.WARNING):
                await SESSION_WRITER.write(session, activity.snapshot())
            await session.execute(text("INSERT INTO caller_work VALUES (2)"))
            total = (await session.execute(text("SELECT sum(n) FROM caller_work"))).scalar_one()
            await session.commit()
    finally:
        await engine.dispose()
    assert total == 3
    assert "direct activity write failed" in caplog.text
