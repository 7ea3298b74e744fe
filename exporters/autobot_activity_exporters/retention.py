"""Retention: delete activities older than a cut-off, with their secret-usage rows, together.

``prune`` runs as the system viewer (on PostgreSQL with forced row-level security that is
what lets the tables' owner delete) and takes time in proportion to what it removes, not to
the tables: on PostgreSQL the month partitions wholly older than the cut-off are detached
and dropped; the rows older than it that are left go in batches, each batch of activities
with the secret-usage rows that point at them in one transaction (on PostgreSQL one
statement, a data-modifying CTE: both deletes see one snapshot, so a batch committed
meanwhile is either wholly kept or wholly gone). Old secret-usage rows go too, so none is
ever left without its activity. ``RetentionSchedule`` runs it from the exporter's event
loop, at most hourly. Before anything is removed, the tamper-evident chain gets a signed
record of the cut-off (``integrity.pruning``, docs/integrity.md), so a prune cut short still
verifies as pruned, not as deleted rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import ColumnElement, Select, Table, and_, delete, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from autobot_activity_exporters.database import create_engine
from autobot_activity_exporters.integrity.pruning import record_pruning
from autobot_activity_exporters.models import ACTIVITY_TABLES, SECRET_USAGE
from autobot_activity_exporters.viewer import Viewer, apply_viewer
from autobot_activity_otel import settings

_logger = logging.getLogger(__name__)

PRUNE_INTERVAL = timedelta(hours=1)
_DURATION = re.compile(r"(\d+)\s*([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: str) -> timedelta:
    """An age like ``365d``, ``12h``, ``30m`` or ``45s``; ``ValueError`` otherwise."""
    match = _DURATION.fullmatch(value.strip().lower())
    if not match:
        raise ValueError("expected a duration like 365d, 12h, 30m or 45s")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


@dataclass(frozen=True)
class PruneResult:
    """Rows deleted (or, in a dry run, that would be), per table."""

    cutoff: datetime
    deleted: dict[str, int]
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


BATCH_ROWS = 10_000
"""Activities deleted per statement (and transaction) where no whole partition can go."""
USAGE = SECRET_USAGE.name


async def prune(
    engine: AsyncEngine,
    older_than: timedelta,
    *,
    dry_run: bool = False,
    batch_rows: int = BATCH_ROWS,
) -> PruneResult:
    """Delete everything recorded before ``now - older_than``, in time proportional to it.

    On PostgreSQL the month partitions wholly older than the cut-off are detached and
    dropped first (``old_partitions``); what is left older than it (the month the cut-off
    falls in, the default partition, SQLite's tables) goes in batches of ``batch_rows``
    activities, each batch with its secret usage in one transaction. With ``dry_run``
    nothing is deleted: the result counts what would be.
    """
    if older_than <= timedelta(0):
        raise ValueError("the retention period must be positive")
    cutoff = datetime.now(UTC) - older_than
    deleted = dict.fromkeys([*(table.name for table in ACTIVITY_TABLES.values()), USAGE], 0)
    if dry_run:
        async with _as_system(engine) as connection:
            return PruneResult(cutoff, await _count(connection, cutoff), dry_run)
    async with _as_system(engine) as connection:
        await record_pruning(connection, cutoff)  # first: a prune cut short verifies as pruned
        if engine.dialect.name == "postgresql":
            _add(deleted, await _drop_old_partitions(connection, cutoff))
    while True:
        async with _as_system(engine) as connection:
            batch = await _delete_batch(connection, cutoff, batch_rows)
        _add(deleted, batch)
        if not any(batch.values()):
            return PruneResult(cutoff, deleted)


def old_rows(table: Table, cutoff: datetime) -> ColumnElement[bool]:
    """The retention rule: a row goes when it was recorded before the cut-off."""
    return table.c.timestamp < cutoff


async def old_partitions(connection: AsyncConnection, cutoff: datetime) -> dict[str, list[str]]:
    """Per table, its month partitions whose every row is older than ``cutoff``: those whose
    upper bound is at or before it (never the default partition, which has no bound)."""
    found: dict[str, list[str]] = {}
    for table in (*ACTIVITY_TABLES.values(), SECRET_USAGE):
        names = await connection.scalars(
            _PARTITIONS_BEFORE, {"parent": table.name, "cutoff": cutoff}
        )
        found[table.name] = list(names)
    return found


_PARTITIONS_BEFORE = text(
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
    " WHERE i.inhparent = to_regclass(:parent)"
    " AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'"
    " AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]"
    "::timestamptz <= :cutoff ORDER BY c.relname"
)


async def _drop_old_partitions(connection: AsyncConnection, cutoff: datetime) -> dict[str, int]:
    """Detach and drop the partitions wholly older than the cut-off, counting their rows.

    Secret usage recorded after the cut-off for an activity in such a partition goes first
    (found from the partition's ids through the usage's activity index).
    """
    dropped = dict.fromkeys([*(table.name for table in ACTIVITY_TABLES.values()), USAGE], 0)
    partitions = await old_partitions(connection, cutoff)
    for kind, table in ACTIVITY_TABLES.items():
        for partition in partitions[table.name]:
            linked = await connection.execute(
                text(
                    f'DELETE FROM {USAGE} s USING "{partition}" a WHERE s.activity_type = :kind'
                    " AND s.activity_id = a.id AND s.timestamp >= :cutoff"
                ),
                {"kind": kind.value, "cutoff": cutoff},
            )
            dropped[USAGE] += linked.rowcount
    for parent, names in partitions.items():
        for partition in names:
            dropped[parent] += await connection.scalar(text(f'SELECT count(*) FROM "{partition}"'))
            await connection.execute(text(f'ALTER TABLE "{parent}" DETACH PARTITION "{partition}"'))
            await connection.execute(text(f'DROP TABLE "{partition}"'))
    return dropped


async def _count(connection: AsyncConnection, cutoff: datetime) -> dict[str, int]:
    """What a prune would delete. Secret usage: the old rows, plus the newer ones of old
    activities, found with a correlated ``EXISTS`` (an ``IN`` list of every old id would be
    re-scanned for each usage row)."""
    counts = {
        table.name: await connection.scalar(select(func.count()).where(old_rows(table, cutoff)))
        or 0
        for table in ACTIVITY_TABLES.values()
    }
    usage = await connection.scalar(select(func.count()).where(old_rows(SECRET_USAGE, cutoff))) or 0
    for kind, table in ACTIVITY_TABLES.items():
        of_old_activity = (
            select(table.c.id)
            .where(table.c.id == SECRET_USAGE.c.activity_id, old_rows(table, cutoff))
            .exists()
        )
        usage += (
            await connection.scalar(
                select(func.count()).where(
                    SECRET_USAGE.c.activity_type == kind.value,
                    SECRET_USAGE.c.timestamp >= cutoff,
                    of_old_activity,
                )
            )
            or 0
        )
    counts[USAGE] = usage
    return counts


async def _delete_batch(
    connection: AsyncConnection, cutoff: datetime, batch_rows: int
) -> dict[str, int]:
    """Up to ``batch_rows`` old activities of each table, with the secret usage linked to
    them, then up to ``batch_rows`` old secret-usage rows."""
    deleted: dict[str, int] = {}
    usage = 0
    for kind, table in ACTIVITY_TABLES.items():
        deleted[table.name], linked = await _delete_with_usage(
            connection, table, kind.value, cutoff, batch_rows
        )
        usage += linked
    old_usage = _oldest(SECRET_USAGE, cutoff, batch_rows)
    removed = await connection.execute(
        delete(SECRET_USAGE).where(SECRET_USAGE.c.id.in_(old_usage), old_rows(SECRET_USAGE, cutoff))
    )
    deleted[USAGE] = usage + removed.rowcount
    return deleted


def _oldest(table: Table, cutoff: datetime, batch_rows: int) -> Select[Any]:
    """The ids of one batch of a table's old rows (the timestamp index finds them)."""
    return select(table.c.id).where(old_rows(table, cutoff)).limit(batch_rows)


async def _delete_with_usage(
    connection: AsyncConnection, table: Table, kind: str, cutoff: datetime, batch_rows: int
) -> tuple[int, int]:
    """Delete one batch of a table's old rows and the secret usage linked to them.

    ``old_rows`` is repeated beside the id list so that PostgreSQL only looks in the
    partitions older than the cut-off.
    """
    batch = and_(table.c.id.in_(_oldest(table, cutoff, batch_rows)), old_rows(table, cutoff))
    if connection.dialect.name != "postgresql":
        ids = list(await connection.scalars(select(table.c.id).where(batch)))
        linked = (SECRET_USAGE.c.activity_type == kind) & SECRET_USAGE.c.activity_id.in_(ids)
        usage = await connection.execute(delete(SECRET_USAGE).where(linked))
        rows = await connection.execute(delete(table).where(table.c.id.in_(ids)))
        return rows.rowcount, usage.rowcount
    # One statement: both deletes see one snapshot, so a batch committed meanwhile is
    # either wholly kept or wholly gone.
    gone = delete(table).where(batch).returning(table.c.id).cte("gone")
    usage_gone = (
        delete(SECRET_USAGE)
        .where(SECRET_USAGE.c.activity_type == kind)
        .where(SECRET_USAGE.c.activity_id.in_(select(gone.c.id)))
        .returning(literal(1))
        .cte("usage_gone")
    )
    counts = await connection.execute(
        select(
            select(func.count()).select_from(gone).scalar_subquery(),
            select(func.count()).select_from(usage_gone).scalar_subquery(),
        )
    )
    rows, usage = counts.one()
    return rows, usage


def _add(total: dict[str, int], more: dict[str, int]) -> None:
    for name, count in more.items():
        total[name] += count


@contextlib.asynccontextmanager
async def _as_system(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction as the system viewer (what lets the owner delete under forced RLS)."""
    async with engine.begin() as connection:
        await apply_viewer(connection, Viewer.system())
        yield connection


class RetentionSchedule:
    """Prunes a database at most once per ``interval``, as a task on the caller's event loop.

    ``poke`` is cheap and never raises: the exporter calls it after each written batch, and
    a prune that fails is logged by exception type and tried again an interval later.
    """

    def __init__(self, older_than: timedelta, interval: timedelta = PRUNE_INTERVAL) -> None:
        if older_than <= timedelta(0):
            raise ValueError("the retention period must be positive")
        self.older_than = older_than
        self.interval = interval
        self._last: float | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_env(cls) -> RetentionSchedule | None:
        """``AUTOBOT_ACTIVITY_RETENTION`` (e.g. ``365d``), or None when unset or unusable."""
        value = settings.text(settings.RETENTION) or ""
        if not value:
            return None
        try:
            return cls(parse_duration(value))
        except ValueError:
            _logger.warning(
                "%s=%r is not a positive duration like 365d; not pruning", settings.RETENTION, value
            )
            return None

    def poke(self, database_url: str) -> None:
        """Start a prune on the running loop if the last one began an interval ago or more."""
        try:
            now = time.monotonic()
            loop = asyncio.get_running_loop()
            if self._task is not None and not self._task.done() and self._task.get_loop() is loop:
                return  # (a task of another loop is a forked parent's: it will never finish)
            if self._last is not None and now - self._last < self.interval.total_seconds():
                return
            self._last = now
            self._task = loop.create_task(self._prune(database_url))
        except Exception as exc:
            _logger.warning("activity retention not started (%s)", type(exc).__name__)

    async def _prune(self, database_url: str) -> None:
        with suppress_instrumentation():
            engine = create_engine(database_url)
            try:
                result = await prune(engine, self.older_than)
                if result.total:
                    _logger.info("activity retention deleted %d rows", result.total)
            except Exception as exc:
                _logger.warning(
                    "activity retention failed (%s); retrying later", type(exc).__name__
                )
            finally:
                await engine.dispose()
