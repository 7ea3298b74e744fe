"""Activities as JSON Lines or CSV: the stored rows, for a spreadsheet or another tool.

JSON Lines holds each row exactly as ``--json`` does (one object a line, every character
past ASCII as its ``\\uXXXX`` escape, so a stored control sequence reaches no terminal).
CSV has one column per stored column of any type (``activity_type`` first, then the common
columns, then each type's own), ``metadata`` and lists as JSON, and guards against
spreadsheet formulas: a text cell whose first character past any whitespace or control
characters is ``=``, ``+``, ``-`` or ``@`` (or that starts with a tab or carriage return)
gets a leading ``'`` (OWASP's advice for CSV injection), so opening an exported command in
a spreadsheet cannot run it; a stored number (an exit code of -9) is written as it is.
JSON Lines is the exact form.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any, Literal, TextIO

from autobot_activity_exporters.models import ACTIVITY_TABLES
from autobot_activity_exporters.records import AnyActivity

Format = Literal["jsonl", "csv"]
FORMULA_SIGNS = frozenset("=+-@")
CSV_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            "activity_type",
            *(column.key for table in ACTIVITY_TABLES.values() for column in table.columns),
        ]
    )
)
"""``activity_type``, then every column of the four tables once, in table order."""


def write(records: Iterable[AnyActivity], out: TextIO, export_format: Format) -> int:
    """Write the records to ``out``; returns how many."""
    if export_format == "jsonl":
        count = 0
        for record in records:
            out.write(json.dumps(record.as_row(), default=str) + "\n")
            count += 1
        return count
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for line in _csv_lines(records):
        writer.writerow(line)
        count += 1
    return count


def _csv_lines(records: Iterable[AnyActivity]) -> Iterator[list[str]]:
    for record in records:
        row = record.as_row()
        yield [_csv_cell(row.get(column)) for column in CSV_COLUMNS]


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str, ensure_ascii=False)
    text = str(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return text  # a number is no formula, and "-9" must stay a number
    return f"'{text}" if _runs_as_formula(text) else text


def _runs_as_formula(text: str) -> bool:
    """Whether a spreadsheet could take ``text`` for a formula: it starts with a tab or a
    carriage return, or its first character past blanks and controls is a formula sign
    (a spreadsheet may trim ``" =1+1"`` or ``"\\n=1+1"`` before it looks)."""
    if text.startswith(("\t", "\r")):
        return True
    lead = next((char for char in text if char.isprintable() and not char.isspace()), "")
    return lead in FORMULA_SIGNS
