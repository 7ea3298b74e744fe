"""Shared fixtures: one SDK tracer provider for the session, spans captured in memory.

Every test, and every process a test starts, keeps its state (fingerprint key, journal) under
a temporary folder of the session's, never in the real home; pytest's own ``tmp_path``
folders live there too, and the whole folder is removed at the end of the run (kept only
when the planted-secret sweep found a leak, as the evidence). A test that leaves journal
records pending or quarantined fails, unless it is marked ``leaves_journal``.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import currently_in_test_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from sqlalchemy.engine import make_url
from support import planted, require
from support.database import (
    PG_HOST,
    PG_PORT,
    ActivityDB,
    drop_abandoned_test_databases,
    on_engine,
    pg_admin,
    pg_available,
    run_async,
    truncate_all,
)
from support.instrumentors import Instrument, Instrumented
from support.journal import leftovers
from support.spans import MEMORY, SpanCapture

from autobot_activity_exporters.schema import upgrade
from autobot_activity_exporters.viewer import APPLICATION_ROLE
from autobot_activity_otel.secrets.fingerprint import fingerprint_key
from autobot_activity_otel.secrets.registry import Registry
from autobot_activity_otel.settings import FINGERPRINT_KEY as KEY_ENV
from autobot_activity_otel.settings import STATE_DIR as STATE_DIR_ENV

_session_state = Path(tempfile.mkdtemp(prefix="autobot-activity-tests-"))
os.environ[STATE_DIR_ENV] = str(_session_state / "state")
os.environ[KEY_ENV] = "tests-fingerprint-key"
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(MEMORY))
trace.set_tracer_provider(_provider)

# --- the planted-secret sweep (tests/support/planted.py): what it searches at the end ---
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
_sweep_failure: list[str] = []
_register = Registry.register


@functools.wraps(_register)
def _recording_register(self: Registry, secret_id: Any, value: Any) -> None:
    _register(self, secret_id, value)
    if not currently_in_test_context():  # hypothesis' made-up values may be any common word
        planted.record_registered(value)


Registry.register = _recording_register  # type: ignore[method-assign]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """``tmp_path`` folders under the session's folder (unless ``--basetemp`` says otherwise)."""
    if config.option.basetemp is None:
        config.option.basetemp = str(_session_state / "pytest")


@pytest.fixture(scope="session", autouse=True)
def _sweep_basetemp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Remember pytest's temporary folder: its SQLite files, spools and logs are swept too."""
    _basetemp.append(tmp_path_factory.getbasetemp())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any planted or registered secret value was stored, journaled or logged,
    or if a test database could not be archived for this search.

    Under pytest-xdist each worker sweeps what it planted in its own folders (its basetemp
    lies in the controller's folder) and hands what it found to the controller
    (``pytest_testnodedown``), which fails the run and keeps its folder as the evidence.
    """
    _session_log.flush()
    values = planted.values()
    leaks = [
        f"{leak} ({planted.origin(values[int(leak.rsplit('#', 1)[1])])})"
        for leak in planted.find_leaks([_session_state, *_basetemp], values)
    ]
    errors = planted.archive_errors()
    lines = []
    if leaks:
        lines += ["planted-secret sweep: secret values found (file, value number):", *leaks]
    if errors:
        lines += ["planted-secret sweep: databases that could not be archived:", *errors]
    if lines:
        lines.append(f"kept for inspection: {_session_state}")
        worker_output = getattr(session.config, "workeroutput", None)
        if worker_output is not None:
            worker_output[_SWEEP_OUTPUT] = lines
    _sweep_failure.extend(lines)
    if not _sweep_failure:
        logging.getLogger().removeHandler(_session_log)
        _session_log.close()
        shutil.rmtree(_session_state, ignore_errors=True)
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write("\n")
        for line in _sweep_failure:
            reporter.write_line(line, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


_SWEEP_OUTPUT = "planted_sweep"
"""The key of a worker's sweep failure in what pytest-xdist hands back to the controller."""


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist's controller: a worker is done; take what its sweep found."""
    _sweep_failure.extend(getattr(node, "workeroutput", {}).get(_SWEEP_OUTPUT, []))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Say again, after pytest's own summary, why a run whose tests all passed failed: a log
    that keeps only its tail must still show it."""
    if _sweep_failure:
        print("\nthe run failed on the planted-secret sweep:", *_sweep_failure, sep="\n")


@pytest.fixture(autouse=True)
def fingerprint_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A fingerprint key and state folder of the test's own."""
    state = tmp_path / "state"
    monkeypatch.setenv(KEY_ENV, "tests-secrets-fingerprint-key")
    monkeypatch.setenv(STATE_DIR_ENV, str(state))
    fingerprint_key.cache_clear()
    yield state
    fingerprint_key.cache_clear()


@pytest.fixture(autouse=True)
def journal_left_clean(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """Fail a test that leaves journal records pending or quarantined (its fixtures, which
    shut their exporters down, are torn down before this check)."""
    yield
    if request.node.get_closest_marker("leaves_journal") is None:
        found = leftovers(tmp_path)
        if found:
            pytest.fail("; ".join(found), pytrace=False)


@pytest.fixture
def spans() -> SpanCapture:
    MEMORY.clear()
    return SpanCapture()


@pytest.fixture
def instrument() -> Iterator[Instrument]:
    """``instrument(FileInstrumentor, roots=[...])``: on for this test only; every instrumentor
    it turned on is turned off afterwards, whether the test passed or not."""
    instrumented = Instrumented()
    yield instrumented
    instrumented.undo()


@pytest.fixture
def instrumented(request: pytest.FixtureRequest, instrument: Instrument) -> Any:
    """The module's instrumentor, on for the test; the module names it with
    ``pytestmark = pytest.mark.instrumentor.with_args(Class, **options)``."""
    marker = request.node.get_closest_marker("instrumentor")
    assert marker is not None, "no pytest.mark.instrumentor.with_args(Class, **options)"
    return instrument(*marker.args, **marker.kwargs)


# --- database fixtures (activity_db) ---


@pytest.fixture(scope="session")
def postgres_activity_url() -> Iterator[str | None]:
    """A database of this test session's own, migrated once, dropped at the end."""
    if not pg_available():
        yield None
        return
    run_async(drop_abandoned_test_databases())
    name = f"autobot_activity_test_{os.getpid()}"
    run_async(pg_admin(f'DROP DATABASE IF EXISTS "{name}"'))
    run_async(pg_admin(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    try:
        run_async(on_engine(url, upgrade))
        yield url
    finally:
        planted.archive_database(url)
        run_async(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def activity_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ActivityDB]:
    """The activity database on SQLite (a file in tmp_path) and on the real PostgreSQL."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_activity_url")
        require(url is not None, "PostgreSQL not reachable on 127.0.0.1:5432")
        planted.archive_database(url)
        run_async(on_engine(url, truncate_all))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'activity.db'}"
    db = ActivityDB(url, request.param)
    yield db
    db.exporter.shutdown()
    planted.archive_database(url)


@pytest.fixture
def member_login(activity_db: ActivityDB) -> Iterator[str]:
    """A login role that is a member of the application role, as a web app's would be."""
    role = f"autobot_activity_test_web_{os.getpid()}"
    activity_db.sql(
        f'DROP ROLE IF EXISTS "{role}"', f'CREATE ROLE "{role}" LOGIN IN ROLE {APPLICATION_ROLE}'
    )
    try:
        yield make_url(activity_db.url).set(username=role).render_as_string(hide_password=False)
    finally:
        activity_db.sql(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        planted.archive_database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
        return
    require(pg_available(), "PostgreSQL not reachable on 127.0.0.1:5432")
    name = f"autobot_activity_test_{os.getpid()}_empty"
    run_async(pg_admin(f'DROP DATABASE IF EXISTS "{name}"'))
    run_async(pg_admin(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    try:
        yield url
    finally:
        planted.archive_database(url)
        run_async(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
