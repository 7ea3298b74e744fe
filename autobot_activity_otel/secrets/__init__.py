"""Secret detection and redaction: pure functions, no OpenTelemetry, no I/O on the hot path.

A broker's record of a granted or denied access emits a span, so it lives with the other
tracking functions: ``autobot_activity_otel.record_secret_access``.
"""

from __future__ import annotations

from autobot_activity_otel.secrets.engine import Finding, Kind, Redaction, redact
from autobot_activity_otel.secrets.fingerprint import fingerprint, secret_id_for
from autobot_activity_otel.secrets.registry import (
    known_secret_id,
    register_secret,
    registered_secret,
    unregister_secret,
)

__all__ = [
    "Finding",
    "Kind",
    "Redaction",
    "fingerprint",
    "known_secret_id",
    "redact",
    "register_secret",
    "registered_secret",
    "secret_id_for",
    "unregister_secret",
]
