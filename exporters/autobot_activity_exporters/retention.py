"""Retention: delete activities older than a cut-off, with their secret-usage rows, together.

``prune`` runs in one transaction as the system viewer (on PostgreSQL with forced row-level
security that is what lets the tables' owner delete). Each activity table's old rows and the
secret-usage rows that point at them go in one statement on PostgreSQL (a data-modifying
CTE: both deletes see one snapshot, so a batch committed meanwhile is either wholly kept or
wholly gone); on SQLite the first delete takes the database's write lock, which keeps
writers out until the commit. Old secret-usage rows go too, so none is ever left without
its activity. ``RetentionSchedule`` runs it from the exporter's event loop, at most hourly.
The same transaction records the pruning for the tamper-evident chain (signed; whole old
batches' entries go): ``integrity.pruning``, docs/integrity.md.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import ColumnElement, Table, delete, func, literal, or_, select
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


async def prune(
    engine: AsyncEngine, older_than: timedelta, *, dry_run: bool = False
) -> PruneResult:
    """Delete everything recorded before ``now - older_than`` (one transaction).

    With ``dry_run`` nothing is deleted: the result counts what would be.
    """
    if older_than <= timedelta(0):
        raise ValueError("the retention period must be positive")
    cutoff = datetime.now(UTC) - older_than
    async with engine.begin() as connection:
        await apply_viewer(connection, Viewer.system())
        if dry_run:
            deleted = await _count(connection, cutoff)
        else:
            deleted = await _delete(connection, cutoff)
            await record_pruning(connection, cutoff)
    return PruneResult(cutoff, deleted, dry_run)


def _old(table: Table, cutoff: datetime) -> ColumnElement[bool]:
    return table.c.timestamp < cutoff


def _linked(table: Table, kind: str, cutoff: datetime) -> ColumnElement[bool]:
    """Secret usage pointing at an old row of one activity table."""
    old_ids = select(table.c.id).where(_old(table, cutoff))
    return (SECRET_USAGE.c.activity_type == kind) & SECRET_USAGE.c.activity_id.in_(old_ids)


async def _count(connection: AsyncConnection, cutoff: datetime) -> dict[str, int]:
    counts = {
        table.name: await connection.scalar(select(func.count()).where(_old(table, cutoff))) or 0
        for table in ACTIVITY_TABLES.values()
    }
    usage = or_(
        _old(SECRET_USAGE, cutoff),
        *(_linked(table, kind.value, cutoff) for kind, table in ACTIVITY_TABLES.items()),
    )
    counts[SECRET_USAGE.name] = await connection.scalar(select(func.count()).where(usage)) or 0
    return counts


async def _delete(connection: AsyncConnection, cutoff: datetime) -> dict[str, int]:
    deleted: dict[str, int] = {}
    usage = 0
    for kind, table in ACTIVITY_TABLES.items():
        deleted[table.name], linked = await _delete_with_usage(
            connection, table, kind.value, cutoff
        )
        usage += linked
    old_usage = await connection.execute(delete(SECRET_USAGE).where(_old(SECRET_USAGE, cutoff)))
    deleted[SECRET_USAGE.name] = usage + old_usage.rowcount
    return deleted


async def _delete_with_usage(
    connection: AsyncConnection, table: Table, kind: str, cutoff: datetime
) -> tuple[int, int]:
    """Delete one activity table's old rows and the secret usage linked to them."""
    if connection.dialect.name != "postgresql":
        usage = await connection.execute(delete(SECRET_USAGE).where(_linked(table, kind, cutoff)))
        rows = await connection.execute(delete(table).where(_old(table, cutoff)))
        return rows.rowcount, usage.rowcount
    gone = delete(table).where(_old(table, cutoff)).returning(table.c.id).cte("gone")
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
