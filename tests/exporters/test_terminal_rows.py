"""Terminal activity end to end: real processes to real rows in SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from sqlalchemy.ext.asyncio import AsyncSession
from support.database import ActivityDB, on_engine
from support.planted import plant
from support.spans import SpanCapture

from autobot_activity_exporters.database import create_engine
from autobot_activity_exporters.schema import upgrade
from autobot_activity_otel import activity_context, terminal_activity, track_command_execution
from autobot_activity_otel.instrumentation.terminal import TerminalInstrumentor

USER = uuid.UUID("0195f000-0000-7000-8000-0000000000aa")
PLANTED = plant("Pl4nted-terminal-rows-pw")


pytestmark = pytest.mark.instrumentor.with_args(TerminalInstrumentor)


def one_row(activity_db: ActivityDB, spans: SpanCapture) -> dict:
    assert activity_db.export(spans.activities("terminal")) is SpanExportResult.SUCCESS
    rows = activity_db.rows("terminal_activities")
    assert len(rows) == 1, len(rows)
    return rows[0]


def trace_of(spans: SpanCapture) -> str:
    return f"{spans.activities('terminal')[0].context.trace_id:032x}"


def no_plant(row: dict) -> bool:
    return PLANTED not in repr(row)


def test_subprocess_run_is_one_row(activity_db, spans, instrumented) -> None:
    with activity_context(user_id=USER, session_id="chat-7"):
        subprocess.run(
            [sys.executable, "-c", "import sys; sys.exit(2)", f"--password={PLANTED}"],
            capture_output=True,
        )
    row = one_row(activity_db, spans)
    assert (row["user_id"], row["session_id"], row["exit_code"]) == (USER, "chat-7", 2)
    assert row["trace_id"] == trace_of(spans)
    assert "--password=[REDACTED" in row["command"]
    assert no_plant(row), "planted password reached the row"
    [usage] = activity_db.rows("secret_usage")
    assert (usage["activity_id"], usage["activity_type"]) == (row["id"], "terminal")
    assert row["secrets_used"] == [usage["secret_id"]]


async def test_asyncio_exec_is_one_row_not_two(activity_db, spans, instrumented) -> None:
    with activity_context(user_id=USER, session_id="chat-8"):
        process = await asyncio.create_subprocess_exec(
            "sh", "-c", "echo out; exit 6", stdout=asyncio.subprocess.PIPE
        )
        await process.communicate()
    row = one_row(activity_db, spans)
    assert (row["user_id"], row["session_id"], row["exit_code"]) == (USER, "chat-8", 6)
    assert (row["command"], row["output"]) == ("sh -c 'echo out; exit 6'", "out\n")
    assert row["trace_id"] == trace_of(spans)


def test_decorated_handler_is_one_row(activity_db, spans) -> None:
    @terminal_activity
    def handler(user_id: str, command: str, session_id: str) -> int:
        return 0

    handler(str(USER), f"mysql -u app -p{PLANTED} shop", "chat-9")
    row = one_row(activity_db, spans)
    assert (row["user_id"], row["session_id"], row["exit_code"]) == (USER, "chat-9", 0)
    assert row["command"] == "mysql -u app -p[REDACTED:mysql-password] shop"
    assert no_plant(row), "planted password reached the row"


async def test_track_command_execution_through_a_session_then_the_exporter(
    activity_db, spans
) -> None:
    await on_engine(activity_db.url, upgrade)
    engine = create_engine(activity_db.url)
    try:
        async with AsyncSession(engine) as session:
            activity_id = await track_command_execution(
                db=session,
                user_id=USER,
                command=f"sshpass -p {PLANTED} ssh deploy@web1",
                session_id="chat-10",
                exit_code=255,
            )
            await session.commit()
    finally:
        await engine.dispose()
    direct = activity_db.rows("terminal_activities")
    row = one_row(activity_db, spans)  # the exporter writes the same activity again
    assert activity_db.rows("terminal_activities") == direct == [row]
    assert (row["id"], row["user_id"], row["exit_code"]) == (activity_id, USER, 255)
    assert row["trace_id"] == trace_of(spans)
    assert no_plant(row), "planted password reached the row"
