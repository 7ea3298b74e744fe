"""Activities as JSON Lines or CSV: the stored rows, for a spreadsheet or another tool.

JSON Lines holds each row exactly as ``--json`` does (one object a line). CSV has one
column per stored column of any type (``activity_type`` first, then the common columns,
then each type's own), ``metadata`` and lists as JSON, and guards against spreadsheet
formulas: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
gets a leading ``'`` (OWASP's advice for CSV injection), so opening an exported command
in a spreadsheet cannot run it. JSON Lines is the exact form.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any, Literal, TextIO

from autobot_activity_exporters.models import ACTIVITY_TABLES
from autobot_activity_exporters.records import AnyActivity

Format = Literal["jsonl", "csv"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
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
            out.write(json.dumps(record.as_row(), default=str, ensure_ascii=False) + "\n")
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
        text = json.dumps(value, default=str, ensure_ascii=False)
    else:
        text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text
