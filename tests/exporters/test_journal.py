"""The journal on real files: its format, damage, tears, several writers, the cap and its
policies, fork, start-up and the ``journal`` commands. Destinations are real SQLite files
(PostgreSQL scenarios with separate processes are in test_reliability.py)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support.database import on_engine, run_async, table_rows
from support.journal import counters
from support.planted import plant

from autobot_activity_exporters.cli import main as cli_main
from autobot_activity_exporters.database import resolve_database_url
from autobot_activity_exporters.delivery import NotDelivered
from autobot_activity_exporters.journal import DatabaseDestination, Journal, JournalDirectory
from autobot_activity_exporters.journal import format as journal_format
from autobot_activity_exporters.journal.destination import Refusal, Rejected
from autobot_activity_exporters.journal.directory import SEGMENT_SUFFIX
from autobot_activity_exporters.journal.shipper import RETRY_AFTER_MAX_SECONDS, pause_after
from autobot_activity_exporters.schema import upgrade
from autobot_activity_exporters.spans import attributes_of, frame_of, snapshot_of
from autobot_activity_otel import admission
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.admission import ActivityRefused
from autobot_activity_otel.recording import ActivityRecord
from autobot_activity_otel.snapshot import ActivitySnapshot, SnapshotEvent, StatusCode

ROOT = Path(__file__).resolve().parents[2]
FORK_PROBE = ROOT / "tests" / "support" / "fork_probe.py"


def snapshot(command: str = "ls", **raw: object) -> ActivitySnapshot:
    """A finished terminal activity as the journal receives it (text through the redactor)."""
    record = ActivityRecord(attr.ActivityType.TERMINAL, "execute")
    record.set_text(attr.PROCESS_COMMAND_LINE, command, "command")
    for key, value in raw.items():
        record.set(key, value)  # type: ignore[arg-type]
    record.end()
    return ActivitySnapshot(
        record.name, uuid.uuid4().int, 2, record.start_ns, record.end_ns, record.attributes
    )


class Setup:
    """A journal folder in the test's tmp_path and an SQLite destination beside it."""

    def __init__(self, tmp_path: Path) -> None:
        self.folder = tmp_path / "journal"
        self.url = resolve_database_url(f"sqlite:///{tmp_path / 'activity.db'}")
        self.reader = InMemoryMetricReader()
        self.meters = MeterProvider(metric_readers=[self.reader])
        self.journals: list[Journal] = []

    def journal(
        self, url: str | None = None, *, create_schema: bool = True, **options: object
    ) -> Journal:
        journal = Journal(
            DatabaseDestination(url or self.url, create_schema=create_schema),
            directory=self.folder,
            send_timeout=5,
            meter_provider=self.meters,
            **options,  # type: ignore[arg-type]
        )
        self.journals.append(journal)
        return journal

    def ids(self) -> list[str]:
        try:
            return [str(row["id"]) for row in table_rows(self.url, "terminal_activities")]
        except Exception:
            return []

    def counters(self) -> dict[tuple[str, str], int]:
        return counters(self.reader)

    def segments(self) -> list[Path]:
        return sorted(self.folder.glob(f"*{SEGMENT_SUFFIX}"))


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    made = Setup(tmp_path)
    yield made
    for journal in made.journals:
        journal.close(5)


def activity_id(item: ActivitySnapshot) -> str:
    return str(item.attributes[attr.ACTIVITY_ID])


# --- the format ---


def test_a_snapshot_comes_back_exactly_and_the_segment_is_versioned(setup: Setup) -> None:
    original = ActivitySnapshot(
        name="terminal execute",
        trace_id=(1 << 127) + 5,
        span_id=(1 << 63) + 7,
        start_ns=datetime(2026, 1, 2, 3, 4, 5),  # a foreign producer's naive datetime
        end_ns=1_700_000_000_000_000_000,
        attributes={
            attr.ACTIVITY_TYPE: "terminal",
            "flags": (True, False),
            "counts": (1, -2),
            "ratio": float("nan"),
            "broken": "bad \ud800 surrogate",
        },
        parent_span_id=9,
        status_code=StatusCode.ERROR,
        status_description="OSError",
        events=(SnapshotEvent("exception", 5, {"exception.type": "OSError"}),),
    )
    frame = journal_format.encode(original)
    found = journal_format.scan(frame, final=True, limit=10)
    (item,) = found.items
    assert isinstance(item, journal_format.Frame) and found.stop == len(frame)
    decoded = journal_format.decode(item.payload)
    assert {k: v for k, v in decoded.attributes.items() if k != "ratio"} == {
        k: v for k, v in original.attributes.items() if k != "ratio"
    }
    assert str(decoded.attributes["ratio"]) == "nan"
    assert (decoded.trace_id, decoded.span_id, decoded.parent_span_id) == (
        original.trace_id,
        original.span_id,
        9,
    )
    assert (decoded.start_ns, decoded.end_ns) == (original.start_ns, original.end_ns)
    assert (decoded.status_code, decoded.status_description) == (StatusCode.ERROR, "OSError")
    assert decoded.events == original.events

    journal = setup.journal()
    assert journal.append(snapshot())
    (segment,) = setup.segments()
    assert segment.read_bytes().startswith(journal_format.MAGIC + bytes([1]))
    assert journal.flush(10)


def test_an_sdk_span_is_framed_as_its_snapshot_would_be() -> None:
    """The span processor frames the SDK's own attribute dict (no copy): the same bytes as
    the snapshot of the span, events, arrays and parent included."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("parent"):
        span = tracer.start_span(
            "terminal execute",
            attributes={attr.ACTIVITY_TYPE: "terminal", "argv": ["ls", "-la"], "n": 3},
        )
        span.add_event("exception", {"exception.type": "OSError"})
        span.set_attribute("late", "set after start")
        span.end()
    ended = exporter.get_finished_spans()[-2]
    assert attributes_of(ended) == dict(ended.attributes or {})
    framed = frame_of(ended)
    assert framed == journal_format.encode(snapshot_of(ended))
    decoded = journal_format.decode(framed[journal_format.FRAME_OVERHEAD :])
    assert decoded.attributes["argv"] == ("ls", "-la") and decoded.attributes["late"]
    assert decoded.events[0].name == "exception" and decoded.parent_span_id is not None


def test_the_journal_holds_only_what_the_instrumentation_redacted(setup: Setup) -> None:
    secret = plant("hunter2-journal-planted")
    journal = setup.journal(url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    assert journal.append(snapshot(f"mysql -u root -p{secret} shop"))
    stored = b"".join(path.read_bytes() for path in setup.folder.rglob("*") if path.is_file())
    assert stored and secret.encode() not in stored, "a planted secret reached the journal"
    JournalDirectory(setup.folder).discard()


# --- damage and tears ---


@pytest.mark.leaves_journal  # the damaged bytes are quarantined (asserted)
def test_a_damaged_record_is_quarantined_and_the_records_behind_it_arrive(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    writer = setup.journal(url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    items = [snapshot(f"step {index}") for index in range(5)]
    for item in items:
        assert writer.append(item)
    writer.close(0.1)
    (segment,) = setup.segments()
    data = bytearray(segment.read_bytes())
    second = data.index(journal_format.MARKER, journal_format.HEADER_SIZE + 1)
    data[second + 20] ^= 0xFF  # a flipped byte in the second record's payload
    segment.write_bytes(bytes(data))

    with caplog.at_level(logging.WARNING):
        reader = setup.journal()
        assert reader.drain(time.monotonic() + 15)
    assert sorted(setup.ids()) == sorted(activity_id(i) for i in items[:1] + items[2:])
    quarantine = setup.folder / "quarantine"
    (damaged,) = quarantine.glob("*.damaged")
    assert damaged.name.endswith(f"@{second}.damaged")
    assert "no journal record" in (quarantine / f"{damaged.name}.reason").read_text()
    assert setup.counters() == {("autobot_activity.quarantined", "damaged_journal"): 1}
    assert "damaged journal bytes" in caplog.text and setup.segments() == []


@pytest.mark.leaves_journal  # the unreadable segment is quarantined whole (asserted)
def test_a_segment_of_another_format_is_quarantined_and_the_others_arrive(setup: Setup) -> None:
    writer = setup.journal(url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    kept = snapshot("kept")
    assert writer.append(kept)
    writer.close(0.1)
    future = setup.folder / f"00000000000000000001-1-abcdef01{SEGMENT_SUFFIX}"
    future.write_bytes(journal_format.MAGIC + bytes([99]) + b"whatever comes next")
    assert setup.journal().drain(time.monotonic() + 15)
    assert setup.ids() == [activity_id(kept)]
    (whole,) = (setup.folder / "quarantine").glob("*.damaged")
    assert whole.read_bytes().startswith(journal_format.MAGIC)
    assert "version 99" in Path(f"{whole}.reason").read_text()


def test_a_record_being_written_is_left_for_later_and_a_dead_writers_tear_is_set_aside(
    setup: Setup,
) -> None:
    """A live writer's incomplete tail waits; once its process is gone, the tail is final."""
    items = [snapshot(f"job {index}") for index in range(3)]
    frames = [journal_format.encode(item) for item in items]
    path = setup.folder / f"{time.time_ns():020d}-424242-0badc0de{SEGMENT_SUFFIX}"
    setup.folder.mkdir(parents=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a writer that is alive
    os.write(fd, journal_format.HEADER + frames[0] + frames[1] + frames[2][:30])
    journal = setup.journal()
    try:
        assert journal.drain(time.monotonic() + 2) is False  # the live tail keeps it waiting
        assert sorted(setup.ids()) == sorted(activity_id(i) for i in items[:2])
        assert path.exists()
    finally:
        os.close(fd)  # the writer dies mid-record: the kernel drops its lock
    assert journal.drain(time.monotonic() + 10)
    assert sorted(setup.ids()) == sorted(activity_id(i) for i in items[:2])
    assert not path.exists() and setup.counters()[("autobot_activity.dropped", "torn")] == 1
    (torn,) = (setup.folder / "quarantine").glob("*.damaged")
    assert torn.read_bytes() == frames[2][:30]
    torn.unlink()
    Path(f"{torn}.reason").unlink()


# --- several processes ---


_WRITER = textwrap.dedent(
    """
    import sys, uuid
    from autobot_activity_exporters.journal import DatabaseDestination, Journal
    from autobot_activity_otel.snapshot import ActivitySnapshot
    folder, count, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    # a destination that is not there: this process only writes
    journal = Journal(DatabaseDestination("postgresql+asyncpg://u@127.0.0.1:1/x"),
                      directory=folder, exit_timeout=0)
    for index in range(count):
        activity = str(uuid.uuid4())
        attributes = {"activity.type": "terminal", "activity.id": activity,
                      "activity.action": "execute", "process.command_line": f"{tag} {index}"}
        assert journal.append(ActivitySnapshot("t", 1, 2, 1, 2, attributes))
        print(activity)
    """
)


def writer_process(folder: Path, count: int, tag: str) -> subprocess.Popen[str]:
    """Another process that journals ``count`` activities and prints their ids."""
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(folder), str(count), tag],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_writers_of_several_processes_share_the_folder_and_one_drainer_ships_all(
    setup: Setup,
) -> None:
    writers = [writer_process(setup.folder, 300, f"w{n}") for n in range(3)]
    written = [line for writer in writers for line in writer.communicate(timeout=60)[0].split()]
    assert all(writer.returncode == 0 for writer in writers)
    assert len(setup.segments()) == 3  # one of each process's own

    assert setup.journal().drain(time.monotonic() + 30)
    assert sorted(setup.ids()) == sorted(written) and len(written) == 900
    directory = JournalDirectory(setup.folder)
    with directory.draining() as mine, directory.draining() as theirs:
        assert mine and not theirs


def test_a_forked_child_journals_into_a_segment_of_its_own(setup: Setup) -> None:
    journal = setup.journal()
    assert journal.append(snapshot("parent"))
    child_item = snapshot("child")
    pid = os.fork()
    if pid == 0:  # the child: journal one activity, ship it, leave without cleanup
        code = 0
        try:
            code = 0 if journal.append(child_item) and journal.flush(20) else 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while (done := os.waitpid(pid, os.WNOHANG)) == (0, 0):
        assert time.monotonic() < deadline, "the forked child hung"
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(done[1]) == 0
    assert journal.flush(10)
    assert activity_id(child_item) in setup.ids() and len(setup.ids()) == 2


class ParentGate:
    """The parent's sends wait at a gate, then fail; a forked child's go to the database."""

    def __init__(self, url: str) -> None:
        self.database = DatabaseDestination(url)
        self.description = self.database.description
        self.parent = os.getpid()
        self.sending = threading.Event()
        self.release = threading.Event()
        self.parent_fails = True

    async def send(self, batch: list[ActivitySnapshot]) -> list[Refusal | Rejected]:
        if os.getpid() == self.parent and not self.release.is_set():
            self.sending.set()
            while not self.release.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        if os.getpid() == self.parent and self.parent_fails:
            raise NotDelivered("the parent may not ship here")
        return await self.database.send(batch)

    async def close(self) -> None:
        await self.database.close()


def test_a_child_forked_while_the_parent_ships_ships_its_own_records(setup: Setup) -> None:
    """The parent's loop thread is inside a drain pass at the fork (its pass lock held);
    the parent never ships the child's record, so only the child's own shipper can."""
    gate = ParentGate(setup.url)
    journal = Journal(gate, directory=setup.folder, send_timeout=5, meter_provider=setup.meters)
    setup.journals.append(journal)
    assert journal.append(snapshot("parent"))
    assert gate.sending.wait(10), "the parent's shipper never sent"
    child_item = snapshot("child")
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            code = 0 if journal.append(child_item) and journal.flush(10) else 1
        finally:
            os._exit(code)
    gate.release.set()
    deadline = time.monotonic() + 30
    while (done := os.waitpid(pid, os.WNOHANG)) == (0, 0):
        assert time.monotonic() < deadline, "the forked child hung"
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(done[1]) == 0
    assert activity_id(child_item) in setup.ids()
    gate.parent_fails = False
    assert journal.flush(10)
    assert len(setup.ids()) == 2


def children_holding(kind: str, folder: Path, forks: int) -> int:
    """``support/fork_probe.py``'s count of children that kept what they must not have."""
    probe = subprocess.run(
        [sys.executable, str(FORK_PROBE), kind, str(folder), str(forks)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    return int(probe.stdout)


def test_no_fork_leaves_a_child_a_copy_of_the_drain_lock(setup: Setup) -> None:
    """A thread takes and drops the drain lock as fast as it can while the main thread
    forks: no child may hold a descriptor of drain.lock (it would keep the lock for the
    child's life), whenever between opening and closing it the fork fell."""
    leaks = children_holding("drain-lock", setup.folder, 100)
    assert leaks == 0, f"{leaks} of 100 children kept a copy of drain.lock"


def test_no_fork_leaves_a_child_a_copy_of_a_segment_being_opened(setup: Setup) -> None:
    """A thread appends with segments so small that each append opens a new one, while the
    main thread forks: no child may hold a descriptor of a segment it does not know it has
    (its copy would keep the segment locked, so undrainable, for the child's life)."""
    leaks = children_holding("segment", setup.folder, 100)
    assert leaks == 0, f"{leaks} of 100 children kept a copy of a segment"


# --- the cap and the overflow policies ---


def fill(journal: Journal) -> None:
    """Append until the next activity would not fit (no append ever finds it full)."""
    filler = snapshot("filler")
    size = len(journal_format.encode(filler))
    while journal.directory.pending_bytes() + size <= journal.max_bytes:
        assert journal.append(filler)


class Rejecting:
    """A destination that takes every batch and rejects its first activity, saying so with
    counts in the reason, as the ingest service's ``partial_success`` does."""

    description = "a rejecting destination"

    def __init__(self) -> None:
        self.batches = 0

    async def send(self, batch: list[ActivitySnapshot]) -> list[Refusal | Rejected]:
        self.batches += 1
        return [Rejected(1, f"{self.batches} activity spans rejected: 1 name another org")]

    async def close(self) -> None:
        pass


def test_rejections_in_several_batches_are_counted_each_and_said_once(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    """One cause is said once, whatever the counts in the reason of each batch (a request
    split in two by timing once made the warning appear twice)."""
    destination = Rejecting()
    journal = Journal(destination, directory=setup.folder, meter_provider=setup.meters)
    setup.journals.append(journal)
    with caplog.at_level(logging.WARNING):
        for command in ("first", "second", "third"):
            assert journal.append(snapshot(command))
            assert journal.flush(10)
    assert destination.batches == 3
    assert setup.counters()[("autobot_activity.dropped", "rejected")] == 3
    assert caplog.text.count("rejected by a rejecting destination, not retried") == 1
    assert journal.status().pending == 0


@pytest.mark.leaves_journal  # the activities wait for a database that is not there
def test_a_full_journal_under_drop_counts_and_says_each_drop_once(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    journal = setup.journal(
        url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere", max_bytes=4096, exit_timeout=0
    )
    with caplog.at_level(logging.WARNING):
        kept = 0
        while journal.append(snapshot("filler")):
            kept += 1
        assert journal.append(snapshot("one more")) is False
        admission.admit()  # drop admits everything: the operation runs, its record is dropped
    assert 0 < kept < 40 and journal.status().pending == kept
    assert setup.counters()[("autobot_activity.dropped", "journal_full")] == 2
    assert caplog.text.count("activity dropped: the journal at") == 1
    assert str(setup.folder) in caplog.text


@pytest.mark.leaves_journal  # the activities wait for a database that is not there
def test_a_full_journal_under_refuse_stops_the_operation_before_it_runs(
    setup: Setup, tmp_path: Path
) -> None:
    from autobot_activity_otel.instrumentation.file import FileInstrumentor
    from autobot_activity_otel.instrumentation.terminal import TerminalInstrumentor

    journal = setup.journal(
        url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere",
        max_bytes=4096,
        overflow="refuse",
        exit_timeout=0,
    )
    fill(journal)
    terminal, files = TerminalInstrumentor(), FileInstrumentor()
    terminal.instrument()
    files.instrument(roots=[tmp_path], coalesce_window_ms=0)
    marker, created = tmp_path / "ran", tmp_path / "created.txt"
    try:
        with pytest.raises(ActivityRefused, match=r"activity journal at .* is full"):
            subprocess.Popen(["touch", str(marker)])
        with pytest.raises(ActivityRefused):
            open(created, "w")  # noqa: SIM115
    finally:
        terminal.uninstrument()
        files.uninstrument()
    time.sleep(0.2)
    assert not marker.exists(), "the refused process ran"
    assert not created.exists(), "the refused open created the file"
    assert setup.counters()[("autobot_activity.refused", "")] == 2
    journal.close(0)
    admission.admit()  # closed: its check is gone


def test_a_full_journal_under_block_waits_for_room_then_gives_up(setup: Setup) -> None:
    blocked = setup.journal(
        url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere",
        max_bytes=4096,
        overflow="block",
        block_timeout=0.5,
        exit_timeout=0,
    )
    late = snapshot("late")
    fill(blocked)
    started = time.monotonic()
    admission.admit()  # waits for room, until the full spell is 0.5 s old
    first_wait = time.monotonic() - started
    started = time.monotonic()
    admission.admit()  # the spell was given up on: no one waits until there is room again
    second_wait = time.monotonic() - started
    assert blocked.append(late) is False
    assert 0.4 < first_wait < 5 and second_wait < 0.3
    assert setup.counters()[("autobot_activity.dropped", "journal_full")] == 1

    # room comes back while a call waits: the call goes on and its activity is kept
    blocked.close(0)
    JournalDirectory(setup.folder).discard()
    writer = setup.journal(create_schema=False, max_bytes=4096, overflow="block", block_timeout=30)
    late = snapshot("made before the wait")
    fill(writer)  # no tables yet: nothing is delivered, the journal fills
    threading.Timer(1.0, lambda: run_async(on_engine(setup.url, upgrade))).start()
    started = time.monotonic()
    admission.admit()  # waits until the shipper, retrying, empties the journal
    waited = time.monotonic() - started
    assert writer.append(late), "the activity was dropped although room came"
    assert 0.5 < waited < 30 and writer.flush(10)
    assert activity_id(late) in setup.ids()


@pytest.mark.leaves_journal  # the last activities wait in the journal (asserted)
def test_a_full_disk_is_a_counted_logged_drop_never_an_exception(tmp_path: Path) -> None:
    """The journal's file system refuses writes (a file size limit, as a full disk would):
    every activity the app records is dropped and counted, and the app goes on."""
    script = textwrap.dedent(
        """
        import json, resource, signal, sys, uuid
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from autobot_activity_exporters.journal import DatabaseDestination, Journal
        from autobot_activity_otel.snapshot import ActivitySnapshot
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        reader = InMemoryMetricReader()
        journal = Journal(DatabaseDestination("postgresql+asyncpg://u@127.0.0.1:1/x"),
                          directory=sys.argv[1], exit_timeout=0,
                          meter_provider=MeterProvider(metric_readers=[reader]))
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))
        kept = [journal.append(ActivitySnapshot("t", 1, 2, 1, 2, {
            "activity.type": "terminal", "activity.id": str(uuid.uuid4()), "activity.action": "run",
            "process.command_line": "y" * 300})) for _ in range(20)]
        data = reader.get_metrics_data()
        drops = sum(p.value for r in data.resource_metrics for s in r.scope_metrics
                    for m in s.metrics for p in m.data.data_points)
        print(json.dumps({"kept": sum(kept), "dropped": drops}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "journal")],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["kept"] + result["dropped"] == 20 and result["dropped"] > 0
    assert f"the journal at {tmp_path / 'journal'} could not be written (" in done.stderr
    assert done.stderr.count("could not be written") == 1, "said once per cause"
    assert "Traceback" not in done.stderr


# --- start-up, fsync, the old spool ---


def test_what_an_earlier_process_left_is_shipped_at_start_with_a_warning(
    setup: Setup, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = writer_process(setup.folder, 3, "left")
    left = earlier.communicate(timeout=60)[0].split()
    assert earlier.returncode == 0 and len(left) == 3
    old_spool = Path(os.environ["AUTOBOT_ACTIVITY_STATE_DIR"]) / "spool" / "0123456789abcdef"
    old_spool.mkdir(parents=True)
    (old_spool / "00000000000000000001-1-aaaa.batch").write_text("[]")
    with caplog.at_level(logging.WARNING):
        later = setup.journal()
        deadline = time.monotonic() + 15
        while len(setup.ids()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # no append, no flush: shipping starts with the journal
    assert sorted(setup.ids()) == sorted(left)
    assert f"3 activities left by earlier processes wait in the journal at {setup.folder}" in (
        caplog.text
    )
    assert f"1 batches of an earlier version wait in the spool at {old_spool.parent}" in (
        caplog.text
    )
    assert later.flush(5)


@pytest.mark.parametrize("policy", ["off", "batch", "always"])
def test_every_fsync_policy_delivers(setup: Setup, policy: str) -> None:
    journal = setup.journal(fsync=policy)
    items = [snapshot(f"sync {index}") for index in range(20)]
    assert all(journal.append(item) for item in items)
    time.sleep(0.15)  # under batch, the syncer has run
    assert journal.flush(10)
    assert sorted(setup.ids()) == sorted(activity_id(i) for i in items)


# --- the journal command ---


@pytest.mark.leaves_journal  # one pending record stays until discard (asserted)
def test_journal_status_replay_and_discard(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = setup.journal(url="postgresql+asyncpg://postgres:pw@127.0.0.1:1/nowhere")
    first = snapshot("first")
    assert waiting.append(first)
    waiting.close(0)
    folder = ["journal", "--journal-dir", str(setup.folder)]
    monkeypatch.setenv("AUTOBOT_ACTIVITY_DATABASE_URL", "postgresql://app:pw@db.internal/audit")

    assert cli_main([*folder, "status"]) == 0
    status = capsys.readouterr().out
    assert "waiting:      1 activities" in status and str(setup.folder) in status
    assert "postgresql+asyncpg://app:***@db.internal/audit" in status and ":pw@" not in status

    sqlite_url = f"sqlite:///{Path(setup.url.split('///')[1])}"
    assert cli_main([*folder, "replay", "--database-url", sqlite_url]) == 0
    assert "shipped 1 of 1 activities" in capsys.readouterr().out
    assert setup.ids() == [activity_id(first)]

    again = setup.journal(url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    assert again.append(snapshot("second"))
    again.close(0)
    assert cli_main([*folder, "discard"]) == 2
    assert JournalDirectory(setup.folder).status().pending == 1
    assert cli_main([*folder, "discard", "--yes"]) == 0
    assert "discarded 1 activities" in capsys.readouterr().out
    assert JournalDirectory(setup.folder).status().pending == 0


def test_a_replay_that_cannot_deliver_says_why_and_fails(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    waiting = setup.journal(url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    assert waiting.append(snapshot())
    waiting.close(0)
    folder = ["journal", "--journal-dir", str(setup.folder)]
    code = cli_main(
        [*folder, "replay", "--timeout", "1", "--database-url", "postgresql://u@127.0.0.1:1/x"]
    )
    assert code == 1 and "shipped 0 of 1 activities" in capsys.readouterr().out
    JournalDirectory(setup.folder).discard()


def test_the_admission_check_is_only_installed_for_block_and_refuse(setup: Setup) -> None:
    dropping = setup.journal()
    assert admission.admission_check() is None
    refusing = setup.journal(overflow="refuse")
    assert admission.admission_check() == refusing.admit
    refusing.close(1)
    dropping.close(1)
    assert admission.admission_check() is None


def test_a_killed_writer_loses_nothing_it_journaled(setup: Setup) -> None:
    """SIGKILL right after ``append`` returned: the records are in the page cache."""
    script = textwrap.dedent(
        """
        import os, signal, sys, uuid
        from autobot_activity_exporters.journal import DatabaseDestination, Journal
        from autobot_activity_otel.snapshot import ActivitySnapshot
        journal = Journal(DatabaseDestination("postgresql+asyncpg://u@127.0.0.1:1/x"),
                          directory=sys.argv[1])
        for index in range(100):
            activity = str(uuid.uuid4())
            journal.append(ActivitySnapshot("t", 1, 2, 1, 2, {
                "activity.type": "terminal", "activity.id": activity,
                "activity.action": "execute"}))
            print(activity, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(setup.folder)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL
    assert setup.journal().drain(time.monotonic() + 20)
    assert sorted(setup.ids()) == sorted(done.stdout.split())


def test_a_destination_that_asks_for_a_longer_wait_gets_it() -> None:
    """The ingest service's Retry-After (``NotDelivered.retry_after``) outweighs the
    back-off, up to a minute; other failures back off as usual."""
    asked = NotDelivered("the ingest service answered 503", retry_after=7)
    assert 7 <= pause_after(1, asked) < 8
    assert pause_after(1, NotDelivered("x", retry_after=3600)) == RETRY_AFTER_MAX_SECONDS
    assert pause_after(1, OSError("reset")) <= 0.5


# --- shipping from a drainer process (AUTOBOT_ACTIVITY_SHIPPER=process) ---


def test_a_drainer_process_ships_while_the_application_journals(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The application's own shipper sends nothing while its drainer runs; everything
    arrives, and the drainer exits when the application closes its journal."""
    sent_here: list[int] = []
    original = DatabaseDestination.send

    async def counted(self: DatabaseDestination, batch: list[ActivitySnapshot]) -> object:
        sent_here.append(len(batch))
        return await original(self, batch)

    monkeypatch.setattr(DatabaseDestination, "send", counted)
    journal = setup.journal(shipper="process")
    drainer = journal.drainer
    assert drainer is not None and drainer.alive() and drainer.pid != os.getpid()
    written = [snapshot(f"ls {index}") for index in range(300)]
    for item in written:
        assert journal.append(item)
    deadline = time.monotonic() + 30
    while len(setup.ids()) < len(written) and time.monotonic() < deadline:
        time.sleep(0.1)  # the drainer's poll, not this process's flush
    assert sorted(setup.ids()) == sorted(activity_id(item) for item in written)
    assert sent_here == []
    journal.close(10)
    assert not drainer.alive()
    assert JournalDirectory(setup.folder).nothing_waits()


def test_when_the_drainer_dies_the_application_ships_again(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    journal = setup.journal(shipper="process")
    drainer = journal.drainer
    assert drainer is not None
    os.kill(drainer.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while drainer.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    written = [snapshot(f"echo {index}") for index in range(50)]
    for item in written:
        assert journal.append(item)
    assert journal.flush(20)
    assert sorted(setup.ids()) == sorted(activity_id(item) for item in written)
    deadline = time.monotonic() + 5
    while "ended; shipping from this process" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert f"journal drainer process {drainer.pid} ended" in caplog.text


def test_the_drainer_ships_what_a_killed_application_journaled(setup: Setup) -> None:
    """SIGKILL of the application: its drainer sees its input end, ships, and exits."""
    script = textwrap.dedent(
        """
        import os, signal, sys, uuid
        from autobot_activity_exporters.journal import DatabaseDestination, Journal
        from autobot_activity_otel.snapshot import ActivitySnapshot
        journal = Journal(DatabaseDestination(sys.argv[2]), directory=sys.argv[1],
                          shipper="process")
        print(journal.drainer.pid, flush=True)
        for index in range(200):
            activity = str(uuid.uuid4())
            journal.append(ActivitySnapshot("t", 1, 2, 1, 2, {
                "activity.type": "terminal", "activity.id": activity,
                "activity.action": "execute"}))
            print(activity, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(setup.folder), setup.url],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL
    drainer_pid, *written = done.stdout.split()
    deadline = time.monotonic() + 30
    while _running(int(drainer_pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(int(drainer_pid))
    assert sorted(setup.ids()) == sorted(written) and len(written) == 200
    assert JournalDirectory(setup.folder).nothing_waits()


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan is reaped by whoever adopts it, maybe late)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_the_drainer_runs_without_the_applications_auto_instrumentation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``opentelemetry-instrument`` puts its ``sitecustomize`` on ``PYTHONPATH``: the drainer
    must not load it (it would instrument, and configure, the drainer itself)."""
    from autobot_activity_exporters.journal import drainer

    auto = os.path.join("venv", "opentelemetry", "instrumentation", "auto_instrumentation")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([auto, "/srv/app"]))
    environment = drainer._child_environment()
    assert environment["PYTHONPATH"] == "/srv/app"
    assert environment[drainer.IN_DRAINER] == "1"
    monkeypatch.setenv("PYTHONPATH", auto)
    assert "PYTHONPATH" not in drainer._child_environment()


def test_a_drainer_never_starts_a_drainer(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOBOT_ACTIVITY_IN_DRAINER", "1")
    assert setup.journal(shipper="process").drainer is None
