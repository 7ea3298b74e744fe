"""Bad input: each kind is recorded (repaired, capped, noted) or set aside with a clear reason.

Never a crash, never a lost neighbour: every test exports the bad activities in one batch
with good ones, through the real exporter into SQLite and PostgreSQL, and checks both.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SpanExportResult
from support.database import ActivityDB
from support.spans import SpanCapture

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.instrumentation.terminal import TerminalInstrumentor
from autobot_activity_otel.recording import ActivityRecord
from autobot_activity_otel.secrets import fingerprint
from autobot_activity_otel.settings import DEFAULT_MAX_TEXT_CHARS as MAX_TEXT_CHARS
from autobot_activity_otel.tracking.terminal import terminal_activity, track_command_execution

FIFTY_MB = 50 * 1024 * 1024


pytestmark = pytest.mark.instrumentor.with_args(TerminalInstrumentor)


def terminal(command: object = "true", raw: dict[str, Any] | None = None) -> ActivityRecord:
    """A finished terminal activity; ``raw`` values are set as they are, past any repair."""
    record = ActivityRecord(ActivityType.TERMINAL, "execute")
    record.set_text(attr.PROCESS_COMMAND_LINE, command, "command")
    for key, value in (raw or {}).items():
        record.set(key, value)
    record.end()
    return record


def rows_by_id(db: ActivityDB) -> dict[uuid.UUID, dict[str, Any]]:
    return {row["id"]: row for row in db.rows("terminal_activities")}


def quarantined_since(db: ActivityDB, before: set[Path]) -> list[dict[str, Any]]:
    folder = db.exporter.journal.directory.quarantine_path
    paths = set(folder.glob("*.json")) if folder.is_dir() else set()
    return [json.loads(path.read_text()) for path in sorted(paths - before)]


def quarantine_files(db: ActivityDB) -> set[Path]:
    return set(db.exporter.journal.directory.quarantine_path.glob("*.json"))


def test_broken_text_is_repaired_and_noted(activity_db: ActivityDB, spans: SpanCapture) -> None:
    nul = terminal(b"printf 'a\x00b'")  # NUL through set_text
    raw_nul = terminal(raw={attr.PROCESS_COMMAND_LINE: "printf 'c\x00d'"})  # NUL past the repair
    utf8_record = ActivityRecord(ActivityType.TERMINAL, "execute")
    utf8_record.set_text(attr.TERMINAL_OUTPUT, b"bytes \xff\xfe end", "output")
    utf8_record.end()
    surrogate = terminal("echo \udcff")  # lone surrogate (os.fsdecode of a bad byte)
    raw_surrogate = terminal(raw={attr.TERMINAL_OUTPUT: "out \ud800 put"})
    nul_key = terminal(raw={"odd\x00key": 1})  # jsonb refuses NUL in keys too
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    rows = rows_by_id(activity_db)
    assert rows[nul.activity_id]["command"] == "printf 'a\u2400b'"
    assert rows[nul.activity_id]["metadata"]["text_notes"][attr.PROCESS_COMMAND_LINE] == [
        "nul_bytes"
    ]
    assert rows[raw_nul.activity_id]["command"] == "printf 'c\u2400d'"
    assert rows[utf8_record.activity_id]["output"] == "bytes \ufffd\ufffd end"
    assert rows[utf8_record.activity_id]["metadata"]["text_notes"][attr.TERMINAL_OUTPUT] == [
        "invalid_utf8"
    ]
    assert rows[surrogate.activity_id]["command"].startswith("echo \ufffd")
    repaired = rows[raw_surrogate.activity_id]["output"]
    assert repaired.startswith("out \ufffd") and "\ud800" not in repaired
    assert rows[nul_key.activity_id]["metadata"]["odd\u2400key"] == 1
    assert "\udcff" not in rows[surrogate.activity_id]["command"]


def test_fifty_megabytes_of_output_are_capped_with_length_and_digest(
    activity_db: ActivityDB, spans: SpanCapture, instrumented: TerminalInstrumentor
) -> None:
    script = f"import sys; sys.stdout.buffer.write(b'y' * {FIFTY_MB})"
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True)
    assert len(completed.stdout) == FIFTY_MB  # the caller gets every byte, untouched
    explicit = asyncio.run(track_command_execution(command="yes | head", output="z" * FIFTY_MB))
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    rows = list(rows_by_id(activity_db).values())
    assert len(rows) == 2
    for row, byte in ((r, "z" if r["id"] == explicit else "y") for r in rows):
        assert len(row["output"]) <= MAX_TEXT_CHARS + len("…[truncated]")
        assert row["output"].endswith("…[truncated]")
        assert row["metadata"][f"{attr.TERMINAL_OUTPUT}.original_length"] == FIFTY_MB
        keyed = fingerprint(byte * FIFTY_MB)  # keyed: no offline guessing oracle
        assert row["metadata"][f"{attr.TERMINAL_OUTPUT}.hmac_sha256"] == keyed
        assert f"{attr.TERMINAL_OUTPUT}.sha256" not in row["metadata"]


def test_a_ten_thousand_element_argv_of_bytes_and_paths_is_recorded(
    activity_db: ActivityDB, spans: SpanCapture, instrumented: TerminalInstrumentor
) -> None:
    argv: list[Any] = [b"echo"]
    for index in range(9_999):
        text = f"arg-{index:05d}"
        argv.append((text, text.encode(), Path(f"p/{index}"))[index % 3])
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    explicit = asyncio.run(
        track_command_execution(command=[b"git", Path("repo dir"), "status"], exit_code=0)
    )
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    rows = rows_by_id(activity_db)
    assert rows[explicit]["command"] == "git 'repo dir' status"
    (long_row,) = (row for key, row in rows.items() if key != explicit)
    joined = shlex.join(part.decode() if isinstance(part, bytes) else str(part) for part in argv)
    assert long_row["metadata"][f"{attr.PROCESS_COMMAND_LINE}.original_length"] == len(joined)
    assert long_row["command"] == joined[:MAX_TEXT_CHARS] + "…[truncated]"
    assert long_row["exit_code"] == 0


def test_a_non_uuid_user_id(activity_db: ActivityDB, spans: SpanCapture) -> None:
    """Explicit calls refuse it loudly; a handler's parameter is kept raw, unattributed."""
    with pytest.raises(ValueError, match="user_id"):
        asyncio.run(track_command_execution(user_id="alice@example.com", command="ls"))

    @terminal_activity
    def handler(command: str, user_id: str) -> int:
        return 0

    assert handler("ls", user_id="alice@example.com") == 0
    span_level = terminal(raw={attr.USER_ID: "bob"})  # a span attribute from anywhere
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    rows = rows_by_id(activity_db)
    assert len(rows) == 2 and all(row["user_id"] is None for row in rows.values())
    assert rows[span_level.activity_id]["metadata"]["invalid_user_id"] == "bob"
    (from_handler,) = (row for key, row in rows.items() if key != span_level.activity_id)
    assert from_handler["metadata"]["unparsed_user_id"] == "alice@example.com"


def test_span_times_in_the_future_or_without_a_time_zone(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    """A start far ahead is replaced by the export time (original kept); naive is UTC."""
    tracer = trace.get_tracer("bad-times")
    now = time.time_ns()

    def activity_span(start: int | datetime, end: int | datetime) -> uuid.UUID:
        activity_id = uuid.uuid4()
        attributes = {
            attr.ACTIVITY_TYPE: "terminal",
            attr.ACTIVITY_ID: str(activity_id),
            attr.ACTIVITY_ACTION: "execute",
        }
        span = tracer.start_span("terminal execute", attributes=attributes, start_time=start)
        span.end(end_time=end)  # type: ignore[arg-type]
        return activity_id

    future = activity_span(now + 86_400 * 10**9, now + 86_401 * 10**9)
    skewed = activity_span(now + 10**9, now + 2 * 10**9)  # a second ahead: clock skew, kept
    naive = activity_span(datetime(2026, 1, 2, 3, 4, 5), datetime(2026, 1, 2, 3, 4, 6))
    backwards = activity_span(now, now - 10**9)
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    rows = rows_by_id(activity_db)
    exported = datetime.now(UTC)
    assert abs(rows[future]["timestamp"] - exported) < timedelta(minutes=1)
    assert rows[future]["metadata"]["original_start_ns"] == str(now + 86_400 * 10**9)
    assert rows[future]["metadata"]["time_notes"] == ["start in the future: export time used"]
    assert rows[future]["duration_ms"] == 1000
    assert rows[skewed]["timestamp"] > exported and "time_notes" not in rows[skewed]["metadata"]
    assert rows[naive]["timestamp"] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert rows[naive]["metadata"]["time_notes"] == [
        "start had no time zone: UTC assumed",
        "end had no time zone: UTC assumed",
    ]
    assert rows[naive]["duration_ms"] == 1000
    assert rows[backwards]["duration_ms"] is None
    assert rows[backwards]["metadata"]["time_notes"] == ["end before start: no duration"]


@pytest.mark.leaves_journal  # the invalid spans are quarantined (asserted)
def test_invalid_activity_spans_are_quarantined_without_values_and_others_kept(
    activity_db: ActivityDB, spans: SpanCapture, caplog: pytest.LogCaptureFixture
) -> None:
    before = quarantine_files(activity_db)
    with trace.get_tracer("someone.else").start_as_current_span("GET /") as other:
        other.set_attribute("http.request.method", "GET")
    terminal(raw={attr.PROCESS_EXIT_CODE: "exit-code-text-8841"})  # wrong type
    no_id = ActivityRecord(ActivityType.TERMINAL, "execute")
    no_id.attributes.pop(attr.ACTIVITY_ID)
    no_id.set("note", "value-never-stored-5521")
    no_id.end()
    unknown = terminal(raw={attr.ACTIVITY_TYPE: "teleport"})
    good = terminal("ls")
    with caplog.at_level(logging.WARNING):
        assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS

    assert list(rows_by_id(activity_db)) == [good.activity_id]
    held = quarantined_since(activity_db, before)
    assert sorted(entry["reason"] for entry in held) == sorted(
        [
            f"attribute {attr.PROCESS_EXIT_CODE} is not a 64-bit integer",
            f"attribute {attr.ACTIVITY_ID} is missing",
            f"attribute {attr.ACTIVITY_TYPE} is not a known activity type",
        ]
    )
    assert all(entry["attributes"][attr.ACTIVITY_ACTION] == "str" for entry in held)
    stored = json.dumps(held) + caplog.text
    assert not any(
        value in stored for value in ("exit-code-text-8841", "value-never-stored-5521", "teleport")
    ), "a value reached the quarantine or the log"
    assert unknown.activity_id not in rows_by_id(activity_db)


_REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse BEFORE INSERT ON terminal_activities"
        " WHEN NEW.command = 'refused-by-the-database' BEGIN SELECT RAISE(ABORT, 'no'); END"
    ],
    "postgresql": [
        "ALTER TABLE terminal_activities ADD CONSTRAINT refuse"
        " CHECK (command <> 'refused-by-the-database')"
    ],
}
_ALLOW = {
    "sqlite": ["DROP TRIGGER refuse"],
    "postgresql": ["ALTER TABLE terminal_activities DROP CONSTRAINT refuse"],
}


@pytest.mark.leaves_journal  # the refused row is quarantined (asserted)
def test_a_row_the_database_refuses_is_quarantined_and_its_batch_written(
    activity_db: ActivityDB, spans: SpanCapture, caplog: pytest.LogCaptureFixture
) -> None:
    activity_db.ensure_schema()
    before = quarantine_files(activity_db)
    good = [terminal(f"step {index}") for index in range(3)]
    bad = terminal("refused-by-the-database")
    good += [terminal(f"step {index}") for index in range(3, 7)]
    activity_db.sql(*_REFUSE[activity_db.dialect])
    try:
        with caplog.at_level(logging.WARNING):
            assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS
    finally:
        activity_db.sql(*_ALLOW[activity_db.dialect])

    assert set(rows_by_id(activity_db)) == {record.activity_id for record in good}
    (held,) = quarantined_since(activity_db, before)
    assert held["rows"][0]["id"] == str(bad.activity_id)
    assert held["rows"][0]["command"] == "refused-by-the-database"  # the rows, as redacted
    code = "23514" if activity_db.dialect == "postgresql" else "SQLITE_CONSTRAINT"
    assert "IntegrityError" in held["reason"] and code in held["reason"]
    assert "refused-by-the-database" not in caplog.text, "a value reached the log"
    assert activity_db.pending() == 0, "the good rows were held back"
