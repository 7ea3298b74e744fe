"""One request's spans: tenancy checked, mapped to rows as the exporter maps them, committed.

The row mapping (with its redaction re-check) is ``rows.rows_from_fields`` and the write is
``writer.commit_batch`` (one transaction, chained), through ``delivery.deliver``, exactly as the
in-process exporter does; only the source of the span's fields differs. Nothing is
acknowledged before it is committed: a database that does not answer raises
``StoreUnavailable``, and the client sends the request again (inserts are idempotent).

Group commit: the requests whose rows are ready while a commit is running are committed
together in the next transaction (up to ``GROUP_ROWS`` rows), each answered once that
transaction has committed. One transaction of a few thousand rows costs the database less
than several of 512 side by side (measured in docs/deploy.md, "Capacity"); a row refused for
good is still set aside alone and reported to the request that sent it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from sqlalchemy.ext.asyncio import AsyncEngine

from autobot_activity_exporters.delivery import deliver, describe
from autobot_activity_exporters.rows import ActivityRows, InvalidActivity, rows_from_fields
from autobot_activity_exporters.schema import SchemaNotCurrent, require_current
from autobot_activity_exporters.service.metrics import ServiceMetrics
from autobot_activity_exporters.service.otlp import ActivitySpans, events_of, span_ids
from autobot_activity_exporters.service.tokens import IngestToken
from autobot_activity_exporters.writer import ChainedWriter
from autobot_activity_otel import attributes as attr

_logger = logging.getLogger(__name__)


class Rejection(StrEnum):
    """Why a span was not stored; also the ``reason`` label of the rejected-spans metric."""

    OTHER_ORG = "other_org"
    OTHER_TEAM = "other_team"
    INVALID = "invalid"
    DATABASE_REFUSED = "database_refused"


_EXPLANATIONS = {
    Rejection.OTHER_ORG: "name an org other than the token's",
    Rejection.OTHER_TEAM: "name a team the token is not for",
    Rejection.INVALID: "are not valid activities",
    Rejection.DATABASE_REFUSED: "were refused by the database",
}


class StoreUnavailable(RuntimeError):
    """The rows could not be committed now (database down, schema not current): answer 503."""


@dataclass(slots=True)
class Outcome:
    """What became of one request's spans."""

    stored: int = 0
    ignored: int = 0
    rejected: Counter[Rejection] = field(default_factory=Counter)
    details: Counter[str] = field(default_factory=Counter)
    """Why activities were invalid or refused: attribute names and error types, no value."""

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def message(self) -> str:
        """The ``partial_success.error_message``: counts and reasons, never a value."""
        if not self.rejected:
            return ""
        parts = [
            f"{count} {_EXPLANATIONS[reason]}" for reason, count in sorted(self.rejected.items())
        ]
        text = f"{self.rejected_total} activity spans rejected: " + "; ".join(parts)
        if self.details:
            text += " (" + "; ".join(f"{n}× {d}" for d, n in self.details.most_common(5)) + ")"
        return text


def admit(attributes: dict[str, Any], token: IngestToken) -> Rejection | None:
    """Why the token may not append an activity with these attributes, or None after
    stamping the token's tenancy where the activity names none (in place).

    A span naming another org, or a team the token does not list, is rejected, never
    re-stamped. A span with no org gets the token's; one with no team gets the token's
    team when the token is for exactly one.
    """
    org = attributes.get(attr.ACTIVITY_ORG_ID)
    if org is None:
        attributes[attr.ACTIVITY_ORG_ID] = token.org_text
    elif _as_uuid(org) != token.org_id:
        return Rejection.OTHER_ORG
    team = attributes.get(attr.ACTIVITY_TEAM_ID)
    if team is None:
        if token.only_team is not None:
            attributes[attr.ACTIVITY_TEAM_ID] = token.only_team
    elif _as_uuid(team) not in token.team_ids:
        return Rejection.OTHER_TEAM
    return None


@functools.lru_cache(maxsize=1024)
def _parse_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _as_uuid(value: Any) -> uuid.UUID | None:
    """An attribute's UUID, or None when it is not one (and so matches no token)."""
    return _parse_uuid(value) if isinstance(value, str) else None


MAPPING_SLICE_SECONDS, MAPPING_PAUSE_SECONDS = 0.05, 0.005
"""How long one request's mapping holds the event loop before it pauses, and the pause: long
enough for the other requests' next steps (a ``/healthz`` answered in about two; a pause of no
time let each take one step). At most a tenth of a long mapping; a request of 512 ordinary
spans maps within one slice. A span's mapping is not cut: one span of 16 MiB still holds the
loop for its whole redaction."""
GROUP_ROWS = 4096
"""The most rows one group commit takes (a request larger than this is committed alone)."""


@dataclass(eq=False)
class _Waiting:
    """A request's rows waiting for a group commit, and what becomes of them."""

    rows: list[ActivityRows]
    token: IngestToken
    done: asyncio.Future[list[str]]
    refused: list[str] = field(default_factory=list)
    """The reasons of its activities the database refused for good."""


class Ingestor:
    """Maps and commits requests' spans through one engine; counts everything it does."""

    def __init__(self, engine: AsyncEngine, metrics: ServiceMetrics) -> None:
        self.engine = engine
        self.metrics = metrics
        self.writer = ChainedWriter()
        self._schema_checked = False
        self._waiting: list[_Waiting] = []
        self._committer: asyncio.Task[None] | None = None

    async def ingest(self, request: ExportTraceServiceRequest, token: IngestToken) -> Outcome:
        """Store what the token may append; raises ``StoreUnavailable`` if nothing can be.

        The mapping pauses every ``MAPPING_SLICE_SECONDS``: text dense with secrets takes
        about a second a MiB to redact, and every other request, another tenant's or
        ``/healthz``, waited for the whole of it (16 MiB: 15 s). Mapping in a thread instead
        made the loop and the thread fight over the one GIL: 2.8 times the CPU a row, 0.44
        times the rows stored."""
        spans = ActivitySpans(request)
        outcome = Outcome()
        batch: list[ActivityRows] = []
        received = 0
        slice_ends = time.perf_counter() + MAPPING_SLICE_SECONDS
        for span, attributes in spans:
            if time.perf_counter() > slice_ends:
                await asyncio.sleep(MAPPING_PAUSE_SECONDS)
                slice_ends = time.perf_counter() + MAPPING_SLICE_SECONDS
            received += 1
            rejection = admit(attributes, token)
            if rejection is not None:
                outcome.rejected[rejection] += 1
                continue
            ids = span_ids(span)
            if ids is None:
                outcome.rejected[Rejection.INVALID] += 1
                outcome.details["trace or span id of the wrong length"] += 1
                continue
            try:  # the fields ``snapshot_of`` would hold, without building the snapshot
                rows = rows_from_fields(
                    attributes,
                    ids[0],
                    ids[1],
                    span.start_time_unix_nano,
                    span.end_time_unix_nano,
                    span.name,
                    span.status.message or None,
                    events_of(span),
                )
            except InvalidActivity as exc:  # names the attribute, never its value
                outcome.rejected[Rejection.INVALID] += 1
                outcome.details[str(exc)] += 1
                continue
            except Exception as exc:  # a bug of ours must not take the request down
                reason = f"not mappable ({type(exc).__name__})"  # a message might hold a value
                outcome.rejected[Rejection.INVALID] += 1
                outcome.details[reason] += 1
                _logger.error("activity span %s", reason)
                continue
            if rows is not None:
                batch.append(rows)
        outcome.ignored = spans.ignored
        self.metrics.received.inc(received)
        self.metrics.ignored.inc(outcome.ignored)
        if batch:
            refused = await self._commit(batch, token)
            for reason in refused:
                outcome.rejected[Rejection.DATABASE_REFUSED] += 1
                outcome.details[reason] += 1
            outcome.stored = len(batch) - len(refused)
        self.metrics.stored.inc(outcome.stored)
        for reason, count in outcome.rejected.items():
            self.metrics.rejected.labels(reason=reason.value).inc(count)
        return outcome

    async def _commit(self, rows: list[ActivityRows], token: IngestToken) -> list[str]:
        """Wait for the group commit that takes these rows; returns the reasons of the
        activities the database refused, or raises ``StoreUnavailable``."""
        waiting = _Waiting(rows, token, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_waiting())
        return await waiting.done

    async def _commit_waiting(self) -> None:
        """Commit what waits, a group at a time, until nothing does."""
        while self._waiting:
            group: list[_Waiting] = []
            size = 0
            while self._waiting and (not group or size + len(self._waiting[0].rows) <= GROUP_ROWS):
                group.append(self._waiting.pop(0))
                size += len(group[-1].rows)
            try:
                await self._store(group)
            except StoreUnavailable as exc:
                _settle(group, exc)
            except BaseException:  # cancelled (shutdown): nothing is acknowledged, all retry
                _settle([*group, *self._waiting], StoreUnavailable("the service is stopping"))
                self._waiting.clear()
                raise
            else:
                _settle(group, None)

    async def _store(self, group: list[_Waiting]) -> None:
        """Commit a group's rows in one transaction; a refused row is noted on its request."""
        owner = {id(rows): waiting for waiting in group for rows in waiting.rows}
        batch = [rows for waiting in group for rows in waiting.rows]

        def set_aside(rows: ActivityRows, reason: str) -> None:
            waiting = owner[id(rows)]
            waiting.refused.append(reason)
            _logger.warning(
                "activity %s from token %s refused by the database: %s",
                rows.activity["id"],
                waiting.token.name,
                reason,
            )

        started = time.perf_counter()
        try:
            with suppress_instrumentation():
                if not self._schema_checked:
                    await require_current(self.engine)
                    self._schema_checked = True
                await deliver(batch, self._write, set_aside)
        except SchemaNotCurrent as exc:
            _logger.error("%s", exc)
            raise StoreUnavailable(str(exc)) from None
        except Exception as exc:
            self._schema_checked = False  # a table may have gone: check again next time
            _logger.warning("activity batch not stored (the client will retry): %s", describe(exc))
            raise StoreUnavailable("the activity database is not available; retry later") from None
        self.metrics.write_seconds.observe(time.perf_counter() - started)

    async def _write(self, batch: list[ActivityRows]) -> None:
        await self.writer.commit(self.engine, batch)

    async def close(self) -> None:
        """Checkpoint the chains' heads (at shutdown); a failure is logged, not raised."""
        try:
            with suppress_instrumentation():
                await self.writer.close(self.engine)
        except Exception as exc:
            _logger.warning("closing checkpoint not written (%s)", describe(exc))


def _settle(group: list[_Waiting], error: StoreUnavailable | None) -> None:
    """Answer each waiting request of a group (one that went away is not waited for)."""
    for waiting in group:
        if waiting.done.done():
            continue
        if error is None:
            waiting.done.set_result(waiting.refused)
        else:
            waiting.done.set_exception(error)
