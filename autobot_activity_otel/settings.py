"""Every ``AUTOBOT_ACTIVITY_*`` environment variable: its name, and the parser that reads it.

The one list of settings, as the SDK keeps ``opentelemetry.sdk.environment_variables``:
both distributions read their variables through these functions, so a malformed value is
handled the same way everywhere (a warning naming the variable, then the default), never an
exception at start-up. Nothing is read at import; each value is read at one stated moment:

- when the component that uses it is built: an exporter's or store's constructor (storage
  and delivery), an instrumentor's ``instrument()`` (``FILE_ROOTS``, ``FILE_COALESCE_MS``,
  ``CHILDREN_INHERIT_SECRETS``);
- when the process records its first activity: ``MAX_TEXT_CHARS``;
- when a desktop activity records typed text: ``KEYSTROKES``, so switching capture off
  applies from the next activity on (the parse is cached per value: a malformed value is
  reported once);
- when a writer's chain is set up (an exporter's destination, the ingest service):
  ``CHECKPOINT_EVERY_BATCHES``, ``CHECKPOINT_SECONDS``, ``CHECKPOINT_DIR``, ``SIGNING_KEY``;
- when a secret is first fingerprinted (``FINGERPRINT_KEY``, ``STATE_DIR``).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Literal, TypeVar

_logger = logging.getLogger(__name__)

# Storage and delivery (autobot-activity-exporters).
DATABASE_URL: Final = "AUTOBOT_ACTIVITY_DATABASE_URL"
CREATE_SCHEMA: Final = "AUTOBOT_ACTIVITY_CREATE_SCHEMA"
RETENTION: Final = "AUTOBOT_ACTIVITY_RETENTION"

# Sending to the ingest service instead (autobot-activity-exporters, docs/deploy.md).
ENDPOINT: Final = "AUTOBOT_ACTIVITY_ENDPOINT"
"""The ingest service's base URL (``http://host:4318``); excludes ``DATABASE_URL``."""
TOKEN: Final = "AUTOBOT_ACTIVITY_TOKEN"
"""The ingest token sent to ``ENDPOINT``: one of the project's own secrets (``secrets/own.py``
registers it and keeps it out of children's environments)."""

# The journal every activity is written to before it is shipped (autobot-activity-exporters).
JOURNAL_DIR: Final = "AUTOBOT_ACTIVITY_JOURNAL_DIR"
JOURNAL_FSYNC: Final = "AUTOBOT_ACTIVITY_JOURNAL_FSYNC"
JOURNAL_MAX_BYTES: Final = "AUTOBOT_ACTIVITY_JOURNAL_MAX_BYTES"
OVERFLOW: Final = "AUTOBOT_ACTIVITY_OVERFLOW"
BLOCK_TIMEOUT: Final = "AUTOBOT_ACTIVITY_BLOCK_TIMEOUT"
EXIT_TIMEOUT: Final = "AUTOBOT_ACTIVITY_EXIT_TIMEOUT"
SHIPPER: Final = "AUTOBOT_ACTIVITY_SHIPPER"
"""``thread`` (default) or ``process``: where the journal is shipped from (docs/reliability.md)."""
LEGACY_SPOOL_DIR: Final = "AUTOBOT_ACTIVITY_SPOOL_DIR"
"""Read only to find a spool left by a version before the journal, and say so."""

# Tamper evidence (docs/integrity.md): signed checkpoints of each writer's chain.
CHECKPOINT_EVERY_BATCHES: Final = "AUTOBOT_ACTIVITY_CHECKPOINT_EVERY_BATCHES"
CHECKPOINT_SECONDS: Final = "AUTOBOT_ACTIVITY_CHECKPOINT_SECONDS"
CHECKPOINT_DIR: Final = "AUTOBOT_ACTIVITY_CHECKPOINT_DIR"
SIGNING_KEY: Final = "AUTOBOT_ACTIVITY_SIGNING_KEY"

# The OTLP ingest service (`autobot-activity serve`, docs/deploy.md).
INGEST_HOST: Final = "AUTOBOT_ACTIVITY_INGEST_HOST"
INGEST_PORT: Final = "AUTOBOT_ACTIVITY_INGEST_PORT"
INGEST_TOKENS: Final = "AUTOBOT_ACTIVITY_INGEST_TOKENS"
INGEST_WORKERS: Final = "AUTOBOT_ACTIVITY_INGEST_WORKERS"
INGEST_MAX_BODY_BYTES: Final = "AUTOBOT_ACTIVITY_INGEST_MAX_BODY_BYTES"
INGEST_MAX_CONCURRENT: Final = "AUTOBOT_ACTIVITY_INGEST_MAX_CONCURRENT"
INGEST_RETRY_AFTER: Final = "AUTOBOT_ACTIVITY_INGEST_RETRY_AFTER"
INGEST_BODY_TIMEOUT: Final = "AUTOBOT_ACTIVITY_INGEST_BODY_TIMEOUT"

# Installation state and secrets.
STATE_DIR: Final = "AUTOBOT_ACTIVITY_STATE_DIR"
FINGERPRINT_KEY: Final = "AUTOBOT_ACTIVITY_FINGERPRINT_KEY"
CHILDREN_INHERIT_SECRETS: Final = "AUTOBOT_ACTIVITY_CHILDREN_INHERIT_SECRETS"
"""``true`` lets children started under the terminal instrumentation inherit the project's
own secrets (default ``false``: they are taken out of the child's environment)."""

# What is recorded.
MAX_TEXT_CHARS: Final = "AUTOBOT_ACTIVITY_MAX_TEXT_CHARS"
FILE_ROOTS: Final = "AUTOBOT_ACTIVITY_FILE_ROOTS"
FILE_COALESCE_MS: Final = "AUTOBOT_ACTIVITY_FILE_COALESCE_MS"
KEYSTROKES: Final = "AUTOBOT_ACTIVITY_KEYSTROKES"

PREFIX: Final = "AUTOBOT_ACTIVITY_"
"""Every variable of the project's starts so (``project_variables`` lists the ones set)."""
OTLP_HEADERS: Final = ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS")
"""OpenTelemetry's own variables that may carry an ingest token (read, never set, by us)."""

_FALSE = frozenset({"0", "false", "no", "off"})
_TRUE = frozenset({"1", "true", "yes", "on"})
C = TypeVar("C", bound=str)
KeystrokeMode = Literal["redacted", "length", "off"]
KEYSTROKE_MODES: Final[tuple[KeystrokeMode, ...]] = ("redacted", "length", "off")
DEFAULT_MAX_TEXT_CHARS: Final = 65536


def text(name: str) -> str | None:
    """The variable's value with surrounding blanks removed; None when unset or blank."""
    return _stripped(os.environ.get(name))


def _stripped(value: str | None) -> str | None:
    return (value or "").strip() or None


def positive_int(name: str, default: int) -> int:
    """A positive integer; anything else is reported and the default used."""
    return _positive_int(name, text(name), default)


def _positive_int(name: str, raw: str | None, default: int) -> int:
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
    return _choice(name, text(name), choices, default, otherwise)


def _choice(name: str, raw: str | None, choices: Sequence[C], default: C, otherwise: C | None) -> C:
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


@functools.cache
def max_text_chars() -> int:
    """``MAX_TEXT_CHARS``: texts longer than this are cut. Read when the process records its
    first activity (one environment lookup per activity is a measurable share of its cost)."""
    return positive_int(MAX_TEXT_CHARS, DEFAULT_MAX_TEXT_CHARS)


def keystroke_mode() -> KeystrokeMode:
    """``KEYSTROKES`` as it is now (read per activity); an unknown value means ``off``."""
    return _keystroke_mode(os.environ.get(KEYSTROKES))


@functools.lru_cache(maxsize=8)
def _keystroke_mode(raw: str | None) -> KeystrokeMode:
    return _choice(KEYSTROKES, _stripped(raw), KEYSTROKE_MODES, "redacted", "off")


def journal_dir() -> Path:
    """The journal of this installation: ``AUTOBOT_ACTIVITY_JOURNAL_DIR``, else
    ``journal`` under the state folder. Not per database: what waits goes to the destination
    configured now."""
    explicit = text(JOURNAL_DIR)
    return Path(explicit) if explicit else state_dir() / "journal"


def children_inherit_secrets() -> bool:
    """Whether child processes keep the project's own secrets in their environment."""
    return boolean(CHILDREN_INHERIT_SECRETS, False)


def project_variables() -> dict[str, str]:
    """Every ``AUTOBOT_ACTIVITY_*`` variable that is set, by name (blank ones left out)."""
    return {
        name: value.strip()
        for name, value in os.environ.items()
        if name.startswith(PREFIX) and value.strip()
    }
