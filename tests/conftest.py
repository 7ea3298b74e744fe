"""Shared fixtures: one SDK tracer provider for the session, spans captured in memory.

Every test, and every process a test starts, keeps its state (fingerprint key, spool) under
a temporary folder of the session's, never in the real home.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import tempfile
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from hypothesis import currently_in_test_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from autobot_activity_exporters import ActivitySpanExporter
from autobot_activity_exporters.database import create_engine
from autobot_activity_exporters.models import TABLES
from autobot_activity_exporters.schema import upgrade
from autobot_activity_exporters.store import ActivityStore
from autobot_activity_exporters.viewer import Viewer
from autobot_activity_otel.attributes import ACTIVITY_TYPE
from autobot_activity_otel.secrets.fingerprint import fingerprint_key
from autobot_activity_otel.secrets.registry import Registry
from autobot_activity_otel.settings import FINGERPRINT_KEY as KEY_ENV
from autobot_activity_otel.settings import STATE_DIR as STATE_DIR_ENV

IN_CI = os.environ.get("CI", "").lower() == "true"
_session_state = Path(tempfile.mkdtemp(prefix="autobot-activity-tests-"))
os.environ[STATE_DIR_ENV] = str(_session_state / "state")
os.environ["AUTOBOT_ACTIVITY_SPOOL_DIR"] = str(_session_state / "spool")
os.environ[KEY_ENV] = "tests-fingerprint-key"
_memory = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(_memory))
trace.set_tracer_provider(_provider)

# --- the planted-secret sweep (tests/planted.py): what it searches at the end of the run ---
import planted  # noqa: E402  (tests/ is on sys.path, like this conftest's own folder)

planted.ARCHIVE = _session_state / "sweep"
SESSION_LOG = _session_state / "logs" / "session.log"
"""Every log record of the run: the project's loggers at DEBUG, everyone else's at WARNING."""
SESSION_LOG.parent.mkdir(parents=True)
_session_log = logging.FileHandler(SESSION_LOG, encoding="utf-8")
_session_log.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
logging.getLogger().addHandler(_session_log)
for _package in ("autobot_activity_otel", "autobot_activity_exporters"):
    logging.getLogger(_package).setLevel(logging.DEBUG)
_basetemp: list[Path] = []
_register = Registry.register


@functools.wraps(_register)
def _recording_register(self: Registry, secret_id: Any, value: Any) -> None:
    _register(self, secret_id, value)
    if not currently_in_test_context():  # hypothesis' made-up values may be any common word
        planted.record_registered(value)


Registry.register = _recording_register  # type: ignore[method-assign]


@pytest.fixture(scope="session", autouse=True)
def _sweep_basetemp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Remember pytest's temporary folder: its SQLite files, spools and logs are swept too."""
    _basetemp.append(tmp_path_factory.getbasetemp())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any planted or registered secret value was stored, spooled or logged."""
    _session_log.flush()
    leaks = planted.find_leaks([_session_state, *_basetemp], planted.values())
    if not leaks:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = ["planted-secret sweep: secret values found (file, value number):", *leaks]
    if reporter is None:
        print("\n".join(lines))
    else:
        reporter.write("\n")
        for line in lines:
            reporter.write_line(line, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def archive_database(url: str) -> None:
    """Keep the database's rows for the sweep before a fixture truncates or drops it."""
    planted.archive_database(url)


@pytest.fixture(autouse=True)
def fingerprint_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A fingerprint key and state folder of the test's own."""
    state = tmp_path / "state"
    monkeypatch.setenv(KEY_ENV, "tests-secrets-fingerprint-key")
    monkeypatch.setenv(STATE_DIR_ENV, str(state))
    fingerprint_key.cache_clear()
    yield state
    fingerprint_key.cache_clear()


def require(condition: bool, reason: str) -> None:
    """Skip a test whose real dependency is missing, but fail it under CI=true."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


class SpanCapture:
    """The spans finished since the test began."""

    def all(self) -> list[ReadableSpan]:
        return list(_memory.get_finished_spans())

    def activities(self, activity_type: str | None = None) -> list[ReadableSpan]:
        return [
            span
            for span in self.all()
            if span.attributes
            and ACTIVITY_TYPE in span.attributes
            and activity_type in (None, span.attributes[ACTIVITY_TYPE])
        ]

    def clear(self) -> None:
        _memory.clear()


@pytest.fixture
def spans() -> SpanCapture:
    _memory.clear()
    return SpanCapture()


# --- database fixtures (activity_db) ---

PG_HOST, PG_PORT = "127.0.0.1", 5432
T = TypeVar("T")


def pg_available() -> bool:
    """Whether the real PostgreSQL answers on 127.0.0.1:5432."""
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync or async test code, on a thread of its own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def pg_admin(sql: str) -> None:
    connection = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", database="postgres"
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def on_engine(url: str, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``work`` with a short-lived engine on ``url``."""
    engine = create_engine(url)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


async def _drop_abandoned_test_databases() -> None:
    """Drop the databases of earlier test sessions that were killed before their teardown."""
    connection = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", database="postgres"
    )
    try:
        names = await connection.fetch(
            "SELECT datname FROM pg_database"
            " WHERE datname ~ '^autobot_activity_test_[0-9]+(_empty)?$'"
        )
        for (name,) in names:
            pid = int(name.removesuffix("_empty").rsplit("_", 1)[1])
            if pid != os.getpid() and not _process_alive(pid):
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def postgres_activity_url() -> Iterator[str | None]:
    """A database of this test session's own, migrated once, dropped at the end."""
    if not pg_available():
        yield None
        return
    run_async(_drop_abandoned_test_databases())
    name = f"autobot_activity_test_{os.getpid()}"
    run_async(pg_admin(f'DROP DATABASE IF EXISTS "{name}"'))
    run_async(pg_admin(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    try:
        run_async(on_engine(url, upgrade))
        yield url
    finally:
        archive_database(url)
        run_async(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class ActivityDB:
    """A real database behind a real ActivitySpanExporter, with sync helpers for assertions."""

    def __init__(self, url: str, dialect: str) -> None:
        self.url = url
        self.dialect = dialect
        self.exporter = ActivitySpanExporter(url, timeout=30)

    def export(self, spans: Iterable[ReadableSpan]) -> SpanExportResult:
        return self.exporter.export(list(spans))

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of a table, oldest first, as typed values keyed by column name."""

        async def fetch(engine: AsyncEngine) -> list[dict[str, Any]]:
            statement = select(TABLES[table]).order_by(TABLES[table].c.timestamp)
            async with engine.connect() as connection:
                return [dict(row._mapping) for row in await connection.execute(statement)]

        return run_async(on_engine(self.url, fetch))

    def sql(self, *statements: str) -> None:
        """Run statements in one transaction (for tests that change the database itself)."""

        async def execute(engine: AsyncEngine) -> None:
            async with engine.begin() as connection:
                for statement in statements:
                    await connection.execute(text(statement))

        run_async(on_engine(self.url, execute))

    def ensure_schema(self) -> None:
        """Create the tables now (the exporter would on its first export)."""
        run_async(on_engine(self.url, upgrade))

    @property
    def store(self) -> ActivityStore:
        """A new ActivityStore on this database seeing every row (``async with db.store as s``)."""
        return ActivityStore(self.url, viewer=Viewer.system())


async def _truncate(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))


@pytest.fixture(params=["sqlite", "postgresql"])
def activity_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ActivityDB]:
    """The activity database on SQLite (a file in tmp_path) and on the real PostgreSQL."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_activity_url")
        require(url is not None, "PostgreSQL not reachable on 127.0.0.1:5432")
        archive_database(url)
        run_async(on_engine(url, _truncate))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'activity.db'}"
    db = ActivityDB(url, request.param)
    yield db
    db.exporter.shutdown()
    archive_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        archive_database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
        return
    require(pg_available(), "PostgreSQL not reachable on 127.0.0.1:5432")
    name = f"autobot_activity_test_{os.getpid()}_empty"
    run_async(pg_admin(f'DROP DATABASE IF EXISTS "{name}"'))
    run_async(pg_admin(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    try:
        yield url
    finally:
        archive_database(url)
        run_async(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
