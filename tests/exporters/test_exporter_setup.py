"""Set-up for applications, in fresh interpreters: opentelemetry-instrument, configure()."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from autobot_activity_otel.settings import DATABASE_URL

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
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AUTOBOT_"))}
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
    assert (tmp_path / "autobot_activity.db").stat().st_size > 0


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


def test_the_lazily_loaded_public_names_are_listed() -> None:
    """``dir()`` and ``__all__`` show ``configure`` and ``ActivityStore`` before first use."""
    import autobot_activity_exporters as exporters

    assert {"configure", "ActivityStore", "ActivitySpanExporter"} <= set(exporters.__all__)
    assert set(exporters.__all__) <= set(dir(exporters))
