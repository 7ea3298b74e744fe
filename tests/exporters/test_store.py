"""ActivityStore queries against real SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

from autobot_activity_exporters.models import SECRET_USAGE
from autobot_activity_exporters.records import (
    BrowserActivity,
    DesktopActivity,
    FileActivity,
    SecretUse,
    TerminalActivity,
)
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.recording import ActivityRecord

if TYPE_CHECKING:
    from support.database import ActivityDB
    from support.spans import SpanCapture

ALICE = uuid.UUID("0192f0c1-0000-7000-8000-0000000a11ce")
BOB = uuid.UUID("0192f0c1-0000-7000-8000-0000000000b0")


def activity(activity_type: ActivityType, action: str) -> uuid.UUID:
    record = ActivityRecord(activity_type, action)
    record.end()
    return record.activity_id


@pytest.fixture
def recorded(activity_db: ActivityDB, spans: SpanCapture) -> list[uuid.UUID]:
    """Six activities, oldest first: alice in two sessions, bob in one, one with no user."""
    ids = []
    with activity_context(user_id=ALICE, session_id="a-1"):
        ids += [activity(ActivityType.TERMINAL, "execute"), activity(ActivityType.FILE, "read")]
    with activity_context(user_id=BOB, session_id="b-1"):
        ids += [
            activity(ActivityType.BROWSER, "navigate"),
            activity(ActivityType.TERMINAL, "execute"),
        ]
    with activity_context(user_id=ALICE, session_id="a-2"):
        ids.append(activity(ActivityType.DESKTOP, "click"))
    ids.append(activity(ActivityType.TERMINAL, "execute"))
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS
    return ids


async def test_all_activities_newest_first_including_unattributed(
    activity_db: ActivityDB, recorded: list[uuid.UUID]
) -> None:
    async with activity_db.store as store:
        rows = await store.activities()
    assert [row.id for row in rows] == recorded[::-1]
    assert rows[0].user_id is None
    assert [row.type for row in rows] == [
        "terminal",
        "desktop",
        "terminal",
        "browser",
        "file",
        "terminal",
    ]


async def test_filters_by_user_session_type_and_limit(
    activity_db: ActivityDB, recorded: list[uuid.UUID]
) -> None:
    async with activity_db.store as store:
        alice = await store.activities(user_id=str(ALICE))
        session = await store.activities(session_id="b-1")
        terminal = await store.activities("terminal")
        bobs_terminal = await store.activities(ActivityType.TERMINAL, user_id=BOB)
        latest_two = await store.activities(limit=2)
        with pytest.raises(ValueError, match="user_id"):
            await store.activities(user_id="alice")
    assert [row.id for row in alice] == [recorded[4], recorded[1], recorded[0]]
    assert [row.id for row in session] == [recorded[3], recorded[2]]
    assert [row.id for row in terminal] == [recorded[5], recorded[3], recorded[0]]
    assert [row.id for row in bobs_terminal] == [recorded[3]]
    assert [row.id for row in latest_two] == [recorded[5], recorded[4]]


async def test_filters_by_time_range(activity_db: ActivityDB, recorded: list[uuid.UUID]) -> None:
    async with activity_db.store as store:
        everything = await store.activities()
        times = {row.id: row.timestamp for row in everything}
        since = await store.activities(since=times[recorded[2]])
        until = await store.activities(until=times[recorded[2]])
        window = await store.activities(since=times[recorded[1]], until=times[recorded[4]])
        naive = await store.activities(since=times[recorded[5]].replace(tzinfo=None))
        future = await store.activities(since=times[recorded[5]] + timedelta(hours=1))
    assert {row.id for row in since} == set(recorded[2:])
    assert {row.id for row in until} == set(recorded[:2])
    assert {row.id for row in window} == set(recorded[1:4])
    assert [row.id for row in naive] == [recorded[5]]
    assert future == []


async def test_secret_usage_queries(activity_db: ActivityDB, spans: SpanCapture) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    records = []
    for user, secret in ((ALICE, first), (BOB, second), (BOB, first)):
        with activity_context(user_id=user, session_id=f"s-{user.hex[-4:]}"):
            record = ActivityRecord(ActivityType.BROWSER, "submit")
            record.declare_secrets([secret])
            record.end()
            records.append(record)
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    async with activity_db.store as store:
        every = await store.secret_usage()
        by_secret = await store.secret_usage(secret_id=first)
        by_user = await store.secret_usage(user_id=BOB)
        by_activity = await store.secret_usage(activity_id=records[0].activity_id)
        by_session = await store.secret_usage(session_id=f"s-{ALICE.hex[-4:]}")
    assert len(every) == 3
    assert [row.activity_id for row in by_secret] == [
        records[2].activity_id,
        records[0].activity_id,
    ]
    assert {row.secret_id for row in by_user} == {first, second}
    assert [row.secret_id for row in by_activity] == [first]
    assert [row.user_id for row in by_session] == [ALICE]


async def test_each_type_is_returned_as_its_own_record_with_the_common_fields(
    activity_db: ActivityDB, recorded: list[uuid.UUID]
) -> None:
    async with activity_db.store as store:
        records = await store.activities(order="asc")
    kinds = {
        ActivityType.TERMINAL: TerminalActivity,
        ActivityType.FILE: FileActivity,
        ActivityType.BROWSER: BrowserActivity,
        ActivityType.DESKTOP: DesktopActivity,
    }
    assert [record.id for record in records] == recorded
    for record in records:
        assert type(record) is kinds[record.type]
        assert record.timestamp.tzinfo is not None and record.secrets_used == ()
        assert len(record.trace_id or "") == 32 and len(record.span_id or "") == 16
        assert isinstance(record.metadata, dict) and record.action
        with pytest.raises(dataclasses.FrozenInstanceError):
            record.session_id = "changed"  # type: ignore[misc]
    stored = {
        row["id"]: {"activity_type": table.removesuffix("_activities"), **row}
        for table in ("terminal_activities", "file_activities", "browser_activities")
        for row in activity_db.rows(table)
    } | {
        row["id"]: {"activity_type": "desktop", **row}
        for row in activity_db.rows("desktop_activities")
    }
    assert {record.id: record.as_row() for record in records} == stored


async def test_filters_by_id_text_and_order_and_counts_what_a_limit_cut(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    with activity_context(user_id=ALICE, session_id="grep"):
        commands = [
            "grep -r 'Needle' src/",
            "echo 100%_done",
            "echo 100 percent done",
            "ls /var/needle",
        ]
        for command in commands:
            record = ActivityRecord(ActivityType.TERMINAL, "execute")
            record.set_text(attr.PROCESS_COMMAND_LINE, command, "command")
            record.end()
        page = ActivityRecord(ActivityType.BROWSER, "click")
        page.set_text(attr.URL_FULL, "https://example.test/haystack", "url")
        page.set_text(attr.BROWSER_SELECTOR, "#needle-button", "text")
        page.end()
        window = ActivityRecord(ActivityType.DESKTOP, "click")
        window.set_text(attr.ACTIVITY_WINDOW_TITLE, "NEEDLE viewer", "text")
        window.end()
        moved = ActivityRecord(ActivityType.FILE, "rename")
        moved.set_text(attr.FILE_PATH, "/tmp/a.txt", "text")
        moved.set_text(attr.FILE_NEW_PATH, "/tmp/needle.txt", "text")
        moved.end()
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    async with activity_db.store as store:
        needles = await store.activities(grep="needle", order="asc")
        percent = await store.activities(grep="100%_")
        underscore = await store.activities(grep="_", session_id="grep")
        by_id = await store.activities(activity_ids=[str(page.activity_id), moved.activity_id])
        other_type = await store.activities("terminal", activity_ids=[page.activity_id])
        oldest_two = await store.activities(session_id="grep", limit=2, order="asc")
        newest_two = await store.activities(session_id="grep", limit=2)
        every = await store.activities(session_id="grep", limit=None)
        counted = await store.count_activities(session_id="grep")
        counted_needles = await store.count_activities(grep="NEEDLE")
        with pytest.raises(ValueError, match="order"):
            await store.activities(order="newest")  # type: ignore[arg-type]
    assert [getattr(record, "command", None) or record.search_text() for record in needles] == [
        "grep -r 'Needle' src/",
        "ls /var/needle",
        "https://example.test/haystack\n#needle-button",
        "NEEDLE viewer",
        "/tmp/a.txt\n/tmp/needle.txt",
    ]
    assert [record.command for record in percent] == ["echo 100%_done"]  # type: ignore[union-attr]
    assert [record.command for record in underscore] == ["echo 100%_done"]  # type: ignore[union-attr]
    assert {record.id for record in by_id} == {page.activity_id, moved.activity_id}
    assert other_type == []
    assert [record.timestamp for record in oldest_two] == sorted(r.timestamp for r in every)[:2]
    assert [record.timestamp for record in newest_two] == sorted(
        (r.timestamp for r in every), reverse=True
    )[:2]
    assert len(every) == counted == 7 and counted_needles == 5


async def test_secret_usage_records_in_either_order_and_counted(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    secret = uuid.uuid4()
    for _ in range(3):
        with activity_context(user_id=ALICE, session_id="uses"):
            record = ActivityRecord(ActivityType.FILE, "write")
            record.declare_secrets([secret])
            record.end()
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS
    async with activity_db.store as store:
        newest = await store.secret_usage(session_id="uses")
        oldest = await store.secret_usage(session_id="uses", order="asc", limit=2)
        counted = await store.count_secret_usage(secret_id=secret)
    assert all(isinstance(use, SecretUse) for use in newest)
    assert [use.timestamp for use in oldest] == sorted(use.timestamp for use in newest)[:2]
    assert counted == 3 and {use.secret_id for use in newest} == {secret}
    assert newest[0].activity_type is ActivityType.FILE and newest[0].rule
    assert set(newest[0].as_row()) == {column.key for column in SECRET_USAGE.columns}
