"""The journal: what an ending activity costs, how fast a flat-out producer is committed,
what each fsync policy costs, and the serializer (docs/reliability.md).

Everything runs against the real PostgreSQL (a database named after this process, dropped
at the end) with the set-up ``configure()`` builds: an ``ActivitySpanProcessor`` journals
each activity span as it ends, and the shipper delivers it from its own thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from autobot_activity_exporters import ActivitySpanExporter, ActivitySpanProcessor, configure
from autobot_activity_exporters.journal import format as journal_format
from autobot_activity_exporters.spans import snapshot_of
from autobot_activity_otel import activity_context
from autobot_activity_otel import attributes as attr
from autobot_activity_otel import recording as recording_module
from benchmarks.bench_overhead import Discard
from benchmarks.bench_pipeline import produce
from benchmarks.harness import PG_ADMIN, Row, alternating, markdown, micros

USER = uuid.UUID("0195f000-0000-7000-8000-000000000003")
FLAT_OUT_ROUNDS = 3
"""Flat-out rounds (alone, thread, process), each ratio against its own round's producer."""


async def _admin(sql: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN, timeout=3)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


async def _count(name: str) -> int:
    connection = await asyncpg.connect(
        host="127.0.0.1", port=5432, user="postgres", database=name, timeout=3
    )
    try:
        return int(await connection.fetchval("SELECT count(*) FROM terminal_activities"))
    finally:
        await connection.close()


def _bare_span(tracer: trace.Tracer) -> Callable[[], None]:
    """An activity span made by hand: the attributes a tracked command carries."""

    def span() -> None:
        with tracer.start_as_current_span(
            "terminal execute",
            attributes={
                attr.ACTIVITY_TYPE: "terminal",
                attr.ACTIVITY_ID: str(uuid.uuid4()),
                attr.ACTIVITY_ACTION: "execute",
                attr.USER_ID: str(USER),
                attr.SESSION_ID: "chat-1",
                attr.PROCESS_COMMAND_LINE: "git status --short --branch",
                attr.PROCESS_WORKING_DIRECTORY: "/srv/app",
                attr.PROCESS_EXIT_CODE: 0,
                attr.TERMINAL_OUTPUT: "## main\n M README.md\n",
            },
        ):
            pass

    return span


def _use(tracer_provider: TracerProvider) -> None:
    """Make the seed functions record through ``tracer_provider`` (they take the global
    provider's tracer, and a process may set the global provider once: ``configure()`` did)."""
    tracer = tracer_provider.get_tracer(recording_module.TRACER_NAME, schema_url=attr.SCHEMA_URL)
    recording_module._default = (trace.get_tracer_provider(), tracer)  # type: ignore[attr-defined]


def run(number: int = 3_000, flat_out: int = 20_000) -> list[Row]:
    name = f"autobot_activity_bench_journal_{os.getpid()}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}"'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = f"postgresql://postgres@localhost:5432/{name}"
    with tempfile.TemporaryDirectory() as state:
        os.environ["AUTOBOT_ACTIVITY_STATE_DIR"] = state
        try:
            return _measure(url, name, Path(state), number, flat_out)
        finally:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _measure(url: str, name: str, state: Path, number: int, flat_out: int) -> list[Row]:
    baseline = TracerProvider()
    baseline.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=1 << 16))
    journaled = configure(url, instrument=False)  # the whole pipeline, shipper running
    drained = TracerProvider()  # the same, shipped by a drainer process
    drained.add_span_processor(
        ActivitySpanProcessor(
            ActivitySpanExporter(url, journal_dir=state / "journal-process", shipper="process")
        )
    )
    bare, ours = _bare_span(baseline.get_tracer("bench")), _bare_span(trace.get_tracer("bench"))

    # 1. what an ending activity span costs the application
    spans = alternating(
        {"bsp": bare, "journal": ours, "process": _bare_span(drained.get_tracer("bench"))},
        number=number,
    )
    journaled.force_flush(120_000)
    drained.force_flush(120_000)

    # 2. a tracked command (redaction and all) through each: the journal's share of it
    def through(tracer_provider: TracerProvider) -> Callable[[], None]:
        def tracked() -> None:
            _use(tracer_provider)
            produce(1)

        return tracked

    with activity_context(user_id=USER, session_id="bench"):
        tracked = alternating(
            {"bsp": through(baseline), "journal": through(journaled)}, number=number // 3
        )
    journaled.force_flush(120_000)

    # 3. a flat-out producer: its own rate with the exporter discarding, then committed rate,
    # in rounds (alone, thread, process), each committed rate against the same round's own
    def alone_rate() -> float:
        _use(baseline)
        started = time.perf_counter()
        produce(flat_out)
        rate = flat_out / (time.perf_counter() - started)
        baseline.force_flush()
        return rate

    def committed_rate(tracer_provider: TracerProvider) -> tuple[float, int, bool, float]:
        """Rows per second from the first call to the end of the flush; rows, flushed, and
        the seconds the producer took."""
        _use(tracer_provider)
        before = asyncio.run(_count(name))
        started = time.perf_counter()
        produce(flat_out)
        produced_in = time.perf_counter() - started
        flushed = tracer_provider.force_flush(300_000)
        committed = asyncio.run(_count(name)) - before
        return committed / (time.perf_counter() - started), committed, flushed, produced_in

    rounds: dict[str, list[tuple[float, float, int, bool, float]]] = {"thread": [], "process": []}
    for _ in range(FLAT_OUT_ROUNDS):
        alone = alone_rate()
        for ship_from, provider in (("thread", journaled), ("process", drained)):
            rounds[ship_from].append((alone, *committed_rate(provider)))

    # 4. each fsync policy: a journal of its own each, same destination
    providers = {}
    for policy in ("off", "batch", "always"):
        provider = TracerProvider()
        exporter = ActivitySpanExporter(url, journal_dir=state / f"journal-{policy}", fsync=policy)
        provider.add_span_processor(ActivitySpanProcessor(exporter))
        providers[policy] = provider
    policies = alternating(
        {
            policy: _bare_span(provider.get_tracer("bench"))
            for policy, provider in providers.items()
        },
        number=max(number // 15, 50),
        rounds=5,
    )
    for provider in providers.values():
        provider.shutdown()

    # 5. the serializer: the journal's msgspec frame against the json module's
    recorder = TracerProvider()
    captured: list[object] = []

    class Keep(Discard):
        def export(self, batch: object) -> object:
            captured.extend(batch)  # type: ignore[call-overload]
            return super().export(batch)

    recorder.add_span_processor(BatchSpanProcessor(Keep()))
    _bare_span(recorder.get_tracer("bench"))()
    recorder.force_flush()
    snapshot = snapshot_of(captured[0])  # type: ignore[arg-type]

    def with_json() -> None:
        json.dumps(
            [
                snapshot.name,
                snapshot.trace_id,
                snapshot.span_id,
                snapshot.start_ns,
                snapshot.end_ns,
                dict(snapshot.attributes),
            ]
        ).encode()

    codec = alternating(
        {"json": with_json, "msgspec": lambda: journal_format.encode(snapshot)}, number=20_000
    )

    # 6. the producer while the database is down (the journal absorbs it)
    down = TracerProvider()
    down.add_span_processor(
        ActivitySpanProcessor(
            ActivitySpanExporter(
                "postgresql://postgres@localhost:1/nowhere",
                journal_dir=state / "journal-down",
                exit_timeout=0,
            )
        )
    )
    outage = alternating(
        {"up": ours, "down": _bare_span(down.get_tracer("bench"))}, number=number, rounds=5
    )
    journaled.shutdown()
    drained.shutdown()
    down.shutdown()

    def flat_out_row(ship_from: str) -> Row:
        measured = rounds[ship_from]
        ratios = sorted(rate / alone for alone, rate, *_ in measured)
        alone, rate, committed, flushed, produced_in = sorted(
            measured, key=lambda item: item[1] / item[0]
        )[len(measured) // 2]
        return Row(
            f"one thread flat out, {flat_out:,} tracked commands, committed to PostgreSQL, "
            f"shipped from a {ship_from}"
            + (" (the default)" if ship_from == "thread" else " (`SHIPPER=process`)"),
            f"{rate:,.0f}/s committed ({committed:,} rows, "
            f"{'flushed' if flushed else 'NOT flushed'}; produced in {produced_in:.1f} s)",
            f"{alone:,.0f}/s produced with the exporter discarding",
            f"{ratios[len(ratios) // 2]:.2f} (rounds: "
            + ", ".join(f"{ratio:.2f}" for ratio in ratios)
            + ")",
            "≥ 0.5",
        )

    return [
        Row(
            "an ending activity span through `configure()`'s pipeline (journal, shipper running)",
            micros(spans["journal"]),
            micros(spans["bsp"]) + " (same span, `BatchSpanProcessor`, discarding exporter)",
            f"{spans['journal'] / spans['bsp']:.2f}×",
            "≤ 1.5×",
        ),
        Row(
            "the same, shipped by a drainer process (`AUTOBOT_ACTIVITY_SHIPPER=process`)",
            micros(spans["process"]),
            micros(spans["bsp"]) + " (same span, `BatchSpanProcessor`, discarding exporter)",
            f"{spans['process'] / spans['bsp']:.2f}×",
            "≤ 1.5×",
        ),
        Row(
            "a tracked command (redaction included) through `configure()`'s pipeline",
            micros(tracked["journal"]),
            micros(tracked["bsp"]) + " (same call, `BatchSpanProcessor`, discarding exporter)",
            f"{tracked['journal'] / tracked['bsp']:.2f}×",
            "",
        ),
        flat_out_row("thread"),
        flat_out_row("process"),
        Row(
            "`AUTOBOT_ACTIVITY_JOURNAL_FSYNC=batch`, per activity",
            micros(policies["batch"]),
            micros(policies["off"]) + " (`off`)",
            f"{policies['batch'] / policies['off']:.2f}×",
            "",
        ),
        Row(
            "`AUTOBOT_ACTIVITY_JOURNAL_FSYNC=always`, per activity",
            micros(policies["always"]),
            micros(policies["off"]) + " (`off`)",
            f"{policies['always'] / policies['off']:.2f}×",
            "",
        ),
        Row(
            "journal record encoding (msgspec MessagePack + CRC-32 frame)",
            micros(codec["msgspec"]),
            micros(codec["json"]) + " (`json.dumps` of the same values, no frame)",
            f"{codec['msgspec'] / codec['json']:.2f}×",
            "",
        ),
        Row(
            "an ending activity span while the database is down",
            micros(outage["down"]),
            micros(outage["up"]) + " (database up)",
            f"{outage['down'] / outage['up']:.2f}×",
            "≈ 1.0",
        ),
    ]


METHOD = """
The pipeline is `configure()`'s on a real PostgreSQL (URL naming `localhost`): an
`ActivitySpanProcessor` journals each activity span as it ends, and the shipper thread
delivers it meanwhile (so its share of the GIL is in every figure). Per-call figures are
medians of 9 rounds (5 for the fsync and outage rows) measured round-robin with their
baseline: the same span (activity attributes, a fresh id each) through a `TracerProvider`
with a `BatchSpanProcessor` and a discarding exporter. The flat-out row: one thread calls
`track_command_execution` 20,000 times; its own rate is measured with the discarding
exporter; the committed rate is rows over the time from the first call to the end of
`force_flush()`, with the shipper thread `configure()` starts and with a drainer process
(`AUTOBOT_ACTIVITY_SHIPPER=process`, its own journal folder); three rounds of the three, each
ratio against the producer's rate of its own round, the median round shown. The fsync rows give
each policy a journal of its own. The outage row points a second pipeline at a closed port:
activities only accumulate in its journal.
"""

if __name__ == "__main__":
    number = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000
    print(markdown("Journal", run(number), METHOD))
