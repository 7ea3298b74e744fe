"""The span exporter: activity spans in, one idempotent transaction of rows per batch out.

What the database does not take goes to a durable spool and is replayed, in order, by a
task on the exporter's own loop thread (see docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Coroutine, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from opentelemetry import metrics
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from autobot_activity_exporters.database import (
    create_engine,
    create_schema_from_env,
    resolve_database_url,
)
from autobot_activity_exporters.delivery import backoff, deliver, describe
from autobot_activity_exporters.direct import register as register_direct_writer
from autobot_activity_exporters.retention import RetentionSchedule
from autobot_activity_exporters.rows import ActivityRows, InvalidActivity, rows_from_span
from autobot_activity_exporters.schema import upgrade
from autobot_activity_exporters.spool import Spool, default_spool_dir
from autobot_activity_exporters.version import __version__
from autobot_activity_exporters.writer import write_batch
from autobot_activity_otel.instrumentation.file.scope import ignore_path

_logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10.0
RETRY_BASE_SECONDS = 0.25
RETRY_MAX_SECONDS = 5.0
"""Replay back-off: 0.25 s doubling to 5 s, each wait jittered between half and all of it."""
WARNING_INTERVAL_SECONDS = 60.0
"""The same kind of warning (spool full, replay failing) is logged at most this often."""


class ActivitySpanExporter(SpanExporter):
    """Writes activity spans (those with ``activity.type``) as rows; ignores every other span.

    Built with no arguments by the SDK (``OTEL_TRACES_EXPORTER=autobot_activity``), it reads
    ``AUTOBOT_ACTIVITY_DATABASE_URL``, ``AUTOBOT_ACTIVITY_CREATE_SCHEMA`` and the spool's
    ``AUTOBOT_ACTIVITY_SPOOL_DIR`` / ``AUTOBOT_ACTIVITY_SPOOL_MAX_BYTES``. Spans become rows
    on the calling thread (the batch processor's worker); the database work runs on this
    exporter's own event-loop thread with instrumentation suppressed, so it never turns into
    spans of its own. ``export()`` waits at most ``timeout`` seconds and never raises.

    A batch the database does not take within that time is spooled durably and ``export()``
    still returns SUCCESS (nothing in the SDK retries a FAILURE; the spool does). FAILURE
    means the batch was dropped: the spool is full (counted in ``autobot_activity.dropped``)
    or the exporter is shut down. A replay task drains the spool, oldest first, with
    jittered exponential back-off, from construction on if an earlier process left batches.
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        create_schema: bool | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        spool_dir: str | os.PathLike[str] | None = None,
        spool_max_bytes: int | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        retention: timedelta | None = None,
    ) -> None:
        self.database_url = resolve_database_url(database_url)
        self._create_schema = create_schema_from_env() if create_schema is None else create_schema
        self._timeout = timeout
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._engine: AsyncEngine | None = None
        self._schema_ready = False
        self._schema_lock = asyncio.Lock()
        self._shut_down = False
        # retention (else AUTOBOT_ACTIVITY_RETENTION): prune older rows at most hourly
        self._retention = (
            RetentionSchedule.from_env() if retention is None else RetentionSchedule(retention)
        )
        self.spool = Spool(
            Path(spool_dir) if spool_dir else default_spool_dir(self.database_url),
            spool_max_bytes,
        )
        self._wake = asyncio.Event()
        self._drain_lock = asyncio.Lock()
        self._replayer: asyncio.Task[None] | None = None
        self._warned: dict[str, float] = {}
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(
            "autobot_activity_exporters", __version__
        )
        self._dropped = meter.create_counter(
            "autobot_activity.dropped",
            unit="{activity}",
            description="Activities lost: the spool was full or could not be written.",
        )
        self._quarantined = meter.create_counter(
            "autobot_activity.quarantined",
            unit="{activity}",
            description="Activities set aside because the database refuses them for good.",
        )
        _ignore_own_files(self.database_url, self.spool.directory)
        register_direct_writer()  # db= of the explicit tracking functions writes from now on
        if self.spool.has_pending():  # an earlier process left batches: replay them now
            self._wake_replayer()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shut_down:
            return SpanExportResult.FAILURE
        batch = self._rows_of(spans)
        if not batch:
            return SpanExportResult.SUCCESS
        if not self.spool.has_pending():  # else the batch queues behind the spooled ones
            try:
                self._run(self._deliver(batch), self._timeout)
                return SpanExportResult.SUCCESS
            except Exception as exc:  # never raise into the SDK's worker thread
                self._warn("write", "activity batch spooled: %s writing it", describe(exc))
        return self._spool_batch(batch)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Replay the spool now (back-off or not) for up to the timeout; True when it is empty.

        Batches ``export()`` wrote directly are already in the database when it returns.
        """
        if self._shut_down:
            return False
        if not self.spool.has_pending():
            return True
        try:
            self._run(self._drain(), timeout_millis / 1000)
        except Exception as exc:
            self._warn("replay", "activity spool not drained: %s", describe(exc))
        return not self.spool.has_pending()

    def shutdown(self, timeout_millis: float | None = None) -> None:
        """Replay what it can for ``timeout`` seconds at most (less if the caller says so),
        then stop (idempotent); whatever is still spooled stays for the next start.

        The batch processor passes what is left of its own 30 s; an application exiting
        during an outage should not wait that long for a database that is not there.
        """
        budget = self._timeout if timeout_millis is None else timeout_millis / 1000
        deadline = time.monotonic() + min(budget, self._timeout)
        with self._lock:
            if self._shut_down:
                return
            self._shut_down = True
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or self._pid != os.getpid():
            return
        if self.spool.has_pending():
            try:
                self._on(loop, self._drain(), deadline - time.monotonic())
            except Exception as exc:
                self._warn("replay", "activity spool kept for the next start: %s", describe(exc))
        try:
            self._on(loop, self._close(), max(deadline - time.monotonic(), 1.0))
        except Exception as exc:
            _logger.warning("activity exporter shutdown: %s closing the engine", type(exc).__name__)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(max(deadline - time.monotonic(), 1.0))
            if not thread.is_alive():
                loop.close()

    def _run(self, coroutine: Coroutine[Any, Any, None], timeout: float) -> None:
        self._on(self._event_loop(), coroutine, timeout)

    @staticmethod
    def _on(
        loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, None], timeout: float
    ) -> None:
        """Run on ``loop`` and wait at most ``timeout`` seconds (then cancel it there)."""
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            future.result(max(timeout, 0.0))
        finally:
            future.cancel()

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        """This exporter's loop thread, started on first use (and again in a forked child)."""
        with self._lock:
            if self._shut_down:
                raise RuntimeError("the exporter is shut down")
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="autobot-activity-exporter", daemon=True
                )
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
                self._engine, self._schema_ready = None, False
                self._schema_lock = asyncio.Lock()
                self._wake, self._drain_lock = asyncio.Event(), asyncio.Lock()
                asyncio.run_coroutine_threadsafe(self._start_replayer(), loop)
            return self._loop

    async def _start_replayer(self) -> None:
        self._replayer = asyncio.create_task(self._replay())

    def _wake_replayer(self) -> None:
        with contextlib.suppress(RuntimeError):  # shut down meanwhile: the next start replays
            loop = self._event_loop()
            loop.call_soon_threadsafe(self._wake.set)

    async def _replay(self) -> None:
        """Drain the spool whenever woken; after a failure, retry after a jittered back-off."""
        failures = 0
        while True:
            if failures:
                await asyncio.sleep(backoff(failures, RETRY_BASE_SECONDS, RETRY_MAX_SECONDS))
            else:
                await self._wake.wait()
            self._wake.clear()
            try:
                await self._drain()
            except Exception as exc:
                failures += 1
                self._warn("replay", "activity spool replay failed (%s); retrying", describe(exc))
            else:  # batches left (another process drains, or a file is stuck): look again
                failures = failures + 1 if self.spool.has_pending() else 0

    async def _drain(self) -> None:
        """Write every spooled batch, oldest first; stop at the first transient failure."""
        async with self._drain_lock:
            with self.spool.draining() as mine:
                if not mine:  # another exporter (or process) drains this spool now
                    return
                stuck: set[Path] = set()  # unreadable and not movable: left where it is
                while paths := [path for path in self.spool.pending() if path not in stuck]:
                    for path in paths:
                        try:
                            batch = self.spool.load(path)
                        except FileNotFoundError:
                            continue
                        except Exception as exc:  # unreadable: set it aside, go on
                            self._set_aside(path, describe(exc), stuck)
                            continue
                        await asyncio.wait_for(self._deliver(batch), self._timeout)
                        self.spool.remove(path)

    def _set_aside(self, path: Path, reason: str, stuck: set[Path]) -> None:
        """Quarantine a spool file that cannot be read, so the batches behind it go on."""
        try:
            self.spool.quarantine_file(path, reason)
        except OSError as exc:
            stuck.add(path)
            self._warn("unreadable", "unreadable spool file kept: %s", describe(exc))
        else:
            self._warn("unreadable", "unreadable spool file quarantined: %s", reason)

    async def _close(self) -> None:
        if self._replayer is not None:
            self._replayer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replayer
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _deliver(self, batch: list[ActivityRows]) -> None:
        """Write the batch, quarantining any activity the database refuses for good."""
        await deliver(batch, self._write, self._quarantine)

    def _quarantine(self, rows: ActivityRows, reason: str) -> None:
        """Set a refused activity aside; if even that fails it is counted as dropped."""
        try:
            self.spool.quarantine(rows, reason)
        except OSError as exc:
            self._dropped.add(1, {"reason": "quarantine_unavailable"})
            self._warn("quarantine", "refused activity dropped: %s", describe(exc))
            return
        self._quarantined.add(1, {"reason": "database_refused"})
        self._warn(f"refused {reason}", "activity quarantined: %s", reason)

    def _spool_batch(self, batch: list[ActivityRows]) -> SpanExportResult:
        try:
            stored = self.spool.put(batch)
        except OSError as exc:
            reason = "spool_error"
            self._warn(reason, "activity spool not writable (%s)", type(exc).__name__)
            stored = False
        else:
            reason = "spool_full"
            if not stored:
                self._warn(reason, "activity spool full; batch of %d dropped", len(batch))
        if not stored:
            self._dropped.add(len(batch), {"reason": reason})
            return SpanExportResult.FAILURE
        self._wake_replayer()
        return SpanExportResult.SUCCESS

    def _rows_of(self, spans: Sequence[ReadableSpan]) -> list[ActivityRows]:
        """Each activity span's rows; a span that cannot be mapped is set aside, not the batch."""
        batch = []
        for span in spans:
            try:
                rows = rows_from_span(span)
            except Exception as exc:
                # InvalidActivity names the attribute, never its value; anything else: the type
                reason = str(exc) if isinstance(exc, InvalidActivity) else type(exc).__name__
                self._warn(f"invalid {reason}", "activity span quarantined: %s", reason)
                self._quarantine_span(reason, span)
                continue
            if rows is not None:
                batch.append(rows)
        return batch

    def _quarantine_span(self, reason: str, span: ReadableSpan) -> None:
        try:
            self.spool.quarantine_span(reason, span.attributes or {})
        except OSError as exc:
            self._dropped.add(1, {"reason": "quarantine_unavailable"})
            self._warn("quarantine", "invalid activity span dropped: %s", describe(exc))
            return
        self._quarantined.add(1, {"reason": "invalid_span"})

    def _warn(self, kind: str, message: str, *args: object) -> None:
        """Log a warning, at most once per ``WARNING_INTERVAL_SECONDS`` for each kind."""
        now = time.monotonic()
        if now - self._warned.get(kind, -WARNING_INTERVAL_SECONDS) >= WARNING_INTERVAL_SECONDS:
            self._warned[kind] = now
            _logger.warning(message, *args)

    async def _write(self, batch: list[ActivityRows]) -> None:
        with suppress_instrumentation():
            if self._engine is None:
                self._engine = create_engine(self.database_url, connect_timeout=self._timeout)
            if self._create_schema and not self._schema_ready:
                async with self._schema_lock:
                    if not self._schema_ready:
                        await upgrade(self._engine)
                        self._schema_ready = True
            async with self._engine.begin() as connection:
                await write_batch(connection, batch)
            if self._retention is not None:
                self._retention.poke(self.database_url)


def _ignore_own_files(database_url: str, spool_dir: Path) -> None:
    """Keep the file instrumentation off the exporter's own SQLite file and spool."""
    ignore_path(spool_dir)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        database = os.path.abspath(url.database)
        for suffix in ("", "-wal", "-shm", "-journal"):
            ignore_path(database + suffix)
