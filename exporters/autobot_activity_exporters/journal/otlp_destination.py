"""The journal's destination when the application holds no database credential: the ingest
service (``autobot-activity serve``), over OTLP/HTTP.

Each journal batch goes out through the SDK's own ``OTLPSpanExporter``
(``opentelemetry-exporter-otlp-proto-http``, the ``otlp`` extra), so its ``OTEL_EXPORTER_OTLP_*``
settings (certificates, compression, timeout, extra headers) apply. Its ``export()`` says only
success or failure; the service's answer is read from the session it is given (its public
``session`` option), and decides what becomes of the batch (docs/reliability.md):

- 200: delivered, and removed from the journal; spans the service rejected in
  ``partial_success`` are counted and said with the service's message, never sent again;
- 429, 502, 503, 504, no answer, and any other status (401 and 403 above all: a token to fix):
  the batch stays and is sent again, no sooner than the service's ``Retry-After``;
- 400 or 413 (and a batch the SDK would not send): the batch is split until the activity at
  fault is alone, and that one is quarantined as the row builder would have stored it.

The SDK's own log lines about these sends are held back: the journal says each cause once a
minute, naming the endpoint, never the token.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import requests
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, Status, TraceFlags
from opentelemetry.trace import StatusCode as SpanStatusCode

from autobot_activity_exporters import rows as row_mapping
from autobot_activity_exporters.delivery import NotDelivered
from autobot_activity_exporters.journal.destination import Refusal, Rejected, invalid_refusal
from autobot_activity_exporters.version import __version__
from autobot_activity_otel import settings
from autobot_activity_otel.snapshot import ActivitySnapshot

_RETRYABLE = frozenset({429, 502, 503, 504})
_PERMANENT = frozenset({400, 413})
"""Answers about the request itself: sent again as it is, it can never succeed."""
_MAX_MESSAGE_CHARS = 300
_SCOPE = InstrumentationScope("autobot_activity_exporters.journal", __version__)
_SDK_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.proto.common._internal",
)


class _Answers(requests.Session):
    """The exporter's session, keeping the last answer (or the error that stood for one)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.last: requests.Response | None = None
        self.error: Exception | None = None

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        self.calls += 1
        self.last, self.error = None, None
        try:
            self.last = super().request(*args, **kwargs)
        except Exception as exc:
            self.error = exc
            raise
        return self.last


class OtlpDestination:
    """The ingest service: one OTLP/HTTP request per batch, removed only once acknowledged."""

    def __init__(self, endpoint: str, *, token: str | None = None, timeout: float = 10.0) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        self.endpoint = endpoint
        self.description = f"the ingest service at {endpoint.split('?', 1)[0]}"
        self._session = _Answers()
        headers = {"authorization": f"Bearer {token}"} if token else None
        self._exporter = OTLPSpanExporter(
            endpoint=endpoint, headers=headers, timeout=timeout, session=self._session
        )
        self._resource = Resource.create()
        self._closed = False
        _hold_back_sdk_logs()

    async def send(self, batch: Sequence[ActivitySnapshot]) -> list[Refusal | Rejected]:
        """Send on the shipper's own loop thread, blocking it for at most the timeout (no
        executor: at interpreter exit there is none to run on)."""
        refused: list[Refusal | Rejected] = []
        with suppress_instrumentation():  # an HTTP instrumentation must not record our sends
            self._deliver(list(batch), refused)
        return refused

    async def close(self) -> None:
        self._closed = True
        self._exporter.shutdown()  # type: ignore[no-untyped-call]  # the SDK's is untyped

    def _deliver(self, batch: list[ActivitySnapshot], refused: list[Refusal | Rejected]) -> None:
        """Send; split on an answer about the request itself until the culprit is alone."""
        answer = self._post(batch)
        if isinstance(answer, Rejected | None):
            if answer is not None:
                refused.append(answer)
            return
        if len(batch) == 1:
            refused.append(_refusal(batch[0], f"{self.description} refused it: {answer}"))
            return
        middle = len(batch) // 2
        self._deliver(batch[:middle], refused)
        self._deliver(batch[middle:], refused)

    def _post(self, batch: list[ActivitySnapshot]) -> Rejected | str | None:
        """None when acknowledged whole, ``Rejected`` when in part, the reason when the
        request can never be taken; raises ``NotDelivered`` to keep the batch."""
        if self._closed:  # a shut-down exporter sends nothing: that is no verdict on the batch
            raise NotDelivered(f"the sender to {self.description} is closed")
        spans = [self._span(snapshot) for snapshot in batch]
        calls = self._session.calls
        _sending.active = True
        try:
            result = self._exporter.export(spans)
        finally:
            _sending.active = False
        if self._session.calls == calls:
            return "not sent (it could not be encoded, or is above the exporter's size limit)"
        response = self._session.last
        if response is None:
            cause = type(self._session.error).__name__ if self._session.error else "no answer"
            raise NotDelivered(f"{self.description} did not answer ({cause})")
        status = response.status_code
        if 200 <= status < 300 and result is SpanExportResult.SUCCESS:
            return _partial_success(response)
        message = _status_message(response)
        if status in _PERMANENT:
            return f"{status} {message}"
        if status in (401, 403):
            raise NotDelivered(
                f"{self.description} refused the token ({status} {message}); set"
                f" {settings.TOKEN} to a token of `autobot-activity token new` (what waits is"
                " sent once it is right)"
            )
        retry_after = _retry_after(response) if status in _RETRYABLE else None
        raise NotDelivered(f"{self.description} answered {status} {message}", retry_after)

    def _span(self, snapshot: ActivitySnapshot) -> ReadableSpan:
        """The snapshot as the SDK span its exporter encodes."""
        context = SpanContext(
            snapshot.trace_id,
            snapshot.span_id,
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        parent = (
            SpanContext(snapshot.trace_id, snapshot.parent_span_id, is_remote=False)
            if snapshot.parent_span_id
            else None
        )
        code = SpanStatusCode(int(snapshot.status_code))
        return ReadableSpan(
            name=_sendable(snapshot.name),
            context=context,
            parent=parent,
            resource=self._resource,
            attributes=_sendable(snapshot.attributes),
            events=[
                Event(_sendable(event.name), _sendable(event.attributes), event.time_ns)
                for event in snapshot.events
            ],
            status=Status(
                code,
                _sendable(snapshot.status_description) if code is SpanStatusCode.ERROR else None,
            ),
            start_time=_epoch_ns(snapshot.start_ns),
            end_time=_epoch_ns(snapshot.end_ns),
            instrumentation_scope=_SCOPE,
        )


def _refusal(snapshot: ActivitySnapshot, reason: str) -> Refusal:
    """The quarantine entry: the rows the database would have stored (redacted), or, for a
    snapshot that cannot become rows, its attributes' names and types."""
    try:
        mapped = row_mapping.rows_from_activity(snapshot)
    except Exception as exc:
        return invalid_refusal(snapshot, exc)
    if mapped is None:
        return invalid_refusal(snapshot, ValueError("not an activity"))
    return Refusal(
        str(mapped.activity["id"]),
        reason,
        "service_refused",
        {"table": mapped.table, "rows": [mapped.activity, *mapped.secret_usage]},
    )


def _partial_success(response: requests.Response) -> Rejected | None:
    message = ExportTraceServiceResponse()
    try:
        if response.headers.get("content-type", "").startswith("application/json"):
            from google.protobuf import json_format

            json_format.Parse(response.content or b"{}", message, ignore_unknown_fields=True)
        else:
            message.ParseFromString(response.content)
    except Exception:
        return None  # an acknowledgement whose body says nothing more
    rejected = message.partial_success.rejected_spans
    if rejected <= 0:
        return None
    reason = message.partial_success.error_message[:_MAX_MESSAGE_CHARS] or "no reason given"
    return Rejected(int(rejected), reason)


def _status_message(response: requests.Response) -> str:
    """The reason phrase and the ``google.rpc.Status`` message of an error answer, if any."""
    phrase = response.reason or _phrase(response.status_code)
    message = ""
    try:
        if response.headers.get("content-type", "").startswith("application/json"):
            message = str(json.loads(response.content).get("message", ""))
        elif response.content:
            from google.rpc.status_pb2 import Status as RpcStatus

            status = RpcStatus()
            status.ParseFromString(response.content)
            message = status.message
    except Exception:
        message = ""
    message = " ".join(message.split())[:_MAX_MESSAGE_CHARS]
    return f"{phrase}: {message}" if message else phrase


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "unknown status"


def _retry_after(response: requests.Response) -> float | None:
    """``Retry-After`` in seconds (the service sends seconds; a date is not followed)."""
    value = response.headers.get("retry-after", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds < float("inf") else None


def _epoch_ns(value: int | datetime | None) -> int | None:
    """Epoch ns; a foreign producer's ``datetime`` read as UTC when it names no zone."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1_000_000_000)
    return value


def _sendable(value: Any) -> Any:
    """``value`` with every string protobuf refuses (lone surrogates, which the journal
    keeps) repaired: the SDK's encoder would drop such an attribute without a word."""
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, Mapping):
        return {key: _sendable(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return tuple(_sendable(item) for item in value)
    return value


class _Sending(threading.local):
    active = False


_sending = _Sending()
_held_back = False


def _hold_back_sdk_logs() -> None:
    """Filter the SDK exporter's log lines about our own sends (once per process)."""
    global _held_back
    if _held_back:
        return
    _held_back = True
    for name in _SDK_LOGGERS:
        logging.getLogger(name).addFilter(lambda record: not _sending.active)
