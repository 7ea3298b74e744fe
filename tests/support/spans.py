"""Spans captured in memory: the session's one in-memory exporter, read per test."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from autobot_activity_otel.attributes import ACTIVITY_TYPE

MEMORY = InMemorySpanExporter()
"""Behind a ``SimpleSpanProcessor`` on the session's tracer provider (see conftest)."""


class SpanCapture:
    """The spans finished since the test began."""

    def all(self) -> list[ReadableSpan]:
        return list(MEMORY.get_finished_spans())

    def activities(self, activity_type: str | None = None) -> list[ReadableSpan]:
        return [
            span
            for span in self.all()
            if span.attributes
            and ACTIVITY_TYPE in span.attributes
            and activity_type in (None, span.attributes[ACTIVITY_TYPE])
        ]

    def clear(self) -> None:
        MEMORY.clear()
