"""Terminal tables of activities and secret usage (Rich), fitted to a width or never cut.

A listing fitted to a terminal keeps every line within its width: long cells end in ``…``.
With no width (``--wide``, or output that is not a terminal) every cell is printed whole,
so a pipe or a file gets the complete text. Cells are always one line: runs of spaces fold
to one, line breaks and other control characters are shown escaped, so a stored command or
window title cannot move the cursor, recolour the reviewer's terminal or pass for another.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from autobot_activity_exporters.records import (
    Activity,
    AnyActivity,
    BrowserActivity,
    DesktopActivity,
    FileActivity,
    SecretUse,
    TerminalActivity,
)
from autobot_activity_otel.attributes import ActivityType

UNLIMITED = 1_000_000
"""The console width used when nothing may be cut (Rich needs some width)."""


@dataclass(frozen=True)
class Column:
    """One column of a listing: its header, how to read its cell, and how it may shrink."""

    header: str
    cell: Callable[[Any], object]
    fixed: bool = False
    """Short values (times, ids, codes) that are never cut."""
    always: bool = False
    """Shown even when no row has a value for it (else an empty column is left out)."""
    drop: int = 0
    """When the width is too small even for every column's minimum, the columns with the
    highest ``drop`` are left out first; 0 is never left out."""
    middle: bool = False
    """Cut in the middle, keeping both ends (a path's file name, a URL's host and page)."""
    least: int = 8
    """The narrowest it may be cut to (its header's width if that is more)."""
    merge: bool = False
    """When left out for want of width, its text is appended to the column before it
    (``a · b``, each cut in the middle to its share) instead of being lost."""


def one_line(value: object) -> str:
    """A value as one printable line ("-" for nothing): runs of spaces and tabs fold to one
    space, but line breaks and other control characters are shown escaped (``\\n``,
    ``\\x1b``, ``\\u202e``), so ``cat a\\nrm b`` cannot pass for one ``cat`` of three files."""
    if value is None or value == "":
        return "-"
    text = _FOLDED.sub(" ", str(value)).strip()
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escaped(char) for char in text)


_FOLDED = re.compile(r"[^\S\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")
"""Whitespace that does not break a line (isprintable() is False for every other control,
format and separator character: C0, C1, bidi overrides, zero-width characters)."""
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r"}


def _escaped(char: str) -> str:
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


GAP = 2
"""Characters between two columns (padding and the rule's gap)."""


def render(rows: Sequence[Any], columns: Sequence[Column], width: int | None) -> str:
    """Rows as a table no wider than ``width``; with ``None``, at the width of its content."""
    if not rows:
        return "(none)"
    cells = [[one_line(column.cell(row)) for column in columns] for row in rows]
    shown, widths = fit(columns, cells, width)
    width_of = dict(zip(shown, widths, strict=True))
    merged = {
        index - 1: index
        for index, column in enumerate(columns)
        if column.merge and index not in width_of and index - 1 in width_of
    }
    table = Table(
        box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False, expand=False
    )
    for index in shown:
        table.add_column(
            columns[index].header,
            width=width_of[index],
            no_wrap=True,
            overflow="ellipsis",
            header_style="bold",
        )
    for line in cells:
        texts = []
        for index in shown:
            text, room = line[index], width_of[index]
            if index in merged and line[merged[index]] not in ("-", DITTO):
                text = _joined(text, line[merged[index]], room)
            elif columns[index].middle:
                text = shorten(text, room)
            texts.append(Text(text))
        table.add_row(*texts)
    return print_to_text(table, width)


def _joined(text: str, extra: str, width: int) -> str:
    """``text · extra`` in ``width``: each cut in the middle, the first keeping 3/5."""
    if len(text) + 3 + len(extra) <= width:
        return f"{text} · {extra}"
    first = max(width * 3 // 5, width - 3 - len(extra))
    return f"{shorten(text, first)} · {shorten(extra, max(width - 3 - first, 1))}"


def shorten(text: str, width: int) -> str:
    """``text`` cut in the middle to ``width`` characters: a third of the head, the tail."""
    if len(text) <= width:
        return text
    head = (width - 1) // 3
    return f"{text[:head]}…{text[len(text) - (width - 1 - head) :]}"


def fit(
    columns: Sequence[Column], cells: Sequence[Sequence[str]], width: int | None
) -> tuple[list[int], list[int]]:
    """Which columns to show and how wide: every cell whole when ``width`` is None or
    allows it; else fixed columns whole, the others sharing what is left (each at least
    its ``least``), leaving out columns by their ``drop`` order until that fits."""
    natural = [
        max(len(column.header), *(len(line[index]) for line in cells))
        for index, column in enumerate(columns)
    ]
    shown = list(range(len(columns)))
    if width is None:
        return shown, [natural[index] for index in shown]
    while True:
        minimum = [
            natural[i] if columns[i].fixed else min(natural[i], _least(columns[i])) for i in shown
        ]
        room = width - GAP * (len(shown) - 1)
        droppable = [i for i in shown if columns[i].drop]
        if sum(minimum) <= room or not droppable:
            break
        shown.remove(max(droppable, key=lambda i: columns[i].drop))
    widths = {i: natural[i] for i in shown if columns[i].fixed}
    flexible = sorted((i for i in shown if not columns[i].fixed), key=lambda i: natural[i])
    left = room - sum(widths.values())
    for position, index in enumerate(flexible):  # narrowest first: each takes its fair share
        share = max(left // (len(flexible) - position), _least(columns[index]))
        widths[index] = min(natural[index], share)
        left -= widths[index]
    return shown, [widths[i] for i in shown]


def _least(column: Column) -> int:
    return max(column.least, len(column.header))


def print_to_text(renderable: Any, width: int | None) -> str:
    """What Rich prints for ``renderable`` at ``width`` (unlimited for None), without colour."""
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width or UNLIMITED,
        color_system=None,
        force_terminal=False,
        highlight=False,
        emoji=False,
        markup=False,
    )
    console.print(renderable, crop=width is not None, soft_wrap=width is None)
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").split("\n"))


# --- what each type of activity shows -------------------------------------------------


@dataclass(frozen=True)
class TypeCells:
    """Per activity type: a result (exit code, status, size), a target and a detail."""

    headers: tuple[str, str, str]
    cells: Callable[[Any], tuple[object, object, object]]


def _terminal(record: TerminalActivity) -> tuple[object, object, object]:
    return record.exit_code, record.command, record.working_directory


def _file(record: FileActivity) -> tuple[object, object, object]:
    return record.size_bytes, record.path, record.new_path and f"-> {record.new_path}"


def _browser(record: BrowserActivity) -> tuple[object, object, object]:
    typed = f" = {record.input_value}" if record.input_value is not None else ""
    return record.status, record.url, f"{record.selector or ''}{typed}" or None


def _desktop(record: DesktopActivity) -> tuple[object, object, object]:
    at = ",".join(map(str, record.coordinates)) if record.coordinates else None
    typed = f"typed {record.input_text}" if record.input_text is not None else None
    return at, record.window_title, typed or record.screenshot_path


TYPE_CELLS: Mapping[ActivityType, TypeCells] = {
    ActivityType.TERMINAL: TypeCells(("exit", "command", "cwd"), _terminal),
    ActivityType.FILE: TypeCells(("size", "path", "new path"), _file),
    ActivityType.BROWSER: TypeCells(("status", "url", "selector"), _browser),
    ActivityType.DESKTOP: TypeCells(("at", "window", "typed or saved"), _desktop),
}
MIXED_HEADERS = ("result", "target", "detail")
"""Headers when a listing mixes types: the result is a command's exit code, a page's HTTP
status, a file's size or a desktop action's coordinates; the target is the command, URL,
path or window; the detail the working directory, selector (and typed value), new path, or
typed text (or screenshot path)."""


DITTO = "″"
"""Shown for a working directory that is the one of the command listed before."""


def _typed(index: int, repeated: set[Any]) -> Callable[[Activity], object]:
    def cell(record: Activity) -> object:
        value = TYPE_CELLS[record.type].cells(record)[index]
        return DITTO if record.id in repeated and value else value

    return cell


def _repeated_directories(records: Sequence[AnyActivity]) -> set[Any]:
    """Commands run in the same directory as the command listed before them."""
    repeated, before = set(), None
    for record in records:
        if isinstance(record, TerminalActivity):
            if record.working_directory is not None and record.working_directory == before:
                repeated.add(record.id)
            before = record.working_directory
    return repeated


def timestamp(record: Activity | SecretUse) -> str:
    return record.timestamp.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def clock(record: Activity) -> str:
    return record.timestamp.strftime("%H:%M:%S.%f")[:-3]


def activity_columns(
    records: Sequence[AnyActivity],
    *,
    who: bool = True,
    secret_counts: Mapping[Any, int] | None = None,
) -> list[Column]:
    """The columns a listing of these records needs: only those with something to show.

    ``who`` adds user and session (a listing across sessions); ``secret_counts`` (activity
    id -> uses) replaces the count of declared secrets by the audit's count.
    """
    types = {record.type for record in records}
    headers = TYPE_CELLS[next(iter(types))].headers if len(types) == 1 else MIXED_HEADERS
    # a clock time alone only within one day: a start sent a year back must show its date
    dated = who or len({record.timestamp.date() for record in records}) > 1
    columns = [Column("time (UTC)" if who else "time", timestamp if dated else clock, True, True)]
    columns.append(Column("type", lambda record: record.type.value, True, True))
    if who:
        columns += [
            Column("user", lambda record: record.user_id, drop=2, least=9),
            Column("session", lambda record: record.session_id, drop=3),
        ]
    columns.append(Column("action", lambda record: record.action, True, True))
    repeated = _repeated_directories(records)
    result, target, detail = (
        Column(header, _typed(i, repeated if i == 2 else set())) for i, header in enumerate(headers)
    )
    columns += [
        Column(result.header, result.cell, True),
        Column(target.header, target.cell, middle=True, least=20),
        Column(detail.header, detail.cell, drop=4, middle=True, least=16, merge=True),
    ]
    if who and ActivityType.TERMINAL in types:
        columns.append(Column("output", lambda record: getattr(record, "output", None), drop=5))
    if secret_counts is None:
        columns.append(Column("secrets", lambda record: len(record.secrets_used) or None, True))
    else:
        columns.append(Column("secrets", lambda record: secret_counts.get(record.id), True))
    return [column for column in columns if _shows_something(column, records)]


def _shows_something(column: Column, records: Sequence[Any]) -> bool:
    return column.always or any(column.cell(record) not in (None, "") for record in records)


def secret_columns(activities: Mapping[Any, AnyActivity]) -> list[Column]:
    """The secret-usage audit, each use with its session and what its activity was."""

    def activity(use: SecretUse) -> str:
        found = activities.get(use.activity_id)
        return found.summary() if found else f"{use.activity_type.value} {use.activity_id}"

    return [
        Column("time (UTC)", timestamp, True),
        Column("user", lambda use: use.user_id, True, drop=4),
        Column("session", lambda use: use.session_id),
        Column("rule", lambda use: use.rule, True),
        Column("secret id", lambda use: use.secret_id, True, drop=2),
        Column("in", lambda use: use.found_in, drop=5),
        Column("granted", lambda use: "yes" if use.access_granted else "DENIED", True),
        Column("activity", activity),
        Column("activity id", lambda use: use.activity_id, True, drop=3),
        Column("fingerprint", lambda use: (use.fingerprint or "")[:16] or None, True, drop=6),
    ]


def as_json(records: Sequence[Activity | SecretUse]) -> str:
    """The stored rows as JSON (UUIDs and times as strings): the shape ``--json`` keeps."""
    return json.dumps([record.as_row() for record in records], default=str, indent=2)
