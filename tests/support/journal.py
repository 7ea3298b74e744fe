"""What a test left in journals: pending records and quarantine entries, and the counters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from autobot_activity_exporters.journal import JournalDirectory
from autobot_activity_exporters.journal.directory import QUARANTINE, SEGMENT_SUFFIX


def journal_folders(root: Path) -> Iterator[Path]:
    """Every folder under ``root`` holding journal segments or a quarantine."""
    seen: set[Path] = set()
    for path in root.rglob(f"*{SEGMENT_SUFFIX}"):
        seen.add(path.parent)
    for path in root.rglob(QUARANTINE):
        if path.is_dir():
            seen.add(path.parent)
    yield from sorted(seen)


def leftovers(root: Path) -> list[str]:
    """One line per journal under ``root`` that still holds pending or quarantined records."""
    found = []
    for folder in journal_folders(root):
        status = JournalDirectory(folder).status()
        if status.pending:
            found.append(f"{status.pending} activities still pending in the journal at {folder}")
        if status.quarantined:
            found.append(f"{status.quarantined} entries in the quarantine of {folder}")
    return found


def counters(reader: InMemoryMetricReader) -> dict[tuple[str, str], int]:
    """``(metric, reason) -> value`` of the journal's counters read through ``reader``."""
    values: dict[tuple[str, str], int] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if not metric.name.startswith("autobot_activity."):
                    continue
                for point in metric.data.data_points:  # type: ignore[union-attr]
                    key = (metric.name, str(point.attributes.get("reason", "")))
                    values[key] = values.get(key, 0) + int(point.value)
    return values
