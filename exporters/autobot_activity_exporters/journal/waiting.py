"""The activities a journal folder still holds: every complete record not yet shipped."""

from __future__ import annotations

from collections.abc import Iterator

from autobot_activity_exporters.journal.directory import JournalDirectory, read_records
from autobot_activity_exporters.journal.format import Frame, decode
from autobot_activity_otel.snapshot import ActivitySnapshot

_BATCH = 1024


def waiting_snapshots(directory: JournalDirectory) -> Iterator[ActivitySnapshot]:
    """The records past each segment's cursor, oldest segment first.

    Reads only: a record being shipped meanwhile may be read as waiting and be in the
    database a moment later (the reader keeps the database's copy); a segment deleted under
    the reader ends its part of the scan; damaged bytes and undecodable records are skipped
    (``journal status`` and the drainer report them).
    """
    for segment in directory.segments():
        try:
            final = segment.is_final()
            offset = segment.cursor()
            while True:
                found = read_records(segment, offset, final=final, limit=_BATCH)
                for item in found.items:
                    if isinstance(item, Frame):
                        try:
                            yield decode(item.payload)
                        except ValueError:
                            continue
                if found.stop <= offset:
                    break
                offset = found.stop
        except FileNotFoundError:
            continue
