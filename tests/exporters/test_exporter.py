"""ActivitySpanExporter against real SQLite and PostgreSQL: real spans in, rows out."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.trace.export import SpanExportResult
from sqlalchemy import event
from sqlalchemy.engine import Engine
from support.database import table_rows
from support.planted import plant

from autobot_activity_exporters import ActivitySpanExporter
from autobot_activity_exporters.rows import ActivityRows, rows_from_activity
from autobot_activity_otel import attributes as attr
from autobot_activity_otel import record_secret_access
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.recording import ActivityRecord
from autobot_activity_otel.secrets import registered_secret
from autobot_activity_otel.snapshot import ActivitySnapshot

if TYPE_CHECKING:
    from support.database import ActivityDB
    from support.spans import SpanCapture

USER = uuid.UUID("0192f0c1-0000-7000-8000-00000000a11c")
ORG = uuid.UUID("0192f0c1-0000-7000-8000-0000000000e9")
TEAM = uuid.UUID("0192f0c1-0000-7000-8000-00000000fea1")


def record(activity_type: ActivityType, action: str, **values: Any) -> ActivityRecord:
    """A finished activity: non-text values set as they are, texts through the redactor."""
    activity = ActivityRecord(activity_type, action)
    for key, value in values.items():
        if isinstance(value, str):
            activity.set_text(key, value, "command" if key == attr.PROCESS_COMMAND_LINE else "text")
        else:
            activity.set(key, value)
    activity.end()
    return activity


def one(rows: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(rows) == 1, f"expected one row, got {len(rows)}"
    return rows[0]


def test_every_activity_type_becomes_one_row(activity_db: ActivityDB, spans: SpanCapture) -> None:
    with activity_context(user_id=USER, session_id="chat-1", org_id=ORG, team_id=TEAM):
        terminal = record(
            ActivityType.TERMINAL,
            "execute",
            **{
                attr.PROCESS_COMMAND_LINE: "ls -la /tmp",
                attr.PROCESS_WORKING_DIRECTORY: "/tmp",
                attr.PROCESS_EXIT_CODE: 2,
                attr.TERMINAL_OUTPUT: "total 0",
                attr.TERMINAL_SHELL: "bash",
            },
        )
        record(
            ActivityType.FILE,
            "rename",
            **{
                attr.FILE_PATH: "/srv/a.txt",
                attr.FILE_NEW_PATH: "/srv/b.txt",
                attr.FILE_TYPE: "text/plain",
                attr.FILE_SIZE: 12,
            },
        )
        record(
            ActivityType.BROWSER,
            "type",
            **{
                attr.URL_FULL: "https://example.com/login",
                attr.BROWSER_SELECTOR: "#name",
                attr.BROWSER_INPUT_VALUE: "alice",
            },
        )
        record(
            ActivityType.DESKTOP,
            "click",
            **{
                attr.DESKTOP_COORDINATES: [10, 20],
                attr.ACTIVITY_WINDOW_TITLE: "Terminal",
                attr.DESKTOP_INPUT_TEXT: "hello",
                attr.DESKTOP_SCREENSHOT_PATH: "/shots/1.png",
            },
        )

    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    row = one(activity_db.rows("terminal_activities"))
    span = spans.activities("terminal")[0]
    assert row["id"] == terminal.activity_id
    assert (row["user_id"], row["session_id"], row["org_id"], row["team_id"]) == (
        USER,
        "chat-1",
        ORG,
        TEAM,
    )
    assert row["trace_id"] == f"{span.context.trace_id:032x}"
    assert row["span_id"] == f"{span.context.span_id:016x}"
    assert row["timestamp"] == datetime.fromtimestamp(span.start_time // 1000 / 1e6, UTC)
    assert row["timestamp"].tzinfo is not None
    assert row["duration_ms"] == pytest.approx((span.end_time - span.start_time) / 1e6)
    assert (row["command"], row["working_directory"], row["exit_code"], row["output"]) == (
        "ls -la /tmp",
        "/tmp",
        2,
        "total 0",
    )
    assert row["metadata"][attr.TERMINAL_SHELL] == "bash"
    assert row["metadata"][attr.ACTIVITY_ACTION] == "execute"
    assert row["secrets_used"] == []

    row = one(activity_db.rows("file_activities"))
    assert (
        row["operation"],
        row["path"],
        row["new_path"],
        row["file_type"],
        row["size_bytes"],
    ) == (
        "rename",
        "/srv/a.txt",
        "/srv/b.txt",
        "text/plain",
        12,
    )
    row = one(activity_db.rows("browser_activities"))
    assert (row["action"], row["url"], row["selector"], row["input_value"]) == (
        "type",
        "https://example.com/login",
        "#name",
        "alice",
    )
    row = one(activity_db.rows("desktop_activities"))
    assert (row["action"], row["coordinates"], row["window_title"], row["input_text"]) == (
        "click",
        [10, 20],
        "Terminal",
        "hello",
    )
    assert row["screenshot_path"] == "/shots/1.png"
    assert activity_db.rows("secret_usage") == []


def test_exporting_the_same_spans_again_writes_nothing_new(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    secret_id, secret = uuid.uuid4(), plant("s3cr3t-value-for-replay")
    with registered_secret(secret_id, secret):
        record(
            ActivityType.TERMINAL,
            "execute",
            **{attr.PROCESS_COMMAND_LINE: f"deploy --token {secret}"},
        )
    record(ActivityType.FILE, "read", **{attr.FILE_PATH: "/etc/hosts"})
    batch = spans.activities()

    assert activity_db.export(batch) is SpanExportResult.SUCCESS
    first = (activity_db.rows("terminal_activities"), activity_db.rows("secret_usage"))
    assert activity_db.export(batch) is SpanExportResult.SUCCESS
    assert activity_db.export(batch + batch) is SpanExportResult.SUCCESS

    assert (activity_db.rows("terminal_activities"), activity_db.rows("secret_usage")) == first
    assert len(first[0]) == 1 and len(first[1]) == 1
    assert len(activity_db.rows("file_activities")) == 1
    # written once means no duplicate was refused either: nothing quarantined, dropped, left
    assert activity_db.counters() == {} and activity_db.pending() == 0


def test_secret_findings_become_secret_usage_rows_without_values(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    planted, declared = plant("pl4nted-broker-value-91"), uuid.uuid4()
    known = uuid.uuid4()
    with registered_secret(known, planted), activity_context(user_id=USER, session_id="s-sec"):
        activity = ActivityRecord(ActivityType.TERMINAL, "execute")
        activity.set_text(attr.PROCESS_COMMAND_LINE, f"curl -u bob:{planted} host", "command")
        activity.set_text(attr.TERMINAL_OUTPUT, f"echoed {planted}", "output")
        activity.declare_secrets([declared, known])
        activity.end()

    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    row = one(activity_db.rows("terminal_activities"))
    usage = activity_db.rows("secret_usage")
    dumped = json.dumps([row, *usage], default=str)
    assert planted not in dumped, "planted secret leaked into the rows"
    assert row["secrets_used"] == [known, declared]
    assert sorted((u["rule"], u["secret_id"], u["metadata"].get("field")) for u in usage) == sorted(
        [
            ("declared", declared, None),
            ("declared", known, None),
            ("known-secret", known, attr.PROCESS_COMMAND_LINE),
            ("known-secret", known, attr.TERMINAL_OUTPUT),
        ],
        key=str,
    )
    for usage_row in usage:
        assert usage_row["activity_id"] == activity.activity_id
        assert usage_row["activity_type"] == "terminal"
        assert usage_row["user_id"] == USER and usage_row["session_id"] == "s-sec"
        assert usage_row["access_granted"] is True
        assert usage_row["trace_id"] == row["trace_id"]
    fingerprints = {u["fingerprint"] for u in usage if u["rule"] == "known-secret"}
    assert len(fingerprints) == 1 and None not in fingerprints


def test_a_brokers_granted_and_denied_accesses_are_audited(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    secret_id, planted = uuid.uuid4(), plant("Zq8-denied-Pw-5521")
    with activity_context(user_id=USER, session_id="broker"):
        denied = record_secret_access(
            secret_id, granted=False, denial_reason=f"rejected password={planted}"
        )
        granted = record_secret_access(secret_id, granted=True)

    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    usage = {row["activity_id"]: row for row in activity_db.rows("secret_usage")}
    assert planted not in json.dumps(list(usage.values()), default=str), "planted secret leaked"
    assert set(usage) == {denied, granted}
    assert usage[denied]["access_granted"] is False
    assert usage[denied]["denial_reason"].startswith("rejected password=")
    assert (usage[granted]["access_granted"], usage[granted]["denial_reason"]) == (True, None)
    assert {row["secret_id"] for row in usage.values()} == {secret_id}
    terminal = {row["id"]: row for row in activity_db.rows("terminal_activities")}
    assert (terminal[denied]["secrets_used"], terminal[granted]["secrets_used"]) == (
        [],
        [secret_id],
    )


def test_exporter_redacts_and_audits_a_secret_the_instrumentation_missed(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    planted, secret_id = plant("missed-by-a-buggy-hook-77"), uuid.uuid4()
    activity = ActivityRecord(ActivityType.BROWSER, "type")
    activity.set(attr.BROWSER_INPUT_VALUE, planted)  # bypasses set_text: no redaction
    activity.set(attr.ACTIVITY_METADATA, json.dumps({"note": f"typed {planted}"}))
    activity.end()

    with registered_secret(secret_id, planted):
        assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    row = one(activity_db.rows("browser_activities"))
    usage = activity_db.rows("secret_usage")
    assert planted not in json.dumps([row, *usage], default=str), "planted secret leaked"
    assert row["secrets_used"] == [secret_id]
    assert {(u["metadata"]["field"], u["metadata"]["detected_by"]) for u in usage} == {
        (attr.BROWSER_INPUT_VALUE, "exporter"),
        (attr.ACTIVITY_METADATA, "exporter"),
    }


_REFUSE_SECRET_USAGE = {
    "sqlite": [
        "CREATE TRIGGER refuse BEFORE INSERT ON secret_usage BEGIN SELECT RAISE(ABORT, 'no'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'no'; END $$",
        "CREATE TRIGGER refuse BEFORE INSERT ON secret_usage"
        " FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
}
_ALLOW_SECRET_USAGE = {
    "sqlite": ["DROP TRIGGER refuse"],
    "postgresql": ["DROP TRIGGER refuse ON secret_usage", "DROP FUNCTION refuse()"],
}


@pytest.mark.leaves_journal  # SQLite's refusal is quarantined (asserted below)
def test_a_batch_is_written_all_or_nothing(activity_db: ActivityDB, spans: SpanCapture) -> None:
    """The database refuses the batch's secret_usage rows: none of its activities stay.

    What was refused is not lost. PostgreSQL's RAISE is not the data's fault: the batch waits
    in the journal and is written, as it was, once the trigger is gone (not exported again).
    SQLite's RAISE(ABORT) reports a constraint violation: the activity goes to the quarantine
    with its redacted rows and the reason.
    """
    record(ActivityType.FILE, "read")
    activity = ActivityRecord(ActivityType.TERMINAL, "execute")
    activity.declare_secrets([uuid.uuid4()])
    activity.end()
    assert activity_db.export(spans.activities()[:1]) is SpanExportResult.SUCCESS  # schema

    activity_db.sql(*_REFUSE_SECRET_USAGE[activity_db.dialect])
    try:
        assert activity_db.export(spans.activities()[1:], deliver=False) is SpanExportResult.SUCCESS
        delivered = activity_db.exporter.force_flush(2_000)
        assert activity_db.rows("terminal_activities") == []
    finally:
        activity_db.sql(*_ALLOW_SECRET_USAGE[activity_db.dialect])
    quarantine = activity_db.exporter.journal.directory.quarantine_path
    if activity_db.dialect == "sqlite":
        assert delivered and activity_db.pending() == 0
        (kept,) = quarantine.glob("*.json")
        document = json.loads(kept.read_text())
        assert kept.stem == str(activity.activity_id)
        assert "SQLITE_CONSTRAINT_TRIGGER" in document["reason"]
        assert activity_db.counters() == {("autobot_activity.quarantined", "database_refused"): 1}
        return
    assert not delivered and activity_db.pending() == 1
    assert activity_db.exporter.force_flush(10_000)
    assert [row["id"] for row in activity_db.rows("terminal_activities")] == [activity.activity_id]
    assert len(activity_db.rows("secret_usage")) == 1
    assert not quarantine.exists() and activity_db.counters() == {}


def test_spans_that_are_not_activities_are_ignored(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    with trace.get_tracer("someone.else").start_as_current_span("GET /") as other:
        other.set_attribute("http.request.method", "GET")
    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS

    record(ActivityType.FILE, "delete", **{attr.FILE_PATH: "/tmp/gone"})
    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS

    assert len(spans.all()) == 2
    assert len(activity_db.rows("file_activities")) == 1
    for table in ("terminal_activities", "browser_activities", "desktop_activities"):
        assert activity_db.rows(table) == []


@pytest.mark.leaves_journal  # the two bad spans are quarantined (asserted below)
def test_a_wrong_typed_attribute_skips_that_span_only_and_logs_no_value(
    activity_db: ActivityDB, spans: SpanCapture, caplog: pytest.LogCaptureFixture
) -> None:
    record(ActivityType.TERMINAL, "execute", **{attr.PROCESS_EXIT_CODE: "exit-code-as-text-5150"})
    record(ActivityType.DESKTOP, "click", **{attr.DESKTOP_COORDINATES: ["left", "top"]})
    good = record(ActivityType.TERMINAL, "execute", **{attr.PROCESS_EXIT_CODE: 0})

    with caplog.at_level(logging.WARNING):
        assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    assert [row["id"] for row in activity_db.rows("terminal_activities")] == [good.activity_id]
    assert activity_db.rows("desktop_activities") == []
    assert attr.PROCESS_EXIT_CODE in caplog.text and attr.DESKTOP_COORDINATES in caplog.text
    assert "5150" not in caplog.text and "left" not in caplog.text
    kept = activity_db.exporter.journal.directory.quarantine_path.glob("*.json")
    stored = " ".join(path.read_text() for path in kept)
    assert stored.count('"reason"') == 2 and '"process.exit.code": "str"' in stored
    assert "5150" not in stored and "left" not in stored, "a value was quarantined"
    assert activity_db.counters() == {("autobot_activity.quarantined", "invalid_span"): 2}


@pytest.mark.leaves_journal  # the span the bug hit is quarantined (asserted below)
def test_a_bug_while_mapping_one_span_loses_only_that_span(
    activity_db: ActivityDB,
    spans: SpanCapture,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    doomed = record(ActivityType.FILE, "read")
    kept = record(ActivityType.FILE, "write")

    def buggy(activity: ActivitySnapshot, **options: Any) -> ActivityRows | None:
        if activity.attributes[attr.ACTIVITY_ID] == str(doomed.activity_id):
            raise RuntimeError("mapping bug holding a value-9931")
        return rows_from_activity(activity, **options)

    monkeypatch.setattr("autobot_activity_exporters.rows.rows_from_activity", buggy)
    with caplog.at_level(logging.WARNING):
        assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    assert [row["id"] for row in activity_db.rows("file_activities")] == [kept.activity_id]
    assert "RuntimeError" in caplog.text and "value-9931" not in caplog.text
    quarantine = activity_db.exporter.journal.directory.quarantine_path
    assert [path.stem for path in quarantine.glob("*.json")] == [str(doomed.activity_id)]


def test_an_invalid_user_id_keeps_the_row_unattributed(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    activity = ActivityRecord(ActivityType.FILE, "create")
    activity.set(attr.USER_ID, "alice@example.com")
    activity.end()
    record(ActivityType.FILE, "create")  # no user at all

    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    rows = activity_db.rows("file_activities")
    assert [row["user_id"] for row in rows] == [None, None]
    assert rows[0]["metadata"]["invalid_user_id"] == "alice@example.com"


def test_nul_bytes_surrogates_and_nan_do_not_fail_the_batch(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    activity = ActivityRecord(ActivityType.TERMINAL, "execute")
    activity.set(attr.PROCESS_COMMAND_LINE, "printf 'a\x00b'")  # raw, past the repair
    activity.set(attr.TERMINAL_OUTPUT, "bad \ud800 surrogate")
    activity.set("ratio", float("nan"))  # JSON that PostgreSQL's jsonb refuses
    activity.set("peaks", [1.5, float("inf")])
    activity.end()

    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    row = one(activity_db.rows("terminal_activities"))
    assert row["metadata"]["ratio"] == "nan" and row["metadata"]["peaks"] == [1.5, "inf"]
    assert row["command"] == "printf 'a\u2400b'"
    assert row["output"].startswith("bad \ufffd") and "\ud800" not in row["output"]


def test_an_unsigned_32_bit_exit_code_is_stored(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    record(ActivityType.TERMINAL, "execute", **{attr.PROCESS_EXIT_CODE: 3221225477})
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS
    assert one(activity_db.rows("terminal_activities"))["exit_code"] == 3221225477


def test_long_free_form_values_are_stored_whole(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    session, action = "s" * 300, "a" * 300
    with activity_context(session_id=session):
        record(ActivityType.FILE, action, **{attr.FILE_TYPE: "t" * 300})

    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    row = one(activity_db.rows("file_activities"))
    assert (row["session_id"], row["operation"], row["file_type"]) == (session, action, "t" * 300)


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A port that accepts TCP connections and never answers (a hung database server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.leaves_journal  # the activity waits for the database (asserted below)
@pytest.mark.parametrize("where", ["refused", "hung"])
def test_an_unreachable_database_keeps_the_activity_in_the_journal_and_says_where(
    where: str,
    blackhole_port: int,
    spans: SpanCapture,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    port = closed_port() if where == "refused" else blackhole_port
    password = plant("pw-not-logged-7730")
    url = f"postgresql+asyncpg://postgres:{password}@127.0.0.1:{port}/nowhere"
    exporter = ActivitySpanExporter(url, timeout=1.0, journal_dir=tmp_path / "journal")
    record(ActivityType.TERMINAL, "execute", **{attr.PROCESS_EXIT_CODE: 0})
    try:
        with caplog.at_level(logging.WARNING):
            started = time.monotonic()
            result = exporter.export(spans.activities())
            exported_in = time.monotonic() - started
            assert exporter.force_flush(1_500) is False  # tries, and fails, to deliver
            started = time.monotonic()
            exporter.shutdown(timeout_millis=500)
            stopped_in = time.monotonic() - started
    finally:
        exporter.shutdown()
    assert result is SpanExportResult.SUCCESS and exporter.journal.status().pending == 1
    assert exported_in < 1 and stopped_in < 3, "export() or shutdown() waited on the database"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    delivery = next(w for w in warnings if w.startswith("activities not delivered"))
    assert f"127.0.0.1:{port}/nowhere" in delivery and str(tmp_path / "journal") in delivery
    assert "1 waiting" in delivery
    assert any(w.startswith("1 activities wait in the journal") for w in warnings)
    assert password not in caplog.text


def test_an_unsupported_database_is_refused_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="database_url names a mysql database"):
        ActivitySpanExporter("mysql+nosuchdriver://u@h/db")
    monkeypatch.setenv("AUTOBOT_ACTIVITY_DATABASE_URL", "not a url at all")
    with pytest.raises(ValueError, match=r"^AUTOBOT_ACTIVITY_DATABASE_URL is not a database URL"):
        ActivitySpanExporter()
    assert not any(tmp_path.rglob("*.seg")), "nothing may wait for a database that cannot be"


@pytest.mark.leaves_journal  # the batch waits for a schema no one creates (asserted below)
def test_the_schema_is_created_on_first_use_unless_disabled(
    tmp_path: Path, spans: SpanCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(ActivityType.FILE, "read", **{attr.FILE_PATH: "/a"})
    batch = spans.activities()

    monkeypatch.setenv("AUTOBOT_ACTIVITY_CREATE_SCHEMA", "false")
    disabled = ActivitySpanExporter(
        f"sqlite:///{tmp_path / 'bare.db'}", timeout=5, journal_dir=tmp_path / "bare-journal"
    )
    monkeypatch.delenv("AUTOBOT_ACTIVITY_CREATE_SCHEMA")
    created = ActivitySpanExporter(
        f"sqlite:///{tmp_path / 'created.db'}", timeout=5, journal_dir=tmp_path / "created-journal"
    )
    try:
        assert disabled.export(batch) is SpanExportResult.SUCCESS  # no tables, none made:
        assert disabled.force_flush(1_000) is False  # the batch waits in the journal
        assert created.export(batch) is SpanExportResult.SUCCESS
        assert created.force_flush(10_000)
    finally:
        disabled.shutdown(timeout_millis=100)
        created.shutdown()
    assert disabled.journal.status().pending == 1
    assert len(table_rows(created.database_url, "file_activities")) == 1


def test_the_default_database_is_an_sqlite_file_in_the_working_directory(
    tmp_path: Path, spans: SpanCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTOBOT_ACTIVITY_DATABASE_URL", raising=False)
    exporter = ActivitySpanExporter()
    read = record(ActivityType.FILE, "read")
    try:
        assert exporter.export(spans.activities()) is SpanExportResult.SUCCESS
        assert exporter.force_flush(10_000)
    finally:
        exporter.shutdown()
    assert exporter.database_url == f"sqlite+aiosqlite:///{tmp_path / 'autobot_activity.db'}"
    rows = table_rows(exporter.database_url, "file_activities")
    assert [row["id"] for row in rows] == [read.activity_id]


def test_the_exporters_database_work_runs_with_instrumentation_suppressed(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    seen: list[bool] = []

    def before_execute(*_args: Any) -> None:
        if threading.current_thread().name == "autobot-activity-journal":
            seen.append(is_instrumentation_enabled())

    record(ActivityType.FILE, "read")
    event.listen(Engine, "before_cursor_execute", before_execute)
    try:
        assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS
    finally:
        event.remove(Engine, "before_cursor_execute", before_execute)
    assert seen and not any(seen)


def test_shutdown_stops_the_loop_thread_and_later_exports_fail(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    record(ActivityType.FILE, "read")
    before = {t for t in threading.enumerate() if t.name == "autobot-activity-journal"}
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS
    assert activity_db.exporter.force_flush() is True

    activity_db.exporter.shutdown()
    activity_db.exporter.shutdown()

    after = {t for t in threading.enumerate() if t.name == "autobot-activity-journal"}
    assert after <= before
    assert activity_db.export(spans.activities()) is SpanExportResult.FAILURE
