"""``make bench-scale``: the activity store on PostgreSQL with millions of realistic rows.

For each size (``python -m benchmarks.bench_scale 1000000 10000000``, the default), a fresh
database owned by a plain login (no superuser, so row-level security binds it) is migrated
to the head, then filled server-side (``INSERT ... SELECT generate_series``, a million rows
a statement): 100 orgs, 1,000 teams, 2,000 users, 50,000 sessions spread over the past
year, terminal rows of about 1.5 KB, one in fifty with a secret-usage row (one in 5,000 of
those stamped today, as a late usage of an old activity). Then, per viewer role, the
newest 100, a session's newest 100 and the last 7 days' newest 100 are timed through
``ActivityStore`` (the application login for user, team admin, org admin and for "the
policy alone", a store that forgot its condition; the owner for the system viewer):
median of 7 after 2 warm-up runs, and beside it the shared buffers the query's statements
touch (``EXPLAIN (ANALYZE, BUFFERS)`` of each, as the store sends it): the work done,
free of the machine's noise. Then the writer's insert rate into the filled database
against an empty one (``write_batch``, 512-row batches), bytes per row (partitioned; and
at the first size an unpartitioned copy), and ``prune --older-than 300d``'s dry run and
prune. The databases are dropped at the end of each size. The table replaces the
"Storage at scale" section of docs/benchmarks.md (``make bench`` keeps it).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, Table, event, true

from autobot_activity_exporters.database import create_engine
from autobot_activity_exporters.partitions import ensure_partitions
from autobot_activity_exporters.retention import prune
from autobot_activity_exporters.rows import ActivityRows, Row
from autobot_activity_exporters.schema import upgrade
from autobot_activity_exporters.store import ActivityStore
from autobot_activity_exporters.viewer import APPLICATION_ROLE, Role, Viewer
from autobot_activity_exporters.writer import write_batch
from autobot_activity_otel.attributes import ActivityType
from benchmarks.harness import SCALE_TITLE, machine, replace_section

ROOT = Path(__file__).resolve().parent.parent
TITLE = SCALE_TITLE
SIZES = (1_000_000, 10_000_000)
ORGS, TEAMS, USERS, SESSIONS = 100, 1_000, 2_000, 50_000
CHUNK = 1_000_000
OWNER, APP_LOGIN = "autobot_activity_bench_owner", "autobot_activity_bench_app"
HOST = "127.0.0.1:5432"
ROUNDS, WARM = 7, 2
INSERTED, BATCH = 10_240, 512


def _uuid(kind: str, number: int) -> uuid.UUID:
    return uuid.UUID(f"00000000-0000-7000-{kind}-{number:012d}")


def _sql_uuid(kind: str, number: str) -> str:
    return f"('00000000-0000-7000-{kind}-' || lpad(({number})::text, 12, '0'))::uuid"


USER, TEAM, ORG = "8000", "9000", "a000"
"""The fourth group of a user's, team's and org's UUID (the last group is its number)."""
# Row n is in session s = n % SESSIONS, of user s % USERS, of team (user % TEAMS), of org
# (team % ORGS); a session starts somewhere in the year before $3, its rows 7 s apart.
ATTRIBUTION = f"""
    {_sql_uuid(USER, f"s % {USERS}")} AS user_id, 'session-' || s AS session_id,
    {_sql_uuid(ORG, f"s % {USERS} % {TEAMS} % {ORGS}")} AS org_id,
    {_sql_uuid(TEAM, f"s % {USERS} % {TEAMS}")} AS team_id,
    $3::timestamptz - interval '1 hour' - interval '365 days'
        * ((s::bigint * 7919 % {SESSIONS}) / {SESSIONS}.0)
        + (n / {SESSIONS}) * interval '7 seconds' AS at
"""
FILL = f"""
INSERT INTO terminal_activities (id, user_id, session_id, org_id, team_id, trace_id, span_id,
    duration_ms, metadata, "timestamp", command, working_directory, exit_code, output,
    secrets_used)
SELECT {_sql_uuid("b000", "n")}, user_id, session_id, org_id, team_id, md5(n::text),
    left(md5(n::text), 16), n % 997, '{{"host": "bench"}}', at,
    'git status --short ' || left(md5(n::text || 'c'), 24), '/home/user' || (s % {USERS}),
    (n % 3 = 0)::int, repeat(md5(n::text || 'o'), 40), '{{}}'
FROM generate_series($1::bigint, $2::bigint) AS n,
    LATERAL (SELECT n % {SESSIONS} AS s) AS session, LATERAL (SELECT {ATTRIBUTION}) AS who
"""
USAGE_FILL = f"""
INSERT INTO secret_usage (id, user_id, session_id, org_id, team_id, metadata, "timestamp",
    secret_id, activity_type, activity_id, access_granted, rule, fingerprint)
SELECT {_sql_uuid("c000", "n")}, user_id, session_id, org_id, team_id, '{{}}',
    CASE WHEN n % 5000 = 0 THEN $3::timestamptz ELSE at END, {_sql_uuid("d000", "n % 100")},
    'terminal', {_sql_uuid("b000", "n")}, true, 'mysql-password', md5(n::text)
FROM generate_series($1::bigint + 49, $2::bigint, 50) AS n,
    LATERAL (SELECT n % {SESSIONS} AS s) AS session, LATERAL (SELECT {ATTRIBUTION}) AS who
"""


@dataclass
class Measured:
    """Every figure of one size."""

    rows: int
    load_seconds: float = 0.0
    queries: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    insert_rate: float = 0.0
    empty_rate: float = 0.0
    bytes_per_row: float = 0.0
    plain_bytes_per_row: float | None = None
    dry_run: float = 0.0
    prune: float = 0.0
    pruned: int = 0


class PolicyOnlyStore(ActivityStore):
    """A store whose query code forgot the viewer: one query, row-level security alone."""

    async def _listing(
        self,
        table: Table,
        user_id: uuid.UUID | str | None,
        session_id: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int | None,
        conditions: Sequence[ColumnElement[bool]],
        descending: bool,
    ) -> list[Row]:
        statement = self._select(
            table, user_id, session_id, since, until, limit, conditions, descending, true()
        )
        return await self._fetch(statement)


async def admin(statement: str, database: str = "postgres") -> None:
    connection = await asyncpg.connect(f"postgresql://postgres@{HOST}/{database}")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def fresh_database(name: str) -> str:
    """A new database owned by the plain owner login, migrated to the head by it."""
    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin(f'CREATE DATABASE "{name}" OWNER {OWNER}')
    url = f"postgresql+asyncpg://{OWNER}@{HOST}/{name}"
    engine = create_engine(url)
    try:
        await upgrade(engine)
        await ensure_partitions(engine)
    finally:
        await engine.dispose()
    return url


async def fill(name: str, rows: int) -> float:
    """Load ``rows`` terminal rows and their secret usage as the superuser (the owner first
    makes the months back to 400 days ago, so the year lands in its months); seconds."""
    owner = await asyncpg.connect(f"postgresql://{OWNER}@{HOST}/{name}")
    try:
        await owner.execute(
            "SELECT autobot_activity_ensure_partitions(now() - interval '400 days', now())"
        )
    finally:
        await owner.close()
    connection = await asyncpg.connect(f"postgresql://postgres@{HOST}/{name}")
    started = time.perf_counter()
    now = datetime.now(UTC)
    try:
        await connection.execute("SET synchronous_commit = off")
        for low in range(1, rows + 1, CHUNK):
            high = min(low + CHUNK - 1, rows)
            await connection.execute(FILL, low, high, now)
            await connection.execute(USAGE_FILL, low, high, now)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return time.perf_counter() - started


def viewers() -> dict[str, tuple[type[ActivityStore], Viewer, str]]:
    """Each measured role: the store class, its viewer and whose session to ask for."""
    user = 7
    team = user % TEAMS
    org = team % ORGS
    own = Viewer(_uuid(USER, user))
    org_admin = Viewer(_uuid(USER, user), _uuid(ORG, org), role=Role.ORG_ADMIN)
    return {
        "user": (ActivityStore, own, APP_LOGIN),
        "team admin": (
            ActivityStore,
            Viewer(_uuid(USER, user), _uuid(ORG, org), [_uuid(TEAM, team)], Role.TEAM_ADMIN),
            APP_LOGIN,
        ),
        "org admin": (ActivityStore, org_admin, APP_LOGIN),
        "system (owner)": (ActivityStore, Viewer.system(), OWNER),
        "policy alone, user": (PolicyOnlyStore, own, APP_LOGIN),
        "policy alone, org admin": (PolicyOnlyStore, org_admin, APP_LOGIN),
    }


QUERIES = ("newest 100", "a session's newest 100", "last 7 days, newest 100")


async def median_ms(run: Callable[[], Awaitable[object]]) -> float:
    for _ in range(WARM):
        await run()
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        await run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def time_queries(name: str) -> dict[tuple[str, str], tuple[float, int]]:
    """Per role and query: the median time and the shared buffers its statements touched."""
    found: dict[tuple[str, str], tuple[float, int]] = {}
    session = f"session-{7 + USERS}"  # a session of user 7
    since = datetime.now(UTC) - timedelta(days=7)
    for role, (store_class, viewer, login) in viewers().items():
        store = store_class(f"postgresql+asyncpg://{login}@{HOST}/{name}", viewer=viewer)
        try:
            for query, arguments in (
                (QUERIES[0], {}),
                (QUERIES[1], {"session_id": session}),
                (QUERIES[2], {"since": since}),
            ):
                run = functools.partial(store.activities, ActivityType.TERMINAL, **arguments)
                milliseconds = await median_ms(run)
                found[(role, query)] = milliseconds, await buffers(store, run)
                print(f"  {role:26} {query:26} {found[(role, query)]}", flush=True)
        finally:
            await store.close()
    return found


async def buffers(store: ActivityStore, run: Callable[[], Awaitable[object]]) -> int:
    """Shared buffers (hit or read) of the statements ``run`` sends, by EXPLAIN (ANALYZE,
    BUFFERS) of each in the store's own transaction: the work, without the machine's noise."""
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "set_config(" in statement or (
            "FROM terminal_activities" in statement and not statement.startswith("EXPLAIN")
        ):
            statements.append((statement, parameters))

    await run()  # the engine exists now
    engine = store._engine
    assert engine is not None
    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        await run()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    total = 0
    async with store._connection() as connection:  # as the store sent them, settings too
        for statement, parameters in statements:
            if "set_config(" in statement:  # the viewer's and the planner's settings
                await connection.exec_driver_sql(statement, parameters)
                continue
            result = await connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters
            )
            plan = result.scalar_one()
            top = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
            total += top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
    return total


def writer_rows(count: int) -> list[ActivityRows]:
    """Terminal rows as the writer gets them, stamped now, for users across the orgs."""
    now = datetime.now(UTC)
    batch = []
    for number in range(count):
        user = number % USERS
        row: Row = {
            "id": uuid.uuid4(),
            "user_id": _uuid(USER, user),
            "session_id": f"insert-{number % 100}",
            "org_id": _uuid(ORG, user % TEAMS % ORGS),
            "team_id": _uuid(TEAM, user % TEAMS),
            "trace_id": uuid.uuid4().hex,
            "span_id": uuid.uuid4().hex[:16],
            "duration_ms": 12.5,
            "metadata": {"host": "bench"},
            "timestamp": now,
            "command": f"git status --short {uuid.uuid4().hex[:24]}",
            "working_directory": f"/home/user{user}",
            "exit_code": 0,
            "output": uuid.uuid4().hex * 40,
            "secrets_used": [],
        }
        batch.append(ActivityRows(ActivityType.TERMINAL, "terminal_activities", row))
    return batch


async def insert_rate(url: str) -> float:
    """Rows a second through ``write_batch`` (COPY, then INSERT ... ON CONFLICT DO NOTHING)."""
    rows = writer_rows(INSERTED)
    engine = create_engine(url)
    try:
        started = time.perf_counter()
        for start in range(0, len(rows), BATCH):
            async with engine.begin() as connection:
                await write_batch(connection, rows[start : start + BATCH])
        return len(rows) / (time.perf_counter() - started)
    finally:
        await engine.dispose()


async def sizes(name: str, *, plain: bool) -> tuple[float, float | None]:
    """Bytes per terminal row, partitioned (every partition, indexes and TOAST included)
    and, with ``plain``, of an unpartitioned copy with the same indexes."""
    connection = await asyncpg.connect(f"postgresql://postgres@{HOST}/{name}")
    try:
        rows = await connection.fetchval("SELECT count(*) FROM terminal_activities")
        partitioned = await connection.fetchval(
            "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
            " WHERE inhparent = 'terminal_activities'::regclass"
        )
        unpartitioned = None
        if plain:
            await connection.execute("SET synchronous_commit = off")
            await connection.execute(
                "CREATE TABLE bench_plain (LIKE terminal_activities INCLUDING ALL)"
            )
            await connection.execute("INSERT INTO bench_plain SELECT * FROM terminal_activities")
            unpartitioned = await connection.fetchval(
                "SELECT pg_total_relation_size('bench_plain')"
            )
            await connection.execute("DROP TABLE bench_plain")
    finally:
        await connection.close()
    return partitioned / rows, None if unpartitioned is None else unpartitioned / rows


async def time_prune(url: str) -> tuple[float, float, int]:
    engine = create_engine(url)
    try:
        started = time.perf_counter()
        await prune(engine, timedelta(days=300), dry_run=True)
        dry = time.perf_counter() - started
        started = time.perf_counter()
        result = await prune(engine, timedelta(days=300))
        return dry, time.perf_counter() - started, result.total
    finally:
        await engine.dispose()


async def measure(rows: int, first: bool) -> Measured:
    name = f"autobot_activity_bench_scale_{os.getpid()}"
    empty = f"{name}_empty"
    measured = Measured(rows)
    try:
        url = await fresh_database(name)
        empty_url = await fresh_database(empty)
        measured.load_seconds = await fill(name, rows)
        print(f"{rows:,} rows loaded in {measured.load_seconds:.0f} s", flush=True)
        measured.queries = await time_queries(name)
        measured.empty_rate = await insert_rate(empty_url)
        measured.insert_rate = await insert_rate(url)
        measured.bytes_per_row, measured.plain_bytes_per_row = await sizes(name, plain=first)
        measured.dry_run, measured.prune, measured.pruned = await time_prune(url)
        print(measured, flush=True)
    finally:
        for database in (name, empty):
            await admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return measured


async def roles() -> None:
    """The owner login, and an application login in the application role."""
    await admin(
        f"""DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OWNER}') THEN
                CREATE ROLE {OWNER} LOGIN;
            END IF;
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APPLICATION_ROLE}') THEN
                CREATE ROLE {APPLICATION_ROLE} NOLOGIN;
            END IF;
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_LOGIN}') THEN
                CREATE ROLE {APP_LOGIN} LOGIN IN ROLE {APPLICATION_ROLE};
            END IF;
        END $$"""
    )


def _ms(value: float) -> str:
    return f"{value:,.1f} ms" if value >= 10 else f"{value:,.2f} ms"


def _count(rows: int) -> str:
    return f"{rows / 1e6:g}M"


def table(results: list[Measured], seconds: float) -> str:
    small, large = results[0], results[-1]
    heads = " | ".join(_count(result.rows) for result in results)
    growth = f"growth {_count(small.rows)} → {_count(large.rows)}"
    lines = [
        f"## {TITLE}",
        "",
        (__doc__ or "").split("\n\n", 1)[1].split("The databases are dropped")[0].strip(),
        "",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, {machine()}; {seconds:.0f} s in all;"
        " PostgreSQL shared with other work on the machine. Loading took "
        + ", ".join(f"{r.load_seconds:.0f} s ({_count(r.rows)})" for r in results)
        + ".",
        "",
        f"| viewer | query | {heads} | {growth}: time (buffers) | target |",
        "|---|---|" + "---|" * len(results) + "---|---|",
    ]
    for key in small.queries:
        cells = " | ".join(
            f"{_ms(result.queries[key][0])} ({result.queries[key][1]:,} buffers)"
            for result in results
        )
        ratio = large.queries[key][0] / small.queries[key][0]
        work = large.queries[key][1] / max(small.queries[key][1], 1)
        lines.append(f"| {key[0]} | {key[1]} | {cells} | {ratio:.2f}× ({work:.2f}×) | ≤ 1.5× |")
    lines += [
        "",
        f"| figure | {heads} | note |",
        "|---|" + "---|" * len(results) + "---|",
        "| `prune --older-than 300d --dry-run` | "
        + " | ".join(f"{r.dry_run:.2f} s" for r in results)
        + " | counts with a correlated EXISTS |",
        "| `prune --older-than 300d` | "
        + " | ".join(f"{r.prune:.2f} s ({r.pruned:,} rows)" for r in results)
        + " | whole months dropped, the rest in batches |",
        "| insert rate, filled table / empty table | "
        + " | ".join(
            f"{r.insert_rate:,.0f} / {r.empty_rate:,.0f} rows/s"
            f" ({r.insert_rate / r.empty_rate:.2f}×)"
            for r in results
        )
        + f" | `write_batch`, {INSERTED:,} rows in batches of {BATCH} |",
        "| bytes per terminal row, partitioned | "
        + " | ".join(f"{r.bytes_per_row:,.0f}" for r in results)
        + " | heap, TOAST and every index |",
    ]
    if small.plain_bytes_per_row is not None:
        lines.append(
            f"| bytes per terminal row, unpartitioned copy | {small.plain_bytes_per_row:,.0f}"
            + " | " * (len(results) - 1)
            + " | same indexes, measured at the first size |"
        )
    return "\n".join(lines) + "\n"


async def main(requested: Sequence[int]) -> str:
    started = time.monotonic()
    await roles()
    results = []
    for index, rows in enumerate(requested):
        results.append(await measure(rows, first=index == 0))
    return table(results, time.monotonic() - started)


if __name__ == "__main__":
    counts = [int(argument) for argument in sys.argv[1:]] or list(SIZES)
    section = asyncio.run(main(counts))
    print(section)
    document = ROOT / "docs" / "benchmarks.md"
    document.write_text(replace_section(document.read_text(), TITLE, section))
