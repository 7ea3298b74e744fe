"""Secrets on spans: findings summarised without values, and a broker's access decisions."""

from __future__ import annotations

import logging
import uuid

import pytest
from support.planted import plant

from autobot_activity_otel import activity_context, record_secret_access
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.recording import recording
from autobot_activity_otel.secrets import fingerprint, secret_id_for

USER = uuid.UUID("0195f000-0000-7000-8000-0000000000a1")
SECRET_ID = uuid.UUID("0195f000-0000-7000-8000-0000000000a2")


def test_a_denied_access_is_recorded_with_its_reason(spans) -> None:
    with activity_context(user_id=USER, session_id="chat-9", window_title="Vault – token"):
        activity_id = record_secret_access(
            SECRET_ID, granted=False, denial_reason="policy: no prod secrets for agents"
        )
    [span] = spans.activities("terminal")
    a = span.attributes
    assert a[attr.ACTIVITY_ID] == str(activity_id)
    assert a[attr.ACTIVITY_ACTION] == "secret_access"
    assert a[attr.USER_ID] == str(USER)
    assert a[attr.SESSION_ID] == "chat-9"
    assert attr.ACTIVITY_WINDOW_TITLE not in a  # the broker's window is not the activity's
    assert a[attr.SECRETS_COUNT] == 1
    assert list(a[attr.SECRETS_IDS]) == [str(SECRET_ID)]
    assert list(a[attr.SECRETS_RULES]) == ["broker-access"]
    assert list(a[attr.SECRETS_ACCESS_GRANTED]) == [False]
    assert list(a[attr.SECRETS_DENIAL_REASONS]) == ["policy: no prod secrets for agents"]
    lengths = {len(a[name]) for name in (attr.SECRETS_FINGERPRINTS, attr.SECRETS_FIELDS)}
    assert lengths == {1}


def test_a_granted_access_has_no_reason(spans) -> None:
    record_secret_access(str(SECRET_ID), granted=True, denial_reason="ignored when granted")
    [span] = spans.activities()
    assert list(span.attributes[attr.SECRETS_ACCESS_GRANTED]) == [True]
    assert list(span.attributes[attr.SECRETS_DENIAL_REASONS]) == [""]


def test_a_secret_in_the_denial_reason_is_redacted(spans) -> None:
    planted = plant("Zq8-denied-Pw-4471")
    record_secret_access(SECRET_ID, granted=False, denial_reason=f"rejected password={planted}")
    [span] = spans.activities()
    values = [str(v) for v in span.attributes.values()]
    assert not any(planted in v for v in values), "planted secret leaked"


def test_a_bad_id_is_logged_not_raised(spans, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert record_secret_access("not-a-uuid", granted=False) is None
    assert spans.activities() == []
    assert "ValueError" in caplog.text


def test_findings_reach_the_span_summary_without_their_values(spans) -> None:
    planted = plant("Zq8-span-Pw-5512")
    with recording(attr.ActivityType.TERMINAL, "execute") as record:
        record.set_text(attr.PROCESS_COMMAND_LINE, f"mysql -u root -p{planted} shop", "command")
    [span] = spans.activities("terminal")
    a = span.attributes
    assert a[attr.PROCESS_COMMAND_LINE] == "mysql -u root -p[REDACTED:mysql-password] shop"
    assert list(a[attr.SECRETS_RULES]) == ["mysql-password"]
    assert list(a[attr.SECRETS_FINGERPRINTS]) == [fingerprint(planted)]
    assert list(a[attr.SECRETS_IDS]) == [str(secret_id_for(fingerprint(planted)))]
    values = [str(v) for v in a.values()]
    assert not any(planted in v for v in values), "planted secret leaked"
