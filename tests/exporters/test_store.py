"""ActivityStore queries against real SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

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
    assert [row["id"] for row in rows] == recorded[::-1]
    assert rows[0]["user_id"] is None
    assert [row["activity_type"] for row in rows] == [
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
    assert [row["id"] for row in alice] == [recorded[4], recorded[1], recorded[0]]
    assert [row["id"] for row in session] == [recorded[3], recorded[2]]
    assert [row["id"] for row in terminal] == [recorded[5], recorded[3], recorded[0]]
    assert [row["id"] for row in bobs_terminal] == [recorded[3]]
    assert [row["id"] for row in latest_two] == [recorded[5], recorded[4]]


async def test_filters_by_time_range(activity_db: ActivityDB, recorded: list[uuid.UUID]) -> None:
    async with activity_db.store as store:
        everything = await store.activities()
        times = {row["id"]: row["timestamp"] for row in everything}
        since = await store.activities(since=times[recorded[2]])
        until = await store.activities(until=times[recorded[2]])
        window = await store.activities(since=times[recorded[1]], until=times[recorded[4]])
        naive = await store.activities(since=times[recorded[5]].replace(tzinfo=None))
        future = await store.activities(since=times[recorded[5]] + timedelta(hours=1))
    assert {row["id"] for row in since} == set(recorded[2:])
    assert {row["id"] for row in until} == set(recorded[:2])
    assert {row["id"] for row in window} == set(recorded[1:4])
    assert [row["id"] for row in naive] == [recorded[5]]
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
    assert [row["activity_id"] for row in by_secret] == [
        records[2].activity_id,
        records[0].activity_id,
    ]
    assert {row["secret_id"] for row in by_user} == {first, second}
    assert [row["secret_id"] for row in by_activity] == [first]
    assert [row["user_id"] for row in by_session] == [ALICE]
