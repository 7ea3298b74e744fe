"""The planted-secret sweep finds what it must, where it must, and never prints a value.

The sweep itself runs once, at the end of the run (``pytest_sessionfinish`` in conftest);
these tests prove its parts on values that are not planted, so they leave nothing to find.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
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


def test_a_short_code_counts_where_it_stands_alone_not_inside_a_run_of_hex(
    tmp_path: Path,
) -> None:
    """Six digits are somewhere in any few megabytes of digests, UUIDs and timestamps."""
    code = "480215"  # not a value any test plants: this file stays under the sweep
    (tmp_path / "digests.txt").write_text(
        f"manifest \\x9a{code}ff01 id 01a2{code}-0688 at 2026-12-01T12:52:01.{code}+00:00"
    )
    (tmp_path / "output.txt").write_text(f"your code is {code}.")
    (tmp_path / "row.json").write_text(json.dumps({"pin": code}))

    leaks = planted.find_leaks([tmp_path], [code])

    assert sorted(leaks) == [
        f"{tmp_path / 'output.txt'}: planted value #0",
        f"{tmp_path / 'row.json'}: planted value #0",
    ]


def test_a_case_check_reads_a_short_code_by_the_same_rule() -> None:
    """The adversarial corpus's per-case check: the same code inside digests, ids and a
    timestamp is chance; in an output or a JSON field it is a leak; a long value counts
    anywhere."""
    code = "480215"
    chance = f"manifest \\x9a{code}ff01 id 01a2{code}-0688 at 2026-12-01T12:52:01.{code}+00:00"
    assert not planted.found_in(chance, [code])
    assert planted.found_in(f"your code is {code}.", [code])
    assert planted.found_in(json.dumps({"pin": code}), [code])
    assert planted.found_in("ab01Long-Planted-Value-77ff", ["Long-Planted-Value-77"])


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


# --- the sweep end to end: a run of its own, with this suite's conftest ---

TESTS = Path(__file__).resolve().parent


def inner_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, test: str, *options: str
) -> Any:
    """Run ``test`` as a test session of its own with this suite's conftest (so its sweep)."""
    pytester.makeconftest((TESTS / "conftest.py").read_text())
    pytester.makepyfile(test_inner=test)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    )
    # the inner session's folder, kept when it fails (as these runs do on purpose), lies in
    # this test's own, removed with this session's: nothing is left in the system's /tmp
    inner_tmp = pytester.path / "tmp"
    inner_tmp.mkdir(exist_ok=True)
    monkeypatch.setenv("TMPDIR", str(inner_tmp))
    try:
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", *options, timeout=240)
    finally:  # the copy holds the suite's own test keys, which this session's sweep looks for
        (pytester.path / "conftest.py").unlink()


LEAKY = """
import pytest
from support.planted import plant
from autobot_activity_exporters.journal import DatabaseDestination, Journal
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.recording import ActivityRecord
from autobot_activity_otel.snapshot import ActivitySnapshot


def test_a_value_written_to_a_file(tmp_path):
    (tmp_path / "app.log").write_text("connecting with " + plant("inner-leak-Qx81-" + "file"))


@pytest.mark.leaves_journal
def test_a_value_left_in_the_journal(tmp_path):
    journal = Journal(DatabaseDestination("postgresql+asyncpg://u@127.0.0.1:1/x"),
                      directory=tmp_path / "journal", exit_timeout=0)
    record = ActivityRecord(attr.ActivityType.TERMINAL, "execute")
    record.set(attr.PROCESS_COMMAND_LINE, plant("inner-leak-Qx81-" + "journal"))  # unredacted
    record.end()
    assert journal.append(ActivitySnapshot(record.name, 1, 2, 1, 2, record.attributes))
    journal.close(0)
"""


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one process", "xdist workers"])
def test_the_sweep_fails_a_run_that_leaks_to_a_file_or_the_journal(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: tuple[str, ...]
) -> None:
    """Under pytest-xdist the values are planted, and swept, in the workers."""
    result = inner_run(pytester, monkeypatch, LEAKY, *workers)
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    assert "2 passed" in output and "planted-secret sweep: secret values found" in output
    assert "app.log: planted value #" in output
    assert "journal/" in output and ".seg: planted value #" in output
    assert "inner-leak-Qx81" not in output, "the sweep printed a value"


def test_the_sweep_passes_a_clean_run_and_fails_one_it_could_not_archive(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = inner_run(
        pytester,
        monkeypatch,
        "from support.planted import plant\n"
        "def test_clean(tmp_path):\n"
        "    (tmp_path / 'app.log').write_text('nothing to see ' + plant('inner-kept-Zz71-x'))\n"
        "    (tmp_path / 'app.log').unlink()\n",
    )
    assert clean.ret == pytest.ExitCode.OK, clean.stdout.str()[-3000:]
    blind = inner_run(
        pytester,
        monkeypatch,
        "from support.planted import archive_database\n"
        "def test_archive():\n"
        "    archive_database('postgresql+asyncpg://postgres:pw@127.0.0.1:1/nowhere')\n",
    )
    output = blind.stdout.str()
    assert blind.ret == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    assert "databases that could not be archived" in output
    assert "127.0.0.1:1/nowhere: " in output and ":pw@" not in output
