"""Where journaled activities go: a ``Destination`` takes a batch of snapshots or raises.

The journal knows nothing of databases: it hands batches of ``ActivitySnapshot`` to a
destination on the shipper's loop and advances its cursor when ``send`` returns. ``send``
raises to keep the whole batch (a transient failure: retried with back-off) and returns the
activities refused for good, each with what may be kept of it, for the quarantine.
``DatabaseDestination`` maps snapshots to rows (the one row builder, with its secret
re-check) and writes them with the one batch writer; ``OtlpDestination`` (``otlp_destination``)
sends them to the ingest service.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy.ext.asyncio import AsyncEngine

from autobot_activity_exporters import rows as row_mapping
from autobot_activity_exporters.database import create_engine, safe_url
from autobot_activity_exporters.delivery import deliver
from autobot_activity_exporters.retention import RetentionSchedule
from autobot_activity_exporters.rows import ActivityRows, InvalidActivity
from autobot_activity_exporters.schema import upgrade
from autobot_activity_exporters.writer import ChainedWriter
from autobot_activity_otel.snapshot import ActivitySnapshot

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """An activity the destination will never take, and what the quarantine keeps of it."""

    activity_id: str
    reason: str
    kind: str
    """``database_refused``, ``service_refused`` or ``invalid_span`` (the metric's reason)."""
    evidence: dict[str, Any] = field(default_factory=dict)
    """Nothing that was not redacted: rows as the database would have stored them, or
    attribute names and types."""


@dataclass(frozen=True)
class Rejected:
    """Activities a destination took but did not keep, without saying which (an OTLP
    ``partial_success``): counted as dropped and said, never sent again."""

    count: int
    reason: str
    """The destination's own explanation (the ingest service names no value in it)."""


class Destination(Protocol):
    """What the shipper delivers to."""

    description: str
    """Where, for messages: never a password."""

    async def send(self, batch: Sequence[ActivitySnapshot]) -> list[Refusal | Rejected]:
        """Deliver the batch; raise to keep all of it; return what is refused for good."""
        ...

    async def close(self) -> None:
        """Release connections (on the shipper's loop, before it stops)."""
        ...


class DatabaseDestination:
    """Rows in SQLite or PostgreSQL, one transaction per batch, idempotent on activity ids."""

    def __init__(
        self,
        database_url: str,
        *,
        create_schema: bool = True,
        connect_timeout: float = 10.0,
        retention: RetentionSchedule | None = None,
    ) -> None:
        self.database_url = database_url
        self.description = safe_url(database_url)
        self._create_schema = create_schema
        self._connect_timeout = connect_timeout
        self._retention = retention
        self._engine: AsyncEngine | None = None
        self._writer = ChainedWriter()
        self._schema_ready = False
        self._pid = os.getpid()

    @property
    def create_schema(self) -> bool:
        return self._create_schema

    @property
    def connect_timeout(self) -> float:
        return self._connect_timeout

    @property
    def retention(self) -> RetentionSchedule | None:
        return self._retention

    async def send(self, batch: Sequence[ActivitySnapshot]) -> list[Refusal | Rejected]:
        refused: list[Refusal | Rejected] = []
        rows: list[ActivityRows] = []
        for snapshot in batch:
            try:
                mapped = row_mapping.rows_from_activity(snapshot)
            except Exception as exc:
                refused.append(invalid_refusal(snapshot, exc))
                continue
            if mapped is not None:
                rows.append(mapped)
        if rows:

            def quarantine(activity: ActivityRows, reason: str) -> None:
                refused.append(
                    Refusal(
                        str(activity.activity["id"]),
                        reason,
                        "database_refused",
                        {
                            "table": activity.table,
                            "rows": [activity.activity, *activity.secret_usage],
                        },
                    )
                )

            await deliver(rows, self._write, quarantine)
        return refused

    async def close(self) -> None:
        if self._engine is not None and self._pid == os.getpid():
            try:
                with suppress_instrumentation():
                    await self._writer.close(self._engine)
            except Exception as exc:  # the rows are committed; only the last checkpoint is lost
                _logger.warning("closing checkpoint not written (%s)", type(exc).__name__)
            await self._engine.dispose()
        self._engine = None

    async def _write(self, batch: list[ActivityRows]) -> None:
        with suppress_instrumentation():
            if self._pid != os.getpid():  # a forked child: the parent's connections are not ours
                self._engine, self._schema_ready, self._pid = None, False, os.getpid()
            if self._engine is None:
                self._engine = create_engine(
                    self.database_url, connect_timeout=self._connect_timeout
                )
            if self._create_schema and not self._schema_ready:
                await upgrade(self._engine)
                self._schema_ready = True
            await self._writer.commit(self._engine, batch)
            if self._retention is not None:
                self._retention.poke(self.database_url)


def invalid_refusal(snapshot: ActivitySnapshot, error: Exception) -> Refusal:
    """A snapshot that cannot become rows: the reason and its attributes' names and types
    (its values were never checked by the row builder, so none is kept)."""
    reason = str(error) if isinstance(error, InvalidActivity) else type(error).__name__
    activity_id = snapshot.attributes.get("activity.id")
    shape = {key: type(value).__name__ for key, value in snapshot.attributes.items()}
    return Refusal(
        activity_id if isinstance(activity_id, str) else f"span-{snapshot.span_id:016x}",
        reason,
        "invalid_span",
        {"attributes": shape},
    )
