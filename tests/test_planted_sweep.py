"""The planted-secret sweep finds what it must, where it must, and never prints a value.

The sweep itself runs once, at the end of the run (``pytest_sessionfinish`` in conftest);
these tests prove its parts on values that are not planted, so they leave nothing to find.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace.export import SpanExportResult
from support import planted

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.recording import ActivityRecord
from autobot_activity_otel.secrets import registered_secret

if TYPE_CHECKING:
    from support.database import ActivityDB
    from support.spans import SpanCapture


def marker() -> str:
    return f"sweep-probe-{secrets.token_hex(8)}"


def test_a_value_is_found_raw_escaped_and_across_chunks_and_never_printed(
    tmp_path: Path,
) -> None:
    raw, escaped, split, absent = marker(), f'quote"{marker()}', marker(), marker()
    (tmp_path / "log.txt").write_text(f"line with {raw} in it")
    (tmp_path / "spool.json").write_text(json.dumps({"field": escaped}))
    boundary = planted._CHUNK - len(split) // 2
    (tmp_path / "big.bin").write_bytes(b"\0" * boundary + split.encode() + b"\0" * 10)
    values = [raw, escaped, split, absent]

    leaks = planted.find_leaks([tmp_path], values)

    assert sorted(leaks) == sorted(
        [
            f"{tmp_path / 'log.txt'}: planted value #0",
            f"{tmp_path / 'spool.json'}: planted value #1",
            f"{tmp_path / 'big.bin'}: planted value #2",
        ]
    )
    assert not any(value in " ".join(leaks) for value in values)


def test_a_sqlite_database_is_archived_string_by_string(tmp_path: Path) -> None:
    """Rows are read back, not grepped: a long value can straddle SQLite's overflow pages."""
    long_value = marker() + "x" * 9000
    database = tmp_path / "a.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE t (body TEXT, doc TEXT)")
        connection.execute(
            "INSERT INTO t VALUES (?, ?)",
            (long_value, json.dumps({"k": ['say "hi" ' + long_value]})),
        )
    planted.archive_database(f"sqlite+aiosqlite:///{database}", tmp_path / "archive")
    assert planted.find_leaks([tmp_path / "archive"], [long_value, 'say "hi"']) == [
        f"{tmp_path / 'archive' / '00000-sqlite.txt'}: planted value #0",
        f"{tmp_path / 'archive' / '00000-sqlite.txt'}: planted value #1",
    ]


def test_every_table_of_the_test_database_is_archived(
    activity_db: ActivityDB, spans: SpanCapture, tmp_path: Path
) -> None:
    probe = marker()
    record = ActivityRecord(ActivityType.TERMINAL, "execute")
    record.set_text(attr.PROCESS_COMMAND_LINE, f"echo {probe}", "command")
    record.end()
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS
    planted.archive_database(activity_db.url, tmp_path / "archive")
    (archive,) = (tmp_path / "archive").iterdir()
    assert f"echo {probe}" in archive.read_text().splitlines()


def test_registered_values_join_the_sweep_and_short_or_repetitive_ones_do_not() -> None:
    distinctive, repetitive = marker(), "0000000000"
    with registered_secret(uuid.uuid4(), distinctive), registered_secret(uuid.uuid4(), repetitive):
        pass
    swept = planted.values()
    assert distinctive in swept and repetitive not in swept
    assert planted.sweepable("Sup3rS3cret-planted-pw") and not planted.sweepable("abc12")


def test_the_session_log_holds_the_projects_debug_records() -> None:
    probe = marker()
    logging.getLogger("autobot_activity_exporters.sweep_probe").debug("probe %s", probe)
    (handler,) = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.FileHandler) and handler.baseFilename.endswith("session.log")
    ]
    handler.flush()
    assert probe in Path(handler.baseFilename).read_text()
