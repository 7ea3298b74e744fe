"""Shared fixtures: one SDK tracer provider for the session, spans captured in memory."""

from __future__ import annotations

import os

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from autobot_activity_otel.attributes import ACTIVITY_TYPE

IN_CI = os.environ.get("CI", "").lower() == "true"
_memory = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(_memory))
trace.set_tracer_provider(_provider)


def require(condition: bool, reason: str) -> None:
    """Skip a test whose real dependency is missing, but fail it under CI=true."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


class SpanCapture:
    """The spans finished since the test began."""

    def all(self) -> list[ReadableSpan]:
        return list(_memory.get_finished_spans())

    def activities(self, activity_type: str | None = None) -> list[ReadableSpan]:
        return [
            span
            for span in self.all()
            if span.attributes
            and ACTIVITY_TYPE in span.attributes
            and activity_type in (None, span.attributes[ACTIVITY_TYPE])
        ]

    def clear(self) -> None:
        _memory.clear()


@pytest.fixture
def spans() -> SpanCapture:
    _memory.clear()
    return SpanCapture()


# --- database fixtures (activity_db) below ---
