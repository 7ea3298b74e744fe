"""Lose nothing, block nothing: burst, crash, short-lived apps, a wrong database name, an
outage and load, against the real PostgreSQL, with URLs that name ``localhost``.

Each application is a separate process set up with ``configure()`` (journal-first: an
``ActivitySpanProcessor`` journals each activity as it ends), sharing the test's state
folder, hence its journal, as two runs of one installation do. Speed is measured by
``benchmarks/bench_journal.py``, not here.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from support import require
from support.database import PG_HOST, PG_PORT, on_engine, pg_admin, pg_available, run_async
from support.instrumentors import Instrument
from support.journal import counters
from support.planted import archive_database, plant
from support.spans import SpanCapture
from support.tcp_proxy import TcpProxy

from autobot_activity_exporters import ActivitySpanExporter, ActivitySpanProcessor
from autobot_activity_exporters.delivery import describe, is_permanent
from autobot_activity_exporters.journal import JournalDirectory
from autobot_activity_exporters.schema import upgrade
from autobot_activity_otel import attributes as attr
from autobot_activity_otel import recording as recording_module
from autobot_activity_otel.instrumentation.file import FileInstrumentor
from autobot_activity_otel.instrumentation.file import flush as file_flush
from autobot_activity_otel.recording import recording

ROOT = Path(__file__).resolve().parents[2]


def _url(name: str, port: int = PG_PORT, password: str = "") -> str:
    """A URL as an application writes it: plain ``postgresql://``, host ``localhost``."""
    secret = f":{password}" if password else ""
    return f"postgresql://postgres{secret}@localhost:{port}/{name}"


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A PostgreSQL database of this module's own, migrated, dropped afterwards."""
    require(pg_available(), "PostgreSQL not reachable on 127.0.0.1:5432")
    name = f"autobot_activity_reliability_{os.getpid()}"
    run_async(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    run_async(pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        run_async(on_engine(f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}", upgrade))
        yield name
    finally:
        archive_database(f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}")
        run_async(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """An empty database (no schema): what a new installation points at."""
    require(pg_available(), "PostgreSQL not reachable on 127.0.0.1:5432")
    name = f"autobot_activity_reliability_{os.getpid()}_fresh"
    run_async(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    run_async(pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        archive_database(f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}")
        run_async(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _fetch_ids(name: str) -> list[uuid.UUID]:
    connection = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database=name)
    try:
        ids = [row[0] for row in await connection.fetch("SELECT id FROM terminal_activities")]
        await connection.execute("TRUNCATE terminal_activities, secret_usage")
        return ids
    finally:
        await connection.close()


def take_rows(name: str) -> list[uuid.UUID]:
    """Every terminal activity id in the database (emptied for the next test)."""
    archive_database(f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}")  # the sweep
    return run_async(_fetch_ids(name))


def journal_folder() -> Path:
    return Path(os.environ["AUTOBOT_ACTIVITY_STATE_DIR"]) / "journal"


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy(PG_HOST, PG_PORT)
    proxy.restore()
    yield proxy
    proxy.cut()


_APP = textwrap.dedent(
    """
    import sys, time
    from autobot_activity_exporters import configure
    from autobot_activity_otel import attributes as attr
    from autobot_activity_otel.recording import recording

    url, count, ending, ids_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    provider = configure(url, instrument=False)
    ids = []
    for index in range(count):  # one thread, flat out
        with recording(attr.ActivityType.TERMINAL, "execute") as record:
            record.set_text(attr.PROCESS_COMMAND_LINE, f"step {index}", "command")
        ids.append(str(record.activity_id))
    with open(ids_file, "w") as handle:
        handle.write("\\n".join(ids))
    if ending == "flush":
        sys.exit(0 if provider.force_flush(120_000) else 3)
    if ending == "wait":  # to be killed
        print("recorded", flush=True)
        time.sleep(120)
    # "exit": a short-lived app leaves without flushing; atexit ships
    """
)


def run_app(
    url: str, count: int, ending: str, tmp_path: Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[uuid.UUID]]:
    ids_file = tmp_path / f"ids-{uuid.uuid4().hex[:6]}"
    done = subprocess.run(
        [sys.executable, "-c", _APP, url, str(count), ending, str(ids_file)],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=240,
    )
    return done, [uuid.UUID(line) for line in ids_file.read_text().split()]


def test_a_burst_of_twenty_thousand_from_one_thread_is_stored_whole(
    database: str, tmp_path: Path
) -> None:
    done, produced = run_app(_url(database), 20_000, "flush", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = take_rows(database)
    assert len(produced) == 20_000 and len(rows) == 20_000, "activities lost"
    assert set(rows) == set(produced), "activities lost or doubled"
    assert "dropped" not in done.stderr and "Queue full" not in done.stderr


def test_sigkill_after_the_last_activity_loses_nothing(
    database: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    """The app records 1,000 activities (its database out of reach) and is killed 200 ms
    after the last; a later process on the same host with ``configure()`` stores them all."""
    proxy.cut()
    url = _url(database, proxy.port)
    ids_file = tmp_path / "ids"
    app = subprocess.Popen(
        [sys.executable, "-c", _APP, url, "1000", "wait", str(ids_file)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert app.stdout is not None
        assert app.stdout.readline().strip() == "recorded"
        time.sleep(0.2)
        app.send_signal(signal.SIGKILL)
        assert app.wait(30) == -signal.SIGKILL
    finally:
        app.kill()
        app.wait()
    produced = [uuid.UUID(line) for line in ids_file.read_text().split()]
    waiting = JournalDirectory(journal_folder()).status().pending
    assert waiting == 1_000, "the killed app's activities are not all in the journal"

    proxy.restore()
    done, later = run_app(url, 1, "flush", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = take_rows(database)
    assert sorted(rows) == sorted([*produced, *later]), "activities lost or doubled"
    assert "1000 activities left by earlier processes wait in the journal" in done.stderr


def test_a_short_lived_app_with_a_localhost_url_writes_every_row_before_it_exits(
    fresh_database: str, tmp_path: Path
) -> None:
    """No flush, no shutdown: atexit ships everything, resolving ``localhost`` at exit."""
    done, produced = run_app(_url(fresh_database), 7, "exit", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(take_rows(fresh_database)) == sorted(produced)
    assert JournalDirectory(journal_folder()).status().pending == 0
    assert not list(journal_folder().glob("*.seg")), "the journal was left behind"
    assert "WARNING" not in done.stderr and "waiting" not in done.stderr


def test_a_wrong_database_name_fixed_in_the_next_run_loses_nothing(
    database: str, tmp_path: Path
) -> None:
    password = plant("Url-pl4nted-pw-4412")  # trust auth: the server ignores it
    wrong = _url(f"{database}_no_such", password=password)
    first, first_ids = run_app(wrong, 25, "exit", tmp_path, AUTOBOT_ACTIVITY_EXIT_TIMEOUT="2")
    assert first.returncode == 0, first.stderr[-3000:]
    assert f'database "{database}_no_such" does not exist' in first.stderr
    assert f"localhost:5432/{database}_no_such" in first.stderr
    assert f"25 activities wait in the journal at {journal_folder()}" in first.stderr
    assert password not in first.stderr

    second, second_ids = run_app(_url(database), 5, "flush", tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert sorted(take_rows(database)) == sorted([*first_ids, *second_ids])
    assert JournalDirectory(journal_folder()).status().pending == 0


# --- in this process: outage and load through an ActivitySpanProcessor ---


class Pipeline:
    """What ``configure()`` builds: provider -> ActivitySpanProcessor -> journal -> database.

    Activities are recorded through ``recording()`` (the path every instrumentation takes),
    whose tracer is pointed at this provider; losses are read from the journal's counters.
    """

    def __init__(self, url: str, monkeypatch: pytest.MonkeyPatch, **options: object) -> None:
        self.reader = InMemoryMetricReader()
        self.exporter = ActivitySpanExporter(
            url,
            timeout=5,
            meter_provider=MeterProvider(metric_readers=[self.reader]),
            create_schema=False,
            **options,  # type: ignore[arg-type]
        )
        self.provider = TracerProvider()
        self.provider.add_span_processor(ActivitySpanProcessor(self.exporter))
        tracer = self.provider.get_tracer("reliability")
        monkeypatch.setattr(recording_module, "default_tracer", lambda: tracer)

    @staticmethod
    def activity(index: int) -> uuid.UUID:
        """One instrumented call's tracking: a terminal activity with a command line."""
        with recording(attr.ActivityType.TERMINAL, "execute") as record:
            record.set_text(attr.PROCESS_COMMAND_LINE, f"make build-{index}", "command")
            record.set(attr.PROCESS_EXIT_CODE, 0)
        return record.activity_id

    def finish(self) -> None:
        """Deliver everything, stop."""
        assert self.provider.force_flush(60_000), "the journal was not delivered"
        self.provider.shutdown()

    def losses(self) -> dict[tuple[str, str], int]:
        return counters(self.reader)


def test_a_ten_second_outage_loses_nothing(
    database: str, proxy: TcpProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = Pipeline(_url(database, proxy.port), monkeypatch)
    total, rate, cut_at, outage = 10_000, 500, 2_500, 10.0
    produced: list[uuid.UUID] = []
    waited_in_the_journal = False
    started = time.monotonic()
    cut_since: float | None = None
    for index in range(total):
        if index == cut_at:
            proxy.cut()
            cut_since = time.monotonic()
        if cut_since is not None and time.monotonic() - cut_since >= outage:
            waited_in_the_journal = pipeline.exporter.journal.status().pending > 0
            proxy.restore()
            cut_since = None
        produced.append(pipeline.activity(index))
        delay = started + (index + 1) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    assert cut_since is None, "the outage did not end within the run"
    pipeline.finish()

    rows = take_rows(database)
    assert waited_in_the_journal, "the outage never held activities in the journal"
    assert len(rows) == total and set(rows) == set(produced), "activities lost or doubled"
    assert pipeline.losses() == {}


def test_sixteen_producers_at_two_thousand_per_second_drop_nothing(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = Pipeline(_url(database), monkeypatch)
    seconds, producers, rate = 10.0, 16, 2_000
    per_producer = rate / producers
    produced: list[uuid.UUID] = []  # list.append is atomic under the GIL
    started = time.monotonic()

    def thread_producer(offset: int) -> None:
        count = 0
        while (elapsed := time.monotonic() - started) < seconds:
            produced.append(pipeline.activity(offset + count))
            count += 1
            time.sleep(max(0.0, count / per_producer - elapsed))

    async def task_producer(offset: int) -> None:
        count = 0
        while (elapsed := time.monotonic() - started) < seconds:
            produced.append(pipeline.activity(offset + count))
            count += 1
            await asyncio.sleep(max(0.0, count / per_producer - elapsed))

    async def tasks() -> None:
        await asyncio.gather(*(task_producer(1_000_000 * (8 + n)) for n in range(8)))

    threads = [threading.Thread(target=thread_producer, args=(1_000_000 * n,)) for n in range(8)]
    threads.append(threading.Thread(target=asyncio.run, args=(tasks(),)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pipeline.finish()

    rows = take_rows(database)
    assert produced and len(rows) == len(produced) and set(rows) == set(produced)
    assert pipeline.losses() == {}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def hung_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung database server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


@pytest.mark.leaves_journal  # the activity waits for a server that never answers (asserted)
def test_force_flush_and_shutdown_keep_their_timeouts_and_the_journal(
    hung_port: int, tmp_path: Path, spans: SpanCapture
) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{hung_port}/nowhere"
    exporter = ActivitySpanExporter(url, timeout=1, journal_dir=tmp_path / "journal")
    Pipeline.activity(0)
    assert exporter.export(spans.activities()) is SpanExportResult.SUCCESS
    started = time.monotonic()
    assert exporter.force_flush(500) is False  # nothing written: the server never answers
    flushed = time.monotonic() - started
    started = time.monotonic()
    exporter.shutdown(timeout_millis=500)
    stopped = time.monotonic() - started
    assert flushed < 3 and stopped < 4, "a flush or shutdown outlived its timeout"
    assert JournalDirectory(tmp_path / "journal").status().pending == 1


def test_the_exporter_never_tracks_its_own_files(
    instrument: Instrument, tmp_path: Path, spans: SpanCapture
) -> None:
    """Journal writes, reads and deletes, and the SQLite file, are not file activity."""
    instrument(FileInstrumentor, roots=[tmp_path], coalesce_window_ms=0)
    database = tmp_path / "activity.db"
    exporter = ActivitySpanExporter(
        f"sqlite:///{database}", timeout=5, journal_dir=tmp_path / "journal"
    )
    Pipeline.activity(0)
    assert exporter.export(spans.activities()) is SpanExportResult.SUCCESS
    assert exporter.force_flush(10_000)  # journaled, read back, written, deleted
    exporter.shutdown()
    (tmp_path / "own.txt").write_text("the application's own file")  # tracked
    file_flush()
    paths = [span.attributes[attr.FILE_PATH] for span in spans.activities("file")]
    assert paths and all(path == str(tmp_path / "own.txt") for path in paths)


def _failure(engine: sqlalchemy.Engine, statement: object, rows: object = None) -> Exception:
    with pytest.raises(Exception) as caught, engine.begin() as connection:
        connection.execute(statement, rows)  # type: ignore[call-overload]
    return caught.value


async def _pg_failures() -> tuple[Exception, Exception]:
    connection = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres")
    try:
        with pytest.raises(asyncpg.PostgresError) as refused:
            await connection.execute("SELECT 'not a number'::int")
    finally:
        await connection.close()
    with pytest.raises(OSError) as unreachable:
        await asyncpg.connect(host="127.0.0.1", port=_closed_port(), user="postgres")
    return refused.value, unreachable.value


def test_only_the_datas_own_faults_are_permanent(tmp_path: Path) -> None:
    """Real driver errors: refusals of a value are quarantined, everything else retried."""
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'classify.db'}")
    table = sqlalchemy.Table(
        "t",
        sqlalchemy.MetaData(),
        sqlalchemy.Column("id", sqlalchemy.Uuid, primary_key=True),
        sqlalchemy.Column("v", sqlalchemy.Text, nullable=False),
    )
    table.create(engine)
    not_null = _failure(engine, table.insert(), [{"id": uuid.uuid4(), "v": None}])
    not_a_uuid = _failure(engine, table.insert(), [{"id": 5, "v": "x"}])
    no_table = _failure(engine, sqlalchemy.text("INSERT INTO missing VALUES (1)"))
    engine.dispose()
    assert is_permanent(not_null) and "SQLITE_CONSTRAINT_NOTNULL" in describe(not_null)
    assert is_permanent(not_a_uuid)
    assert not is_permanent(no_table)
    assert not is_permanent(TypeError("a bug of ours, not bad data"))
    require(pg_available(), "PostgreSQL not reachable on 127.0.0.1:5432")
    refused, unreachable = run_async(_pg_failures())
    assert is_permanent(refused) and describe(refused).endswith("(SQLSTATE 22P02)")
    assert not is_permanent(unreachable)
