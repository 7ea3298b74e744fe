"""Every ``AUTOBOT_ACTIVITY_*`` environment variable: its name, and the parser that reads it.

The one list of settings, as the SDK keeps ``opentelemetry.sdk.environment_variables``:
both distributions read their variables through these functions, so a malformed value is
handled the same way everywhere (a warning naming the variable, then the default), never an
exception at start-up. A value is read when the component that uses it is built (an
instrumentor's ``instrument()``, an exporter's constructor), not at import.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final, TypeVar

_logger = logging.getLogger(__name__)

# Storage and delivery (autobot-activity-exporters).
DATABASE_URL: Final = "AUTOBOT_ACTIVITY_DATABASE_URL"
CREATE_SCHEMA: Final = "AUTOBOT_ACTIVITY_CREATE_SCHEMA"
SPOOL_DIR: Final = "AUTOBOT_ACTIVITY_SPOOL_DIR"
SPOOL_MAX_BYTES: Final = "AUTOBOT_ACTIVITY_SPOOL_MAX_BYTES"
RETENTION: Final = "AUTOBOT_ACTIVITY_RETENTION"

# The OTLP ingest service (`autobot-activity serve`, docs/deploy.md).
INGEST_HOST: Final = "AUTOBOT_ACTIVITY_INGEST_HOST"
INGEST_PORT: Final = "AUTOBOT_ACTIVITY_INGEST_PORT"
INGEST_TOKENS: Final = "AUTOBOT_ACTIVITY_INGEST_TOKENS"
INGEST_WORKERS: Final = "AUTOBOT_ACTIVITY_INGEST_WORKERS"
INGEST_MAX_BODY_BYTES: Final = "AUTOBOT_ACTIVITY_INGEST_MAX_BODY_BYTES"
INGEST_MAX_CONCURRENT: Final = "AUTOBOT_ACTIVITY_INGEST_MAX_CONCURRENT"
INGEST_RETRY_AFTER: Final = "AUTOBOT_ACTIVITY_INGEST_RETRY_AFTER"

# Installation state and secrets.
STATE_DIR: Final = "AUTOBOT_ACTIVITY_STATE_DIR"
FINGERPRINT_KEY: Final = "AUTOBOT_ACTIVITY_FINGERPRINT_KEY"

# What is recorded.
MAX_TEXT_CHARS: Final = "AUTOBOT_ACTIVITY_MAX_TEXT_CHARS"
FILE_ROOTS: Final = "AUTOBOT_ACTIVITY_FILE_ROOTS"
FILE_COALESCE_MS: Final = "AUTOBOT_ACTIVITY_FILE_COALESCE_MS"
KEYSTROKES: Final = "AUTOBOT_ACTIVITY_KEYSTROKES"

_FALSE = frozenset({"0", "false", "no", "off"})
_TRUE = frozenset({"1", "true", "yes", "on"})
C = TypeVar("C", bound=str)


def text(name: str) -> str | None:
    """The variable's value with surrounding blanks removed; None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def positive_int(name: str, default: int) -> int:
    """A positive integer; anything else is reported and the default used."""
    raw = text(name)
    if raw is None:
        return default
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    _logger.warning("%s is not a positive integer; using %d", name, default)
    return default


def non_negative_float(name: str, default: float) -> float:
    """A number zero or above; anything else is reported and the default used."""
    raw = text(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value >= 0 and value != float("inf"):
        return value
    _logger.warning("%s is not a non-negative number; using %s", name, default)
    return default


def boolean(name: str, default: bool) -> bool:
    """``true/false``, ``yes/no``, ``on/off``, ``1/0``; anything else is reported, default used."""
    raw = text(name)
    if raw is None:
        return default
    value = raw.lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    _logger.warning("%s is not true or false; using %s", name, str(default).lower())
    return default


def choice(name: str, choices: Sequence[C], default: C, *, otherwise: C | None = None) -> C:
    """One of ``choices`` (case-insensitive); an unknown value is reported and ``otherwise``
    (else the default) used: a safer choice than the default where one exists."""
    raw = text(name)
    if raw is None:
        return default
    for option in choices:
        if raw.lower() == option:
            return option
    fallback = default if otherwise is None else otherwise
    _logger.warning("%s must be one of %s; using %s", name, ", ".join(choices), fallback)
    return fallback


def path_list(name: str) -> list[str]:
    """An ``os.pathsep``-separated list of paths; empty entries are ignored."""
    return [path for path in os.environ.get(name, "").split(os.pathsep) if path]


def state_dir() -> Path:
    """Where this installation keeps its state: ``AUTOBOT_ACTIVITY_STATE_DIR``, else
    ``$XDG_STATE_HOME/autobot-activity``, else ``~/.local/state/autobot-activity``."""
    explicit = text(STATE_DIR)
    if explicit:
        return Path(explicit)
    xdg = text("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "autobot-activity"
