"""Monthly partitions of the activity tables on PostgreSQL (migration 0012_partitions).

Each table is partitioned by range of ``timestamp``: ``<table>_pYYYYMM`` holds one UTC month,
``<table>_default`` whatever falls outside the months made so far. The database function
``autobot_activity_ensure_partitions(since, until)`` makes missing months (moving their
rows out of the default partition); ``db upgrade`` and the writers call it through
``ensure_partitions`` for the coming months, so rows land in their month, not the default.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from autobot_activity_exporters.models import TABLES

_logger = logging.getLogger(__name__)

NameType = Literal[
    "schema",
    "table",
    "column",
    "index",
    "unique_constraint",
    "foreign_key_constraint",
    "check_constraint",
]
"""What Alembic's ``include_name`` hook is asked about."""

MONTHS_AHEAD = 3
"""Months made ahead of the current one."""
ENSURE_FUNCTION = "autobot_activity_ensure_partitions"
PARTITION = re.compile(r"(?P<parent>\w+)_(?:p(?P<month>\d{6})|default)")
"""A partition's name: its parent's, then ``_pYYYYMM`` or ``_default``."""


def is_partition(name: str | None) -> bool:
    """Whether a table named ``name`` is a partition of one of the activity tables."""
    match = PARTITION.fullmatch(name or "")
    return match is not None and match["parent"] in TABLES


def include_name(name: str | None, type_: NameType, parent_names: MutableMapping[Any, Any]) -> bool:
    """Alembic's filter for comparing the schema with the models: partitions are the
    database's business, not tables of their own."""
    return not (type_ == "table" and is_partition(name))


async def ensure_partitions(engine: AsyncEngine, now: datetime | None = None) -> int:
    """Make the partitions of this month and the next ``MONTHS_AHEAD`` (PostgreSQL; else 0).

    Returns how many were made. A database without the function (not partitioned) gets 0.
    """
    if engine.dialect.name != "postgresql":
        return 0
    moment = now or datetime.now(UTC)
    async with engine.begin() as connection:
        exists = await connection.scalar(
            text("SELECT to_regprocedure(:signature) IS NOT NULL"),
            {"signature": f"{ENSURE_FUNCTION}(timestamptz, timestamptz)"},
        )
        if not exists:
            return 0
        made = await connection.scalar(
            text(
                f"SELECT {ENSURE_FUNCTION}(CAST(:since AS timestamptz),"
                f" CAST(:since AS timestamptz) + make_interval(months => :ahead))"
            ),
            {"since": moment, "ahead": MONTHS_AHEAD},
        )
    return int(made or 0)


class PartitionsAhead:
    """A writer's check that this month's partitions exist: once per process and month.

    ``ensure`` never raises: without the partitions rows go to the default partition,
    which loses nothing, so a failure is logged (by type) and tried again next month.
    """

    def __init__(self) -> None:
        self._done_for: str | None = None

    async def ensure(self, engine: AsyncEngine) -> None:
        month = datetime.now(UTC).strftime("%Y%m")
        if self._done_for == month or engine.dialect.name != "postgresql":
            return
        self._done_for = month
        try:
            await ensure_partitions(engine)
        except DBAPIError as exc:
            _logger.warning(
                "activity partitions for the coming months not made (%s): rows go to the"
                " default partition until `autobot-activity db upgrade` runs",
                type(exc.orig).__name__,
            )
