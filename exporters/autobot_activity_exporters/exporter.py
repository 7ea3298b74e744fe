"""The span exporter: activity spans into the journal, and from there into the database or
to the ingest service.

``ActivitySpanExporter`` is the ``opentelemetry_traces_exporter`` entry point. Under
``configure()`` or this package's configurator it sits behind an ``ActivitySpanProcessor``,
which journals each activity span as it ends; wrapped in a ``BatchSpanProcessor`` by
someone else's set-up, its ``export()`` journals the batch. Either way the journal is the
one durable path (see docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from opentelemetry import metrics
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from autobot_activity_exporters.database import (
    create_schema_from_env,
    resolve_database_url,
    safe_url,
)
from autobot_activity_exporters.direct import register as register_direct_writer
from autobot_activity_exporters.endpoint import resolve_endpoint
from autobot_activity_exporters.journal import DatabaseDestination, Destination, Journal
from autobot_activity_exporters.retention import RetentionSchedule
from autobot_activity_exporters.spans import attributes_of, frame_of
from autobot_activity_otel import attributes as attr
from autobot_activity_otel import settings
from autobot_activity_otel.instrumentation.file.scope import ignore_path

DEFAULT_TIMEOUT_SECONDS = 10.0


class ActivitySpanExporter(SpanExporter):
    """Journals activity spans (those with ``activity.type``) for the database or the ingest
    service; ignores the rest.

    Built with no arguments by the SDK (``OTEL_TRACES_EXPORTER=autobot_activity``), it reads
    ``AUTOBOT_ACTIVITY_DATABASE_URL`` (refused at once if it could never be written to),
    ``AUTOBOT_ACTIVITY_CREATE_SCHEMA``, ``AUTOBOT_ACTIVITY_RETENTION`` and the journal's
    settings; or, with ``endpoint`` (``AUTOBOT_ACTIVITY_ENDPOINT``) and ``token``
    (``AUTOBOT_ACTIVITY_TOKEN``), ships to the ingest service and needs no database at all
    (both a URL and an endpoint: ``ValueError``). ``timeout`` bounds each round trip.
    ``export()`` never raises and never waits on the database or the service: SUCCESS means
    every activity of the batch is in the journal (stored, or waiting to be); FAILURE that
    one was dropped (counted in ``autobot_activity.dropped``) or the exporter is shut down.
    ``force_flush()`` waits for delivery; ``shutdown()`` ships what it can within the exit
    timeout.
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        endpoint: str | None = None,
        token: str | None = None,
        create_schema: bool | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        journal_dir: str | os.PathLike[str] | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        retention: timedelta | None = None,
        destination: Destination | None = None,
        **journal_options: Any,
    ) -> None:
        self.endpoint = sending_endpoint(database_url, endpoint) if destination is None else None
        self.database_url = None if self.endpoint else resolve_database_url(database_url)
        if self.endpoint is not None:
            from autobot_activity_exporters.journal.otlp_destination import OtlpDestination

            token = token or settings.text(settings.TOKEN)
            if token:
                _register_token(token)
            destination = OtlpDestination(self.endpoint, token=token, timeout=timeout)
        elif destination is None:
            assert self.database_url is not None
            destination = DatabaseDestination(
                self.database_url,
                create_schema=create_schema_from_env() if create_schema is None else create_schema,
                connect_timeout=timeout,
                retention=(
                    RetentionSchedule.from_env()
                    if retention is None
                    else RetentionSchedule(retention)
                ),
            )
        if self.database_url is not None:
            _ignore_database_files(self.database_url)
        self.journal = Journal(
            destination,
            directory=journal_dir,
            send_timeout=timeout,
            meter_provider=meter_provider,
            **journal_options,
        )
        register_direct_writer()  # db= of the explicit tracking functions writes from now on

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.journal.closed:
            return SpanExportResult.FAILURE
        kept = True
        for span in spans:
            if attr.ACTIVITY_TYPE in attributes_of(span):  # framed as the span processor does
                kept = self.journal.append_encoded(functools.partial(frame_of, span)) and kept
        return SpanExportResult.SUCCESS if kept else SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Deliver everything this process journaled; True once it is all delivered."""
        return self.journal.flush(timeout_millis / 1000)

    def shutdown(self, timeout_millis: float | None = None) -> None:
        """Deliver what it can within the exit timeout (or less, if the caller says so), then
        stop (idempotent); what is left waits in the journal for the next start."""
        self.journal.close(None if timeout_millis is None else timeout_millis / 1000)


def sending_endpoint(database_url: str | None, endpoint: str | None) -> str | None:
    """The ingest service's traces URL when one is configured; ``ValueError`` when a database
    URL is configured too (an application sends, or writes, never both)."""
    resolved = resolve_endpoint(endpoint)
    if resolved is None:
        return None
    url = database_url or settings.text(settings.DATABASE_URL)
    if url:
        raise ValueError(
            f"both {settings.ENDPOINT} ({resolved}) and {settings.DATABASE_URL}"
            f" ({safe_url(url)}) are set: an application either sends its activities to the"
            " ingest service or writes them to a database; unset one"
        )
    return resolved


def _register_token(token: str) -> None:
    """The ingest token is one of the project's own secrets: wherever an activity's text holds
    it, it is redacted (as ``[REDACTED:secret:<id>]``)."""
    from autobot_activity_otel.secrets import register_secret
    from autobot_activity_otel.secrets.own import own_secret_id

    with contextlib.suppress(ValueError):  # too short to be told apart from ordinary text
        register_secret(own_secret_id(settings.TOKEN), token)


def _ignore_database_files(database_url: str) -> None:
    """Keep the file instrumentation off the exporter's own SQLite file."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        database = os.path.abspath(url.database)
        for suffix in ("", "-wal", "-shm", "-journal"):
            ignore_path(database + suffix)
