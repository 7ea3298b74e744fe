"""Figure 2: exporter throughput, rows committed per second, against raw asyncpg COPY.

Both sides write the same pre-built terminal activities into the same PostgreSQL server in
the same run: ours through ``ActivitySpanExporter.export()`` (row mapping, the redaction
re-check, COPY into a staging table, ``INSERT ... ON CONFLICT DO NOTHING``, commit), the
baseline through ``copy_records_to_table`` straight into a table of the same shape.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from autobot_activity_exporters.exporter import ActivitySpanExporter
from autobot_activity_exporters.rows import rows_from_span
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.recording import ActivityRecord
from autobot_activity_otel.secrets import Kind, redact
from benchmarks.harness import Row, markdown, micros, scratch_database

BATCH = 512
_memory = InMemorySpanExporter()


def terminal_spans(count: int) -> list[ReadableSpan]:
    """``count`` finished terminal activity spans, as an application would produce them."""
    _memory.clear()
    user = uuid.uuid4()
    for index in range(count):
        record = ActivityRecord(attr.ActivityType.TERMINAL, "execute")
        record.attributes[attr.USER_ID] = str(user)
        record.attributes[attr.SESSION_ID] = "bench"
        record.set_text(attr.PROCESS_COMMAND_LINE, f"git log --oneline -n {index}", "command")
        record.set_text(attr.PROCESS_WORKING_DIRECTORY, "/srv/app")
        record.set(attr.PROCESS_EXIT_CODE, 0)
        record.set_text(attr.TERMINAL_OUTPUT, "a1b2c3d fix the build\n", "output")
        record.end()
    return list(_memory.get_finished_spans())


def batches(spans: Sequence[ReadableSpan]) -> list[Sequence[ReadableSpan]]:
    return [spans[i : i + BATCH] for i in range(0, len(spans), BATCH)]


def exporter_rate(url: str, spans: Sequence[ReadableSpan]) -> float:
    with tempfile.TemporaryDirectory() as journal:  # each destination its own journal
        exporter = ActivitySpanExporter(url, timeout=120, journal_dir=journal)
        exporter.export(spans[:1])
        assert exporter.force_flush(120_000)  # the schema made, a connection warm: not timed
        start = time.perf_counter()
        for batch in batches(spans[1:]):
            exporter.export(batch)
        assert exporter.force_flush(300_000)  # until every row is committed, not journaled
        elapsed = time.perf_counter() - start
        exporter.shutdown()
    return (len(spans) - 1) / elapsed


async def raw_copy_rate(dsn: str, spans: Sequence[ReadableSpan]) -> float:
    import asyncpg

    rows = [rows_from_span(span).activity for span in spans]  # type: ignore[union-attr]
    columns = list(rows[0])
    connection = await asyncpg.connect(dsn)
    await connection.execute(
        "CREATE TABLE IF NOT EXISTS raw_copy (LIKE terminal_activities INCLUDING ALL)"
    )
    await connection.execute("TRUNCATE raw_copy")
    records = [
        tuple(json.dumps(row[c]) if c == "metadata" else row[c] for c in columns) for row in rows
    ]
    start = time.perf_counter()
    for index in range(0, len(records), BATCH):
        async with connection.transaction():
            await connection.copy_records_to_table(
                "raw_copy", records=records[index : index + BATCH], columns=columns
            )
    elapsed = time.perf_counter() - start
    await connection.close()
    return len(records) / elapsed


def mapping_costs(spans: Sequence[ReadableSpan], rounds: int) -> tuple[float, float]:
    """Median seconds per span of ``rows_from_span``, and of the redaction re-check inside it
    (one ``redact`` per text column, as ``rows.py`` calls it), measured alternately."""
    texts = [
        (span.attributes[attribute], kind)  # type: ignore[index]
        for span in spans
        for attribute, kind in _REDACTED
        if attribute in (span.attributes or {})
    ]
    mapping, redaction = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        for span in spans:
            rows_from_span(span)
        mapping.append((time.perf_counter() - start) / len(spans))
        start = time.perf_counter()
        for text, kind in texts:
            redact(text, kind)
        redaction.append((time.perf_counter() - start) / len(spans))
    return statistics.median(mapping), statistics.median(redaction)


_REDACTED: tuple[tuple[str, Kind], ...] = (
    (attr.SESSION_ID, "text"),
    (attr.PROCESS_COMMAND_LINE, "command"),
    (attr.PROCESS_WORKING_DIRECTORY, "text"),
    (attr.TERMINAL_OUTPUT, "output"),
    (attr.ACTIVITY_ACTION, "text"),  # kept in metadata for terminal activities
)
"""The texts a terminal span's rows are re-checked for."""


def run(activities: int = 20_480, rounds: int = 3) -> list[Row]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_memory))
    trace.set_tracer_provider(provider)
    rows: list[Row] = []
    mapping, redaction = mapping_costs(terminal_spans(activities), rounds)
    rows.append(
        Row(
            "span → rows mapping (no database), of which the redaction re-check",
            f"{micros(mapping)}/row",
            f"{micros(redaction)}/row redaction",
            f"{redaction / mapping:.2f}",
            "",
        )
    )
    with scratch_database("autobot_activity_bench") as dsn:
        if dsn is not None:
            ours, raw = [], []
            for _ in range(rounds):  # alternate, each on fresh activity ids
                ours.append(exporter_rate(dsn, terminal_spans(activities + 1)))
                raw.append(asyncio.run(raw_copy_rate(dsn, terminal_spans(activities))))
            mine, base = statistics.median(ours), statistics.median(raw)
            rows.append(
                Row(
                    "PostgreSQL: `export()` of 512-span batches",
                    f"{mine:,.0f} rows/s",
                    f"{base:,.0f} rows/s (raw COPY)",
                    f"{mine / base:.2f}",
                    "≥ 0.5",
                )
            )
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        rate = statistics.median(
            exporter_rate(url, terminal_spans(activities // 4 + 1)) for _ in range(rounds)
        )
    rows.append(Row("SQLite: `export()` of 512-span batches", f"{rate:,.0f} rows/s", "", "", ""))
    return rows


METHOD = """
20,480 terminal activity spans per round are built beforehand (not timed) and given to
`export()` in batches of 512, which journals them; the time runs until `force_flush()`
returns, every row committed by the journal's shipper (its own transactions, up to 2,048
rows each) in this process. The baseline copies the equivalent rows with
asyncpg's `copy_records_to_table` into a table of the same shape, 512 rows a transaction.
Three rounds alternate ours and the baseline, on fresh ids; medians are reported.
The mapping row times `rows_from_span` alone over the same spans, and the `redact` calls
it makes (five texts per terminal span), in alternation: the share the secret engine takes.
SQLite: 5,120 activities into a file on the local disk (WAL).
"""

if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_480
    print(markdown("Exporter throughput", run(count), METHOD))
