"""Direct writes through the caller's own session: the seed functions' ``db=`` parameter.

The same activity also reaches the database through the span exporter; both writes insert
the same client-generated ids and ignore duplicates, so whichever comes second changes
nothing.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.ext.asyncio import AsyncSession

from autobot_activity_exporters.rows import rows_from_activity
from autobot_activity_exporters.writer import group_by_table, insert_ignoring_duplicates
from autobot_activity_otel.recording import ActivityRecord
from autobot_activity_otel.snapshot import ActivitySnapshot

_logger = logging.getLogger(__name__)


async def write_record(session: AsyncSession, record: ActivityRecord) -> None:
    """Insert the record's rows through ``session`` inside a SAVEPOINT; never raises.

    The caller's transaction is neither committed nor poisoned: a failed insert (tables
    missing, constraint, connection) rolls back to the savepoint and is logged by exception
    type; committing stays the caller's business. On SQLite with SQLAlchemy's default
    pysqlite/aiosqlite set-up the driver begins no transaction of its own, so the SAVEPOINT
    opens one and releasing it commits the row whatever the caller does next (SQLAlchemy's
    SQLite docs give the ``begin`` event recipe that makes SAVEPOINTs nest properly).
    """
    try:
        context = record.span.get_span_context()
        activity = ActivitySnapshot(
            name=record.name,
            trace_id=context.trace_id,
            span_id=context.span_id,
            start_ns=record.start_ns,
            end_ns=record.end_ns or time.time_ns(),
            attributes=record.attributes,
        )
        rows = rows_from_activity(activity, strict=False)
        if rows is None:
            return
        async with session.begin_nested():
            connection = await session.connection()
            for table, table_rows in group_by_table([rows]).items():
                statement = insert_ignoring_duplicates(table, connection.dialect.name)
                await connection.execute(statement, table_rows)
    except Exception as exc:
        _logger.warning("direct activity write failed (%s)", type(exc).__name__)
