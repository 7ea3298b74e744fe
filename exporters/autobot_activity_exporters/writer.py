"""Idempotent writes of activity rows: a whole batch in the caller's one transaction.

Rows are keyed on the client-generated activity id (and ids derived from it), so writing
the same activity twice, from the exporter, a replay or a direct ``db=`` write, inserts it once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import JSON, Insert, Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from autobot_activity_exporters.models import SECRET_USAGE, TABLES
from autobot_activity_exporters.rows import ActivityRows, Row


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


async def write_batch(connection: AsyncConnection, batch: Iterable[ActivityRows]) -> None:
    """Insert every row of the batch through ``connection``, in its current transaction.

    On PostgreSQL with asyncpg the rows are bulk-copied (``COPY``) into a temporary table
    and moved with one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` per table; elsewhere
    an executemany ``INSERT`` that ignores duplicates.
    """
    grouped = group_by_table(batch)
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "asyncpg":
        await _copy_and_insert(connection, grouped)
        return
    for table, rows in grouped.items():
        await connection.execute(insert_ignoring_duplicates(table, connection.dialect.name), rows)


async def _copy_and_insert(connection: AsyncConnection, grouped: dict[Table, list[Row]]) -> None:
    # Run a statement through SQLAlchemy first: the asyncpg adapter opens its transaction
    # lazily, and the COPY on the raw connection must happen inside it.
    raw = None
    for table, rows in grouped.items():
        staging = f"autobot_staging_{table.name}"
        await connection.execute(
            text(
                f'CREATE TEMPORARY TABLE "{staging}" (LIKE "{table.name}" INCLUDING DEFAULTS)'
                " ON COMMIT DROP"
            )
        )
        if raw is None:
            raw = (await connection.get_raw_connection()).driver_connection
        columns = list(table.columns)
        records = [
            tuple(_copy_value(column.type, row[column.name]) for column in columns) for row in rows
        ]
        await raw.copy_records_to_table(
            staging, records=records, columns=[column.name for column in columns]
        )
        names = ", ".join(f'"{column.name}"' for column in columns)
        await connection.execute(
            text(
                f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{staging}"'
                " ON CONFLICT DO NOTHING"
            )
        )


def _copy_value(column_type: Any, value: Any) -> Any:
    """A value as asyncpg's COPY wants it (SQLAlchemy's type processing is bypassed there)."""
    if value is not None and isinstance(column_type, JSON):
        return json.dumps(value, default=str)
    return value
