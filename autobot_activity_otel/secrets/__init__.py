"""Secret detection and redaction: pure functions, no OpenTelemetry, no I/O on the hot path."""

from autobot_activity_otel.secrets.engine import Finding, Kind, Redaction, redact
from autobot_activity_otel.secrets.fingerprint import fingerprint, secret_id_for
from autobot_activity_otel.secrets.registry import (
    register_secret,
    registered_secret,
    unregister_secret,
)

__all__ = [
    "Finding",
    "Kind",
    "Redaction",
    "fingerprint",
    "redact",
    "register_secret",
    "registered_secret",
    "secret_id_for",
    "unregister_secret",
]
