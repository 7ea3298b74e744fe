"""A finished activity as plain values: the one shape every delivery path hands on.

The journal stores it, the ingest service decodes it from OTLP, ``db=`` writes it directly,
and the exporters' row builder reads it. It holds no SDK type, so the instrumentation side
(which depends on the OpenTelemetry API only) and the exporters share it, as the API's
``SpanContext`` is shared by API and SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from opentelemetry.util.types import AttributeValue


class StatusCode(IntEnum):
    """A span's status code, numbered as in OTLP (``Status.code``)."""

    UNSET = 0
    OK = 1
    ERROR = 2


@dataclass(frozen=True, slots=True)
class SnapshotEvent:
    """A span event: its name, time (epoch ns) and attributes."""

    name: str
    time_ns: int
    attributes: Mapping[str, AttributeValue]


@dataclass(frozen=True, slots=True)
class ActivitySnapshot:
    """A finished span with every field the row builder reads (and re-checks for secrets).

    Times are epoch nanoseconds; a ``datetime`` is accepted from foreign producers and
    repaired by the row builder. Kind, links, trace state and resource are not kept: no
    column depends on them.
    """

    name: str
    trace_id: int
    span_id: int
    start_ns: int | datetime | None
    end_ns: int | datetime | None
    attributes: Mapping[str, AttributeValue]
    parent_span_id: int | None = None
    status_code: StatusCode = StatusCode.UNSET
    status_description: str | None = None
    events: tuple[SnapshotEvent, ...] = ()
