"""One activity, one span: the single path from raw values to span attributes.

Every text goes through the secret redactor before it is set on the span (a span's
attributes cannot be rewritten after it ends, so redaction must happen here, first), and the
secret findings are summarised on the span as parallel arrays that never hold a value.
``set_text``, ``fail`` and ``end`` swallow their own failures (logging the exception type
only): tracking must never raise into the caller.

Every activity of this package starts in ``start_activity``: seed functions, decorators and
instrumentors alike.
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
from contextvars import Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import trace
from opentelemetry.context import Context, attach, detach, get_current
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.util.types import AttributeValue

from autobot_activity_otel import attributes as attr
from autobot_activity_otel import settings
from autobot_activity_otel import snapshot as snap
from autobot_activity_otel.admission import admit
from autobot_activity_otel.context import Attribution, current_attribution
from autobot_activity_otel.direct import direct_writer
from autobot_activity_otel.ids import new_activity_text
from autobot_activity_otel.secrets import Finding, Kind, fingerprint, redact
from autobot_activity_otel.secrets.engine import holds_known
from autobot_activity_otel.secrets.lines import labels_what_follows
from autobot_activity_otel.secrets.registry import REGISTRY
from autobot_activity_otel.secrets.rules import on_rules_changed
from autobot_activity_otel.version import __version__

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

_logger = logging.getLogger(__name__)

TRACER_NAME = "autobot_activity_otel"
"""Instrumentation scope of the activities of seed functions and decorators."""
_REDACTION_SLACK = 4096
"""Characters redacted past the cut, so a secret straddling it is not left half visible."""
SPAN_NAME_FIELD = "span.name"
"""Field that findings in a span's name are reported under."""
DECLARED_RULE = "declared"
"""Rule name of a secret id the caller says the activity used (``secrets_used=``)."""
_FINGERPRINT_SUFFIX = ".hmac_sha256"
_default: tuple[TracerProvider, Tracer] | None = None
_TYPE_TEXT = {activity_type: activity_type.value for activity_type in attr.ActivityType}
"""An activity type's text by plain lookup (the enum's ``value`` is a Python property)."""
_NOT_TEXT = frozenset({int, float, bool, type(None)})
"""Metadata values with no text in them (counts, flags): nothing for the redactor to read."""
_METADATA_JSON = json.JSONEncoder(default=str)
"""Encodes a record's metadata as ``json.dumps(default=str)`` does, without building an
encoder per activity."""
CLEAN_TEXT_CHARS = 256
"""Texts up to this long that the redactor found clean are remembered (see ``redacted``)."""
_MAX_CLEAN_TEXTS = 4096
_clean_texts: dict[tuple[str, str], int] = {}
"""Short texts found clean, by kind, with the registry's version when last found clean."""
_older_clean_texts: dict[tuple[str, str], int] = {}
"""The generation before, once ``_clean_texts`` filled: still asked, so what was seen last
(an activity's texts, which the row builder reads again soon after, in this process's
shipper) outlives a fill, and memory stays bounded at two generations."""
_forgotten = 0
"""How many times the memo was forgotten: a verdict reached across a forgetting is not kept."""


def redacted(text: str, kind: Kind) -> tuple[str, tuple[Finding, ...]]:
    """``text`` through the secret redactor: the redacted text and the findings.

    The same short texts recur in almost every activity (a working directory, a shell, a
    command run in a loop), and each ``redact`` call costs about as much as a tenth of a
    span. So a short text the redactor returned unchanged, with no finding, is remembered
    for its kind, and the next time only the registry of known secrets is asked about it:
    the pattern rules depend on the text and kind alone, so the earlier verdict stands
    unless a secret registered since then occurs in it (``holds_known``: also split over a
    command's words), and then the redactor runs again. While no secret is registered or
    forgotten (the registry's version), not even that. Rules added at run time
    (``add_secret_names``, ``add_rule``) make it forget everything (``forget_clean_texts``).
    """
    if len(text) <= CLEAN_TEXT_CHARS:
        version = REGISTRY.version
        seen = _clean_texts.get((text, kind))
        if seen == version:
            return text, ()
        if seen is None:
            seen = _older_clean_texts.get((text, kind))
        if seen is not None and (seen == version or not holds_known(text, kind)):
            _remember_clean(text, kind, version)
            return text, ()
        forgotten = _forgotten
        redaction = redact(text, kind=kind)
        if not redaction.findings and redaction.text == text and forgotten == _forgotten:
            _remember_clean(text, kind, version)
        return redaction.text, redaction.findings
    redaction = redact(text, kind=kind)
    return redaction.text, redaction.findings


def _remember_clean(text: str, kind: Kind, version: int) -> None:
    if len(_clean_texts) >= _MAX_CLEAN_TEXTS:  # the full generation becomes the older one
        _older_clean_texts.clear()
        _older_clean_texts.update(_clean_texts)
        _clean_texts.clear()
    _clean_texts[text, kind] = version


def forget_clean_texts() -> None:
    """Forget the texts ``redacted`` remembers as clean: each is redacted afresh once."""
    global _forgotten
    _forgotten += 1
    _clean_texts.clear()
    _older_clean_texts.clear()


on_rules_changed(forget_clean_texts)  # a rule added at run time may find what was clean


def default_tracer() -> Tracer:
    """The global provider's tracer, taken at call time, so a provider set after import is
    used; ``get_tracer`` costs more than a span, so it is asked again only when the global
    provider changes."""
    global _default
    provider = trace.get_tracer_provider()
    cached = _default
    if cached is not None and cached[0] is provider:
        return cached[1]
    tracer = provider.get_tracer(TRACER_NAME, __version__, schema_url=attr.SCHEMA_URL)
    _default = (provider, tracer)
    return tracer


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

    __slots__ = (
        "_id",
        "_parent",
        "_span",
        "_tracer",
        "activity_type",
        "attributes",
        "declared_secrets",
        "end_ns",
        "error",
        "findings",
        "max_text_chars",
        "metadata",
        "name",
        "start_ns",
    )

    def __init__(
        self,
        activity_type: attr.ActivityType,
        action: str,
        *,
        name: str | None = None,
        attribution: Attribution | None = None,
        context: Context | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.activity_type = activity_type
        self._id = new_activity_text()
        self.start_ns = time.time_ns()
        self.end_ns: int | None = None
        self.metadata: dict[str, Any] = {}
        self.findings: list[tuple[str, Finding]] = []
        self.declared_secrets: list[uuid.UUID] = []
        self.max_text_chars = settings.max_text_chars()
        self.error: str | None = None
        """The failure's exception type, once ``fail`` recorded one."""
        who = attribution or current_attribution()
        attributes: dict[str, AttributeValue] = dict(who.attribute_dict)
        type_text = _TYPE_TEXT[activity_type]
        attributes[attr.ACTIVITY_TYPE] = type_text
        attributes[attr.ACTIVITY_ID] = self._id
        self.attributes = attributes
        self._parent = context if context is not None else get_current()
        self._tracer = tracer
        self._span: Span | None = None
        # Every free text a caller hands over goes through the redactor, ids and names too.
        if who.session_id is not None:
            self.set_text(attr.SESSION_ID, who.session_id)
        action = self.set_text(attr.ACTIVITY_ACTION, action) or ""
        self.name = f"{type_text} {action}" if name is None else self._redacted(name)
        if who.window_title is not None:
            self.set_text(attr.ACTIVITY_WINDOW_TITLE, who.window_title)
        if who.application is not None:
            self.set_text(attr.ACTIVITY_APPLICATION, who.application)

    @property
    def activity_id(self) -> uuid.UUID:
        """The activity's id (a UUIDv7), the idempotency key of its row."""
        return uuid.UUID(self._id)

    @property
    def span(self) -> Span:
        """The activity's span, started on first use."""
        if self._span is None:
            tracer = self._tracer if self._tracer is not None else default_tracer()
            self._span = tracer.start_span(
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
        """Redact a text, cap it, and set it; returns what was set. An output is redacted
        with the command that printed it (set first) as its context."""
        if value is None:
            return None
        if (
            type(value) is str
            and kind != "output"
            and len(value) <= self.max_text_chars
            and _clean_texts.get((value, kind)) == REGISTRY.version
            and value.isascii()
            and "\x00" not in value
        ):
            text = value  # what ``_redact_text`` returns for a text ``redacted`` remembers
        else:
            text = self._redact_text(key, value, kind)
        self.attributes[key] = text
        if self._span is not None:
            self._span.set_attribute(key, text)
        return text

    def _redact_text(self, key: str, value: object, kind: Kind) -> str:
        """``value`` as text, capped and redacted, its findings and repairs noted."""
        notes: list[str] = []
        try:
            if type(value) is str and value.isascii() and "\x00" not in value:
                text = value  # what to_text would return, at a fraction of its cost
            else:
                text, notes = to_text(value)
            limit = self.max_text_chars
            cut = len(text) > limit
            if cut:
                self.metadata[f"{key}.original_length"] = len(text)
                self.metadata[f"{key}{_FINGERPRINT_SUFFIX}"] = fingerprint(text)  # keyed: no oracle
                notes.append("truncated")
                text = text[: limit + _REDACTION_SLACK]
            context = self.attributes.get(attr.PROCESS_COMMAND_LINE) if kind == "output" else None
            if isinstance(context, str) and labels_what_follows(context):  # printenv DB_PASSWORD
                redaction = redact(text, kind, context=context)
                text, findings = redaction.text, redaction.findings
            else:
                text, findings = redacted(text, kind)
            if findings:
                self.findings.extend((key, finding) for finding in findings)
            if cut:
                text = f"{text[:limit]}…[truncated]"
            if notes:
                self.metadata.setdefault("text_notes", {})[key] = notes
        except Exception as exc:  # a redactor failure must not leak the text: drop it
            _logger.warning("could not redact %s (%s); value dropped", key, type(exc).__name__)
            text = "[REDACTED:unredactable]"
        return text

    def _redacted(self, text: str) -> str:
        """A free text that is not an attribute (the span's name), through the redactor."""
        try:
            if type(text) is not str or not text.isascii() or "\x00" in text:
                text = to_text(text)[0]  # else it would return the text as it is
            clean, findings = redacted(text[: self.max_text_chars], "text")
        except Exception as exc:
            _logger.warning("could not redact a name (%s); dropped", type(exc).__name__)
            return "[REDACTED:unredactable]"
        if findings:
            self.findings.extend((SPAN_NAME_FIELD, finding) for finding in findings)
        return clean

    def declare_secrets(self, secret_ids: Iterable[uuid.UUID | str] | None) -> None:
        """Record secret ids the caller says this activity used (a broker's injection)."""
        for secret_id in secret_ids or ():
            self.declared_secrets.append(uuid.UUID(str(secret_id)))

    def rename(self, action: str) -> None:
        """The activity turned out to be another action (a click that submitted a form)."""
        action = self.set_text(attr.ACTIVITY_ACTION, action) or ""
        self.name = f"{self.activity_type.value} {action}"
        if self._span is not None:
            self._span.update_name(self.name)

    def fail(self, exc: BaseException) -> None:
        """Mark the activity failed; the message is redacted, never recorded raw. Never raises."""
        try:
            self.error = type(exc).__qualname__
            self.set(attr.ERROR_TYPE, self.error)
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
            if self.metadata:
                self._redact_metadata()
            self._set_secret_summary()
            if self.metadata:
                self.set(attr.ACTIVITY_METADATA, _METADATA_JSON.encode(self.metadata))
        except Exception as exc:
            _logger.warning("an activity's summary was not recorded (%s)", type(exc).__name__)
        finally:
            self.span.end(end_time=self.end_ns)

    def _redact_metadata(self) -> None:
        """Every string in the metadata through the redactor (ids a caller could not parse,
        a PTY's id, a handler's notes): metadata is free text too. Fingerprints are ours."""
        for key, value in list(self.metadata.items()):
            if type(value) in _NOT_TEXT or key.endswith(_FINGERPRINT_SUFFIX):
                continue
            self.metadata[key] = self._redact_leaves(f"metadata.{key}", value)

    def _redact_leaves(self, field: str, value: Any) -> Any:
        if isinstance(value, str):
            clean, findings = redacted(value, "text")
            self.findings.extend((field, finding) for finding in findings)
            return clean
        if isinstance(value, dict):
            return {k: self._redact_leaves(field, item) for k, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._redact_leaves(field, item) for item in value]
        return value

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

    def snapshot(self) -> snap.ActivitySnapshot:
        """The activity as plain values, for a direct write; taken after ``end``."""
        context = self.span.get_span_context()
        parent = trace.get_current_span(self._parent).get_span_context()
        return snap.ActivitySnapshot(
            name=self.name,
            trace_id=context.trace_id,
            span_id=context.span_id,
            start_ns=self.start_ns,
            end_ns=self.end_ns if self.end_ns is not None else time.time_ns(),
            attributes=dict(self.attributes),
            parent_span_id=parent.span_id if parent.is_valid else None,
            status_code=snap.StatusCode.UNSET if self.error is None else snap.StatusCode.ERROR,
            status_description=self.error,
        )


def start_activity(
    activity_type: attr.ActivityType,
    action: str,
    *,
    name: str | None = None,
    attribution: Attribution | None = None,
    context: Context | None = None,
    tracer: Tracer | None = None,
) -> ActivityRecord:
    """Start one activity: the single place where every activity of this package begins.

    ``attribution`` defaults to the current ``activity_context``, ``context`` (the parent)
    to the current one, ``tracer`` to the global provider's. Admission comes first, before
    the operation runs: under the journal's ``block``/``refuse`` overflow policies it may wait
    for room or refuse the operation.
    """
    admit()
    return ActivityRecord(
        activity_type, action, name=name, attribution=attribution, context=context, tracer=tracer
    )


SESSION_SPAN_NAME = "activity session"
"""Name of the span ``activity_session`` opens: the root of a session's trace."""


def start_session_span(
    attribution: Attribution, tracer_provider: TracerProvider | None = None
) -> Span:
    """The span a session's activities start under, so they share its trace.

    It carries the session's ids (user, session, org, team) and no ``activity.type``: it is
    not an activity, and the activity exporters pass it by; an OTLP backend shows it as the
    root of the session's tree. Its parent is the current span, if any.
    """
    if tracer_provider is None:
        tracer = default_tracer()
    else:
        tracer = tracer_provider.get_tracer(TRACER_NAME, __version__, schema_url=attr.SCHEMA_URL)
    attributes = dict(attribution.attribute_dict)
    if attribution.session_id is not None:  # free text, as on every activity
        attributes[attr.SESSION_ID] = redacted(to_text(attribution.session_id)[0], "text")[0]
    return tracer.start_span(SESSION_SPAN_NAME, kind=SpanKind.INTERNAL, attributes=attributes)


class Outcome(Protocol):
    """An activity in flight as ``running`` sees it: it can fail, and it ends once."""

    def fail(self, exc: BaseException) -> None: ...

    def end(self) -> None: ...


class running:
    """The block runs an activity's operation; an exception marks the activity failed, ends
    it and propagates unchanged. ``current``, when given, is the current span meanwhile."""

    __slots__ = ("_activity", "_current", "_token")

    def __init__(self, activity: Outcome, current: Span | None = None) -> None:
        self._activity = activity
        self._current = current
        self._token: Token[Context] | None = None

    def __enter__(self) -> None:
        if self._current is not None:
            self._token = attach(trace.set_span_in_context(self._current))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            detach(self._token)
        if exc is not None:
            self._activity.fail(exc)
            self._activity.end()


@contextmanager
def recording(
    activity_type: attr.ActivityType,
    action: str,
    *,
    name: str | None = None,
    attribution: Attribution | None = None,
    tracer: Tracer | None = None,
) -> Iterator[ActivityRecord]:
    """Record the enclosed block as one activity, current span included; errors mark it failed."""
    record = start_activity(
        activity_type, action, name=name, attribution=attribution, tracer=tracer
    )
    with running(record, record.span):
        yield record
    record.end()


async def finish(record: ActivityRecord, db: AsyncSession | None = None) -> uuid.UUID:
    """End the record; with ``db`` (an ``AsyncSession``), also write its row through it now.

    The exporter writes the same activity later under the same id, idempotently, so a failed
    or rolled-back direct write loses nothing and a successful one is not doubled.
    """
    record.end()
    if db is not None:
        try:
            await direct_writer().write(db, record.snapshot())
        except Exception as exc:
            _logger.warning(
                "activity %s not written through the given session (%s); the exporter writes it",
                record.activity_id,
                type(exc).__name__,
            )
    return record.activity_id
