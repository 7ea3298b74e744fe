"""The journal: activities are appended to local segment files first, then shipped.

See docs/reliability.md. ``Journal`` is the whole of it; ``Destination`` is what it ships
to (``DatabaseDestination``, or ``OtlpDestination`` for the ingest service). Names
are imported on first use (PEP 562): the span-reading module imports ``journal.format``
alone, and the row builder it serves must not be imported by that.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autobot_activity_exporters.journal.destination import (
        DatabaseDestination,
        Destination,
        Refusal,
        Rejected,
    )
    from autobot_activity_exporters.journal.directory import JournalDirectory, JournalStatus
    from autobot_activity_exporters.journal.journal import (
        OVERFLOW_POLICIES,
        Journal,
        Overflow,
    )
    from autobot_activity_exporters.journal.otlp_destination import OtlpDestination
    from autobot_activity_exporters.journal.writer import FSYNC_POLICIES, FsyncPolicy

_MODULES = {
    "DatabaseDestination": "destination",
    "Destination": "destination",
    "Refusal": "destination",
    "Rejected": "destination",
    "OtlpDestination": "otlp_destination",
    "JournalDirectory": "directory",
    "JournalStatus": "directory",
    "OVERFLOW_POLICIES": "journal",
    "Journal": "journal",
    "Overflow": "journal",
    "FSYNC_POLICIES": "writer",
    "FsyncPolicy": "writer",
}

__all__ = [
    "FSYNC_POLICIES",
    "OVERFLOW_POLICIES",
    "DatabaseDestination",
    "Destination",
    "FsyncPolicy",
    "Journal",
    "JournalDirectory",
    "JournalStatus",
    "OtlpDestination",
    "Overflow",
    "Refusal",
    "Rejected",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_MODULES[name]}"), name)
