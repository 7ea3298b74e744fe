"""Activities still waiting in this installation's journal, shown beside the stored ones.

Every activity is written to the journal first and to the database when the journal ships
it; until then a reviewer reading the database does not see it at all, and a missing
activity looks like one that never happened. ``JournalStatus`` reads the journal folder,
decodes the records not yet shipped, builds their rows exactly as the writer will (the
exporter's secret re-check included) and keeps those of the asked session that the viewer
may see, so the report and the ``session`` view list them, marked ``waiting in the
journal``. It is the journal's ``StatusSource``: for the activities it holds, it says so.

Which journal: the one this machine's exporters write to (``settings.journal_dir()``:
``AUTOBOT_ACTIVITY_JOURNAL_DIR``, else ``journal`` under the state folder), or the CLI's
``--journal-dir``. A journal holds what waits for its destination, whatever database the
reader is pointed at; the session id and the viewer's scope narrow what is shown. A folder
the reader may not open (the journal belongs to the application's account) is reported,
not an error: the report is then the database's alone.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from autobot_activity_exporters.journal.directory import JournalDirectory
from autobot_activity_exporters.journal.waiting import waiting_snapshots
from autobot_activity_exporters.records import AnyActivity, SecretUse, record_from_row
from autobot_activity_exporters.report import WAITING, ActivityStatus
from autobot_activity_exporters.rows import rows_from_activity
from autobot_activity_exporters.viewer import Viewer
from autobot_activity_otel import attributes as attr

_logger = logging.getLogger(__name__)


class JournalStatus:
    """What this installation's journal holds for a session (a ``report.StatusSource``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.unreadable: str | None = None
        """Why the journal could not be read, once ``waiting`` failed to (else None)."""
        self._waiting: set[uuid.UUID] = set()

    def waiting(
        self,
        viewer: Viewer,
        session_id: str,
        *,
        user_id: uuid.UUID | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[list[AnyActivity], list[SecretUse]]:
        """The session's activities (oldest first) and secret uses that wait in the journal
        and that ``viewer`` may see, with the filters ``ActivityStore`` applies."""
        user = None if user_id is None else uuid.UUID(str(user_id))
        activities: list[AnyActivity] = []
        usage: list[SecretUse] = []
        try:
            for snapshot in waiting_snapshots(JournalDirectory(self.directory)):
                if snapshot.attributes.get(attr.SESSION_ID) != session_id:
                    continue  # decode only the asked session's rows
                rows = rows_from_activity(snapshot, strict=False)
                if rows is None:
                    continue
                record = record_from_row(rows.activity_type, rows.activity)
                if not viewer.sees(record.user_id, record.org_id, record.team_id):
                    continue
                if user is not None and record.user_id != user:
                    continue
                if (since is not None and record.timestamp < since) or (
                    until is not None and record.timestamp >= until
                ):
                    continue
                activities.append(record)
                usage.extend(SecretUse.from_row(row) for row in rows.secret_usage)
        except OSError as exc:
            self.unreadable = f"{self.directory}: {exc.strerror or type(exc).__name__}"
            _logger.debug("journal not read (%s)", type(exc).__name__)
            return [], []
        activities.sort(key=lambda record: record.timestamp)
        usage.sort(key=lambda use: use.timestamp)
        self._waiting.update(record.id for record in activities)
        return activities, usage

    async def statuses(
        self, session_id: str, activities: Sequence[AnyActivity]
    ) -> Mapping[uuid.UUID, ActivityStatus]:
        """``waiting in the journal`` for the activities ``waiting`` found; nothing is known
        about their chain, which the database builds when it stores them."""
        waiting = ActivityStatus(delivery=WAITING, chain="not stored yet")
        return {a.id: waiting for a in activities if a.id in self._waiting}
