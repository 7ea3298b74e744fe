"""Retention: old activities go with their secret usage, new ones stay, nothing is orphaned.

On SQLite and PostgreSQL, through ``prune`` itself, the ``autobot-activity prune`` command and
the exporter's periodic option.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from sqlalchemy import text
from support import planted

from autobot_activity_exporters import ActivitySpanExporter
from autobot_activity_exporters.cli import main
from autobot_activity_exporters.database import create_engine
from autobot_activity_exporters.models import ACTIVITY_TABLES
from autobot_activity_exporters.retention import (
    RetentionSchedule,
    old_partitions,
    parse_duration,
    prune,
)
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.recording import ActivityRecord
from autobot_activity_otel.settings import RETENTION

if TYPE_CHECKING:
    from support.database import ActivityDB
    from support.spans import SpanCapture

USER = uuid.UUID("0192f0c1-0000-7000-8000-00000000a9e0")
TOKEN = planted.plant("Retention-planted-Tok-5829")
DAY_NS = 86_400 * 10**9


def activity(kind: ActivityType, age_days: float, *, secret: bool = True) -> uuid.UUID:
    """An activity that began ``age_days`` ago; with ``secret``, two secret-usage rows."""
    record = ActivityRecord(kind, "execute" if kind is ActivityType.TERMINAL else "read")
    record.start_ns = time.time_ns() - int(age_days * DAY_NS)
    if secret:
        record.declare_secrets([uuid.uuid4()])
    if secret and kind is ActivityType.TERMINAL:
        record.set_text(attr.PROCESS_COMMAND_LINE, f"login --password {TOKEN}", "command")
    record.end(record.start_ns + 1_000_000)
    return record.activity_id


@pytest.fixture
def aged(activity_db: ActivityDB, spans: SpanCapture) -> dict[str, set[uuid.UUID]]:
    """Old (400 days) and new (10 days) activities of every type, most with secret usage."""
    old: set[uuid.UUID] = set()
    new: set[uuid.UUID] = set()
    with activity_context(user_id=USER, session_id="retention"):
        for kind in ActivityType:
            old.add(activity(kind, 400))
            old.add(activity(kind, 366, secret=False))
            new.add(activity(kind, 10))
            new.add(activity(kind, 364))
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS
    return {"old": old, "new": new}


def activity_ids(activity_db: ActivityDB) -> set[uuid.UUID]:
    return {row["id"] for table in ACTIVITY_TABLES.values() for row in activity_db.rows(table.name)}


def usage_activity_ids(activity_db: ActivityDB) -> list[uuid.UUID]:
    return [row["activity_id"] for row in activity_db.rows("secret_usage")]


def orphans(activity_db: ActivityDB) -> list[uuid.UUID]:
    existing = activity_ids(activity_db)
    return [id_ for id_ in usage_activity_ids(activity_db) if id_ not in existing]


async def test_prune_deletes_old_activities_with_their_secret_usage_and_keeps_new_ones(
    activity_db: ActivityDB, aged: dict[str, set[uuid.UUID]]
) -> None:
    before = usage_activity_ids(activity_db)
    assert set(before) & aged["old"] and set(before) & aged["new"]
    engine = create_engine(activity_db.url)
    try:
        dry = await prune(engine, timedelta(days=365), dry_run=True)
        assert activity_ids(activity_db) == aged["old"] | aged["new"]  # a dry run deletes nothing
        done = await prune(engine, timedelta(days=365))
        again = await prune(engine, timedelta(days=365))
    finally:
        await engine.dispose()

    assert activity_ids(activity_db) == aged["new"]
    after = usage_activity_ids(activity_db)
    assert set(after) == set(before) & aged["new"] and orphans(activity_db) == []
    assert done.deleted == dry.deleted and dry.dry_run and not done.dry_run
    assert done.deleted["secret_usage"] == len(before) - len(after) > 0
    assert {name: done.deleted[name] for name in ("terminal_activities", "file_activities")} == {
        "terminal_activities": 2,
        "file_activities": 2,
    }
    assert again.total == 0


async def test_prune_in_batches_of_one_row_removes_the_same(
    activity_db: ActivityDB, aged: dict[str, set[uuid.UUID]]
) -> None:
    engine = create_engine(activity_db.url)
    try:
        dry = await prune(engine, timedelta(days=365), dry_run=True)
        done = await prune(engine, timedelta(days=365), batch_rows=1)
    finally:
        await engine.dispose()
    assert activity_ids(activity_db) == aged["new"] and orphans(activity_db) == []
    assert done.deleted == dry.deleted and done.deleted["terminal_activities"] == 2


@pytest.mark.parametrize("activity_db", ["postgresql"], indirect=True)
async def test_whole_months_older_than_the_cutoff_are_dropped_with_their_newer_usage(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    """With month partitions back to 14 months ago, the months wholly before the cut-off
    are dropped (not deleted row by row), the month the cut-off falls in keeps its newer
    rows, and a usage row stamped today of an activity in a dropped month goes too."""
    activity_db.ensure_schema()
    activity_db.sql("SELECT autobot_activity_ensure_partitions(now() - interval '420 days', now())")
    with activity_context(user_id=USER, session_id="retention"):
        old = {activity(kind, 400) for kind in ActivityType}
        straddling = {activity(kind, 366, secret=False) for kind in ActivityType}
        new = {activity(kind, 364) for kind in ActivityType}
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS
    [late] = sorted(old)[:1]
    activity_db.sql(f"UPDATE secret_usage SET timestamp = now() WHERE activity_id = '{late}'")
    before = usage_activity_ids(activity_db)
    engine = create_engine(activity_db.url)
    try:
        dry = await prune(engine, timedelta(days=365), dry_run=True)
        async with engine.connect() as connection:
            doomed = await old_partitions(connection, dry.cutoff)
        done = await prune(engine, timedelta(days=365))
        async with engine.connect() as connection:
            left = await old_partitions(connection, dry.cutoff)
            exists = [
                await connection.scalar(text(f"SELECT to_regclass('{name}') IS NOT NULL"))
                for names in doomed.values()
                for name in names
            ]
    finally:
        await engine.dispose()
    assert all(doomed.values()) and not any(left.values()) and not any(exists)
    assert activity_ids(activity_db) == new and orphans(activity_db) == []
    assert late in before and late not in usage_activity_ids(activity_db)
    assert done.deleted == dry.deleted
    assert done.deleted["terminal_activities"] == len(old | straddling) // len(ActivityType)
    assert done.deleted["secret_usage"] == len(before) - len(usage_activity_ids(activity_db))


async def test_new_secret_usage_of_an_old_activity_goes_with_the_activity(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    """The linked delete, not the age rule: a usage row stamped after the cut-off whose
    activity is older is deleted with it (removing the linked delete fails this test)."""
    with activity_context(user_id=USER):
        old = activity(ActivityType.TERMINAL, 400)
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS
    recent = "now()" if activity_db.dialect == "postgresql" else "datetime('now')"
    activity_db.sql(f"UPDATE secret_usage SET timestamp = {recent}")
    assert usage_activity_ids(activity_db) and set(usage_activity_ids(activity_db)) == {old}
    engine = create_engine(activity_db.url)
    try:
        done = await prune(engine, timedelta(days=365))
    finally:
        await engine.dispose()
    assert activity_ids(activity_db) == set() and usage_activity_ids(activity_db) == []
    assert done.deleted["secret_usage"] == 2


async def test_old_secret_usage_whose_activity_is_gone_goes_too(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    """Usage left without its activity (deleted by hand, say) is pruned by its own age."""
    with activity_context(user_id=USER):
        activity(ActivityType.TERMINAL, 0)
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS
    activity_db.sql("DELETE FROM terminal_activities")
    usage = activity_db.rows("secret_usage")
    assert usage and len(orphans(activity_db)) == len(usage)
    engine = create_engine(activity_db.url)
    try:
        kept = await prune(engine, timedelta(days=1))
        assert kept.total == 0 and len(activity_db.rows("secret_usage")) == len(usage)
        gone = await prune(engine, timedelta(seconds=1) / 1000)
    finally:
        await engine.dispose()
    assert gone.deleted["secret_usage"] == len(usage)
    assert activity_db.rows("secret_usage") == []


def test_the_prune_command(
    activity_db: ActivityDB, aged: dict[str, set[uuid.UUID]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["prune", "--older-than", "365d", "--dry-run", "--database-url", activity_db.url]) == 0
    )
    dry = capsys.readouterr().out
    assert dry.startswith("would delete") and activity_ids(activity_db) == aged["old"] | aged["new"]
    assert main(["prune", "--older-than", "8760h", "--database-url", activity_db.url]) == 0
    assert capsys.readouterr().out.startswith("deleted")
    assert activity_ids(activity_db) == aged["new"] and orphans(activity_db) == []
    for bad in ("0d", "365", "1y", "-3d"):
        with pytest.raises(SystemExit) as refused:
            main(["prune", "--older-than", bad, "--database-url", activity_db.url])
        assert refused.value.code == 2
    assert "duration" in capsys.readouterr().err


def test_durations() -> None:
    assert parse_duration("365d") == timedelta(days=365)
    assert parse_duration(" 12H ") == timedelta(hours=12)
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("45s") == timedelta(seconds=45)
    for bad in ("", "d", "1.5d", "1w", "365 days"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    with pytest.raises(ValueError):
        RetentionSchedule(timedelta(0))


def test_the_retention_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RETENTION, "90d")
    schedule = RetentionSchedule.from_env()
    assert schedule is not None and schedule.older_than == timedelta(days=90)
    monkeypatch.setenv(RETENTION, "soon")
    assert RetentionSchedule.from_env() is None  # a warning, never a crash of the host
    monkeypatch.delenv(RETENTION)
    assert RetentionSchedule.from_env() is None


def test_the_exporter_prunes_on_its_own_loop_after_writing(
    activity_db: ActivityDB, aged: dict[str, set[uuid.UUID]], spans: SpanCapture, tmp_path: Path
) -> None:
    exporter = ActivitySpanExporter(
        activity_db.url,
        timeout=30,
        retention=timedelta(days=365),
        journal_dir=tmp_path / "pruning-journal",  # its own: no other exporter ships these
    )
    try:
        spans.clear()
        with activity_context(user_id=USER):
            fresh = activity(ActivityType.TERMINAL, 0)
        assert exporter.export(spans.activities()) is SpanExportResult.SUCCESS
        deadline = time.monotonic() + 10
        while activity_ids(activity_db) != aged["new"] | {fresh} and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        exporter.shutdown()
    assert activity_ids(activity_db) == aged["new"] | {fresh} and orphans(activity_db) == []


async def test_a_schedule_prunes_at_most_once_per_interval(activity_db: ActivityDB) -> None:
    activity_db.ensure_schema()
    schedule = RetentionSchedule(timedelta(days=1), interval=timedelta(hours=1))
    schedule.poke(activity_db.url)
    first = schedule._task
    assert first is not None
    await first
    schedule.poke(activity_db.url)
    assert schedule._task is first  # not due again for an hour
    await asyncio.sleep(0)
