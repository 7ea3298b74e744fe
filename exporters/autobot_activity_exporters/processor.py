"""The span processor ``configure()`` installs: each activity span is journaled as it ends.

Where the SDK's ``BatchSpanProcessor`` keeps ended spans in a memory queue (dropped when
full, lost when the process dies), this processor appends an activity span to the journal
before ``end()`` returns: one encode and one ``write`` to this process's own segment file.
Spans without ``activity.type`` are not its business (it ignores them).
"""

from __future__ import annotations

import logging

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from autobot_activity_exporters.exporter import ActivitySpanExporter
from autobot_activity_exporters.spans import attributes_of, frame_of
from autobot_activity_otel import attributes as attr

_logger = logging.getLogger(__name__)


class ActivitySpanProcessor(SpanProcessor):
    """Journals activity spans on end; ships them through the exporter's journal."""

    def __init__(self, exporter: ActivitySpanExporter | None = None) -> None:
        self.exporter = exporter if exporter is not None else ActivitySpanExporter()
        self._journal = self.exporter.journal

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if attr.ACTIVITY_TYPE not in attributes_of(span):
            return
        try:
            self._journal.append_encoded(lambda: frame_of(span))
        except Exception as exc:  # append never raises; a bug here must not reach the caller
            _logger.warning("activity span not journaled (%s)", type(exc).__name__)

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.exporter.force_flush(timeout_millis)
