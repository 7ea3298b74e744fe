"""Plain-text tables of activities and secret usage, for the CLI and the demo."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rows.py loads the SDK, which a report does not need
    from autobot_activity_exporters.rows import Row
MAX_CELL = 72


def _time(row: Row) -> str:
    return str(row["timestamp"].strftime("%Y-%m-%d %H:%M:%S.%f"))[:-3]


def _what(row: Row) -> Any:
    kind = row.get("activity_type")
    if kind == "terminal":
        return row.get("command")
    if kind == "file":
        moved = f" -> {row['new_path']}" if row.get("new_path") else ""
        return f"{row.get('operation')} {row.get('path') or ''}{moved}"
    if kind == "browser":
        return f"{row.get('action')} {row.get('url') or ''}"
    return f"{row.get('action')} {row.get('window_title') or row.get('coordinates') or ''}"


ACTIVITY_COLUMNS: Sequence[tuple[str, Callable[[Row], Any]]] = (
    ("time (UTC)", _time),
    ("type", lambda row: row["activity_type"]),
    ("user", lambda row: row["user_id"]),
    ("session", lambda row: row["session_id"]),
    ("what", _what),
    ("exit", lambda row: row.get("exit_code")),
    ("output", lambda row: row.get("output")),
    ("secrets", lambda row: len(row.get("secrets_used") or ()) or None),
)
SECRET_COLUMNS: Sequence[tuple[str, Callable[[Row], Any]]] = (
    ("time (UTC)", _time),
    ("activity", lambda row: f"{row['activity_type']} {row['activity_id']}"),
    ("user", lambda row: row["user_id"]),
    ("rule", lambda row: row["rule"]),
    ("secret id", lambda row: row["secret_id"]),
    ("in", lambda row: (row.get("metadata") or {}).get("field")),
    ("fingerprint", lambda row: (row["fingerprint"] or "")[:16] or None),
    ("granted", lambda row: row["access_granted"]),
)


def _cell(value: Any) -> str:
    text = "-" if value is None else " ".join(str(value).split())
    return text if len(text) <= MAX_CELL else f"{text[: MAX_CELL - 1]}…"


def table(rows: Sequence[Row], columns: Sequence[tuple[str, Callable[[Row], Any]]]) -> str:
    """Rows as an aligned text table; long or multi-line values are folded into one line."""
    if not rows:
        return "(none)"
    cells = [[name for name, _ in columns]]
    cells += [[_cell(get(row)) for _, get in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True))
        for line in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def as_json(rows: Sequence[Row]) -> str:
    return json.dumps(list(rows), default=str, indent=2)
