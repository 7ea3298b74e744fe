"""The ``autobot-activity`` command, run as a real subprocess from the project's .venv."""

from __future__ import annotations

import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from support import require
from support.browser_site import CHROMIUM_MISSING, chromium_installed
from support.cli import cli

from autobot_activity_exporters.cli import main
from autobot_activity_exporters.schema import head_revision
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.recording import ActivityRecord

if TYPE_CHECKING:
    from support.database import ActivityDB
    from support.spans import SpanCapture

USER = uuid.UUID("0192f0c1-0000-7000-8000-00000000c1c1")


def test_activities_as_json_and_secrets_as_a_table(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    secret = uuid.uuid4()
    with activity_context(user_id=USER, session_id="cli"):
        record = ActivityRecord(ActivityType.TERMINAL, "execute")
        record.set_text(attr.PROCESS_COMMAND_LINE, "psql -c 'select 1'", "command")
        record.set(attr.PROCESS_EXIT_CODE, 0)
        record.declare_secrets([secret])
        record.end()
        ActivityRecord(ActivityType.FILE, "read").end()
    ActivityRecord(ActivityType.FILE, "write").end()
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    with ThreadPoolExecutor(2) as pool:  # independent read-only runs, side by side
        listed, audit = pool.map(
            lambda args: cli(*args, "--database-url", activity_db.url),
            [
                ("activities", "--user", str(USER), "--session", "cli", "--since", "1h", "--json"),
                ("secrets", "--user", str(USER)),
            ],
        )

    assert listed.returncode == 0, listed.stderr[-2000:]
    rows = json.loads(listed.stdout)
    assert [(row["activity_type"], row["user_id"]) for row in rows] == [
        ("file", str(USER)),
        ("terminal", str(USER)),
    ]
    assert rows[1]["command"] == "psql -c 'select 1'" and rows[1]["secrets_used"] == [str(secret)]
    assert audit.returncode == 0, audit.stderr[-2000:]
    header, rule, entry = audit.stdout.splitlines()
    assert header.split()[:5] == ["time", "(UTC)", "user", "session", "rule"]
    assert set(rule) == {"─"}
    assert "declared" in entry and str(secret) in entry and str(USER) in entry
    assert " cli " in entry and "terminal: psql -c 'select 1' (exit 0)" in entry


def test_db_upgrade_then_an_empty_listing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    before = cli("activities", "--database-url", url)
    upgraded = cli("db", "upgrade", "--database-url", url)
    after = cli("activities", "--json", "--database-url", url)

    assert before.returncode == 1 and "db upgrade" in before.stderr
    assert upgraded.returncode == 0 and f"revision {head_revision()}" in upgraded.stdout
    assert after.returncode == 0 and json.loads(after.stdout) == []


def test_a_bad_argument_is_refused_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["activities", "--user", "not-a-uuid"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "argument --user: 'not-a-uuid' is not a UUID (32 hex digits" in err


def test_the_demo_records_a_session_of_commands_files_and_a_browser_and_shows_it(
    tmp_path: Path,
) -> None:
    require(chromium_installed(), CHROMIUM_MISSING)
    done = cli("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "autobot_activity.db").exists()
    out = done.stdout
    title = out.split("\n", 1)[0]
    assert re.match(r"session demo-\w+: 17 activities \(9 browser, 4 file, 4 terminal\)", title)
    rows = [line.split() for line in out.split("\n") if line[:2].isdigit() and ":" in line[:3]]
    assert [row[1:3] for row in rows if row[1] != "terminal"] == [
        *(["file", operation] for operation in ("create", "read", "rename", "delete")),
        *(["browser", action] for action in ("navigate", "click", "navigate", "type", "type")),
        *(["browser", action] for action in ("submit", "navigate", "click", "navigate")),
    ]
    assert rows[-1][3] == "404" and rows[-1][4].endswith("/orders/2024")  # the broken link
    assert "echo 'hello from the autobot-activity demo'" in out
    assert "--password=[REDACTED" in out
    assert "#password = [REDACTED:password-field]" in out
    assert "run-driver" not in out  # Playwright's own process is no activity
    audit = out.split("Secret-usage audit", 1)[1]
    assert re.search(r"known-secret +[-0-9a-f]{36} +activity\.terminal\.output", audit)
    assert "Plaintext secrets in the stored rows: none" in out
    report = tmp_path / "autobot_activity_report.html"
    assert out.rstrip().endswith(str(report)) and report.stat().st_size > 10_000


def test_viewer_options_show_exactly_what_that_viewer_sees(
    activity_db: ActivityDB, spans: SpanCapture, capsys: pytest.CaptureFixture[str]
) -> None:
    other, org, other_org = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for user, org_id in ((USER, org), (other, other_org)):
        with activity_context(user_id=user, org_id=org_id):
            record = ActivityRecord(ActivityType.TERMINAL, "execute")
            record.declare_secrets([uuid.uuid4()])
            record.end()
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS

    def listed(*args: str) -> set[str]:
        assert main([*args, "--json", "--database-url", activity_db.url]) == 0
        return {row["user_id"] for row in json.loads(capsys.readouterr().out)}

    assert listed("activities") == {str(USER), str(other)}  # the system viewer by default
    assert listed("activities", "--viewer-role", "user", "--viewer-user", str(USER)) == {str(USER)}
    assert listed("secrets", "--viewer-role", "auditor", "--viewer-org", str(other_org)) == {
        str(other)
    }
    reaching = ("--viewer-role", "user", "--viewer-user", str(USER), "--user", str(other))
    assert listed("activities", *reaching) == set()
    for refused in (("--viewer-user", str(USER)), ("--viewer-role", "org-admin")):
        with pytest.raises(SystemExit) as exit_info:
            main(["activities", *refused, "--database-url", activity_db.url])
        assert exit_info.value.code == 2
    assert "need --viewer-role" in capsys.readouterr().err
