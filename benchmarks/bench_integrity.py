"""The tamper-evident chain's cost (docs/integrity.md): writing with it against without, in
the same run, and how fast ``verify`` walks what was written.

Against the real PostgreSQL (a database named after this process, dropped at the end).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from autobot_activity_exporters.database import create_engine
from autobot_activity_exporters.integrity.chain import Chains, Policy
from autobot_activity_exporters.integrity.notes import new_signer
from autobot_activity_exporters.integrity.verify import verify
from autobot_activity_exporters.rows import ActivityRows, rows_from_span
from autobot_activity_exporters.schema import upgrade
from autobot_activity_exporters.writer import close_chains, commit_batch, write_batch
from benchmarks.bench_exporter import BATCH, _memory, terminal_spans
from benchmarks.harness import Row, markdown, scratch_database


def mapped(spans: Sequence[ReadableSpan]) -> list[ActivityRows]:
    rows = [rows_from_span(span) for span in spans]
    return [row for row in rows if row is not None]


async def plain_rate(engine: AsyncEngine, spans: Sequence[ReadableSpan], *, mapping: bool) -> float:
    """Rows per second through the batch writer with no chain (what ``db=`` does)."""
    prepared = None if mapping else mapped(spans)
    start = time.perf_counter()
    rows = mapped(spans) if mapping else prepared
    assert rows is not None
    for index in range(0, len(rows), BATCH):
        async with engine.begin() as connection:
            await write_batch(connection, rows[index : index + BATCH])
    return len(rows) / (time.perf_counter() - start)


async def chained_rate(
    engine: AsyncEngine, spans: Sequence[ReadableSpan], chains: Chains, *, mapping: bool
) -> float:
    """Rows per second through ``commit_batch``: chain entry, signed checkpoints, files."""
    prepared = None if mapping else mapped(spans)
    start = time.perf_counter()
    rows = mapped(spans) if mapping else prepared
    assert rows is not None
    for index in range(0, len(rows), BATCH):
        await commit_batch(engine, rows[index : index + BATCH], chains)
    await close_chains(engine, chains)
    return len(rows) / (time.perf_counter() - start)


async def measure(url: str, activities: int, rounds: int, folder: Path) -> list[Row]:
    engine = create_engine(url)
    await upgrade(engine)
    # Every 10 batches rather than the default 100, so each round signs several times.
    policy = Policy(every_batches=10, directory=folder, signer=new_signer())
    rows: list[Row] = []
    small = None
    for mapping in (False, True):
        with_chain, without = [], []
        for _ in range(rounds):  # alternate, each on fresh activity ids
            without.append(await plain_rate(engine, terminal_spans(activities), mapping=mapping))
            with_chain.append(
                await chained_rate(
                    engine, terminal_spans(activities), Chains(policy), mapping=mapping
                )
            )
        if small is None:
            small = await verify_memory(engine, policy, folder)
        mine, base = statistics.median(with_chain), statistics.median(without)
        what = "spans mapped and written" if mapping else "rows written"
        rows.append(
            Row(
                f"PostgreSQL, {what} in 512-row batches: with the chain and signing",
                f"{mine:,.0f} rows/s",
                f"{base:,.0f} rows/s (no chain)",
                f"{mine / base:.2f}",
                "≥ 0.85",
            )
        )
    large = await verify_memory(engine, policy, folder)
    assert small is not None
    rows.append(
        Row(
            f"`verify`'s peak Python memory, {large[0]:,} rows against {small[0]:,}",
            f"{large[1] / 2**20:.1f} MiB",
            f"{small[1] / 2**20:.1f} MiB",
            f"{large[1] / small[1]:.2f}",
            "flat",
        )
    )
    verified = []
    for _ in range(rounds):
        start = time.perf_counter()
        report = await verify(engine, verifier=policy.signer.verifier, checkpoint_dir=folder)  # type: ignore[union-attr]
        elapsed = time.perf_counter() - start
        assert report.intact, report.lines()[:5]
        verified.append(report.rows / elapsed)
    rows.append(
        Row(
            f"`verify` over {report.rows:,} chained rows ({report.batches} batches,"
            f" {report.chains} chains)",
            f"{statistics.median(verified):,.0f} rows/s",
            "",
            "",
            "",
        )
    )
    await engine.dispose()
    return rows


async def verify_memory(engine: AsyncEngine, policy: Policy, folder: Path) -> tuple[int, int]:
    """Rows verified and the peak of Python allocations while verifying (tracemalloc)."""
    async with engine.begin() as connection:  # the baseline's rows are outside any chain
        await connection.execute(text("DELETE FROM terminal_activities WHERE chain_id IS NULL"))
    assert policy.signer is not None
    tracemalloc.start()
    try:
        report = await verify(engine, verifier=policy.signer.verifier, checkpoint_dir=folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.intact, report.lines()[:5]
    return report.rows, peak


def run(activities: int = 10_240, rounds: int = 7) -> list[Row]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_memory))
    trace.set_tracer_provider(provider)
    with scratch_database("autobot_activity_bench_integrity") as dsn:
        if dsn is None:
            raise SystemExit("PostgreSQL is not reachable on 127.0.0.1:5432")
        with tempfile.TemporaryDirectory() as folder:
            url = dsn.replace("postgresql://", "postgresql+asyncpg://")
            return asyncio.run(measure(url, activities, rounds, Path(folder)))


METHOD = """
10,240 terminal activity spans per round are built beforehand (not timed). "Rows written":
they are mapped to rows beforehand too, and only the database write is timed: the batch
writer in one transaction per 512 rows (COPY into a staging table, then `INSERT … SELECT …
ON CONFLICT DO NOTHING`, what a `db=` write does), against `commit_batch` (the same, plus
each row's canonical SHA-256, computed while the database runs the `INSERT … SELECT`, the
manifest, the chain entry in the same transaction, an Ed25519-signed checkpoint every 10
batches in the database and appended, fsynced, to a file, and a closing checkpoint).
"Spans mapped and written" also times the span → rows mapping (with its redaction
re-check), as the exporter and the ingest service do it. Seven rounds alternate without and
with, on fresh ids; medians. Then `verify` walks everything written (server-side cursors,
every digest, link and signature), seven times; median. Its memory: the peak of Python
allocations (tracemalloc) during a verify after the first round of writes, against one
after all of them.
"""

if __name__ == "__main__":
    os.environ.pop("AUTOBOT_ACTIVITY_SIGNING_KEY", None)
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_240
    print(markdown("Integrity: the chain's cost, and verify", run(count), METHOD))
