"""Lose nothing, block nothing: outage, crash and load against the real PostgreSQL;
drop counting, timeouts and the exporter's own files without it.

Each test drives a real TracerProvider + BatchSpanProcessor + ActivitySpanExporter; the
outage and the crash put a TCP proxy of the test's own between the exporter and the server.
Figures (latency ratio, throughput) are printed for docs/reliability.md (run with ``-s``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from support import require
from support.database import (
    PG_HOST,
    PG_PORT,
    ActivityDB,
    on_engine,
    pg_admin,
    pg_available,
    run_async,
)
from support.instrumentors import Instrument
from support.planted import archive_database
from support.spans import SpanCapture
from support.tcp_proxy import TcpProxy

from autobot_activity_exporters import ActivitySpanExporter
from autobot_activity_exporters.delivery import describe, is_permanent
from autobot_activity_exporters.rows import rows_from_span
from autobot_activity_exporters.schema import upgrade
from autobot_activity_exporters.spool import Spool
from autobot_activity_otel import attributes as attr
from autobot_activity_otel import recording as recording_module
from autobot_activity_otel.instrumentation.file import FileInstrumentor
from autobot_activity_otel.instrumentation.file import flush as file_flush
from autobot_activity_otel.recording import recording

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy(PG_HOST, PG_PORT)
    proxy.restore()
    yield proxy
    proxy.cut()


class Pipeline:
    """The SDK pipeline an application has: provider -> BatchSpanProcessor -> our exporter.

    Activities are recorded through ``recording()`` (the path every instrumentation takes),
    whose tracer is pointed at this provider; drops are read from the SDK's own metrics.
    """

    def __init__(
        self,
        url: str,
        spool: Path,
        monkeypatch: pytest.MonkeyPatch,
        *,
        spool_max_bytes: int | None = None,
    ) -> None:
        monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
        for name in ("SCHEDULE_DELAY", "MAX_QUEUE_SIZE", "MAX_EXPORT_BATCH_SIZE"):
            monkeypatch.delenv(f"OTEL_BSP_{name}", raising=False)
        self.reader = InMemoryMetricReader()
        meters = MeterProvider(metric_readers=[self.reader])
        self.exporter = ActivitySpanExporter(
            url,
            timeout=5,
            spool_dir=spool,
            spool_max_bytes=spool_max_bytes,
            meter_provider=meters,
            create_schema=False,
        )
        self.provider = TracerProvider()
        self.provider.add_span_processor(BatchSpanProcessor(self.exporter, meter_provider=meters))
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
        """Push the queue through, replay the spool, stop."""
        self.provider.force_flush()
        assert self.exporter.force_flush(60_000), "spool not drained"
        self.provider.shutdown()

    def dropped(self) -> int:
        """Spans the SDK's queue dropped plus activities our exporter dropped."""
        data = self.reader.get_metrics_data()
        total = 0
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        if metric.name == "autobot_activity.dropped" or (
                            metric.name.startswith("otel.sdk.processor.span")
                            and "error.type" in point.attributes
                        ):
                            total += point.value
        return total


def test_a_ten_second_outage_loses_nothing_and_does_not_slow_the_caller(
    database: str, proxy: TcpProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{database}"
    pipeline = Pipeline(url, tmp_path / "spool", monkeypatch)
    total, rate, cut_at, outage = 10_000, 500, 2_500, 10.0
    produced: list[uuid.UUID] = []
    normal: list[float] = []
    during: list[float] = []
    spooled_during_outage = False
    started = time.monotonic()
    cut_since: float | None = None
    for index in range(total):
        if index == cut_at:
            proxy.cut()
            cut_since = time.monotonic()
        if cut_since is not None and time.monotonic() - cut_since >= outage:
            spooled_during_outage = pipeline.exporter.spool.has_pending()
            proxy.restore()
            cut_since = None
        began = time.perf_counter()
        produced.append(pipeline.activity(index))
        latency = time.perf_counter() - began
        if index >= 200:  # past warm-up
            (during if cut_since is not None else normal).append(latency)
        delay = started + (index + 1) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    assert cut_since is None, "the outage did not end within the run"
    pipeline.finish()

    rows = take_rows(database)
    assert spooled_during_outage, "the outage never reached the spool"
    assert len(rows) == total and set(rows) == set(produced), "activities lost or doubled"
    assert pipeline.dropped() == 0
    ratio = statistics.median(during) / statistics.median(normal)
    print(
        f"\noutage: median call {statistics.median(normal) * 1e6:.0f} us normal,"
        f" {statistics.median(during) * 1e6:.0f} us during a {outage:.0f} s outage"
        f" (ratio {ratio:.2f}); {len(during)} calls during it"
    )
    assert ratio <= 2.0, "calls slowed down during the outage"


_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
    from autobot_activity_exporters import ActivitySpanExporter
    from autobot_activity_otel import attributes as attr
    from autobot_activity_otel.recording import recording

    url, spool, acknowledged = sys.argv[1:4]
    ack = os.open(acknowledged, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    class Acknowledging(ActivitySpanExporter):
        # Writes the ids of every batch export() returned SUCCESS for: durable from then on.
        def export(self, spans):
            result = super().export(spans)
            if result is SpanExportResult.SUCCESS:
                ids = "".join(f"{s.attributes[attr.ACTIVITY_ID]}\\n" for s in spans)
                os.write(ack, ids.encode())
                os.fsync(ack)
            return result

    provider = TracerProvider()
    exporter = Acknowledging(url, timeout=5, spool_dir=spool, create_schema=False)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=100))
    trace.set_tracer_provider(provider)
    index = 0
    while True:
        with recording(attr.ActivityType.TERMINAL, "execute") as record:
            record.set_text(attr.PROCESS_COMMAND_LINE, f"deploy step-{index}", "command")
        index += 1
        time.sleep(0.0005)  # about 1,500 a second: below what the queue holds
    """
)
_REPLAYER = textwrap.dedent(
    """
    import sys, time
    from autobot_activity_exporters import ActivitySpanExporter

    url, spool = sys.argv[1:3]
    exporter = ActivitySpanExporter(url, timeout=5, spool_dir=spool, create_schema=False)
    deadline = time.monotonic() + 60
    while exporter.spool.has_pending() and time.monotonic() < deadline:  # no new span needed
        time.sleep(0.1)
    exporter.shutdown()
    sys.exit(1 if exporter.spool.has_pending() else 0)
    """
)


def _acknowledged(path: Path) -> list[str]:
    text = path.read_text() if path.exists() else ""
    return text[: text.rfind("\n") + 1].split()


def test_sigkill_loses_nothing_that_was_acknowledged_to_the_spool(
    database: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{database}"
    spool, acknowledged = tmp_path / "spool", tmp_path / "acknowledged"
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, url, str(spool), str(acknowledged)], env=environment
    )
    try:
        deadline = time.monotonic() + 30
        while len(_acknowledged(acknowledged)) < 1_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        written_directly = len(_acknowledged(acknowledged))
        proxy.cut()  # from now on every batch goes to the spool
        while len(_acknowledged(acknowledged)) < written_directly + 2_000:
            assert time.monotonic() < deadline, "the child acknowledged too little"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    acknowledged_ids = {uuid.UUID(text) for text in _acknowledged(acknowledged)}
    spooled = list(spool.glob("*.batch"))
    assert spooled, "nothing was spooled before the kill"

    proxy.restore()
    replay = subprocess.run(
        [sys.executable, "-c", _REPLAYER, url, str(spool)], env=environment, timeout=90
    )
    assert replay.returncode == 0, "the restarted exporter did not empty the spool"

    rows = set(take_rows(database))
    missing = acknowledged_ids - rows
    print(
        f"\ncrash: {len(acknowledged_ids)} acknowledged ({written_directly}+ written directly,"
        f" {len(spooled)} batches spooled), {len(rows)} rows after replay, {len(missing)} missing"
    )
    assert not missing, "acknowledged activities lost"


def test_sixteen_producers_at_two_thousand_per_second_drop_nothing(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{database}"
    pipeline = Pipeline(url, tmp_path / "spool", monkeypatch)
    seconds, producers, rate = 20.0, 16, 2_000
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
    elapsed = time.monotonic() - started
    pipeline.finish()

    rows = take_rows(database)
    dropped = pipeline.dropped()
    print(
        f"\nload: {len(produced)} activities from 8 threads + 8 tasks in {elapsed:.1f} s"
        f" ({len(produced) / elapsed:.0f}/s), {len(rows)} rows, {dropped} dropped"
    )
    assert len(produced) >= 0.9 * seconds * rate, "the producers fell behind the target rate"
    assert len(rows) + dropped == len(produced) and set(rows) <= set(produced)
    assert dropped == 0


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


def test_drops_are_counted_and_warned_about_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The dropped count sees both losses: a full spool (ours) and the SDK's own queue."""
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/nowhere"
    pipeline = Pipeline(url, tmp_path / "spool", monkeypatch, spool_max_bytes=1)
    with caplog.at_level(logging.WARNING):
        for index in range(3):
            pipeline.activity(index)
            pipeline.provider.force_flush()  # three batches, each refused by the full spool
    assert pipeline.dropped() == 3
    assert caplog.text.count("spool full") == 1, "the warning is not rate-limited"
    pipeline.provider.shutdown()
    pipeline.activity(3)  # the SDK drops it: its processor is shut down
    assert pipeline.dropped() == 4


def test_force_flush_and_shutdown_keep_their_timeouts_and_the_spool(
    hung_port: int, tmp_path: Path, spans: SpanCapture
) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{hung_port}/nowhere"
    exporter = ActivitySpanExporter(url, timeout=1, spool_dir=tmp_path)
    Pipeline.activity(0)
    assert exporter.export(spans.activities()) is SpanExportResult.SUCCESS
    started = time.monotonic()
    assert exporter.force_flush(500) is False  # nothing written: the server never answers
    flushed = time.monotonic() - started
    started = time.monotonic()
    exporter.shutdown(timeout_millis=500)
    stopped = time.monotonic() - started
    assert flushed < 3 and stopped < 4, "a flush or shutdown outlived its timeout"
    assert [len(Spool(tmp_path).load(path)) for path in Spool(tmp_path).pending()] == [1]


def test_the_exporter_never_tracks_its_own_files(
    instrument: Instrument, tmp_path: Path, spans: SpanCapture
) -> None:
    """Spool writes, reads, renames and deletes, and the SQLite file, are not file activity."""
    instrument(FileInstrumentor, roots=[tmp_path], coalesce_window_ms=0)
    database = tmp_path / "activity.db"
    exporter = ActivitySpanExporter(
        f"sqlite:///{database}", timeout=5, spool_dir=tmp_path / "spool", create_schema=False
    )
    Pipeline.activity(0)
    batch = spans.activities()
    assert exporter.export(batch) is SpanExportResult.SUCCESS  # no tables: spooled
    run_async(on_engine(exporter.database_url, upgrade))
    assert exporter.force_flush(10_000)  # read back, written, deleted
    exporter.shutdown()
    (tmp_path / "own.txt").write_text("the application's own file")  # tracked
    file_flush()
    paths = [span.attributes[attr.FILE_PATH] for span in spans.activities("file")]
    assert paths and all(path == str(tmp_path / "own.txt") for path in paths)


def test_a_new_exporter_replays_around_an_unreadable_spool_file(
    tmp_path: Path, spans: SpanCapture
) -> None:
    """Batches an earlier process spooled are written on start-up; a torn one is set aside."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'activity.db'}"
    spool = Spool(tmp_path / "spool")
    first, second = Pipeline.activity(1), Pipeline.activity(2)
    for span in spans.activities():
        rows = rows_from_span(span)
        assert rows is not None and spool.put([rows])
        spool.put([rows])  # the same batch twice, as after a partial replay: written once
    spool.pending()[1].write_bytes(b"[{torn")

    exporter = ActivitySpanExporter(url, timeout=5, spool_dir=spool.directory)
    try:
        deadline = time.monotonic() + 10
        while exporter.spool.has_pending() and time.monotonic() < deadline:
            time.sleep(0.05)  # no span, no flush: replay starts with the exporter
        assert not exporter.spool.has_pending(), "the spool was not replayed on start-up"
    finally:
        exporter.shutdown()
    written = ActivityDB(url, "sqlite").rows("terminal_activities")
    assert sorted(row["id"] for row in written) == sorted([first, second])
    assert len(list((spool.directory / "quarantine").glob("*.batch"))) == 1


def _failure(engine: sqlalchemy.Engine, statement: Any, rows: Any = None) -> Exception:
    with pytest.raises(Exception) as caught, engine.begin() as connection:
        connection.execute(statement, rows)
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
