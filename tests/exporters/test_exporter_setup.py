"""Set-up for applications, in fresh interpreters: opentelemetry-instrument, configure()."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from support.database import table_rows
from support.planted import plant

from autobot_activity_otel.settings import (
    DATABASE_URL,
    ENDPOINT,
    STATE_DIR,
    TOKEN,
)

if TYPE_CHECKING:
    from support.database import ActivityDB

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
APP_USER = uuid.UUID("0192f0c1-0000-7000-8000-0000000a99e0")
ONLY_TERMINAL = {
    # These tests are about storage: load only the terminal instrumentor they rely on.
    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "autobot_file,autobot_playwright,autobot_vnc",
}


def run(command: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run an application with no OTEL_/AUTOBOT_ settings but the test's state folder (so its
    journal is the test's, checked for leftovers) and ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AUTOBOT_"))}
    clean[STATE_DIR] = os.environ[STATE_DIR]
    return subprocess.run(
        command,
        env=clean | ONLY_TERMINAL | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_opentelemetry_instrument_with_the_autobot_activity_exporter_writes_rows(
    activity_db: ActivityDB,
) -> None:
    session = f"auto-{uuid.uuid4().hex[:8]}"
    done = run(
        [
            str(BIN / "opentelemetry-instrument"),
            sys.executable,
            "examples/instrumented_app.py",
            session,
        ],
        {"OTEL_TRACES_EXPORTER": "autobot_activity", DATABASE_URL: activity_db.url},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "Linux"

    rows = [r for r in activity_db.rows("terminal_activities") if r["session_id"] == session]
    assert [(r["command"], r["exit_code"], r["user_id"]) for r in rows] == [
        ("uname -s", 0, APP_USER)
    ]
    assert rows[0]["output"].strip() == "Linux"
    assert len(rows[0]["trace_id"]) == 32


def test_opentelemetry_instrument_defaults_to_the_activity_exporter(tmp_path: Path) -> None:
    done = run(
        [
            str(BIN / "opentelemetry-instrument"),
            sys.executable,
            str(ROOT / "examples/instrumented_app.py"),
        ],
        {},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = table_rows(
        f"sqlite+aiosqlite:///{tmp_path / 'autobot_activity.db'}", "terminal_activities"
    )
    assert [(r["command"], r["session_id"]) for r in rows] == [("uname -s", "instrumented-app")]
    assert "ERROR" not in done.stderr, "a missing library or a setting was reported as an error"


def test_configure_sets_up_tracing_and_instrumentation_in_one_call(activity_db: ActivityDB) -> None:
    script = textwrap.dedent(
        f"""
        import subprocess, uuid
        from opentelemetry import trace
        from autobot_activity_exporters import configure
        from autobot_activity_otel import activity_context

        provider = configure({activity_db.url!r})
        assert configure({activity_db.url!r}) is provider is trace.get_tracer_provider()
        with activity_context(user_id=uuid.UUID({str(APP_USER)!r}), session_id="configured"):
            subprocess.run(["true"], check=True)
        """
    )
    done = run([sys.executable, "-c", script], {})
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [r for r in activity_db.rows("terminal_activities") if r["session_id"] == "configured"]
    assert [(r["command"], r["exit_code"], r["user_id"]) for r in rows] == [("true", 0, APP_USER)]


@pytest.mark.parametrize("instrument", [False, True])
def test_configure_registers_the_projects_own_secrets(
    activity_db: ActivityDB, instrument: bool
) -> None:
    """With or without instrumentors, the fingerprint key and an ingest token are known
    secrets from ``configure()`` on: a command that prints them is stored redacted."""
    key = plant("conf-Fpr1nt-Key-9a7b3c")
    token = plant("conf-Ingest-Tok-77c1e0")
    script = textwrap.dedent(
        f"""
        from autobot_activity_exporters import configure
        from autobot_activity_otel.tracking.terminal import track_command_execution
        import asyncio

        configure({activity_db.url!r}, instrument={instrument!r})
        asyncio.run(track_command_execution(command="env", session_id="own-secrets",
                                            output="K={key}\\nT={token}\\n"))
        """
    )
    done = run(
        [sys.executable, "-c", script],
        {"AUTOBOT_ACTIVITY_FINGERPRINT_KEY": key, "AUTOBOT_ACTIVITY_TOKEN": token},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (row,) = [
        r for r in activity_db.rows("terminal_activities") if r["session_id"] == "own-secrets"
    ]
    leaked = key in row["output"] or token in row["output"]  # a bool: a failure shows no value
    assert not leaked, "an own secret was stored"
    assert row["output"].count("[REDACTED:secret:") == 2, "not both redacted as known secrets"


def test_the_lazily_loaded_public_names_are_listed() -> None:
    """``dir()`` and ``__all__`` show ``configure`` and ``ActivityStore`` before first use."""
    import autobot_activity_exporters as exporters

    assert {"configure", "ActivityStore", "ActivitySpanExporter"} <= set(exporters.__all__)
    assert set(exporters.__all__) <= set(dir(exporters))


def test_configure_checks_the_url_before_anything_else(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        if sys.argv[1] == "no-asyncpg":
            sys.modules["asyncpg"] = None  # as if the postgres extra were not installed
        from autobot_activity_exporters import configure
        try:
            configure(instrument=False)
        except ValueError as exc:
            print(exc)
        """
    )
    cases = {
        "unparseable": ("postgresql://app@db:port-is-not-a-number/x", "is not a database URL"),
        "no-asyncpg": (
            "postgresql://app@localhost:5432/audit",
            "pip install 'autobot-activity-exporters[postgres]'",
        ),
        "dialect": ("mysql://app@localhost/audit", "names a mysql database"),
    }
    for case, (url, expected) in cases.items():
        done = run([sys.executable, "-c", script, case], {DATABASE_URL: url}, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.startswith(DATABASE_URL) and expected in done.stdout, case
    assert not list(tmp_path.rglob("*.seg")), "a URL refused at once left nothing waiting"


def test_configure_refuses_an_endpoint_with_a_database_url_or_a_bad_endpoint(
    tmp_path: Path,
) -> None:
    """An application sends to the ingest service or writes to a database, never both."""
    script = textwrap.dedent(
        """
        from autobot_activity_exporters import configure
        try:
            configure(instrument=False)
        except ValueError as exc:
            print(exc)
        """
    )
    token = "autobot_ingest_setup-test-token-not-real"
    cases = {
        "both": (
            {ENDPOINT: "http://127.0.0.1:4318", DATABASE_URL: "postgresql://app:pw@db/audit"},
            f"both {ENDPOINT} (http://127.0.0.1:4318/v1/traces) and {DATABASE_URL}",
        ),
        "scheme": ({ENDPOINT: "ftp://ingest:4318"}, "is not an http:// or https:// URL"),
        "userinfo": ({ENDPOINT: "http://agent:pw@ingest:4318"}, f"put the ingest token in {TOKEN}"),
    }
    for case, (env, expected) in cases.items():
        done = run([sys.executable, "-c", script], env | {TOKEN: token}, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        assert ENDPOINT in done.stdout and expected in done.stdout, case
        assert ":pw@" not in done.stdout and token not in done.stdout
    assert not list(tmp_path.rglob("*.seg")), "a refused configuration left nothing waiting"


def test_the_ingest_token_is_one_of_the_projects_own_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Named in the settings (so the own-secret registration finds it in the environment),
    and registered as the exporter that sends with it is built, however it was given."""
    from autobot_activity_exporters import ActivitySpanExporter
    from autobot_activity_otel.secrets import redact, unregister_secret
    from autobot_activity_otel.secrets.own import (
        own_secret_id,
        own_secret_variable,
        own_secrets,
    )

    value = plant("autobot_ingest_own-secret-planted-value-42")
    monkeypatch.setenv(TOKEN, value)
    assert own_secret_variable(TOKEN, value)
    assert own_secrets()[TOKEN] == value
    monkeypatch.delenv(TOKEN)
    exporter = ActivitySpanExporter(
        endpoint="http://127.0.0.1:9/", token=value, journal_dir=tmp_path / "journal"
    )
    try:
        said = redact(f"echo {value} | base64", "command").text
        assert value not in said and f"[REDACTED:secret:{own_secret_id(TOKEN)}]" in said
    finally:
        exporter.shutdown()
        unregister_secret(own_secret_id(TOKEN))


def test_an_instrumentor_whose_library_is_missing_is_skipped_quietly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Checked before ``instrument()``, which would log an ERROR at every start."""
    from autobot_activity_exporters import configuration

    class Missing:
        def instrumentation_dependencies(self) -> tuple[str, ...]:
            return ("no-such-library-for-autobot >= 1",)

        def instrument(self, **_options: object) -> None:
            raise AssertionError("instrument() must not be called")

    class Point:
        name = "autobot_missing"
        dist = type("Dist", (), {"name": configuration.INSTRUMENTATION_DISTRIBUTION})()

        def load(self) -> type[Missing]:
            return Missing

    monkeypatch.setattr(configuration, "entry_points", lambda group: [Point()])
    with caplog.at_level(logging.DEBUG, logger="autobot_activity_exporters.configuration"):
        assert configuration.instrument_all() == []
    (record,) = caplog.records
    assert record.levelno == logging.DEBUG and "no-such-library-for-autobot" in record.getMessage()
