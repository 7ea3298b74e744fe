"""A secret broker's record of an access it granted or denied: one activity span per decision.

Findings record secrets that appeared in an activity; a broker also knows about accesses that
never reached a text, above all the ones it refused. Each call emits one activity (action
``secret_access``) whose secret summary holds that single entry, with
``activity.secrets.access_granted`` and ``activity.secrets.denial_reasons`` alongside the usual
parallel arrays, so the exporter writes it as a ``secret_usage`` row with ``access_granted``
and ``denial_reason``. Never the value: the reason is redacted like any other text.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.context import current_attribution
from autobot_activity_otel.ids import parse_uuid
from autobot_activity_otel.recording import start_activity, to_text
from autobot_activity_otel.secrets import redact

_logger = logging.getLogger(__name__)

ACCESS_ACTION = "secret_access"
ACCESS_RULE = "broker-access"
MAX_REASON_CHARS = 1000


def record_secret_access(
    secret_id: uuid.UUID | str,
    *,
    granted: bool,
    denial_reason: str | None = None,
    activity_type: attr.ActivityType = attr.ActivityType.TERMINAL,
) -> uuid.UUID | None:
    """Record that ``secret_id`` was handed out (``granted``) or refused, for the current
    user and session; returns the activity id, or None if recording failed (it never raises:
    a broker's decision must not depend on the audit trail being up)."""
    try:
        sid = parse_uuid(secret_id, "secret_id")
        # The broker's own window title or application name is not this activity's text.
        who = dataclasses.replace(current_attribution(), window_title=None, application=None)
        record = start_activity(
            activity_type,
            ACCESS_ACTION,
            name=f"secret access {'granted' if granted else 'denied'}",
            attribution=who,
        )
        reason = ""
        if not granted and denial_reason is not None:
            reason = redact(to_text(denial_reason)[0][:MAX_REASON_CHARS], "text").text
        record.set(attr.SECRETS_COUNT, 1)
        record.set(attr.SECRETS_RULES, [ACCESS_RULE])
        record.set(attr.SECRETS_IDS, [str(sid)])
        record.set(attr.SECRETS_FINGERPRINTS, [""])
        record.set(attr.SECRETS_FIELDS, [""])
        record.set(attr.SECRETS_ACCESS_GRANTED, [bool(granted)])
        record.set(attr.SECRETS_DENIAL_REASONS, [reason])
        record.end()
        return record.activity_id
    except Exception as exc:
        _logger.warning("could not record a secret access (%s)", type(exc).__name__)
        return None
