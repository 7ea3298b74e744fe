"""What ``ActivityStore`` returns: one frozen record per activity type, and one per secret use.

Every activity record has the same common fields (``id``, ``type``, ``user_id``,
``session_id``, ``org_id``, ``team_id``, ``timestamp``, ``duration_ms``, ``trace_id``,
``span_id``, ``metadata``, ``secrets_used``), so code that reads a mixed list never has to
ask which table a row came from; ``secrets_used`` is empty on the types whose table has no
such column (file and desktop: their secret uses are in the ``secret_usage`` audit).
``as_row()`` gives back the row exactly as it is stored, keyed by column name (plus
``activity_type``): the shape of ``--json`` and ``export``.

These are read-only views of stored rows; ``models.TerminalActivity`` and its siblings are
the table mappings the writer and the migrations use.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from autobot_activity_exporters.models import ACTIVITY_TABLES, SECRET_USAGE
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.attributes import ActivityType

Row = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Activity:
    """The fields every activity has, whatever its type."""

    id: uuid.UUID
    type: ActivityType
    user_id: uuid.UUID | None
    session_id: str | None
    org_id: uuid.UUID | None
    team_id: uuid.UUID | None
    timestamp: datetime
    duration_ms: float | None
    trace_id: str | None
    span_id: str | None
    action: str
    """What was done (``execute``, ``read``, ``click``, …): a column of the browser and
    desktop tables, ``operation`` of the file table, kept in ``metadata`` for terminals."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    secrets_used: tuple[uuid.UUID, ...] = ()
    chain_id: uuid.UUID | None = None
    chain_sequence: int | None = None
    """The chain batch that wrote the row (docs/integrity.md); None when written by ``db=``."""

    @property
    def failed(self) -> bool:
        """A command that exited non-zero, a page that answered 400 or more, or an error."""
        return _errored(self)

    def summary(self) -> str:
        """One short line saying what this activity was (for listings of secret uses)."""
        return f"{self.type.value} {self.action or ''}".rstrip()

    def search_text(self) -> str:
        """The texts ``--grep`` and the report's search box look in, joined by newlines."""
        texts = (getattr(self, column) for column in SEARCHED_COLUMNS[self.type])
        return "\n".join(text for text in texts if text)

    def as_row(self) -> Row:
        """The stored row: ``activity_type`` and every column of its table, by column name."""
        row: Row = {"activity_type": self.type.value}
        for column in _COLUMNS[self.type]:
            value = getattr(self, column)
            row[column] = list(value) if isinstance(value, tuple) else value  # JSON arrays
        return row


@dataclass(frozen=True, slots=True, kw_only=True)
class TerminalActivity(Activity):
    command: str | None = None
    working_directory: str | None = None
    exit_code: int | None = None
    output: str | None = None

    @property
    def failed(self) -> bool:
        return bool(self.exit_code) or _errored(self)

    def summary(self) -> str:
        exit_code = "" if self.exit_code is None else f" (exit {self.exit_code})"
        return f"terminal: {self.command or '?'}{exit_code}"


@dataclass(frozen=True, slots=True, kw_only=True)
class FileActivity(Activity):
    operation: str = ""
    path: str | None = None
    new_path: str | None = None
    file_type: str | None = None
    size_bytes: int | None = None

    def summary(self) -> str:
        moved = f" -> {self.new_path}" if self.new_path else ""
        return f"file {self.operation}: {self.path or '?'}{moved}"


@dataclass(frozen=True, slots=True, kw_only=True)
class BrowserActivity(Activity):
    url: str | None = None
    selector: str | None = None
    input_value: str | None = None

    @property
    def status(self) -> int | None:
        """The HTTP status the page answered with, where the action loaded one."""
        status = self.metadata.get(attr.HTTP_RESPONSE_STATUS_CODE)
        return status if isinstance(status, int) else None

    @property
    def failed(self) -> bool:
        status = self.status
        return (status is not None and status >= 400) or _errored(self)

    def summary(self) -> str:
        target = " ".join(text for text in (self.selector, self.url) if text)
        return f"browser {self.action}: {target or '?'}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DesktopActivity(Activity):
    coordinates: tuple[int, ...] | None = None
    window_title: str | None = None
    input_text: str | None = None
    screenshot_path: str | None = None

    def summary(self) -> str:
        at = f" at {','.join(map(str, self.coordinates))}" if self.coordinates else ""
        window = f" in {self.window_title}" if self.window_title else ""
        return f"desktop {self.action}{at}{window}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretUse:
    """One row of the ``secret_usage`` audit: which secret, where, by which rule; no value."""

    id: uuid.UUID
    secret_id: uuid.UUID | None
    activity_type: ActivityType
    activity_id: uuid.UUID
    access_granted: bool
    denial_reason: str | None
    rule: str | None
    fingerprint: str | None
    user_id: uuid.UUID | None
    session_id: str | None
    org_id: uuid.UUID | None
    team_id: uuid.UUID | None
    timestamp: datetime
    duration_ms: float | None
    trace_id: str | None
    span_id: str | None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    chain_id: uuid.UUID | None = None
    chain_sequence: int | None = None

    @property
    def found_in(self) -> str | None:
        """The attribute whose value held the secret (``None`` for a declared secret)."""
        found = self.metadata.get("field")
        return found if isinstance(found, str) else None

    def as_row(self) -> Row:
        """The stored row, keyed by column name (the shape of ``secrets --json``)."""
        row = {column.key: getattr(self, column.key) for column in SECRET_USAGE.columns}
        row["activity_type"] = self.activity_type.value
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SecretUse:
        values = dict(row)
        values["activity_type"] = ActivityType(values["activity_type"])
        values["metadata"] = values.get("metadata") or {}
        return cls(**values)


AnyActivity = TerminalActivity | FileActivity | BrowserActivity | DesktopActivity
"""Any of the four activity records."""
RECORD_TYPES: dict[ActivityType, type[AnyActivity]] = {
    ActivityType.TERMINAL: TerminalActivity,
    ActivityType.FILE: FileActivity,
    ActivityType.BROWSER: BrowserActivity,
    ActivityType.DESKTOP: DesktopActivity,
}
SEARCHED_COLUMNS: dict[ActivityType, tuple[str, ...]] = {
    ActivityType.TERMINAL: ("command",),
    ActivityType.FILE: ("path", "new_path"),
    ActivityType.BROWSER: ("url", "selector"),
    ActivityType.DESKTOP: ("window_title",),
}
"""Per type, the columns a text search looks in: command, paths, URL, selector, window."""
_COLUMNS: dict[ActivityType, tuple[str, ...]] = {
    kind: tuple(table.columns.keys()) for kind, table in ACTIVITY_TABLES.items()
}


def record_from_row(activity_type: ActivityType | str, row: Mapping[str, Any]) -> AnyActivity:
    """A row of ``activity_type``'s table (keyed by column name) as its record; a column the
    row lacks (one the writer fills, for a row built but not stored yet) is None."""
    activity_type = ActivityType(activity_type)
    values: dict[str, Any] = {column: row.get(column) for column in _COLUMNS[activity_type]}
    values["metadata"] = values.get("metadata") or {}
    values["secrets_used"] = tuple(values.get("secrets_used") or ())
    if "action" not in values:
        values["action"] = (
            values.get("operation") or values["metadata"].get(attr.ACTIVITY_ACTION) or ""
        )
    if values.get("coordinates") is not None:
        values["coordinates"] = tuple(values["coordinates"])
    return RECORD_TYPES[activity_type](type=activity_type, **values)


def _errored(activity: Activity) -> bool:
    return activity.metadata.get(attr.ERROR_TYPE) is not None
