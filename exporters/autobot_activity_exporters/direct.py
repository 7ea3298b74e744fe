"""Direct writes through the caller's own session: the explicit tracking functions' ``db=``.

The same activity also reaches the database through the span exporter; both writes insert
the same client-generated ids and ignore duplicates, so whichever comes second changes
nothing. The instrumentation package only declares the hook (``autobot_activity_otel.direct``);
``register()`` installs this writer, and the exporter calls it when it is built.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from autobot_activity_exporters.rows import rows_from_activity
from autobot_activity_exporters.writer import write_batch
from autobot_activity_otel.direct import set_direct_writer
from autobot_activity_otel.snapshot import ActivitySnapshot

_logger = logging.getLogger(__name__)


class SessionWriter:
    """Writes a finished activity's rows through the caller's ``AsyncSession``."""

    async def write(self, session: AsyncSession, activity: ActivitySnapshot) -> None:
        """Insert the activity's rows inside a SAVEPOINT, with the exporter's batch writer;
        never raises.

        The caller's transaction is neither committed nor poisoned: a failed insert (tables
        missing, constraint, connection) rolls back to the savepoint and is logged by
        exception type; committing stays the caller's business. On SQLite with SQLAlchemy's
        default pysqlite/aiosqlite set-up the driver begins no transaction of its own, so the
        SAVEPOINT opens one and releasing it commits the row whatever the caller does next
        (SQLAlchemy's SQLite docs give the ``begin`` event recipe that makes SAVEPOINTs nest
        properly).
        """
        try:
            rows = rows_from_activity(activity, strict=False)
            if rows is None:
                return
            async with session.begin_nested():
                await write_batch(await session.connection(), [rows])
        except Exception as exc:
            _logger.warning("direct activity write failed (%s)", type(exc).__name__)


SESSION_WRITER = SessionWriter()


def register() -> None:
    """Make ``db=`` write through the caller's session from now on (idempotent)."""
    set_direct_writer(SESSION_WRITER)
