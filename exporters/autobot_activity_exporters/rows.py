"""Activity span -> table rows: the one place that knows how attributes become columns.

Attribute names come from ``autobot_activity_otel.attributes`` only. Every string stored is
checked again with the secret redactor (a second line behind the instrumentation's own
redaction, and the only one for spans of other producers: already-redacted text passes
unchanged, anything new is redacted and audited): columns, attribute names and values, each
element of an array and the array read as one argv, the span's name, its status description,
and its events' names and attributes. Attributes that have no column of their own are kept in
``metadata`` under their attribute name; a span name other than ``<type> <action>`` goes to
``metadata["span.name"]``, a status description to ``metadata["span.status_description"]``,
events to ``metadata["span.events"]`` (name, time, attributes).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import shlex
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from opentelemetry.sdk.trace import ReadableSpan

from autobot_activity_exporters.models import ACTIVITY_TABLES, SECRET_USAGE
from autobot_activity_exporters.spans import snapshot_of
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.activities.browser import secret_field_finding, selector_field_rule
from autobot_activity_otel.activities.file import DIRECTORY_TYPE, extension, file_type
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.recording import redacted, to_text
from autobot_activity_otel.secrets import Finding, Kind, redact
from autobot_activity_otel.secrets.engine import KNOWN_RULE
from autobot_activity_otel.secrets.lines import labels_what_follows
from autobot_activity_otel.secrets.rules import MARKER, URL_REDACTED, secret_name
from autobot_activity_otel.snapshot import ActivitySnapshot, SnapshotEvent

_logger = logging.getLogger(__name__)

Row = dict[str, Any]

_COLUMNS: dict[ActivityType, tuple[tuple[str, str, Kind | None], ...]] = {
    ActivityType.TERMINAL: (
        ("command", attr.PROCESS_COMMAND_LINE, "command"),
        ("working_directory", attr.PROCESS_WORKING_DIRECTORY, "text"),
        ("exit_code", attr.PROCESS_EXIT_CODE, None),
        ("output", attr.TERMINAL_OUTPUT, "output"),
    ),
    ActivityType.FILE: (
        ("operation", attr.ACTIVITY_ACTION, "text"),
        ("path", attr.FILE_PATH, "text"),
        ("new_path", attr.FILE_NEW_PATH, "text"),
        ("file_type", attr.FILE_TYPE, "text"),
        ("size_bytes", attr.FILE_SIZE, None),
    ),
    ActivityType.BROWSER: (
        ("action", attr.ACTIVITY_ACTION, "text"),
        ("url", attr.URL_FULL, "url"),
        ("selector", attr.BROWSER_SELECTOR, "text"),
        ("input_value", attr.BROWSER_INPUT_VALUE, "text"),
    ),
    ActivityType.DESKTOP: (
        ("action", attr.ACTIVITY_ACTION, "text"),
        ("coordinates", attr.DESKTOP_COORDINATES, None),
        ("window_title", attr.ACTIVITY_WINDOW_TITLE, "text"),
        ("input_text", attr.DESKTOP_INPUT_TEXT, "keystrokes"),
        ("screenshot_path", attr.DESKTOP_SCREENSHOT_PATH, "text"),
    ),
}
"""Per type: (column, attribute, redaction kind); a kind of None marks a non-text column."""
_ATTRIBUTION = {
    attr.USER_ID: "user_id",
    attr.ACTIVITY_ORG_ID: "org_id",
    attr.ACTIVITY_TEAM_ID: "team_id",
}
_CONSUMED = frozenset(
    {
        attr.ACTIVITY_TYPE,
        attr.ACTIVITY_ID,
        attr.ACTIVITY_METADATA,
        attr.SESSION_ID,
        *_ATTRIBUTION,
        attr.SECRETS_COUNT,
        attr.SECRETS_RULES,
        attr.SECRETS_IDS,
        attr.SECRETS_FINGERPRINTS,
        attr.SECRETS_FIELDS,
        attr.SECRETS_ACCESS_GRANTED,
        attr.SECRETS_DENIAL_REASONS,
    }
)
"""Attributes with a place of their own; every other one goes into ``metadata``."""
_SUMMARY_TEXTS = (
    attr.SECRETS_RULES,
    attr.SECRETS_IDS,
    attr.SECRETS_FINGERPRINTS,
    attr.SECRETS_FIELDS,
)
"""The secret summary's parallel string arrays, one entry per secret (never a value)."""
_SUMMARY = frozenset({*_SUMMARY_TEXTS, attr.SECRETS_ACCESS_GRANTED, attr.SECRETS_DENIAL_REASONS})
"""Without any of these there is no summary to read (most activities use no secret)."""
_PLACED = {
    activity_type: _CONSUMED | {attribute for _, attribute, _ in columns}
    for activity_type, columns in _COLUMNS.items()
}
"""Per type: the attributes that do not go into ``metadata``."""
_ROW_KEYS = {
    table.name: tuple(table.columns.keys()) for table in (*ACTIVITY_TABLES.values(), SECRET_USAGE)
}
_TABLE_NAMES = {activity_type: table.name for activity_type, table in ACTIVITY_TABLES.items()}
_NAME_PREFIXES = {activity_type: f"{activity_type.value} " for activity_type in ActivityType}
"""A span's default name is ``<type> <action>``: the part before the action, per type."""
_COLUMN_PLANS = {
    activity_type: tuple(
        (column, attribute, kind, attribute == attr.TERMINAL_OUTPUT)
        for column, attribute, kind in columns
    )
    for activity_type, columns in _COLUMNS.items()
}
"""``_COLUMNS`` with a flag on the one text read after another (an output, after its command)."""
_TYPES = {activity_type.value: activity_type for activity_type in ActivityType}
"""``ActivityType(value)`` as a plain lookup (the enum's call costs more than a row's dict)."""
_SECRETS_USED_TYPES = frozenset({ActivityType.TERMINAL, ActivityType.BROWSER})
_OWN_NAMES = frozenset(
    value for name in attr.__all__ if isinstance(value := getattr(attr, name), str)
)
"""Attribute names we define or take from the conventions: no secret in the name itself."""
_HEADER_PREFIXES = ("http.request.header.", "http.response.header.")
SPAN_NAME, SPAN_STATUS, SPAN_EVENTS = "span.name", "span.status_description", "span.events"
"""Where a span's name (when not ``<type> <action>``), status and events land in ``metadata``."""
MAX_SESSION_ID_BYTES = 1024
"""The longest ``session.id`` (UTF-8) a row takes: it is indexed, and PostgreSQL refuses an
index entry above about 2.7 kB only when the row is written, which costs the whole batch's
transaction (and everyone's, in the ingest service's group commit) a split per such row."""
MAX_METADATA_DEPTH = 64
"""How deep ``activity.metadata`` may nest. The writer's encoding and hashing recurse too: a
document a few hundred levels deep failed there, like a database outage, so the batch and
every request committed with it were retried for ever."""
MAX_FUTURE_SECONDS = 300
"""A start further ahead of the exporter's clock than this is not trusted (see ``_times``)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidActivity(ValueError):
    """An activity span whose attribute is missing or of the wrong type (names it, no value)."""

    def __init__(self, attribute: str, problem: str) -> None:
        super().__init__(f"attribute {attribute} {problem}")
        self.attribute = attribute


@dataclass(frozen=True, slots=True)
class ActivityRows:
    """The rows one activity span becomes: its activity row and its secret-usage rows."""

    activity_type: ActivityType
    table: str
    activity: Row
    secret_usage: list[Row] = field(default_factory=list)


def rows_from_span(span: ReadableSpan) -> ActivityRows | None:
    """Rows for a finished SDK span (see ``rows_from_activity``)."""
    return rows_from_activity(snapshot_of(span))


def rows_from_activity(activity: ActivitySnapshot, *, strict: bool = True) -> ActivityRows | None:
    """Rows for a finished activity, or None for a span that is not an activity.

    An activity with a missing or wrong-typed attribute raises ``InvalidActivity`` (naming
    the attribute, never its value) when ``strict``, so the caller can set it aside with the
    reason; else it is skipped with a log line.
    """
    return rows_from_fields(
        activity.attributes,
        activity.trace_id,
        activity.span_id,
        activity.start_ns,
        activity.end_ns,
        activity.name,
        activity.status_description,
        activity.events,
        strict=strict,
    )


def rows_from_fields(
    attributes: Mapping[str, Any],
    trace_id: int,
    span_id: int,
    start_ns: int | datetime | None,
    end_ns: int | datetime | None,
    name: str = "",
    status_description: str | None = None,
    events: Sequence[SnapshotEvent] = (),
    *,
    strict: bool = True,
) -> ActivityRows | None:
    """``rows_from_activity`` from the fields the rows read, for a caller that has them
    without an ``ActivitySnapshot`` (the ingest service, per span of a request: building
    the frozen snapshot cost a tenth of the mapping)."""
    if attr.ACTIVITY_TYPE not in attributes:
        return None
    try:
        return _Builder(attributes).build(
            trace_id, span_id, start_ns, end_ns, name, status_description, events
        )
    except InvalidActivity as exc:
        if strict:
            raise
        _logger.warning("activity span skipped: %s", exc)  # names the attribute, no value
        return None


class _Builder:
    """Reads one activity's attributes, type-checked, redacting every text on the way."""

    def __init__(self, attributes: Mapping[str, Any]) -> None:
        # one copy into a plain dict: an SDK span's mapping answers each lookup in Python
        self.attributes = attributes if type(attributes) is dict else dict(attributes)
        self.findings: list[tuple[str, Finding]] = []

    def build(
        self,
        trace_id: int,
        span_id: int,
        start_ns: int | datetime | None,
        end_ns: int | datetime | None,
        name: str = "",
        status_description: str | None = None,
        events: Sequence[SnapshotEvent] = (),
    ) -> ActivityRows:
        activity_type = self._activity_type()
        activity_id = self._uuid(attr.ACTIVITY_ID)
        if activity_id is None:
            raise InvalidActivity(attr.ACTIVITY_ID, "is missing")
        if not isinstance(self.attributes.get(attr.ACTIVITY_ACTION), str):
            raise InvalidActivity(attr.ACTIVITY_ACTION, "is missing or not a string")
        table_name = _TABLE_NAMES[activity_type]
        metadata = self._metadata(activity_type)
        self._span_fields(name, status_description, events, activity_type, metadata)
        timestamp, duration_ms = _times(start_ns, end_ns, metadata)
        common: Row = {
            "user_id": None,
            "session_id": self._session_id(),
            "org_id": None,
            "team_id": None,
            "trace_id": f"{trace_id:032x}" if trace_id else None,
            "span_id": f"{span_id:016x}" if span_id else None,
            "duration_ms": duration_ms,
            "timestamp": timestamp,
        }
        for attribute, column in _ATTRIBUTION.items():
            common[column] = self._attribution_id(attribute, column, metadata)

        activity: Row = dict.fromkeys(_ROW_KEYS[table_name])
        activity.update(common, id=activity_id, metadata=metadata)
        for column, attribute, kind, after_command in _COLUMN_PLANS[activity_type]:
            if kind is None:
                activity[column] = self._number_column(column, attribute)
            elif attribute == attr.BROWSER_INPUT_VALUE:
                activity[column] = self._input_value()
            else:
                activity[column] = self._text(attribute, kind, after_command)
        if activity_type is ActivityType.FILE:
            _implied_file_facts(self.attributes, activity, metadata)
        secret_usage = self._secret_usage(activity_type, activity_id, common)
        if activity_type in _SECRETS_USED_TYPES and not secret_usage:
            activity["secrets_used"] = []
        elif activity_type in _SECRETS_USED_TYPES:
            used = (row["secret_id"] for row in secret_usage if row["access_granted"])
            used = (secret_id for secret_id in used if secret_id is not None)
            activity["secrets_used"] = list(dict.fromkeys(used))
        return ActivityRows(activity_type, table_name, activity, secret_usage)

    def _activity_type(self) -> ActivityType:
        value = self.attributes[attr.ACTIVITY_TYPE]
        try:
            return _TYPES[value]
        except (KeyError, TypeError):
            raise InvalidActivity(attr.ACTIVITY_TYPE, "is not a known activity type") from None

    def _scrub(self, field_name: str, value: str, kind: Kind, context: str | None = None) -> str:
        """Valid text, redacted again; anything the redactor finds now is audited too."""
        if not value.isascii() or "\x00" in value:  # else ``to_text`` would return it as is
            value = to_text(value)[0]
        if context is None:  # the texts that recur (action, session, paths) are remembered
            text, findings = redacted(value, kind)
        else:
            redaction = redact(value, kind=kind, context=context)
            text, findings = redaction.text, redaction.findings
        if findings:
            self.findings.extend((field_name, finding) for finding in findings)
        return text

    def _input_value(self) -> str | None:
        """A typed value; in a field its selector names as secret (``#password``), only the
        marker, as the recording keeps it: a sender that did not redact it is not trusted."""
        value = self.attributes.get(attr.BROWSER_INPUT_VALUE)
        selector = self.attributes.get(attr.BROWSER_SELECTOR)
        rule = selector_field_rule(selector) if value else None
        if rule is None or not isinstance(value, str) or MARKER.fullmatch(value):
            return self._text(attr.BROWSER_INPUT_VALUE, "text")
        text = to_text(value)[0]
        self.findings.append((attr.BROWSER_INPUT_VALUE, secret_field_finding(text, rule)))
        return f"[REDACTED:{rule}]"

    def _command_labelling_output(self) -> str | None:
        """What a terminal output is read after: its command, when that ends with a label
        (``printenv DB_PASSWORD`` prints the value alone, which only the command names)."""
        command = self.attributes.get(attr.PROCESS_COMMAND_LINE)
        if command is None:  # a sender that gives only the argv (another language's SDK)
            argv = self.attributes.get(attr.PROCESS_COMMAND_ARGS)
            if isinstance(argv, list | tuple) and all(isinstance(arg, str) for arg in argv):
                command = shlex.join(argv)
        if isinstance(command, str) and command and labels_what_follows(command):
            return command
        return None  # a context that labels nothing changes nothing: the memo may answer

    def _labelled(self, field_name: str, label: str, value: str) -> str:
        """A value under a name that may say secret (``db.password``, a header's name): read
        as ``label: value``, so the name's meaning reaches the rules."""
        prefix = f"{label}: "
        scrubbed = self._scrub(field_name, prefix + value, "text")
        return scrubbed[len(prefix) :] if scrubbed.startswith(prefix) else scrubbed

    def _key(self, key: object) -> str:
        """A metadata key: ours as is, anyone else's redacted like any other text."""
        text = key if isinstance(key, str) else to_text(key)[0]
        if text in _OWN_NAMES:
            return text
        return self._scrub("metadata key", text, "text")

    def _span_fields(
        self,
        name: str,
        status_description: str | None,
        events: Sequence[SnapshotEvent],
        activity_type: ActivityType,
        metadata: Row,
    ) -> None:
        """The span's own strings, redacted, in ``metadata``: a name other than the default,
        the status description, the events."""
        default = f"{_NAME_PREFIXES[activity_type]}{self.attributes.get(attr.ACTIVITY_ACTION)}"
        if name and name != default:
            metadata[SPAN_NAME] = self._scrub(SPAN_NAME, to_text(name)[0], "text")
        if status_description:
            description = to_text(status_description)[0]
            metadata[SPAN_STATUS] = self._scrub(SPAN_STATUS, description, "text")
        if events:
            metadata[SPAN_EVENTS] = [self._event(event) for event in events]

    def _event(self, event: SnapshotEvent) -> Row:
        return {
            "name": self._scrub(SPAN_EVENTS, to_text(event.name)[0], "text"),
            "time_unix_nano": event.time_ns if _is_int(event.time_ns) else None,
            "attributes": {
                self._key(key): self._scrub_json(SPAN_EVENTS, value, key)
                for key, value in event.attributes.items()
            },
        }

    def _text(self, attribute: str, kind: Kind, after_command: bool = False) -> str | None:
        """A text column, redacted again; one read after its command (an output) is given
        the command as context, looked at only when there is such a text."""
        value = self.attributes.get(attribute)
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidActivity(attribute, "is not a string")
        context = self._command_labelling_output() if after_command else None
        return self._scrub(attribute, value, kind, context)

    def _session_id(self) -> str | None:
        session = self._text(attr.SESSION_ID, "text")
        if session is not None and len(session.encode()) > MAX_SESSION_ID_BYTES:
            raise InvalidActivity(attr.SESSION_ID, f"is longer than {MAX_SESSION_ID_BYTES} bytes")
        return session

    def _uuid(
        self, attribute: str, parse: Callable[[str], uuid.UUID] = uuid.UUID
    ) -> uuid.UUID | None:
        value = self.attributes.get(attribute)
        if value is None:
            return None
        try:
            return parse(value if isinstance(value, str) else "")
        except ValueError:
            raise InvalidActivity(attribute, "is not a UUID") from None

    def _attribution_id(self, attribute: str, column: str, metadata: Row) -> uuid.UUID | None:
        """A user/org/team id; one that is not a UUID leaves the row unattributed, kept raw."""
        if attribute not in self.attributes:
            return None
        try:
            return self._uuid(attribute, _attribution_uuid)
        except InvalidActivity:
            raw = self.attributes[attribute]
            metadata[f"invalid_{column}"] = self._scrub(attribute, str(raw), "text")
            return None

    def _number_column(self, column: str, attribute: str) -> int | list[int] | None:
        value = self.attributes.get(attribute)
        if value is None:
            return None
        if column == "coordinates":
            if (
                isinstance(value, Sequence)
                and not isinstance(value, str)
                and all(map(_is_int, value))
            ):
                return list(value)
            raise InvalidActivity(attribute, "is not a sequence of 64-bit integers")
        if not _is_int(value):
            raise InvalidActivity(attribute, "is not a 64-bit integer")
        return int(value)

    def _metadata(self, activity_type: ActivityType) -> Row:
        """``activity.metadata`` merged with every attribute that has no column, all redacted."""
        metadata: Row = {}
        raw = self.attributes.get(attr.ACTIVITY_METADATA)
        if raw is not None:
            try:
                parsed = json.loads(raw) if isinstance(raw, str) else None
            except (ValueError, RecursionError):
                parsed = None
            if not isinstance(parsed, dict):
                raise InvalidActivity(attr.ACTIVITY_METADATA, "is not a JSON object")
            if _nested_deeper_than(parsed, MAX_METADATA_DEPTH):
                raise InvalidActivity(
                    attr.ACTIVITY_METADATA, f"is nested deeper than {MAX_METADATA_DEPTH} levels"
                )
            metadata.update(self._scrub_json(attr.ACTIVITY_METADATA, parsed))
        placed = _PLACED[activity_type]
        for key, value in self.attributes.items():
            if key not in placed:
                name = key.removeprefix(attr.METADATA_PREFIX) or key  # activity.metadata.api
                metadata[self._key(name)] = self._scrub_json(key, value, name)
        return metadata

    def _scrub_json(self, field_name: str, value: Any, key: object = None) -> Any:
        """A metadata value as valid, redacted JSON (PostgreSQL's jsonb refuses NaN, infinities
        and NUL, in keys too). ``key`` is the name the value is stored under: a name that says
        secret, or a header's name, is read together with the value."""
        if isinstance(value, str):
            label = _label(key)
            if label is not None:
                return self._labelled(field_name, label, value)
            return self._scrub(field_name, value, "text")
        if isinstance(value, Mapping):
            return {self._key(k): self._scrub_json(field_name, v, k) for k, v in value.items()}
        if isinstance(value, Sequence | set):
            items = [self._scrub_json(field_name, item, key) for item in value]
            if len(items) > 1 and all(isinstance(item, str) for item in items):
                return self._scrub_words(field_name, items)
            return items
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return value

    def _scrub_words(self, field_name: str, words: list[str]) -> list[str]:
        """An array of strings read again as one argv (``process.command_args``): ``-p`` and
        its value are separate elements, which no rule reads one by one. An element holding
        what the argv reading finds is redacted there (whole, when it had to be quoted)."""
        quoted = [shlex.quote(word) for word in words]
        joined = " ".join(quoted)
        redaction = redact(joined, kind="command")
        if not redaction.findings:
            return words
        self.findings.extend((field_name, finding) for finding in redaction.findings)
        result = list(words)
        start = 0
        for index, raw in enumerate(quoted):
            end = start + len(raw)
            inside = [f for f in redaction.findings if f.start < end and f.end > start]
            if inside and raw != words[index]:
                result[index] = _marker(inside[0])
            elif inside:
                pieces, position = [], start
                for finding in inside:
                    cut = max(finding.start, start)
                    pieces += [joined[position:cut], _marker(finding)]
                    position = min(finding.end, end)
                pieces.append(joined[position:end])
                result[index] = "".join(pieces)
            start = end + 1
        return result

    def _secret_usage(
        self, activity_type: ActivityType, activity_id: uuid.UUID, common: Row
    ) -> list[Row]:
        """One row per secret: the span's own summary first, then the exporter's new findings."""
        entries = self._secret_summary()
        for field_name, finding in self.findings:
            extra = {"field": field_name, "detected_by": "exporter"}
            entries.append(
                _SecretEntry(
                    finding.rule, finding.secret_id, finding.fingerprint, True, None, extra
                )
            )
        rows = []
        for index, entry in enumerate(entries):
            row: Row = dict.fromkeys(_ROW_KEYS[SECRET_USAGE.name])
            row.update(
                common,
                id=uuid.uuid5(activity_id, str(index)),
                secret_id=entry.secret_id,
                activity_type=activity_type.value,
                activity_id=activity_id,
                access_granted=entry.granted,
                denial_reason=entry.denial_reason,
                rule=entry.rule,
                fingerprint=entry.fingerprint,
                metadata=entry.metadata,
            )
            rows.append(row)
        return rows

    def _secret_summary(self) -> list[_SecretEntry]:
        """The span's parallel secret arrays, zipped and checked; access defaults to granted."""
        if _SUMMARY.isdisjoint(self.attributes):
            return []
        texts = [self._array(name, str) for name in _SUMMARY_TEXTS]
        if len({len(array) for array in texts}) > 1:
            raise InvalidActivity(attr.SECRETS_RULES, "differs in length from the other arrays")
        count = len(texts[0])
        granted = self._array(attr.SECRETS_ACCESS_GRANTED, bool) or (True,) * count
        reasons = self._array(attr.SECRETS_DENIAL_REASONS, str) or ("",) * count
        if len(granted) != count or len(reasons) != count:
            raise InvalidActivity(attr.SECRETS_ACCESS_GRANTED, "differs in length from the rules")
        entries = []
        for (rule, secret_id, fingerprint, field_name), ok, reason in zip(
            zip(*texts, strict=True), granted, reasons, strict=True
        ):
            try:
                parsed = uuid.UUID(secret_id) if secret_id else None
            except ValueError:
                raise InvalidActivity(
                    attr.SECRETS_IDS, "holds a value that is not a UUID"
                ) from None
            # a sender's summary is free text like the rest (ours recur: the memo answers)
            rule = self._scrub(attr.SECRETS_RULES, rule, "text")
            fingerprint = self._scrub(attr.SECRETS_FINGERPRINTS, fingerprint, "text")
            denial = self._scrub(attr.SECRETS_DENIAL_REASONS, reason, "text") if reason else None
            field_name = self._scrub(attr.SECRETS_FIELDS, field_name, "text")
            metadata = {"field": field_name} if field_name else {}
            entries.append(_SecretEntry(rule, parsed, fingerprint or None, ok, denial, metadata))
        return entries

    def _array(self, attribute: str, item_type: type) -> tuple[Any, ...]:
        value = self.attributes.get(attribute, ())
        if type(value) is not tuple and (not isinstance(value, Sequence) or isinstance(value, str)):
            raise InvalidActivity(attribute, f"is not a sequence of {item_type.__name__}")
        if not all(type(item) is item_type for item in value):
            raise InvalidActivity(attribute, f"is not a sequence of {item_type.__name__}")
        return tuple(value)


class _SecretEntry(NamedTuple):
    rule: str
    secret_id: uuid.UUID | None
    fingerprint: str | None
    granted: bool
    denial_reason: str | None
    metadata: Row


def _implied_file_facts(attributes: Mapping[str, Any], activity: Row, metadata: Row) -> None:
    """The media type and extension a file's path implies, when its span left them out: the
    file instrumentation does not spend the caller's time on them, and they follow from the
    stored (already redacted) path exactly as the instrumentation derived them on the span."""
    path = activity["path"]
    if not path:
        return
    if attr.FILE_TYPE not in attributes:
        activity["file_type"] = file_type(path)
    if attr.FILE_EXTENSION not in attributes and activity["file_type"] != DIRECTORY_TYPE:
        suffix = extension(path)
        if suffix is not None:
            metadata[attr.FILE_EXTENSION] = suffix


def _label(key: object) -> str | None:
    """The name a value is read under: a header's name, or a last name part that says secret."""
    if not isinstance(key, str):
        return None
    if key.startswith(_HEADER_PREFIXES):
        return key.rsplit(".", 1)[-1]
    last = key.rsplit(".", 1)[-1]
    return last if key not in _OWN_NAMES and secret_name(last) else None


def _nested_deeper_than(document: object, limit: int) -> bool:
    """Whether a parsed JSON document has objects or arrays more than ``limit`` levels deep
    (walked without recursion, so the depth itself costs no stack)."""
    pending = [(document, 1)]
    while pending:
        value, level = pending.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            if level > limit:
                return True
            pending.extend((item, level + 1) for item in value)
    return False


def _marker(finding: Finding) -> str:
    if finding.rule == KNOWN_RULE:
        return f"[REDACTED:secret:{finding.secret_id}]"
    return URL_REDACTED if finding.rule.startswith("url-") else f"[REDACTED:{finding.rule}]"


@functools.lru_cache(maxsize=1024)
def _attribution_uuid(text: str) -> uuid.UUID:
    """A user/org/team id parsed once: the same few recur on every row (UUIDs are immutable)."""
    return uuid.UUID(text)


def _is_int(value: object) -> bool:
    """An integer that fits a BIGINT (a bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _times(
    start: int | datetime | None, end: int | datetime | None, metadata: Row
) -> tuple[datetime, float | None]:
    """The row's timestamp and duration, with a note in ``metadata`` for each repair.

    A span's times are epoch nanoseconds (always UTC). Repaired: a ``datetime`` without a
    time zone (taken as UTC), a missing start or one more than ``MAX_FUTURE_SECONDS`` ahead
    of this clock (the row gets the export time, so it is neither hidden from "recent"
    queries nor kept from retention; the original stays in ``metadata``), and an end before
    the start (no duration).
    """
    now = time.time_ns()
    start_ns, end_ns = _ns(start, "start", metadata), _ns(end, "end", metadata)
    notes: list[str] = []
    duration = None
    if start_ns and start_ns > 0 and end_ns is not None:
        if end_ns >= start_ns:
            duration = (end_ns - start_ns) / 1e6
        else:
            notes.append("end before start: no duration")
    if start_ns is None or start_ns <= 0:
        notes.append("start missing: export time used")
        start_ns = now
    elif start_ns > now + MAX_FUTURE_SECONDS * 1_000_000_000:
        notes.append("start in the future: export time used")
        metadata["original_start_ns"] = str(start_ns)
        start_ns = now
    if notes:
        metadata.setdefault("time_notes", []).extend(notes)
    return _utc(start_ns), duration


def _ns(value: int | datetime | None, which: str, metadata: Row) -> int | None:
    """Epoch nanoseconds from a span time; a naive ``datetime`` is taken as UTC (noted)."""
    if value is None or type(value) is int:
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            metadata.setdefault("time_notes", []).append(f"{which} had no time zone: UTC assumed")
            value = value.replace(tzinfo=UTC)
        return (value - _EPOCH) // timedelta(microseconds=1) * 1000
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    raise InvalidActivity(f"span {which} time", "is not a time")


def _utc(time_ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=time_ns // 1000)
