"""One activity, one span: the single path from raw values to span attributes.

Every text goes through the secret redactor before it is set on the span (a span's
attributes cannot be rewritten after it ends, so redaction must happen here, first), and the
secret findings are summarised on the span as parallel arrays that never hold a value.
``set_text``, ``fail`` and ``end`` swallow their own failures (logging the exception type
only): tracking must never raise into the caller.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context, get_current
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from autobot_activity_otel import attributes as attr
from autobot_activity_otel import settings
from autobot_activity_otel.context import Attribution, current_attribution
from autobot_activity_otel.ids import new_activity_id
from autobot_activity_otel.secrets import Finding, Kind, fingerprint, redact
from autobot_activity_otel.version import __version__

_logger = logging.getLogger(__name__)
_tracer = trace.get_tracer("autobot_activity_otel", __version__)


MAX_TEXT_CHARS = settings.positive_int(settings.MAX_TEXT_CHARS, 65536)
"""Texts longer than this are cut; the original length and a keyed digest go to the metadata."""
_REDACTION_SLACK = 4096
"""Characters redacted past the cut, so a secret straddling it is not left half visible."""
DECLARED_RULE = "declared"
"""Rule name of a secret id the caller says the activity used (``secrets_used=``)."""


def to_text(value: object) -> tuple[str, list[str]]:
    """Any value a caller may hand us as a string, with notes on what had to be repaired.

    ``bytes`` are decoded as UTF-8 with replacement, argv lists are shell-joined, path-likes
    are ``os.fspath``-ed; NUL bytes (refused by PostgreSQL text) become U+2400 and lone
    surrogates (unencodable) become U+FFFD, so every exporter receives valid text.
    """
    notes: list[str] = []
    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        text = raw.decode("utf-8", errors="replace")
        if "\ufffd" in text and b"\xef\xbf\xbd" not in raw:
            notes.append("invalid_utf8")
    elif isinstance(value, os.PathLike):
        return to_text(os.fspath(value))
    elif isinstance(value, list | tuple):
        parts = [to_text(part) for part in value]
        text = shlex.join(part for part, _ in parts)
        notes.extend(note for _, part_notes in parts for note in part_notes)
    else:
        text = str(value)
    if "\x00" in text:
        text = text.replace("\x00", "\u2400")
        notes.append("nul_bytes")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", errors="surrogatepass").decode("utf-8", errors="replace")
            notes.append("lone_surrogates")
    return text, notes


class ActivityRecord:
    """An activity in flight: its redacted attributes, and the span that carries them.

    The span is started on first use of ``span`` (with every attribute gathered so far, as of
    the record's creation and under the context current then), so an activity whose values
    are all known up front costs one span start and no ``set_attribute`` calls.
    """

    def __init__(
        self,
        activity_type: attr.ActivityType,
        action: str,
        *,
        name: str | None = None,
        attribution: Attribution | None = None,
        context: Context | None = None,
    ) -> None:
        self.activity_id: uuid.UUID = new_activity_id()
        self.start_ns = time.time_ns()
        self.end_ns: int | None = None
        self.metadata: dict[str, Any] = {}
        self.findings: list[tuple[str, Finding]] = []
        self.declared_secrets: list[uuid.UUID] = []
        who = attribution or current_attribution()
        self.attributes: dict[str, AttributeValue] = {
            attr.ACTIVITY_TYPE: activity_type.value,
            attr.ACTIVITY_ID: str(self.activity_id),
            attr.ACTIVITY_ACTION: action,
            **who.span_attributes,
        }
        self.name = name or f"{activity_type.value} {action}"
        self._parent = context if context is not None else get_current()
        self._span: Span | None = None
        if who.window_title is not None:
            self.set_text(attr.ACTIVITY_WINDOW_TITLE, who.window_title)
        if who.application is not None:
            self.set_text(attr.ACTIVITY_APPLICATION, who.application)

    @property
    def span(self) -> Span:
        if self._span is None:
            self._span = _tracer.start_span(
                self.name,
                context=self._parent,
                kind=SpanKind.INTERNAL,
                attributes=self.attributes,
                start_time=self.start_ns,
            )
        return self._span

    def set(self, key: str, value: AttributeValue | None) -> None:
        """Set a value that cannot hold a secret (numbers, enums, flags)."""
        if value is None:
            return
        self.attributes[key] = value
        if self._span is not None:
            self._span.set_attribute(key, value)

    def set_text(self, key: str, value: object, kind: Kind = "text") -> str | None:
        """Redact a text, cap it, and set it; returns what was set."""
        if value is None:
            return None
        try:
            text, notes = to_text(value)
            cut = len(text) > MAX_TEXT_CHARS
            if cut:
                self.metadata[f"{key}.original_length"] = len(text)
                self.metadata[f"{key}.hmac_sha256"] = fingerprint(text)  # keyed: no oracle
                notes.append("truncated")
                text = text[: MAX_TEXT_CHARS + _REDACTION_SLACK]
            redaction = redact(text, kind=kind)
            text = redaction.text
            self.findings.extend((key, finding) for finding in redaction.findings)
            if cut:
                text = f"{text[:MAX_TEXT_CHARS]}…[truncated]"
            if notes:
                self.metadata.setdefault("text_notes", {})[key] = notes
        except Exception as exc:  # a redactor failure must not leak the text: drop it
            _logger.warning("could not redact %s (%s); value dropped", key, type(exc).__name__)
            text = "[REDACTED:unredactable]"
        self.attributes[key] = text
        if self._span is not None:
            self._span.set_attribute(key, text)
        return text

    def declare_secrets(self, secret_ids: Iterable[uuid.UUID | str] | None) -> None:
        """Record secret ids the caller says this activity used (a broker's injection)."""
        for secret_id in secret_ids or ():
            self.declared_secrets.append(uuid.UUID(str(secret_id)))

    def fail(self, exc: BaseException) -> None:
        """Mark the activity failed; the message is redacted, never recorded raw. Never raises."""
        try:
            self.set(attr.ERROR_TYPE, type(exc).__qualname__)
            message = redact(to_text(str(exc))[0][:1000], kind="text").text
            self.metadata["error_message"] = message
            self.span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
        except Exception as error:  # str(exc) itself may raise
            _logger.warning("a failure was not fully recorded (%s)", type(error).__name__)

    def end(self, end_ns: int | None = None) -> None:
        """Write the secret summary and metadata, then end the span (once).

        ``end_ns`` dates the end when it was earlier than now (a coalesced run closed by an
        idle timer ends at its last event, not when the timer fired).
        """
        if self.end_ns is not None:
            return
        self.end_ns = time.time_ns() if end_ns is None else end_ns
        try:
            self._set_secret_summary()
            if self.metadata:
                self.set(attr.ACTIVITY_METADATA, json.dumps(self.metadata, default=str))
        except Exception as exc:
            _logger.warning("an activity's summary was not recorded (%s)", type(exc).__name__)
        finally:
            self.span.end(end_time=self.end_ns)

    def _set_secret_summary(self) -> None:
        if not (self.findings or self.declared_secrets):
            return
        rules = [finding.rule for _, finding in self.findings]
        ids = [str(finding.secret_id or "") for _, finding in self.findings]
        prints = [finding.fingerprint for _, finding in self.findings]
        fields = [field for field, _ in self.findings]
        for secret_id in self.declared_secrets:
            rules.append(DECLARED_RULE)
            ids.append(str(secret_id))
            prints.append("")
            fields.append("")
        self.set(attr.SECRETS_COUNT, len(rules))
        self.set(attr.SECRETS_RULES, rules)
        self.set(attr.SECRETS_IDS, ids)
        self.set(attr.SECRETS_FINGERPRINTS, prints)
        self.set(attr.SECRETS_FIELDS, fields)


@contextmanager
def in_span(record: ActivityRecord) -> Iterator[ActivityRecord]:
    """Make the record's span current for the block; an exception marks it failed and ends it."""
    with trace.use_span(
        record.span, end_on_exit=False, record_exception=False, set_status_on_exception=False
    ):
        try:
            yield record
        except BaseException as exc:
            record.fail(exc)
            record.end()
            raise


@contextmanager
def recording(
    activity_type: attr.ActivityType, action: str, **options: Any
) -> Iterator[ActivityRecord]:
    """Record the enclosed block as one activity, current span included; errors mark it failed."""
    with in_span(ActivityRecord(activity_type, action, **options)) as record:
        yield record
    record.end()


async def persist(record: ActivityRecord, db: Any | None) -> uuid.UUID:
    """End the record; with an ``AsyncSession`` (the seed's ``db=``), also write its row at once.

    The exporter writes the same activity later under the same id, idempotently, so a failed
    or rolled-back direct write loses nothing and a successful one is not doubled.
    """
    record.end()
    if db is not None:
        try:
            from autobot_activity_exporters.direct import write_record

            await write_record(db, record)
        except Exception as exc:
            _logger.warning(
                "activity %s not written through the given session (%s); the exporter writes it",
                record.activity_id,
                type(exc).__name__,
            )
    return record.activity_id
