"""A session partly delivered: some activities stored, others still in an application's
journal folder (written by the journal's own segment writer, with no shipper running, so
they stay there until the test discards them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.sdk.trace.export import SpanExportResult

from autobot_activity_exporters.journal import JournalDirectory
from autobot_activity_exporters.journal.format import encode
from autobot_activity_exporters.journal.writer import SegmentWriter
from autobot_activity_exporters.spans import snapshot_of
from autobot_activity_otel import activity_context
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.recording import ActivityRecord, recording
from support.database import ActivityDB
from support.planted import plant
from support.spans import SpanCapture

WAITING_PASSWORD = plant("Waiting-planted-Pw-5521")


@dataclass(frozen=True)
class PartlyDelivered:
    session_id: str
    user_id: uuid.UUID
    journal: Path
    stored: tuple[uuid.UUID, ...]
    """Delivered (one of them is in the journal too: shipped, its cursor not yet moved)."""
    waiting: uuid.UUID
    """The user's command with a password, in the journal only."""
    other_user: uuid.UUID
    """Another user's activity in the same session, in the journal only."""


def _command(command: str) -> ActivityRecord:
    with recording(ActivityType.TERMINAL, "execute") as record:
        record.set_text(attr.PROCESS_COMMAND_LINE, command, "command")
        record.set(attr.PROCESS_EXIT_CODE, 0)
    return record


@contextmanager
def partly_delivered(
    activity_db: ActivityDB, spans: SpanCapture, journal: Path
) -> Iterator[PartlyDelivered]:
    """Record the session, deliver its first two activities, journal the rest; the journal
    is discarded afterwards."""
    session_id, user_id = f"partly-{uuid.uuid4().hex[:8]}", uuid.uuid4()
    with activity_context(user_id=user_id, session_id=session_id):
        first = _command("echo delivered")
        second = _command("echo delivered and still journaled")
        waiting = _command(f"mysql -p{WAITING_PASSWORD} shop")
    with activity_context(user_id=uuid.uuid4(), session_id=session_id):
        other_user = _command("echo another user")
    with activity_context(user_id=user_id, session_id="another-session"):
        elsewhere = _command("echo another session")
    recorded = {str((span.attributes or {})[attr.ACTIVITY_ID]): span for span in spans.activities()}
    delivered = [recorded[str(record.activity_id)] for record in (first, second)]
    journaled = [recorded[str(r.activity_id)] for r in (second, waiting, other_user, elsewhere)]
    assert activity_db.export(delivered) is SpanExportResult.SUCCESS
    journal.mkdir(mode=0o700)
    writer = SegmentWriter(JournalDirectory(journal))
    try:
        for span in journaled:
            writer.append(encode(snapshot_of(span)))
    finally:
        writer.close()
    try:
        yield PartlyDelivered(
            session_id,
            user_id,
            journal,
            (first.activity_id, second.activity_id),
            waiting.activity_id,
            other_user.activity_id,
        )
    finally:
        JournalDirectory(journal).discard()
