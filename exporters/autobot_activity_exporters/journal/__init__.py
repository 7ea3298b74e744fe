"""The journal: activities are appended to local segment files first, then shipped.

See docs/reliability.md. ``Journal`` is the whole of it; ``Destination`` is what it ships
to (``DatabaseDestination`` here; the OTLP destination implements the same protocol).
"""

from autobot_activity_exporters.journal.destination import (
    DatabaseDestination,
    Destination,
    Refusal,
)
from autobot_activity_exporters.journal.directory import JournalDirectory, JournalStatus
from autobot_activity_exporters.journal.journal import OVERFLOW_POLICIES, Journal, Overflow
from autobot_activity_exporters.journal.writer import FSYNC_POLICIES, FsyncPolicy

__all__ = [
    "FSYNC_POLICIES",
    "OVERFLOW_POLICIES",
    "DatabaseDestination",
    "Destination",
    "FsyncPolicy",
    "Journal",
    "JournalDirectory",
    "JournalStatus",
    "Overflow",
    "Refusal",
]
