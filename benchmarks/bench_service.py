"""Figure: the ingest service's stored rows per second, against raw asyncpg COPY of the same rows.

The service (``autobot-activity serve``, logged in as the append-only writer) answers each
request only once its rows are committed, so rows acknowledged per second is rows stored per
second. Its sender is a separate process (this module with ``--send``), so the time it spends
encoding HTTP is not taken from the service's process unseen: the CPU time of the sender and
of the service's processes is read from /proc and reported per 1,000 rows.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from autobot_activity_exporters.integrity.chain import Lane, Policy
from autobot_activity_exporters.rows import rows_from_fields, rows_from_span
from autobot_activity_exporters.service import otlp
from autobot_activity_exporters.service.ingest import admit
from autobot_activity_exporters.service.tokens import IngestToken, new_token
from autobot_activity_exporters.writer import copy_plan, group_by_table
from autobot_activity_otel import attributes as attr
from autobot_activity_otel import settings
from autobot_activity_otel.recording import ActivityRecord
from autobot_activity_otel.secrets import Kind, redact
from benchmarks.harness import Row, markdown, micros

PG = "postgresql://postgres@127.0.0.1:5432"
WRITER_LOGIN = "autobot_activity_bench_writer"
BATCH = 512
CONNECTIONS = 8
ORG = uuid.UUID("0195f000-0000-7000-8000-0000000be001")
CLI = Path(sys.executable).parent / "autobot-activity"
_memory = InMemorySpanExporter()
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def terminal_spans(count: int) -> list[ReadableSpan]:
    """``count`` finished terminal activity spans, as bench_exporter builds them, but with a
    command and an output of their own each (a service's texts mostly differ)."""
    _memory.clear()
    user = uuid.uuid4()
    for index in range(count):
        record = ActivityRecord(attr.ActivityType.TERMINAL, "execute")
        record.attributes[attr.USER_ID] = str(user)
        record.attributes[attr.SESSION_ID] = "bench"
        record.set_text(attr.PROCESS_COMMAND_LINE, f"git log --oneline -n {index}", "command")
        record.set_text(attr.PROCESS_WORKING_DIRECTORY, "/srv/app")
        record.set(attr.PROCESS_EXIT_CODE, 0)
        record.set_text(attr.TERMINAL_OUTPUT, f"{index:07x} fix the build\n", "output")
        record.end()
    return list(_memory.get_finished_spans())


def request_bodies(spans: Sequence[ReadableSpan]) -> list[bytes]:
    """The bodies the SDK's OTLP/HTTP exporter sends: 512 spans each, protobuf, no gzip."""
    return [
        encode_spans(spans[i : i + BATCH]).SerializeToString() for i in range(0, len(spans), BATCH)
    ]


# --- the sender (a process of its own) ---


def send(url: str, token: str, bodies: list[bytes], connections: int) -> dict[str, Any]:
    """POST every body over ``connections`` keep-alive connections; time to the last answer."""
    import requests

    queue = list(reversed(bodies))
    lock = threading.Lock()
    statuses: list[int] = []
    headers = {"Content-Type": otlp.PROTOBUF, "Authorization": f"Bearer {token}"}

    def worker() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                status = session.post(url, data=body, headers=headers, timeout=120).status_code
                with lock:
                    statuses.append(status)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    cpu = time.process_time()
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return {"elapsed": elapsed, "cpu": time.process_time() - cpu, "statuses": statuses}


# --- the service, the baseline and the database ---


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live children (the workers)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return total


class Service:
    def __init__(self, database: str, tokens: Path, workers: int) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOBOT_ACTIVITY_")}
        env[settings.STATE_DIR] = str(tokens.parent / "service-state")  # not the home's
        self.process = subprocess.Popen(
            [
                str(CLI),
                "serve",
                "--database-url",
                f"postgresql://{WRITER_LOGIN}@127.0.0.1:5432/{database}",
                "--tokens",
                str(tokens),
                "--port",
                self.url.rsplit(":", 1)[1],
                "--workers",
                str(workers),
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        import requests

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the service did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_rate(
    database: str, tokens: Path, token: str, bodies_file: Path, rows: int, workers: int
) -> dict[str, float]:
    asyncio.run(_sql(database, "TRUNCATE terminal_activities, secret_usage"))
    service = Service(database, tokens, workers)
    try:
        import requests  # warm the connection pool and the worker(s) outside the timing

        requests.get(f"{service.url}/healthz", timeout=10)
        cpu_before = tree_cpu_seconds(service.process.pid)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.bench_service",
                "--send",
                f"{service.url}/v1/traces",
                token,
                str(bodies_file),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        service_cpu = tree_cpu_seconds(service.process.pid) - cpu_before
    finally:
        service.stop()
    sent = json.loads(result.stdout)
    assert set(sent["statuses"]) == {200}, sent["statuses"]
    stored = asyncio.run(_count(database))
    assert stored == rows, (stored, rows)
    return {
        "rate": rows / sent["elapsed"],
        "service_cpu": service_cpu / rows * 1000,
        "sender_cpu": sent["cpu"] / rows * 1000,
    }


async def raw_copy_rate(database: str, spans: Sequence[ReadableSpan]) -> float:
    import asyncpg

    rows = [rows_from_span(span).activity for span in spans]  # type: ignore[union-attr]
    columns = list(rows[0])
    connection = await asyncpg.connect(f"{PG}/{database}")
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


async def _sql(database: str, *statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(f"{PG}/{database}")
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _count(database: str) -> int:
    import asyncpg

    connection = await asyncpg.connect(f"{PG}/{database}")
    try:
        return int(await connection.fetchval("SELECT count(*) FROM terminal_activities"))
    finally:
        await connection.close()


async def _fresh_database(name: str) -> bool:
    try:
        import asyncpg

        admin = await asyncpg.connect(f"{PG}/postgres", timeout=3)
    except Exception:
        return False
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return True


async def _drop_database(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(f"{PG}/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


def _prepare(database: str) -> None:
    """Migrate as the owner; make the writer login (cluster-wide, tolerant of a race)."""
    subprocess.run(
        [str(CLI), "db", "upgrade", "--database-url", f"{PG}/{database}"],
        check=True,
        capture_output=True,
    )
    create_login = f"""
        DO $$
        BEGIN
            CREATE ROLE {WRITER_LOGIN} LOGIN IN ROLE autobot_activity_writer;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END
        $$"""
    asyncio.run(_sql(database, create_login))


# --- where a request's time goes, without a server ---

_REDACTED: tuple[tuple[str, Kind], ...] = (
    (attr.SESSION_ID, "text"),
    (attr.PROCESS_COMMAND_LINE, "command"),
    (attr.PROCESS_WORKING_DIRECTORY, "text"),
    (attr.TERMINAL_OUTPUT, "output"),
    (attr.ACTIVITY_ACTION, "text"),
)


def mapping_costs(bodies: list[bytes], rounds: int) -> dict[str, float]:
    """Median µs per span of each step a request's spans go through in the service, and of
    the two the write adds in Python: the chain's digests and the COPY records."""
    token = IngestToken("bench", b"\0" * 32, ORG)
    lane = Lane(Policy())
    samples: dict[str, list[float]] = {}
    spans = 0
    for _ in range(rounds):
        steps = dict.fromkeys(_STEPS, 0.0)
        spans = 0
        for body in bodies:
            clock = time.perf_counter()
            request = otlp.decode_request(body, otlp.PROTOBUF)
            steps["decode"] += time.perf_counter() - clock
            clock = time.perf_counter()
            pairs = list(otlp.ActivitySpans(request))
            steps["attributes"] += time.perf_counter() - clock
            clock = time.perf_counter()
            for _, attributes in pairs:
                admit(attributes, token)
            steps["admit"] += time.perf_counter() - clock
            clock = time.perf_counter()
            fields = [
                (attributes, otlp.span_ids(span), otlp.events_of(span), span)
                for span, attributes in pairs
            ]
            steps["ids"] += time.perf_counter() - clock
            clock = time.perf_counter()
            batch = [  # as ``Ingestor.ingest`` calls it
                rows_from_fields(
                    attributes,
                    ids[0],  # type: ignore[index]
                    ids[1],  # type: ignore[index]
                    span.start_time_unix_nano,
                    span.end_time_unix_nano,
                    span.name,
                    span.status.message or None,
                    events,
                )
                for attributes, ids, events, span in fields
            ]
            steps["rows"] += time.perf_counter() - clock
            texts = [
                (attributes[name], kind)
                for _, attributes in pairs
                for name, kind in _REDACTED
                if name in attributes
            ]
            clock = time.perf_counter()
            for text, kind in texts:
                redact(text, kind)
            steps["redact"] += time.perf_counter() - clock
            grouped = group_by_table(rows for rows in batch if rows is not None)
            tables = {table.name: rows for table, rows in grouped.items()}
            clock = time.perf_counter()
            lane.stamp(tables)
            lane.seal(tables)
            steps["chain"] += time.perf_counter() - clock
            clock = time.perf_counter()
            for table, rows in grouped.items():
                copy_plan(table).records(rows)
            steps["records"] += time.perf_counter() - clock
            spans += len(pairs)
        for step, seconds in steps.items():
            samples.setdefault(step, []).append(seconds / spans)
    return {step: statistics.median(values) for step, values in samples.items()}


_STEPS = ("decode", "attributes", "admit", "ids", "rows", "redact", "chain", "records")
_MAPPING = ("decode", "attributes", "admit", "ids", "rows")
_REQUIRED = ("decode", "attributes", "redact", "chain", "records")
"""What no service meeting the issue can skip: read the spans, re-check them for secrets,
chain the rows (tamper evidence), make the COPY records."""


def run(activities: int = 20_480, rounds: int = 3) -> list[Row]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_memory))
    trace.set_tracer_provider(provider)
    spans = terminal_spans(activities)
    bodies = request_bodies(spans)
    table: list[Row] = []
    costs = mapping_costs(bodies, rounds)
    mapping = sum(costs[step] for step in _MAPPING)
    table.append(
        Row(
            "request → rows (no database): decode, attributes, tenancy, ids, rows",
            f"{micros(mapping)}/row",
            ", ".join(f"{step} {micros(costs[step])}" for step in _MAPPING),
            "",
        )
    )
    table.append(
        Row(
            "… of which the redaction re-check (inside rows)",
            f"{micros(costs['redact'])}/row",
            f"{micros(mapping)}/row mapping",
            f"{costs['redact'] / mapping:.2f}",
        )
    )
    table.append(
        Row(
            "the write's own Python: chain digests, COPY records",
            f"{micros(costs['chain'] + costs['records'])}/row",
            f"chain {micros(costs['chain'])}, records {micros(costs['records'])}",
            "",
        )
    )
    database = f"autobot_activity_bench_service_{os.getpid()}"
    if not asyncio.run(_fresh_database(database)):
        table.append(Row("PostgreSQL", "not reachable", "", ""))
        return table
    with tempfile.TemporaryDirectory() as folder:
        try:
            _prepare(database)
            tokens = Path(folder) / "tokens.toml"
            token = new_token(tokens, "bench", ORG, [])
            bodies_file = Path(folder) / "bodies.pickle"
            bodies_file.write_bytes(pickle.dumps(bodies))
            results: dict[str, list[dict[str, float]]] = {"1": [], "2": []}
            copies = []
            for _ in range(rounds):  # alternate: 1 worker, 2 workers, raw COPY
                for workers in ("1", "2"):
                    results[workers].append(
                        service_rate(database, tokens, token, bodies_file, activities, int(workers))
                    )
                copies.append(asyncio.run(raw_copy_rate(database, spans)))
        finally:
            asyncio.run(_drop_database(database))
    base = statistics.median(copies)
    rate = {w: statistics.median(r["rate"] for r in results[w]) for w in results}
    cpu = {w: statistics.median(r["service_cpu"] for r in results[w]) for w in results}
    sender = statistics.median(r["sender_cpu"] for w in results for r in results[w])
    table.append(
        Row(
            "service, 1 worker: rows stored per second",
            f"{rate['1']:,.0f} rows/s",
            f"{base:,.0f} rows/s (raw COPY)",
            f"{rate['1'] / base:.2f}",
            "≥ 0.5",
        )
    )
    table.append(
        Row(
            "service, 2 workers: rows stored per second",
            f"{rate['2']:,.0f} rows/s",
            f"{base:,.0f} rows/s (raw COPY)",
            f"{rate['2'] / base:.2f}",
        )
    )
    table.append(
        Row(
            "scaling: 2 workers against 1",
            f"{rate['2']:,.0f} rows/s",
            f"{rate['1']:,.0f} rows/s",
            f"{rate['2'] / rate['1']:.2f}",
        )
    )
    required = sum(costs[step] for step in _REQUIRED)
    table.append(
        Row(
            "steps no service can skip (decode, attributes, redaction re-check, chain, records)"
            " against what 0.5 of COPY leaves a row",
            f"{micros(required)}/row",
            f"{micros(2 / base)}/row",
            f"{required * base / 2:.2f}",
        )
    )
    table.append(
        Row(
            "CPU per 1,000 rows: service (1 worker / 2 workers), sender",
            f"{cpu['1']:.3f} s / {cpu['2']:.3f} s",
            f"sender {sender:.3f} s",
            "",
        )
    )
    return table


METHOD = f"""
{{activities}} terminal activity spans (as bench_exporter builds them, but each with a command
and an output of its own) are made once and
encoded by the SDK's own OTLP encoder into requests of {BATCH} spans, protobuf, uncompressed
(the SDK exporter's defaults); not timed. A sender in a separate process posts them over
{CONNECTIONS} keep-alive connections (threads, `requests`) to `autobot-activity serve`
logged in as the append-only writer, and times the first send to the last answer; the
service answers only after the request's commit, so that is rows stored per second (the
stored count is checked afterwards). The baseline copies the same rows with asyncpg's
`copy_records_to_table` into a table of the same shape, {BATCH} rows a transaction, in the
benchmark's process. Three rounds alternate 1 worker, 2 workers and the baseline, each
service run on emptied tables; medians. CPU seconds are read from /proc for the service's
processes and the sender. The first three rows time, in this process and without a
server, each step of the service's mapping and the two the write adds in Python (the chain's
digests and the COPY records), µs per span, medians of three passes. The last but one row
adds up the steps no service meeting the issue can skip (read the spans, re-check them for
secrets, chain the rows, make the COPY records) and sets them against what 0.5 of COPY
leaves a row (2 ÷ COPY's rows per second): above 1, one Python process cannot reach 0.5
of COPY even with everything else (HTTP, row building, tenancy) free.
"""

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--send":
        url, token, bodies_path = sys.argv[2:5]
        bodies = pickle.loads(Path(bodies_path).read_bytes())
        print(json.dumps(send(url, token, bodies, CONNECTIONS)))
        sys.exit(0)
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_480
    print(markdown("Ingest service throughput", run(count), METHOD.format(activities=f"{count:,}")))
