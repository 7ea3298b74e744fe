"""Secret detection and redaction: pure functions, no OpenTelemetry, no I/O on the hot path.

A broker's record of a granted or denied access emits a span, so it lives with the other
tracking functions: ``autobot_activity_otel.record_secret_access``.
"""

from __future__ import annotations

from autobot_activity_otel.secrets.engine import Finding, Kind, Redaction, add_rule, redact
from autobot_activity_otel.secrets.fingerprint import fingerprint, secret_id_for
from autobot_activity_otel.secrets.keystrokes import KeyEvent, typed_fields
from autobot_activity_otel.secrets.own import own_secret_id, register_own_secrets
from autobot_activity_otel.secrets.registry import (
    known_secret_id,
    register_secret,
    registered_secret,
    unregister_secret,
)
from autobot_activity_otel.secrets.rules import add_secret_names

__all__ = [
    "Finding",
    "KeyEvent",
    "Kind",
    "Redaction",
    "add_rule",
    "add_secret_names",
    "fingerprint",
    "known_secret_id",
    "own_secret_id",
    "redact",
    "register_own_secrets",
    "register_secret",
    "registered_secret",
    "secret_id_for",
    "typed_fields",
    "unregister_secret",
]
