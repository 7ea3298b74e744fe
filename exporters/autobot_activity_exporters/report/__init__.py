"""``autobot-activity report``: one session as one self-contained HTML file.

The file holds its CSS, its script and its data (the session's activities and secret uses
that the viewer may see, as JSON in a ``<script type="application/json">`` block), and
nothing else: it opens from ``file://``, fetches nothing, and its Content-Security-Policy
allows only its own script and style (by hash), so a stored command or URL can never run
or load anything in the reviewer's browser. Every stored text is shown as text.

Delivery and chain status come from a ``StatusSource``: the default says what reading the
database can say (stored; chain not checked). The integrity chain plugs in its own source;
the journal's (``report.waiting.JournalStatus``) also brings the activities that wait there,
not yet in the database, marked ``waiting in the journal``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import jinja2
from markupsafe import Markup

from autobot_activity_exporters.records import SEARCHED_COLUMNS, AnyActivity, SecretUse
from autobot_activity_exporters.store import ActivityStore
from autobot_activity_exporters.viewer import Role, Viewer
from autobot_activity_otel.secrets.rules import MARKER

if TYPE_CHECKING:
    from autobot_activity_exporters.report.waiting import JournalStatus

IDLE_GAP = timedelta(seconds=30)
"""A pause longer than this between two activities is collapsed on the time axis."""
WAITING = "waiting in the journal"
"""The delivery status of an activity the journal holds and the database does not (yet)."""
COMMON = ("id", "user_id", "session_id", "org_id", "team_id", "timestamp", "duration_ms")
"""Columns every activity has; the rest of a row is its type's own."""


@dataclass(frozen=True)
class ActivityStatus:
    """What is known about one activity beyond its row: delivery and tamper evidence."""

    delivery: str | None = None
    """``stored``, ``pending`` (in the journal, not yet in the database), … or unknown."""
    chain: str | None = None
    """``verified``, ``broken``, ``not checked``, … or unknown."""


class StatusSource(Protocol):
    """The hook the journal and the integrity chain implement to add status to a report."""

    async def statuses(
        self, session_id: str, activities: Sequence[AnyActivity]
    ) -> Mapping[uuid.UUID, ActivityStatus]: ...


class StoredStatus:
    """What the database alone says: every activity read from it is stored; no chain."""

    async def statuses(
        self, session_id: str, activities: Sequence[AnyActivity]
    ) -> Mapping[uuid.UUID, ActivityStatus]:
        stored = ActivityStatus(delivery="stored", chain="not checked")
        return dict.fromkeys((activity.id for activity in activities), stored)


@dataclass(frozen=True)
class SessionData:
    """Everything a report shows, read for one viewer."""

    session_id: str
    viewer: Viewer
    activities: list[AnyActivity]
    secret_usage: list[SecretUse]
    statuses: Mapping[uuid.UUID, ActivityStatus]
    waiting: int = 0
    """How many of the activities are in the journal and not yet in the database."""


async def read_session(
    store: ActivityStore,
    session_id: str,
    *,
    user_id: uuid.UUID | str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    status: StatusSource | None = None,
    journal: JournalStatus | None = None,
) -> SessionData:
    """The session's activities and secret uses the store's viewer may see, oldest first;
    with ``journal``, those still waiting there too (the database's copy wins when both
    hold one)."""
    filters: dict[str, Any] = {"user_id": user_id, "session_id": session_id}
    filters.update(since=since, until=until, limit=None, order="asc")
    activities = await store.activities(**filters)
    usage = await store.secret_usage(**filters)
    statuses = dict(await (status or StoredStatus()).statuses(session_id, activities))
    if journal is None:
        return SessionData(session_id, store.viewer, activities, usage, statuses)
    held, held_usage = journal.waiting(
        store.viewer, session_id, user_id=user_id, since=since, until=until
    )
    stored = {activity.id for activity in activities}
    waiting = [activity for activity in held if activity.id not in stored]
    if waiting:
        statuses.update(await journal.statuses(session_id, waiting))
        waiting_ids = {activity.id for activity in waiting}
        activities = sorted([*activities, *waiting], key=lambda activity: activity.timestamp)
        usage = sorted(
            [*usage, *(use for use in held_usage if use.activity_id in waiting_ids)],
            key=lambda use: use.timestamp,
        )
    return SessionData(session_id, store.viewer, activities, usage, statuses, len(waiting))


def report_data(session: SessionData, *, idle_gap: timedelta = IDLE_GAP) -> dict[str, Any]:
    """The JSON the page reads: compact per-activity entries, secret uses, and the rules
    the script applies (which columns a search looks in, what a redaction looks like)."""
    secret_rows = [
        {
            "id": str(use.id),
            "activity": str(use.activity_id),
            "type": use.activity_type.value,
            "t": _ms(use.timestamp),
            "secret_id": _str(use.secret_id),
            "rule": use.rule,
            "in": use.found_in,
            "granted": use.access_granted,
            "denial": use.denial_reason,
            "fingerprint": use.fingerprint,
            "detected_by": use.metadata.get("detected_by"),
        }
        for use in session.secret_usage
    ]
    return {
        "session": session.session_id,
        "viewer": describe_viewer(session.viewer),
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "idle_gap_ms": idle_gap / timedelta(milliseconds=1),
        "searched": {kind.value: list(columns) for kind, columns in SEARCHED_COLUMNS.items()},
        "marker": MARKER.pattern,
        "waiting": WAITING,
        "activities": [
            _activity_entry(activity, session.statuses.get(activity.id))
            for activity in session.activities
        ],
        "secrets": secret_rows,
    }


def _activity_entry(activity: AnyActivity, status: ActivityStatus | None) -> dict[str, Any]:
    row = activity.as_row()
    own = {
        column: _json_value(value)
        for column, value in row.items()
        if column not in COMMON
        and column not in ("activity_type", "metadata", "trace_id", "span_id", "secrets_used")
    }
    return {
        "id": str(activity.id),
        "type": activity.type.value,
        "action": activity.action,
        "t": _ms(activity.timestamp),
        "time": activity.timestamp.isoformat(timespec="milliseconds"),
        "d": activity.duration_ms,
        "user": _str(activity.user_id),
        "org": _str(activity.org_id),
        "team": _str(activity.team_id),
        "trace": activity.trace_id,
        "span": activity.span_id,
        "failed": activity.failed,
        "summary": activity.summary(),
        "fields": own,
        "secrets_used": [str(secret) for secret in activity.secrets_used],
        "metadata": _json_value(dict(activity.metadata)),
        "status": asdict(status) if status else None,
    }


def describe_viewer(viewer: Viewer) -> str:
    if viewer.role is Role.SYSTEM:
        return "the system viewer (every row)"
    keyed = {
        "user": viewer.user_id,
        "org": viewer.org_id,
        "teams": ", ".join(sorted(map(str, viewer.team_ids))) or None,
    }
    return f"{viewer.role.value} " + " ".join(f"{k} {v}" for k, v in keyed.items() if v)


def render(session: SessionData, *, idle_gap: timedelta = IDLE_GAP) -> str:
    """The report as one HTML document."""
    data = script_json(report_data(session, idle_gap=idle_gap))
    script = _asset("report.js")
    style = _asset("report.css")
    policy = (
        "default-src 'none'; "
        f"script-src '{_csp_hash(script)}'; style-src '{_csp_hash(style)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    return _template().render(
        session_id=session.session_id,
        viewer=describe_viewer(session.viewer),
        total=len(session.activities),
        secret_uses=len(session.secret_usage),
        waiting=session.waiting,
        policy=policy,
        style=Markup(style),
        script=Markup(script),
        data=Markup(data),
    )


def write(path: Path, session: SessionData, *, idle_gap: timedelta = IDLE_GAP) -> Path:
    """Write the report to ``path`` (UTF-8) and return it."""
    path.write_text(render(session, idle_gap=idle_gap), encoding="utf-8")
    return path


def script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element: no ``</``, ``<!--``, ``&`` or line
    separators survive literally (each becomes its ``\\uXXXX`` escape, still valid JSON)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def _template() -> jinja2.Template:
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return environment.from_string(_asset("report.html.j2"))


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def _ms(moment: datetime) -> float:
    return moment.timestamp() * 1000


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _json_value(value: Any) -> Any:
    """A stored value as plain JSON (UUIDs and times as strings)."""
    return json.loads(json.dumps(value, default=str))
