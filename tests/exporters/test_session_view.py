"""``autobot-activity session ID``: one line per activity, fitted to a real terminal's width."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from support.cli import cli, cli_in_terminal
from support.review_session import LONG_COMMAND_WORD, ReviewSession, record_review_session
from support.waiting import WAITING_PASSWORD, partly_delivered

if TYPE_CHECKING:
    from support.database import ActivityDB
    from support.spans import SpanCapture


@pytest.fixture
def review(activity_db: ActivityDB, spans: SpanCapture, tmp_path: Path) -> ReviewSession:
    """The review session without a browser (terminal, file and desktop), stored."""
    session = record_review_session(tmp_path)
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS
    return session


def activity_lines(output: str) -> list[str]:
    """The table's rows: the lines after the header's rule."""
    lines = output.rstrip("\n").split("\n")
    rule = next(i for i, line in enumerate(lines) if set(line) == {"─"})
    return lines[rule + 1 :]


@pytest.mark.parametrize("columns", [80, 200])
def test_every_line_fits_the_terminal_and_each_type_shows_its_columns(
    activity_db: ActivityDB, review: ReviewSession, columns: int
) -> None:
    status, output = cli_in_terminal(
        "session", review.session_id, "--database-url", activity_db.url, columns=columns
    )
    assert status == 0, output[-2000:]
    lines = output.rstrip("\n").split("\n")
    assert max(len(line) for line in lines) <= columns
    assert lines[0].startswith(f"session {review.session_id}: 14 activities")
    rows = activity_lines(output)
    assert len(rows) == 14
    types = [row.split()[1] for row in rows]
    assert types == ["terminal"] * 7 + ["file"] * 4 + ["desktop"] * 3  # oldest first
    assert all(row.split()[0].count(":") == 2 for row in rows)  # a clock time leads
    failed = next(row for row in rows if " ls " in row)
    assert failed.split()[3] == "2"  # the exit code of ls on a missing file
    moved = next(row for row in rows if " rename " in row)
    assert "notes.txt" in moved
    clicked = next(row for row in rows if " click " in row)
    assert "412,230" in clicked
    long_row = rows[4]  # echo with an argument longer than any line: cut, with a mark
    assert "echo" in long_row and "…" in long_row and LONG_COMMAND_WORD not in long_row
    typed = rows[-1]
    assert " type " in typed and typed.rstrip().endswith("1")  # one secret use
    header = next(line for line in lines if line.startswith("time")).split()
    if columns == 80:  # the detail column (cwd, new path, typed text) joins the target
        assert header == ["time", "type", "action", "result", "target", "secrets"]
        assert "· ->" in moved
    else:
        assert header == ["time", "type", "action", "result", "target", "detail", "secrets"]
        assert "-> /" in moved and "final-notes.txt" in moved
        assert "[REDACTED:secret:" in typed


def test_piped_or_wide_nothing_is_cut(activity_db: ActivityDB, review: ReviewSession) -> None:
    piped = cli("session", review.session_id, "--database-url", activity_db.url)
    status, wide = cli_in_terminal(
        "session", review.session_id, "--wide", "--database-url", activity_db.url, columns=80
    )
    assert piped.returncode == 0 and status == 0, piped.stderr[-2000:]
    for output in (piped.stdout, wide):
        rows = activity_lines(output)
        assert len(rows) == 14 and "…" not in output
        assert any(LONG_COMMAND_WORD in row for row in rows)
        assert max(len(line) for line in output.split("\n")) > 200
    for secret in review.secrets:
        assert secret not in piped.stdout


def test_a_cut_session_says_how_many_more(activity_db: ActivityDB, review: ReviewSession) -> None:
    done = cli("session", review.session_id, "--limit", "5", "--database-url", activity_db.url)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(activity_lines(done.stdout)[:-1]) == 5
    assert done.stdout.rstrip().endswith("9 more; use --limit")


def test_the_session_view_marks_what_still_waits_in_the_journal(
    activity_db: ActivityDB, spans: SpanCapture, tmp_path: Path
) -> None:
    with partly_delivered(activity_db, spans, tmp_path / "app-journal") as partly:
        where = ("--database-url", activity_db.url, "--journal-dir", str(partly.journal))
        done = cli("session", partly.session_id, *where)
        assert done.returncode == 0, done.stderr[-2000:]
        lines = done.stdout.rstrip("\n").split("\n")
        assert lines[0].startswith(f"session {partly.session_id}: 4 activities")
        assert lines[0].endswith("1 secret uses, 2 waiting in the journal")
        header, rows = lines[1].split(), activity_lines(done.stdout)
        assert header[-1] == "delivery"
        assert [row.split()[-1] for row in rows] == ["-", "-", "waiting", "waiting"]
        assert "mysql -p[REDACTED:mysql-password] shop" in rows[2] and " 1 " in rows[2]
        assert WAITING_PASSWORD not in done.stdout, "planted password leaked"

        alone = cli("session", partly.session_id, *where, "--no-journal")
        assert alone.stdout.startswith(f"session {partly.session_id}: 2 activities")
        assert "waiting" not in alone.stdout

        viewer = ("--viewer-role", "user", "--viewer-user", str(partly.user_id))
        own = cli("session", partly.session_id, *where, *viewer)
        assert own.stdout.split("\n", 1)[0].endswith("1 waiting in the journal")
        assert "another user" not in own.stdout

        listed = cli("session", partly.session_id, *where, "--json")
        assert len(json.loads(listed.stdout)) == 2  # --json: the stored rows, as always

        not_a_folder = tmp_path / "not-a-folder"
        not_a_folder.write_text("")
        unread = ("--database-url", activity_db.url, "--journal-dir", str(not_a_folder))
        done = cli("session", partly.session_id, *unread)
        assert done.returncode == 0 and "2 activities" in done.stdout.split("\n", 1)[0]
        assert done.stderr.startswith(f"autobot-activity: journal not read ({not_a_folder}:")
