"""VNC auto-instrumentation: what a program does on a remote desktop, as desktop activities.

Whichever of the two Python VNC clients is installed is wrapped:

- ``vncdotool``'s API client (``vncdotool.api.connect(...)``): ``mouseMove``, ``mouseDrag``,
  ``mousePress``, ``mouseDown``, ``mouseUp``, ``keyPress``, ``keyDown``, ``paste``,
  ``captureScreen``, ``captureRegion``, and ``keyUp`` (a modifier let go: Shift held
  through ``keyDown`` is replayed as held); see ``vncdotool_client`` for why the proxy's
  ``__getattr__`` is wrapped.
- ``asyncvnc``: ``Mouse.move``, ``click``, ``middle_click``, ``right_click``, ``scroll_up``,
  ``scroll_down``, ``Keyboard.write``, ``press``, ``hold`` (keys held while its block runs),
  ``Clipboard.write``, ``Client.screenshot``.

Moves and keystrokes are coalesced (see ``coalescer``); clicks, scrolls, pastes and
screenshots are one activity each (see ``actions``). While instrumented, vncdotool's own
log lines about keys (``keyPress ['R']`` at DEBUG) and clipboard text are kept without what was
typed (``KeystrokeLogFilter``). Usage::

    VNCInstrumentor().instrument(move_window=0.5, keystroke_window=1.0, field_window=30.0,
                                  max_run=10.0)
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from opentelemetry.instrumentation.dependencies import DependencyConflict, get_dependency_conflicts
from opentelemetry.trace import Tracer

from autobot_activity_otel.instrumentation.kit import ActivityInstrumentor, Target
from autobot_activity_otel.instrumentation.vnc import asyncvnc_client, vncdotool_client
from autobot_activity_otel.instrumentation.vnc.actions import VNCTracking
from autobot_activity_otel.instrumentation.vnc.coalescer import Coalescer
from autobot_activity_otel.instrumentation.vnc.package import _instruments, _instruments_any
from autobot_activity_otel.secrets import redact

_logger = logging.getLogger(__name__)

MOVE_WINDOW = 0.5
"""Seconds without a move after which a run of moves is one activity."""
KEYSTROKE_WINDOW = 1.0
"""Seconds without a key after which a burst of keystrokes is one activity."""
FIELD_WINDOW = 30.0
"""Seconds without a key after which a field still being typed (no Enter, Tab or Escape yet)
is closed anyway: a pause in the middle of a password does not split it."""
MAX_RUN = 10.0
"""Seconds after which a run still going on is closed and a new one begun."""


VNCDOTOOL_LOGGER = "vncdotool.client"
"""The logger vncdotool writes each key (``keyPress ['R']``) and clipboard text to."""
_KEY_VERBS = ("keyPress", "keyDown", "keyUp")


class KeystrokeLogFilter(logging.Filter):
    """Keeps vncdotool's log lines about keys and the clipboard, without what was typed:
    ``keyPress [REDACTED:keystroke]``; a clipboard text goes through the redactor."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        verb = message.split(" ", 1)[0]
        if verb in _KEY_VERBS:
            record.msg, record.args = f"{verb} [REDACTED:keystroke]", None
        elif message.startswith("clipboard"):
            try:
                text = record.getMessage()
            except Exception:  # a malformed record: keep nothing of it
                text = "clipboard [REDACTED:unredactable]"
            record.msg, record.args = redact(text, kind="text").text, None
        return True


class VNCInstrumentor(ActivityInstrumentor):
    """Records VNC input and screenshots (vncdotool's API client, asyncvnc) as desktop activities.

    ``instrument()`` options: ``tracer_provider``; ``move_window``, ``keystroke_window``,
    ``field_window`` and ``max_run``, in seconds (defaults ``MOVE_WINDOW``,
    ``KEYSTROKE_WINDOW``, ``FIELD_WINDOW``, ``MAX_RUN``).
    """

    _coalescer: Coalescer | None = None
    _log_filter: KeystrokeLogFilter | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _check_dependency_conflicts(self) -> DependencyConflict | None:
        """Either client is enough (``instruments-any``)."""
        return get_dependency_conflicts(_instruments, _instruments_any)

    def _targets(self, tracer: Tracer, options: Mapping[str, Any]) -> Iterable[Target]:
        coalescer = Coalescer(
            tracer,
            float(options.get("move_window", MOVE_WINDOW)),
            float(options.get("keystroke_window", KEYSTROKE_WINDOW)),
            float(options.get("max_run", MAX_RUN)),
            float(options.get("field_window", FIELD_WINDOW)),
        )
        tracking = VNCTracking(tracer, coalescer)
        targets: list[Target] = []
        for client in (vncdotool_client, asyncvnc_client):
            try:
                targets += client.targets(tracking)
            except ImportError as exc:
                _logger.debug("%s not instrumented (%s)", client.__name__, type(exc).__name__)
        if not targets:
            coalescer.close()
            raise ModuleNotFoundError("neither vncdotool nor asyncvnc is installed")
        self._coalescer = coalescer
        self._log_filter = KeystrokeLogFilter()
        logging.getLogger(VNCDOTOOL_LOGGER).addFilter(self._log_filter)
        return targets

    def _release(self) -> None:
        log_filter, self._log_filter = self._log_filter, None
        if log_filter is not None:
            logging.getLogger(VNCDOTOOL_LOGGER).removeFilter(log_filter)
        coalescer, self._coalescer = self._coalescer, None
        if coalescer is not None:
            coalescer.close()

    def flush(self) -> None:
        """Close every open run of moves and keystrokes now (e.g. before flushing exporters)."""
        if self._coalescer is not None:
            self._coalescer.flush()
