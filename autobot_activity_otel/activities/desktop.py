"""Desktop records: a position, and typed text kept as ``AUTOBOT_ACTIVITY_KEYSTROKES`` allows.

Keystroke capture is sensitive (passwords are typed at prompts), so every typed text, from the
seed functions, the decorator or the VNC instrumentation, goes through ``record_input_text``:

- ``redacted`` (default): the text is kept after known-secret and pattern redaction;
- ``length``: only the number of characters is kept (``metadata.input_length``), but the text
  is still scanned so a registered secret typed blind is audited under its id;
- ``off``: nothing about the text is kept or scanned.

Any other value is treated as ``off`` (fail closed) with one warning.

Typed text with named keys (``<BackSpace>``, ``<shift>``, ``<Left>``, as the VNC
instrumentation writes them) is replayed first (``secrets.keystrokes``): what is kept and
redacted is what each field ended up holding, so a correction or a held Shift cannot split a
secret into pieces no rule recognises.
"""

from __future__ import annotations

import logging
from typing import Any

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.recording import ActivityRecord, to_text
from autobot_activity_otel.secrets import redact
from autobot_activity_otel.secrets.keystrokes import typed_text
from autobot_activity_otel.settings import KeystrokeMode, keystroke_mode

_logger = logging.getLogger(__name__)

__all__ = ["KeystrokeMode", "as_coordinates", "keystroke_mode", "record_input_text"]


def record_input_text(record: ActivityRecord, text: object, mode: KeystrokeMode) -> None:
    """Put typed text on a record as the capture mode allows; never raises."""
    record.metadata["keystrokes"] = mode
    if mode == "off" or text is None:
        return
    try:
        raw = to_text(text)[0]
        plain = typed_text(raw)
        if plain != raw:
            record.metadata["keys_replayed"] = True
        if mode == "redacted":
            typed = record.set_text(attr.DESKTOP_INPUT_TEXT, plain, "keystrokes")
            record.metadata["input_length"] = len(plain) if typed else 0
            return
        record.metadata["input_length"] = len(plain)
        findings = redact(plain[: record.max_text_chars], kind="keystrokes").findings
        record.findings.extend((attr.DESKTOP_INPUT_TEXT, finding) for finding in findings)
    except Exception as exc:
        _logger.warning("typed text not recorded (%s)", type(exc).__name__)


def as_coordinates(value: Any) -> list[int] | None:
    """``[x, y]`` from a pair of numbers, or None for anything that is not one (any value a
    caller or a VNC client hands over)."""
    try:
        x, y = value
        return [int(x), int(y)]
    except (TypeError, ValueError, OverflowError):
        return None
