"""SDK spans as ``ActivitySnapshot``s (or straight as journal frames): the only place the
exporters read a ``ReadableSpan``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from autobot_activity_exporters.journal.format import frame
from autobot_activity_otel.snapshot import ActivitySnapshot, SnapshotEvent, StatusCode


def snapshot_of(span: ReadableSpan) -> ActivitySnapshot:
    """The span's values; nothing is copied that the SDK already froze (its attributes)."""
    context = span.get_span_context()
    parent = span.parent
    status = span.status
    return ActivitySnapshot(
        name=span.name,
        trace_id=context.trace_id if context is not None else 0,
        span_id=context.span_id if context is not None else 0,
        start_ns=span.start_time,
        end_ns=span.end_time,
        attributes=span.attributes or {},
        parent_span_id=parent.span_id if parent is not None else None,
        status_code=StatusCode(status.status_code.value),
        status_description=status.description,
        events=tuple(
            SnapshotEvent(event.name, event.timestamp, event.attributes or {})
            for event in span.events
        ),
    )


def attributes_of(span: ReadableSpan) -> Mapping[str, Any]:
    """The span's attributes without a copy: the SDK's own dict behind ``span.attributes``
    (read-only once the span has ended), else the public mapping.

    ``span.attributes`` is a ``MappingProxyType`` that msgspec cannot encode: copying it
    through the SDK mapping's Python ``__iter__``/``__getitem__`` was a third of the frame.
    """
    inner = getattr(getattr(span, "_attributes", None), "_dict", None)
    if type(inner) is dict:
        return inner
    return span.attributes or {}


def frame_of(span: ReadableSpan) -> bytes:
    """The journal frame of ``snapshot_of(span)``, without building the snapshot (the span
    processor's path: this is what an ending activity costs)."""
    context = span.get_span_context()
    parent = span.parent
    status = span.status
    events = span.events if getattr(span, "_events", True) else ()
    return frame(
        span.name,
        context.trace_id if context is not None else 0,
        context.span_id if context is not None else 0,
        parent.span_id if parent is not None else None,
        span.start_time,
        span.end_time,
        status.status_code.value,
        status.description,
        attributes_of(span),
        [(event.name, event.timestamp, event.attributes or {}) for event in events]
        if events
        else (),
    )
