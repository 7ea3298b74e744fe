"""OTLP/HTTP trace bodies in, responses out, and OTLP spans as ``ActivitySnapshot``s.

As the OTLP specification's OTLP/HTTP section says (opentelemetry-specification,
``specification/protocol/otlp.md``): the body is an ``ExportTraceServiceRequest``
(opentelemetry-proto, ``collector/trace/v1/trace_service.proto``), binary protobuf for
``application/x-protobuf`` or OTLP JSON for ``application/json``: the proto3 JSON mapping
except that trace and span ids are hex strings (case-insensitive), enums are integers, keys
are lowerCamelCase and unknown fields are ignored. ``Content-Encoding: gzip`` is allowed.
The response uses the request's content type: an ``ExportTraceServiceResponse`` (with
``partial_success`` set only when spans were rejected), or for a 4xx/5xx a
``google.rpc.Status``.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc.code_pb2 import (
    DEADLINE_EXCEEDED,
    INVALID_ARGUMENT,
    RESOURCE_EXHAUSTED,
    UNAUTHENTICATED,
    UNAVAILABLE,
)
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from autobot_activity_otel.attributes import ACTIVITY_TYPE
from autobot_activity_otel.recording import to_text
from autobot_activity_otel.snapshot import ActivitySnapshot, SnapshotEvent, StatusCode

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MEDIA_TYPES = (PROTOBUF, JSON)
_IDENTITY = frozenset({"", "identity"})
MAX_GZIP_MEMBERS = 16
"""Gzip members one body may hold: senders write one, and each member's end copies the input
left after it, so a body of many tiny members would cost time quadratic in its size."""
_TRACE_ID_BYTES, _SPAN_ID_BYTES = 16, 8
_HEX_IDS = ("traceId", "spanId", "parentSpanId")
"""The id fields of a span (and, but for the parent, of a link) in OTLP JSON."""
_STATUS_CODES = {code.value: code for code in StatusCode}


class BadRequest(ValueError):
    """The body cannot be decoded: 400, which the client must not retry."""


class BodyTooLarge(ValueError):
    """The body, as sent or once decompressed, is above the limit: 413."""


class UnsupportedEncoding(ValueError):
    """A ``Content-Encoding`` other than gzip: 415."""


def media_type(content_type: str | None) -> str | None:
    """``application/x-protobuf`` or ``application/json`` (parameters such as ``charset``
    ignored, case-insensitive), or None for anything else."""
    if not content_type:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    return media if media in MEDIA_TYPES else None


def decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body as sent, or gunzipped; never more than ``limit`` bytes are produced, so a
    small gzip bomb costs at most ``limit`` bytes of memory before it is refused, nor more
    than ``MAX_GZIP_MEMBERS`` members read."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in _IDENTITY:
        return body
    if encoding != "gzip":
        raise UnsupportedEncoding(f"content encoding {encoding!r} is not supported (use gzip)")
    out = bytearray()
    data = body
    members = 0
    try:
        while data:  # gzip allows several members one after the other
            members += 1
            if members > MAX_GZIP_MEMBERS:
                raise BadRequest(f"the gzip body has more than {MAX_GZIP_MEMBERS} members")
            member = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += member.decompress(data, limit + 1 - len(out))
            if len(out) > limit or member.unconsumed_tail:
                raise BodyTooLarge(f"the decompressed body is larger than {limit} bytes")
            if not member.eof:
                raise BadRequest("the gzip body is truncated")
            data = member.unused_data
    except zlib.error as exc:
        raise BadRequest(f"the body is not valid gzip: {exc}") from None
    return bytes(out)


def decode_request(body: bytes, media: str) -> ExportTraceServiceRequest:
    """The ``ExportTraceServiceRequest`` in a (decompressed) body; ``BadRequest`` if none."""
    request = ExportTraceServiceRequest()
    if media == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError) as exc:
            raise BadRequest(f"the body is not an ExportTraceServiceRequest: {exc}") from None
        return request
    try:
        document = json.loads(body)
        _hex_ids_to_base64(document)
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (ValueError, RecursionError, json_format.ParseError) as exc:
        # json.JSONDecodeError and UnicodeDecodeError are ValueErrors; no value is quoted
        raise BadRequest(f"the body is not OTLP JSON: {type(exc).__name__}") from None
    return request


def _hex_ids_to_base64(document: Any) -> None:
    """Rewrite OTLP JSON's hex ids as the base64 the proto3 JSON mapping reads for bytes."""
    for resource_spans in _items(document, "resourceSpans"):
        for scope_spans in _items(resource_spans, "scopeSpans"):
            for span in _items(scope_spans, "spans"):
                _rewrite_ids(span)
                for link in _items(span, "links"):
                    _rewrite_ids(link)


def _items(parent: Any, key: str) -> list[Any]:
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, list) else []


def _rewrite_ids(holder: Any) -> None:
    if not isinstance(holder, dict):
        return
    for key in _HEX_IDS:
        value = holder.get(key)
        if isinstance(value, str):
            try:
                holder[key] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise BadRequest(f"{key} is not a hex string") from None


class ActivitySpans:
    """The activity spans of a request with their attributes, each a plain dict of its own
    (resource and scope attributes are not read); spans without ``activity.type`` are not
    activities and only counted, in ``ignored``."""

    def __init__(self, request: ExportTraceServiceRequest) -> None:
        self.request = request
        self.ignored = 0

    def __iter__(self) -> Iterator[tuple[Span, dict[str, Any]]]:
        for resource_spans in self.request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = attribute_dict(span.attributes)
                    if ACTIVITY_TYPE in attributes:
                        yield span, attributes
                    else:
                        self.ignored += 1


def span_ids(span: Span) -> tuple[int, int, int | None] | None:
    """The span's trace, span and parent span ids (0 or None when empty), or None when one
    has the wrong length (16 and 8 bytes, or empty)."""
    trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
    if (
        len(trace_id) not in (0, _TRACE_ID_BYTES)
        or len(span_id) not in (0, _SPAN_ID_BYTES)
        or len(parent) not in (0, _SPAN_ID_BYTES)
    ):
        return None
    return (
        int.from_bytes(trace_id),
        int.from_bytes(span_id),
        int.from_bytes(parent) if parent else None,
    )


def events_of(span: Span) -> tuple[SnapshotEvent, ...]:
    """The span's events with their attributes as plain dicts."""
    if not span.events:
        return ()
    return tuple(
        SnapshotEvent(event.name, event.time_unix_nano, attribute_dict(event.attributes))
        for event in span.events
    )


def snapshot_of(span: Span, attributes: dict[str, Any]) -> ActivitySnapshot | None:
    """The span as an ``ActivitySnapshot`` with these attributes, or None when its trace or
    span id has the wrong length (``span_ids``)."""
    ids = span_ids(span)
    if ids is None:
        return None
    status = span.status
    return ActivitySnapshot(
        name=span.name,
        trace_id=ids[0],
        span_id=ids[1],
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        attributes=attributes,
        parent_span_id=ids[2],
        # a code this version does not know is kept as UNSET rather than failing the span
        status_code=_STATUS_CODES.get(status.code, StatusCode.UNSET),
        status_description=status.message or None,
        events=events_of(span),
    )


def attribute_dict(key_values: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP ``KeyValue``s as attribute values: scalars, arrays as tuples (as the SDK keeps
    them), key-value lists as dicts, bytes as UTF-8 text (invalid sequences replaced, as the
    recording decodes bytes), so the row's redaction reads what they say: as base64 a secret
    would pass unseen and be stored, one decode away; an empty value is left out."""
    attributes: dict[str, Any] = {}
    for key_value in key_values:
        value = key_value.value
        text = value.string_value  # most attributes are text: one read, no oneof lookup
        if text:
            attributes[key_value.key] = text
            continue
        kind = value.WhichOneof("value")
        if kind is not None:
            attributes[key_value.key] = _value(value, kind)
    return attributes


def _value(value: AnyValue, kind: str) -> Any:
    if kind == "array_value":
        return tuple(_item(item) for item in value.array_value.values)
    if kind == "kvlist_value":
        return attribute_dict(value.kvlist_value.values)
    if kind == "bytes_value":
        return to_text(value.bytes_value)[0]
    return getattr(value, kind)


def _item(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else _value(value, kind)


def success(media: str, rejected: int = 0, message: str = "") -> bytes:
    """The ``ExportTraceServiceResponse``: ``partial_success`` set only when spans were
    rejected (the client must then not retry)."""
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return encode(response, media)


def failure(media: str, code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` body for a 4xx/5xx answer; ``code`` is the gRPC code the
    status corresponds to (the specification lets clients ignore it)."""
    return encode(Status(code=code, message=message), media)


def encode(message: Message, media: str) -> bytes:
    if media == PROTOBUF:
        return message.SerializeToString()
    return json_format.MessageToJson(message, indent=None).encode()


GRPC_CODES = {
    400: INVALID_ARGUMENT,
    401: UNAUTHENTICATED,
    408: DEADLINE_EXCEEDED,
    413: INVALID_ARGUMENT,
    415: INVALID_ARGUMENT,
    429: RESOURCE_EXHAUSTED,
    503: UNAVAILABLE,
}
"""The gRPC code put in the ``Status`` of each HTTP failure this service answers with."""
