"""The span exporter: activity spans in, one idempotent transaction of rows per batch out."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Coroutine, Sequence
from typing import Any

from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from sqlalchemy.ext.asyncio import AsyncEngine

from autobot_activity_exporters.database import (
    create_engine,
    create_schema_from_env,
    resolve_database_url,
)
from autobot_activity_exporters.rows import ActivityRows, rows_from_span
from autobot_activity_exporters.schema import upgrade
from autobot_activity_exporters.writer import write_batch

_logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10.0


class ActivitySpanExporter(SpanExporter):
    """Writes activity spans (those with ``activity.type``) as rows; ignores every other span.

    Built with no arguments by the SDK (``OTEL_TRACES_EXPORTER=autobot_activity``), it reads
    ``AUTOBOT_ACTIVITY_DATABASE_URL`` and ``AUTOBOT_ACTIVITY_CREATE_SCHEMA``. Spans become rows
    on the calling thread (the batch processor's worker); the database work runs on this
    exporter's own event-loop thread with instrumentation suppressed, so it never turns into
    spans of its own. ``export()`` waits at most ``timeout`` seconds and never raises.
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        create_schema: bool | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
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

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shut_down:
            return SpanExportResult.FAILURE
        batch = _rows_of(spans)
        if not batch:
            return SpanExportResult.SUCCESS
        try:
            self._run(self._write(batch), self._timeout)
        except concurrent.futures.TimeoutError:
            _logger.warning("activity export timed out after %ss; batch not written", self._timeout)
            return SpanExportResult.FAILURE
        except Exception as exc:  # never raise into the SDK's worker thread
            _logger.warning("activity export failed (%s); batch not written", type(exc).__name__)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered here: every ``export()`` has finished before it returns."""
        return True

    def shutdown(self) -> None:
        """Close the database connections and stop the event-loop thread (idempotent)."""
        with self._lock:
            if self._shut_down:
                return
            self._shut_down = True
            loop, thread, engine = self._loop, self._thread, self._engine
            self._loop = self._thread = self._engine = None
        if loop is None or thread is None:
            return
        try:
            if engine is not None and self._pid == os.getpid():
                asyncio.run_coroutine_threadsafe(engine.dispose(), loop).result(self._timeout)
        except Exception as exc:
            _logger.warning("activity exporter shutdown: %s closing the engine", type(exc).__name__)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(self._timeout)
            if not thread.is_alive():
                loop.close()

    def _run(self, coroutine: Coroutine[Any, Any, None], timeout: float) -> None:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._event_loop())
        try:
            future.result(timeout)
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
            return self._loop

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


def _rows_of(spans: Sequence[ReadableSpan]) -> list[ActivityRows]:
    """Each activity span's rows; a span that cannot be mapped is skipped, not the batch."""
    batch = []
    for span in spans:
        try:
            rows = rows_from_span(span)
        except Exception as exc:
            _logger.warning("activity span skipped: %s while mapping it", type(exc).__name__)
            continue
        if rows is not None:
            batch.append(rows)
    return batch
