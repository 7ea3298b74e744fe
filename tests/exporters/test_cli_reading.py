"""Reading the trail from the command line: filters, closing lines, export, messages."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from support import planted
from support.cli import cli

from autobot_activity_exporters.cli import build_parser, main
from autobot_activity_exporters.export import CSV_COLUMNS
from autobot_activity_exporters.models import ACTIVITY_TABLES, SECRET_USAGE
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.recording import ActivityRecord

if TYPE_CHECKING:
    from support.database import ActivityDB
    from support.spans import SpanCapture

USER = uuid.UUID("0192f0c1-0000-7000-8000-0000000c0de5")
SECRET = uuid.UUID("0192f0c1-0000-7000-8000-000000005ec5")
FORMULA = '=HYPERLINK("http://evil.test","x")'


@pytest.fixture
def trail(activity_db: ActivityDB, spans: SpanCapture) -> dict[str, uuid.UUID]:
    """Six activities of one session, oldest first: commands, a file, a page with a secret."""
    ids: dict[str, uuid.UUID] = {}
    with activity_context(user_id=USER, session_id="reading"):
        for name, command, code in (
            ("build", "make build", 0),
            ("deploy", "kubectl apply -f Deploy.yaml", 1),
            ("formula", FORMULA, 0),
        ):
            record = ActivityRecord(ActivityType.TERMINAL, "execute")
            record.set_text(attr.PROCESS_COMMAND_LINE, command, "command")
            record.set(attr.PROCESS_EXIT_CODE, code)
            record.end()
            ids[name] = record.activity_id
        saved = ActivityRecord(ActivityType.FILE, "write")
        saved.set_text(attr.FILE_PATH, "/srv/deploy/notes.md", "text")
        saved.set(attr.FILE_SIZE, 42)
        saved.end()
        ids["file"] = saved.activity_id
        login = ActivityRecord(ActivityType.BROWSER, "submit")
        login.set_text(attr.URL_FULL, "https://shop.test/login", "url")
        login.set_text(attr.BROWSER_SELECTOR, "#login-form", "text")
        login.declare_secrets([SECRET])
        login.end()
        ids["login"] = login.activity_id
        window = ActivityRecord(ActivityType.DESKTOP, "click")
        window.set(attr.DESKTOP_COORDINATES, [10, 20])
        window.set_text(attr.ACTIVITY_WINDOW_TITLE, "Deploy console", "text")
        window.end()
        ids["window"] = window.activity_id
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS
    return ids


def listed(activity_db: ActivityDB, *args: str) -> tuple[str, str]:
    done = cli(*args, "--database-url", activity_db.url)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def test_id_grep_and_order_narrow_and_sort_the_listing(
    activity_db: ActivityDB, trail: dict[str, uuid.UUID]
) -> None:
    by_id, _ = listed(
        activity_db, "activities", "--id", str(trail["login"]), "--id", str(trail["file"]), "--json"
    )
    assert {row["id"] for row in json.loads(by_id)} == {str(trail["login"]), str(trail["file"])}
    grep, _ = listed(activity_db, "activities", "--grep", "DEPLOY", "--order", "asc", "--json")
    assert [row["id"] for row in json.loads(grep)] == [
        str(trail[name]) for name in ("deploy", "file", "window")
    ]
    newest, _ = listed(activity_db, "activities", "--session", "reading", "--json")
    assert [row["id"] for row in json.loads(newest)] == [
        str(trail[name]) for name in ("window", "login", "file", "formula", "deploy", "build")
    ]
    table, _ = listed(activity_db, "activities", "--type", "browser")  # no status: no column
    header, _, row = table.splitlines()
    assert header.split() == [
        "time",
        "(UTC)",
        "type",
        "user",
        "session",
        "action",
        "url",
        "selector",
        "secrets",
    ]
    assert "https://shop.test/login" in row and "#login-form" in row and row.endswith("1")


def test_a_cut_listing_says_how_many_more_on_its_last_line(
    activity_db: ActivityDB, trail: dict[str, uuid.UUID]
) -> None:
    table, _ = listed(activity_db, "activities", "--limit", "4")
    assert table.rstrip().splitlines()[-1] == "2 more; use --limit"
    as_json, note = listed(activity_db, "activities", "--limit", "4", "--json")
    assert len(json.loads(as_json)) == 4 and note.strip() == "2 more; use --limit"
    whole, _ = listed(activity_db, "activities", "--limit", "6")
    assert "more; use --limit" not in whole
    usage, _ = listed(activity_db, "secrets", "--limit", "1")
    assert "more; use --limit" not in usage


def test_json_keeps_the_stored_rows_shape(
    activity_db: ActivityDB, trail: dict[str, uuid.UUID]
) -> None:
    rows, _ = listed(activity_db, "activities", "--json")
    for row in json.loads(rows):
        table = ACTIVITY_TABLES[ActivityType(row["activity_type"])]
        assert list(row) == ["activity_type", *(column.key for column in table.columns)]
    usage, _ = listed(activity_db, "secrets", "--json")
    [use] = json.loads(usage)
    assert set(use) == {column.key for column in SECRET_USAGE.columns}
    assert use["activity_id"] == str(trail["login"]) and use["session_id"] == "reading"


def test_secrets_name_the_session_and_what_the_activity_was(
    activity_db: ActivityDB, trail: dict[str, uuid.UUID]
) -> None:
    table, _ = listed(activity_db, "secrets")
    header, _, row = table.splitlines()
    assert "session" in header.split() and "activity" in header.split()
    assert " reading " in row and "browser submit: #login-form https://shop.test/login" in row
    assert str(SECRET) in row and str(trail["login"]) in row


def test_export_writes_jsonl_like_json_and_csv_safe_for_spreadsheets(
    activity_db: ActivityDB, trail: dict[str, uuid.UUID], tmp_path: Path
) -> None:
    as_json, _ = listed(activity_db, "activities", "--session", "reading", "--json")
    jsonl, _ = listed(activity_db, "export", "--session", "reading")
    assert [json.loads(line) for line in jsonl.splitlines()] == json.loads(as_json)
    target = tmp_path / "trail.csv"
    _, said = listed(
        activity_db,
        "export",
        "--format",
        "csv",
        "--grep",
        "deploy",
        "--order",
        "asc",
        "-o",
        str(target),
    )
    assert said.strip() == f"3 activities written to {target}"
    with target.open(newline="", encoding="utf-8") as exported:
        rows = list(csv.DictReader(exported))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [row["id"] for row in rows] == [str(trail[n]) for n in ("deploy", "file", "window")]
    assert rows[0]["command"] == "kubectl apply -f Deploy.yaml" and rows[0]["exit_code"] == "1"
    assert rows[1]["size_bytes"] == "42" and rows[2]["coordinates"] == "[10, 20]"
    as_jsonl = {row["id"]: row for row in map(json.loads, jsonl.splitlines())}
    assert json.loads(rows[1]["metadata"]) == as_jsonl[rows[1]["id"]]["metadata"]
    formula, _ = listed(activity_db, "export", "--format", "csv", "--id", str(trail["formula"]))
    [row] = list(csv.DictReader(io.StringIO(formula)))
    assert row["command"] == "'" + FORMULA  # a spreadsheet shows it, never runs it


def test_clumsy_messages_are_plain_and_name_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    def refused(*args: str) -> str:
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
        assert exit_info.value.code == 2
        return capsys.readouterr().err

    assert "--viewer-role org-admin needs --viewer-org (the viewer's org id)" in refused(
        "activities", "--viewer-role", "org-admin"
    )
    assert "--viewer-role team-admin needs --viewer-team" in refused(
        "secrets", "--viewer-role", "team-admin", "--viewer-user", str(USER)
    )
    assert "argument --id: 'abc-123' is not a UUID" in refused("activities", "--id", "abc-123")
    pasted = planted.plant("ghp_" + "Zq8planted" * 3 + "Ab12cd")  # a GitHub token
    message = refused("activities", "--user", pasted)
    assert pasted not in message and "looks like a secret, so it is not repeated" in message
    assert "argument --limit: '0' is not a whole number of at least 1" in refused(
        "activities", "--limit", "0"
    )
    assert "argument --since: 'yesterday' is neither an ISO 8601 time" in refused(
        "activities", "--since", "yesterday"
    )
    top = build_parser().format_help()
    assert "``" not in top and "--viewer-role" in top
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert "only this type of activity" in commands["activities"].format_help()
    assert {"session", "report", "export"} <= set(commands)


@pytest.mark.parametrize("activity_db", ["postgresql"], indirect=True)
def test_the_application_roles_system_viewer_is_told_why_it_sees_nothing(
    activity_db: ActivityDB, trail: dict[str, uuid.UUID], member_login: str
) -> None:
    table, _ = listed_as(member_login, "activities")
    assert "member of the application role" in table and "--viewer-role" in table
    as_json, note = listed_as(member_login, "secrets", "--json")
    assert json.loads(as_json) == [] and "member of the application role" in note
    named, _ = listed_as(
        member_login, "activities", "--viewer-role", "user", "--viewer-user", str(USER), "--json"
    )
    assert len(json.loads(named)) == 6


def listed_as(url: str, *args: str) -> tuple[str, str]:
    done = cli(*args, "--database-url", url)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr
