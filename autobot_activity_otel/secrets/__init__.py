"""Secret detection and redaction: pure functions, no OpenTelemetry, no I/O on the hot path.

``record_secret_access`` (a broker's audit record, which emits a span) is loaded on first use,
so importing the redactor never imports the recording machinery that itself imports it.
"""

from __future__ import annotations

from typing import Any

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
    "record_secret_access",
    "redact",
    "register_secret",
    "registered_secret",
    "secret_id_for",
    "unregister_secret",
]


def __getattr__(name: str) -> Any:
    if name == "record_secret_access":
        from autobot_activity_otel.secrets.audit import record_secret_access

        return record_secret_access
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
