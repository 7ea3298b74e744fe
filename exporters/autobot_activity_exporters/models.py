"""Table models: the seed's five tables, portable between SQLite and PostgreSQL.

Column names are the seed's (the schema is the contract); every row also links back to its
trace (``trace_id``, ``span_id``) and carries its tenancy (``org_id``, ``team_id``).
There is deliberately no foreign key to a users table: the host application owns its users,
and an audit trail must outlive them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from autobot_activity_otel.attributes import ActivityType

JSONDocument = JSON().with_variant(JSONB(), "postgresql")


class UuidList(TypeDecorator[list[uuid.UUID]]):
    """A list of UUIDs: ``UUID[]`` on PostgreSQL, a JSON array of strings on SQLite."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(Uuid()))
        return dialect.type_descriptor(JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return [str(item) for item in value]

    def process_result_value(self, value: Any, dialect: Dialect) -> list[uuid.UUID] | None:
        if value is None:
            return None
        return [item if isinstance(item, uuid.UUID) else uuid.UUID(item) for item in value]


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp; SQLite stores it naive, so read it back as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


EVERY_ROW = text('"timestamp" IS NOT NULL')


def _time_indexes(table: str) -> tuple[Index, ...]:
    """The lookups queries make: a user's, session's, team's or org's activities over time,
    and everyone's (the system viewer's listing, retention's cut-off); and the rows of one
    chain batch, in order (verify and prune walk them)."""
    return (
        *(
            Index(f"ix_{table}_{column}_timestamp", column, "timestamp")
            for column in ("user_id", "session_id", "org_id", "team_id")
        ),
        Index(f"ix_{table}_chain", "chain_id", "chain_sequence"),
        # partial on a predicate every row meets: only queries that name it (or a time
        # range) walk it, never one with no condition but the RLS policy (migration 0013)
        Index(
            f"ix_{table}_timestamp",
            "timestamp",
            postgresql_where=EVERY_ROW,
            sqlite_where=EVERY_ROW,
        ),
    )


CHAIN_COLUMNS = frozenset({"chain_id", "chain_sequence"})
"""Which chain batch wrote a row (docs/integrity.md); not part of what is hashed."""


class Base(DeclarativeBase):
    """Declarative base with its own ``MetaData``, so the host's models stay separate."""


class ActivityColumns:
    """Columns every table shares (listed first): identity, attribution, trace link, time."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, sort_order=-1)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), sort_order=-1)
    session_id: Mapped[str | None] = mapped_column(Text(), sort_order=-1)
    org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), sort_order=-1)
    team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), sort_order=-1)
    trace_id: Mapped[str | None] = mapped_column(String(32), sort_order=-1)
    span_id: Mapped[str | None] = mapped_column(String(16), sort_order=-1)
    duration_ms: Mapped[float | None] = mapped_column(Float(), sort_order=-1)
    # ``metadata`` is reserved on declarative classes: the column keeps the seed's name.
    extra: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONDocument, default=dict, sort_order=-1
    )
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime(), sort_order=-1)
    chain_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), sort_order=1)
    chain_sequence: Mapped[int | None] = mapped_column(BigInteger(), sort_order=1)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:
        return _time_indexes(cls.__tablename__)  # type: ignore[attr-defined]


class TerminalActivity(ActivityColumns, Base):
    __tablename__ = "terminal_activities"

    command: Mapped[str | None] = mapped_column(Text())
    working_directory: Mapped[str | None] = mapped_column(Text())
    exit_code: Mapped[int | None] = mapped_column(BigInteger())
    output: Mapped[str | None] = mapped_column(Text())
    secrets_used: Mapped[list[uuid.UUID]] = mapped_column(UuidList(), default=list)


class FileActivity(ActivityColumns, Base):
    __tablename__ = "file_activities"

    operation: Mapped[str] = mapped_column(Text())
    path: Mapped[str | None] = mapped_column(Text())
    new_path: Mapped[str | None] = mapped_column(Text())
    file_type: Mapped[str | None] = mapped_column(Text())
    size_bytes: Mapped[int | None] = mapped_column(BigInteger())


class BrowserActivity(ActivityColumns, Base):
    __tablename__ = "browser_activities"

    url: Mapped[str | None] = mapped_column(Text())
    action: Mapped[str] = mapped_column(Text())
    selector: Mapped[str | None] = mapped_column(Text())
    input_value: Mapped[str | None] = mapped_column(Text())
    secrets_used: Mapped[list[uuid.UUID]] = mapped_column(UuidList(), default=list)


class DesktopActivity(ActivityColumns, Base):
    __tablename__ = "desktop_activities"

    action: Mapped[str] = mapped_column(Text())
    coordinates: Mapped[list[int] | None] = mapped_column(JSON())
    window_title: Mapped[str | None] = mapped_column(Text())
    input_text: Mapped[str | None] = mapped_column(Text())
    screenshot_path: Mapped[str | None] = mapped_column(Text())


class SecretUsage(ActivityColumns, Base):
    """One secret seen in (or declared for) one activity: the audit trail, never the value."""

    __tablename__ = "secret_usage"

    secret_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    activity_type: Mapped[str] = mapped_column(String(16))
    activity_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    access_granted: Mapped[bool] = mapped_column(default=True)
    denial_reason: Mapped[str | None] = mapped_column(Text())
    rule: Mapped[str | None] = mapped_column(Text())
    fingerprint: Mapped[str | None] = mapped_column(Text())

    __table_args__ = (
        *_time_indexes("secret_usage"),
        Index("ix_secret_usage_activity", "activity_type", "activity_id"),
        Index("ix_secret_usage_secret_id_timestamp", "secret_id", "timestamp"),
    )


class ChainEntry(Base):
    """One committed batch of one writer's chain: its manifest, hashes and time range."""

    __tablename__ = "activity_chain"

    chain_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    previous_hash: Mapped[bytes] = mapped_column(LargeBinary())
    batch_hash: Mapped[bytes] = mapped_column(LargeBinary())
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary())
    row_count: Mapped[int] = mapped_column(Integer())
    first_timestamp: Mapped[datetime] = mapped_column(UtcDateTime())
    last_timestamp: Mapped[datetime] = mapped_column(UtcDateTime())
    committed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    manifest: Mapped[bytes] = mapped_column(LargeBinary())


class Checkpoint(Base):
    """A chain's head as its writer signed it (the same note is kept in files outside)."""

    __tablename__ = "activity_checkpoints"

    chain_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    head_hash: Mapped[bytes] = mapped_column(LargeBinary())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    note: Mapped[str] = mapped_column(Text())


class ChainPrune(Base):
    """Retention removed a chain's rows older than ``cutoff`` and its entries before
    ``first_kept_sequence`` (a signed note)."""

    __tablename__ = "activity_chain_prunes"

    chain_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    cutoff: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    first_kept_sequence: Mapped[int] = mapped_column(BigInteger())
    pruned_at: Mapped[datetime] = mapped_column(UtcDateTime())
    note: Mapped[str] = mapped_column(Text())


def _table(model: type[Base]) -> Table:
    """A mapped class's table (typed as any ``FromClause`` by SQLAlchemy)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


ACTIVITY_TABLES: dict[ActivityType, Table] = {
    ActivityType.TERMINAL: _table(TerminalActivity),
    ActivityType.FILE: _table(FileActivity),
    ActivityType.BROWSER: _table(BrowserActivity),
    ActivityType.DESKTOP: _table(DesktopActivity),
}
"""Each activity type's table."""
SECRET_USAGE: Table = _table(SecretUsage)
TABLES: dict[str, Table] = {
    table.name: table for table in (*ACTIVITY_TABLES.values(), SECRET_USAGE)
}
CHAIN: Table = _table(ChainEntry)
CHECKPOINTS: Table = _table(Checkpoint)
PRUNES: Table = _table(ChainPrune)
INTEGRITY_TABLES: dict[str, Table] = {table.name: table for table in (CHAIN, CHECKPOINTS, PRUNES)}
"""The tamper-evidence tables (docs/integrity.md)."""
