"""Secret detection and redaction: pure functions, no OpenTelemetry, no I/O on the hot path."""

from autobot_activity_otel.secrets.engine import (
    Finding,
    Kind,
    Redaction,
    redact,
    register_secret,
    registered_secret,
    unregister_secret,
)

__all__ = [
    "Finding",
    "Kind",
    "Redaction",
    "redact",
    "register_secret",
    "registered_secret",
    "unregister_secret",
]
