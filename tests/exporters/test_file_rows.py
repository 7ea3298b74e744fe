"""File activities as rows of file_activities, on real SQLite and the real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from sqlalchemy.ext.asyncio import AsyncSession
from support.database import ActivityDB, on_engine
from support.instrumentors import Instrument
from support.planted import plant
from support.spans import SpanCapture

from autobot_activity_exporters.database import create_engine
from autobot_activity_exporters.schema import upgrade
from autobot_activity_otel import settings
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.instrumentation.file import FileInstrumentor
from autobot_activity_otel.secrets import registered_secret
from autobot_activity_otel.tracking.file import track_file_operation

USER = uuid.UUID("0192f0c1-0000-7000-8000-0000000f1705")


@pytest.fixture
def root(instrument: Instrument, tmp_path: Path) -> Iterator[Path]:
    """The whole tmp_path is a root: the exporter's own SQLite file lies inside it."""
    instrument(FileInstrumentor, roots=[tmp_path], coalesce_window_ms=0)
    yield tmp_path / "work"


def test_each_operation_is_one_row(root: Path, activity_db: ActivityDB, spans: SpanCapture) -> None:
    with activity_context(user_id=USER, session_id="rows"):
        root.mkdir()
        (root / "a.txt").write_text("hello")
        with open(root / "a.txt", "a") as handle:
            handle.write(" world")
        (root / "a.txt").read_text()
        os.rename(root / "a.txt", root / "b.txt")
        (root / "sub").mkdir()
        shutil.move(root / "b.txt", root / "sub")
        shutil.copy(root / "sub" / "b.txt", root / "c.txt")
        (root / "c.txt").unlink()
        shutil.rmtree(root / "sub")
    recorded = spans.activities("file")
    assert activity_db.export(recorded) is SpanExportResult.SUCCESS
    # The export wrote the SQLite file under the root: no activity of its own.
    assert len(spans.activities("file")) == len(recorded)
    rows = activity_db.rows("file_activities")
    base = os.path.realpath(root)
    assert [
        (row["operation"], row["path"], row["new_path"], row["size_bytes"]) for row in rows
    ] == [
        ("mkdir", base, None, None),
        ("create", f"{base}/a.txt", None, 5),
        ("update", f"{base}/a.txt", None, 11),
        ("read", f"{base}/a.txt", None, 11),
        ("rename", f"{base}/a.txt", f"{base}/b.txt", 11),
        ("mkdir", f"{base}/sub", None, None),
        ("move", f"{base}/b.txt", f"{base}/sub/b.txt", 11),
        ("copy", f"{base}/sub/b.txt", f"{base}/c.txt", 11),
        ("delete", f"{base}/c.txt", None, 11),
        ("rmdir", f"{base}/sub", None, None),
    ]
    assert {(row["user_id"], row["session_id"]) for row in rows} == {(USER, "rows")}
    # The type and extension the path implies: derived when the row is built, and stored.
    assert (rows[1]["file_type"], rows[1]["metadata"]["file.extension"]) == ("text/plain", "txt")
    assert rows[0]["file_type"] == "inode/directory"
    assert "file.extension" not in rows[0]["metadata"]
    # The API and the counts: attributes of their own on the span, in the stored metadata.
    assert [
        (row["metadata"]["api"], row["metadata"].get("chars_written")) for row in rows[1:3]
    ] == [
        ("Path.write_text", 5),
        ("open", 6),
    ]
    assert all(row["trace_id"] for row in rows)


def test_a_failed_operation_and_a_secret_in_a_name_as_rows(
    root: Path, activity_db: ActivityDB, spans: SpanCapture
) -> None:
    secret = plant("rr-planted-row-secret")
    root.mkdir()
    with pytest.raises(FileNotFoundError):
        os.remove(root / "missing.bin")
    with registered_secret(uuid.uuid4(), secret):
        (root / f"key={secret}.txt").write_text("x")
    assert activity_db.export(spans.activities("file")) is SpanExportResult.SUCCESS
    rows = activity_db.rows("file_activities")
    assert [row["operation"] for row in rows] == ["mkdir", "delete", "create"]
    assert rows[1]["metadata"]["error.type"] == "FileNotFoundError"
    assert not any(secret in str(value) for row in rows for value in row.values()), (
        "planted secret leaked"
    )
    usage = activity_db.rows("secret_usage")
    assert [(entry["activity_type"], entry["activity_id"]) for entry in usage] == [
        ("file", rows[2]["id"])
    ]


async def test_track_file_operation_with_db_writes_the_row_at_once(
    activity_db: ActivityDB, spans: SpanCapture
) -> None:
    await on_engine(activity_db.url, upgrade)
    engine = create_engine(activity_db.url)
    try:
        async with AsyncSession(engine) as session:
            activity_id = await track_file_operation(
                db=session,
                user_id=USER,
                operation="move",
                path="/srv/in/x.zip",
                new_path="/srv/done/x.zip",
                size_bytes=10,
            )
            await session.commit()
    finally:
        await engine.dispose()
    direct = activity_db.rows("file_activities")
    assert activity_db.export(spans.activities("file")) is SpanExportResult.SUCCESS
    assert activity_db.rows("file_activities") == direct
    [row] = direct
    assert (row["id"], row["user_id"], row["operation"], row["new_path"], row["size_bytes"]) == (
        activity_id,
        USER,
        "move",
        "/srv/done/x.zip",
        10,
    )
    assert row["file_type"] == "application/zip"


def test_opentelemetry_instrument_tracks_files_under_the_configured_roots(
    tmp_path: Path, activity_db: ActivityDB
) -> None:
    """The entry point, roots from the environment, and the exporter's own SQLite file (in
    the root when the database is SQLite) recording nothing about itself."""
    script = (
        "import pathlib, sys\n"
        "root = pathlib.Path(sys.argv[1])\n"
        "(root / 'app.txt').write_text('from the app')\n"
        "print((root / 'app.txt').read_text())\n"
        "open('/dev/null', 'w').close()\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AUTOBOT_"))}
    clean[settings.STATE_DIR] = os.environ[settings.STATE_DIR]  # the test's, not the home's
    instrument = str(Path(sys.executable).parent / "opentelemetry-instrument")
    done = subprocess.run(
        [instrument, sys.executable, "-c", script, str(tmp_path)],
        env=clean
        | {
            "OTEL_TRACES_EXPORTER": "autobot_activity",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "autobot_terminal,autobot_playwright,"
            "autobot_vnc",
            "AUTOBOT_ACTIVITY_DATABASE_URL": activity_db.url,
            "AUTOBOT_ACTIVITY_FILE_ROOTS": str(tmp_path),
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "from the app"
    rows = activity_db.rows("file_activities")
    app = os.path.realpath(tmp_path / "app.txt")
    assert [(row["operation"], row["path"], row["size_bytes"]) for row in rows] == [
        ("create", app, 12),
        ("read", app, 12),
    ]
