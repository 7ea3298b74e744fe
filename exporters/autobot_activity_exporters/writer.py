"""Idempotent writes of activity rows: a whole batch in the caller's one transaction.

Rows are keyed on the client-generated activity id (and ids derived from it), so writing
the same activity twice, from the exporter, a replay or a direct ``db=`` write, inserts it once.
A writer's batches (``commit_batch``) are also entries of its tamper-evident chain, written
in the same transaction (``integrity.chain``; docs/integrity.md).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import JSON, Insert, Table, insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from autobot_activity_exporters.integrity.chain import Chains, Lane, Pending
from autobot_activity_exporters.models import CHAIN, CHECKPOINTS, SECRET_USAGE, TABLES
from autobot_activity_exporters.partitions import PartitionsAhead
from autobot_activity_exporters.rows import ActivityRows, Row

T = TypeVar("T")


def group_by_table(batch: Iterable[ActivityRows]) -> dict[Table, list[Row]]:
    """All rows of a batch, per table (activities before their secret usage)."""
    grouped: dict[Table, list[Row]] = {}
    usage: list[Row] = []
    for rows in batch:
        grouped.setdefault(TABLES[rows.table], []).append(rows.activity)
        usage.extend(rows.secret_usage)
    if usage:
        grouped[SECRET_USAGE] = usage
    return grouped


def insert_ignoring_duplicates(table: Table, dialect_name: str) -> Insert:
    """``INSERT`` that skips rows whose id already exists (``ON CONFLICT DO NOTHING``).

    No conflict target on purpose: naming one (``(id)``) makes PostgreSQL check each new row
    against the row-level security SELECT policy, which a writer with no viewer fails.
    The id is the only unique key, so the effect is the same.
    """
    if dialect_name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect_name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(
        f"activity storage supports PostgreSQL and SQLite, not {dialect_name}"
    )


async def commit_batch(engine: AsyncEngine, batch: Iterable[ActivityRows], chains: Chains) -> None:
    """Commit the batch and its chain entry in one transaction, then move the chain's head.

    A failure before the commit leaves the chain as it was; a failure of the commit itself
    (it may have landed) ends that chain, and the next batch starts a new one.
    """
    async with chains.lane() as lane:
        pending: Pending | None = None
        try:
            async with engine.begin() as connection:
                pending = await write_batch(connection, batch, lane)
        except BaseException:
            if pending is not None:
                lane.restart()
            raise
        if pending is not None:
            lane.committed(pending)


async def close_chains(engine: AsyncEngine, chains: Chains) -> None:
    """Checkpoint every chain whose head moved since its last checkpoint (at shutdown)."""
    closing = chains.closing_checkpoints()
    if not closing:
        return
    async with engine.begin() as connection:
        await connection.execute(insert(CHECKPOINTS), [checkpoint for _lane, checkpoint in closing])
    chains.checkpoints_committed(closing)


class ChainedWriter:
    """One writer's commits (the journal's destination, the ingest service): its chains, and
    this month's partitions made before its first batch of the month."""

    def __init__(self) -> None:
        self.chains = Chains()
        self._partitions = PartitionsAhead()

    async def commit(self, engine: AsyncEngine, batch: Iterable[ActivityRows]) -> None:
        await self._partitions.ensure(engine)
        await commit_batch(engine, batch, self.chains)

    async def close(self, engine: AsyncEngine) -> None:
        """Checkpoint the heads that moved (at shutdown)."""
        await close_chains(engine, self.chains)


async def write_batch(
    connection: AsyncConnection, batch: Iterable[ActivityRows], lane: Lane | None = None
) -> Pending | None:
    """Insert every row of the batch through ``connection``, in its current transaction
    (``_insert``); with a ``lane``, also the batch's chain entry (and a checkpoint when one
    is due). Without a lane (``db=``) the rows' chain columns stay empty: the exporter's
    write of the same activity covers them.
    """
    grouped = group_by_table(batch)
    if not grouped:
        return None
    if lane is None:
        for rows in grouped.values():
            for row in rows:
                row["chain_id"] = row["chain_sequence"] = None
        await _insert(connection, grouped, lambda: None)
        return None
    tables = {table.name: rows for table, rows in grouped.items()}
    lane.stamp(tables)
    pending = await _insert(connection, grouped, lambda: lane.seal(tables))
    await connection.execute(insert(CHAIN), pending.entry)
    if pending.checkpoint is not None:
        await connection.execute(insert(CHECKPOINTS), pending.checkpoint)
    return pending


async def _insert(
    connection: AsyncConnection,
    grouped: dict[Table, list[Row]],
    meanwhile: Callable[[], T],
) -> T:
    """Insert the rows; ``meanwhile`` runs while the database carries out the last statement
    (the chain's hashing fills the time the writer would spend waiting), its result returned.

    On PostgreSQL with asyncpg the rows are bulk-copied (``COPY``) into a temporary table
    and moved with one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` per table (``copy_plan``);
    elsewhere an executemany ``INSERT`` that ignores duplicates.
    """
    dialect = connection.dialect
    statements: list[tuple[Any, list[Row] | None]]  # each with its parameters
    if dialect.name == "postgresql" and dialect.driver == "asyncpg":
        plans = [(copy_plan(table), rows) for table, rows in grouped.items()]
        # The first statement goes through SQLAlchemy: the asyncpg adapter opens its
        # transaction lazily, and the COPY on the raw connection must happen inside it.
        for plan, _rows in plans:
            await connection.execute(text(plan.create))
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None, "an open connection has its driver's connection"
        for plan, rows in plans:
            await raw.copy_records_to_table(
                plan.staging, records=plan.records(rows), columns=plan.columns
            )
        # the moves go through SQLAlchemy, so a refusal is reported as its error
        statements = [(text(plan.move), None) for plan, _rows in plans]
    else:
        statements = [
            (insert_ignoring_duplicates(table, dialect.name), rows)
            for table, rows in grouped.items()
        ]
    for statement, parameters in statements[:-1]:
        await connection.execute(statement, parameters)
    statement, parameters = statements[-1]
    last = asyncio.ensure_future(connection.execute(statement, parameters))
    try:
        await asyncio.sleep(0)  # its turn: the statement is sent
        result = meanwhile()
    except BaseException:  # cancelled, say: so is the statement, as if it were awaited here
        last.cancel()
        await asyncio.gather(last, return_exceptions=True)  # never left running on its own
        raise
    await last
    return result


@dataclass(frozen=True)
class _CopyPlan:
    """How one table's rows travel: COPY into a staging table, then one INSERT ... SELECT.

    The staging table is temporary and ``ON COMMIT DELETE ROWS``: created once per
    connection (``IF NOT EXISTS`` costs a catalog lookup, where creating it for every batch
    cost catalog writes and a fresh plan for every statement touching it), and its name
    carries a digest of the columns and their types, so a connection that outlives a schema
    change never copies into a staging table of the old shape. The commit empties it. A
    second batch in the same transaction moves the first one's rows again, which the conflict
    clause ignores (emptying it in the move, ``WITH ... DELETE ... RETURNING``, cost a fifth
    more per row).
    """

    staging: str
    columns: list[str]
    """The plain columns, then the JSON ones (whose values are serialised here)."""
    plain: Callable[[Row], tuple[Any, ...]]
    documents: tuple[str, ...]
    create: str
    move: str

    def records(self, rows: list[Row]) -> list[tuple[Any, ...]]:
        """Rows as COPY records (asyncpg's COPY bypasses SQLAlchemy's type processing)."""
        plain, documents = self.plain, self.documents
        return [plain(row) + tuple([_json_text(row[name]) for name in documents]) for row in rows]


@functools.cache
def copy_plan(table: Table) -> _CopyPlan:
    """How a table's rows are copied (made once per table)."""
    documents = tuple(c.name for c in table.columns if isinstance(c.type, JSON))
    plain = tuple(c.name for c in table.columns if c.name not in documents)
    columns = [*plain, *documents]
    # Column types spelled out rather than ``LIKE`` the table: ``LIKE`` needs SELECT on it,
    # which the append-only writer role must not have.
    definitions = ", ".join(
        f'"{name}" {table.c[name].type.compile(dialect=_POSTGRESQL)}' for name in columns
    )
    digest = hashlib.sha256(definitions.encode()).hexdigest()[:8]
    staging = f"autobot_staging_{table.name}_{digest}"
    names = ", ".join(f'"{name}"' for name in columns)
    return _CopyPlan(
        staging=staging,
        columns=columns,
        plain=operator.itemgetter(*plain),  # every table has several plain columns: a tuple
        documents=documents,
        create=(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS "{staging}" ({definitions})'
            " ON COMMIT DELETE ROWS"
        ),
        move=(
            f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{staging}"'
            " ON CONFLICT DO NOTHING"
        ),
    )


_POSTGRESQL = PGDialect()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it unannotated
_JSON = json.JSONEncoder(default=str)


def _json_text(value: Any) -> str | None:
    """A JSON column's value as text; None stays SQL NULL."""
    return None if value is None else _JSON.encode(value)
