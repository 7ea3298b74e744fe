"""What an audited agent records cannot make its reviewer see something else than was stored.

The agent controls its commands, window titles and output; these tests store hostile ones
through the real pipeline and read them back through the views a reviewer uses.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from support.cli import cli, cli_in_terminal
from support.hostile import BACK, FORMULAS, TERMINAL_TRICKS, store_dated_back, store_hostile

if TYPE_CHECKING:
    from support.database import ActivityDB
    from support.spans import SpanCapture


@pytest.mark.parametrize("command", ["session", "activities"])
def test_a_stored_control_sequence_reaches_the_terminal_escaped(
    activity_db: ActivityDB, spans: SpanCapture, command: str
) -> None:
    session_id = store_hostile(activity_db, spans, TERMINAL_TRICKS)
    args = [session_id] if command == "session" else ["--session", session_id, "--wide"]
    status, received = cli_in_terminal(
        command, *args, "--database-url", activity_db.url, columns=400
    )
    assert status == 0, received[-2000:]
    controls = [c for c in received if c != "\n" and (not c.isprintable() or c == "\x9b")]
    assert controls == []  # no ESC, BEL, CR, BS, CSI, bidi override or zero-width char
    assert r"ok\x1b[2K\r\x1b[1Afake row" in received
    assert r"over\rwritten back\x08\x08\x08space" in received
    assert r"invoice\u202efdp.exe \u2066x\u2069 zero\u200bwidth\ufeff" in received
    assert r"cat notes.txt\nrm -rf ./gone" in received  # two commands, not one cat


def test_jsonl_reaches_no_terminal_raw_and_keeps_every_character(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    session_id = store_hostile(activity_db, spans, TERMINAL_TRICKS)
    done = cli("export", "--session", session_id, "--database-url", activity_db.url)
    assert done.returncode == 0, done.stderr
    assert all(" " <= c <= "~" for c in done.stdout.replace("\n", ""))
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(r["window_title"] for r in rows if r.get("window_title")) == sorted(
        TERMINAL_TRICKS
    )


def test_csv_quotes_every_cell_a_spreadsheet_could_run_and_no_number(
    activity_db: ActivityDB, spans: SpanCapture, tmp_path: Path
) -> None:
    session_id = store_hostile(activity_db, spans, FORMULAS)
    out = tmp_path / "session.csv"
    done = cli(
        "export", "--session", session_id, "--format", "csv", "-o", str(out),
        "--database-url", activity_db.url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with out.open(encoding="utf-8", newline="") as text:
        rows = list(csv.DictReader(text))
    titles = sorted(row["window_title"] for row in rows if row["window_title"])
    assert titles == sorted(f"'{formula}" for formula in FORMULAS)
    killed = next(row for row in rows if row["command"].endswith("kill -9 $$'"))
    assert killed["exit_code"] == "-9"  # a number, not the text "'-9"


def test_the_session_view_shows_the_date_when_a_session_spans_days(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    """A start sent 400 days back would otherwise read as a clock time like the others."""
    session_id = store_dated_back(activity_db, spans)
    done = cli("session", session_id, "--database-url", activity_db.url)
    assert done.returncode == 0, done.stderr
    title, *_, old, new = done.stdout.rstrip("\n").split("\n")
    today = datetime.now(UTC).date()
    assert old.split()[0] == (today - BACK).isoformat()  # not a bare clock time
    assert new.split()[0] == today.isoformat()
    assert f" to {today.isoformat()} " in title


def test_csv_is_not_written_raw_to_a_terminal(activity_db: ActivityDB, spans: SpanCapture) -> None:
    session_id = store_hostile(activity_db, spans, TERMINAL_TRICKS)
    status, received = cli_in_terminal(
        "export", "--session", session_id, "--format", "csv", "--database-url", activity_db.url,
        columns=200,
    )  # fmt: skip
    assert status == 1
    assert "\x1b" not in received and "window_title" not in received
