"""Whether a new activity may start: a hook the delivery side fills in, a no-op by default.

The instrumentation must not import the exporters, yet a host that chose
``AUTOBOT_ACTIVITY_OVERFLOW=refuse`` (or ``block``) needs the operation stopped (or held)
*before* it runs when its activity could not be recorded. As the OpenTelemetry API does
for its providers, this module holds a check that does nothing until the exporters'
journal registers the real one; every activity calls ``admit()`` as it starts.
"""

from __future__ import annotations

from collections.abc import Callable

AdmissionCheck = Callable[[], None]
"""Returns when an activity may start (possibly after waiting); raises ``ActivityRefused``."""

_check: AdmissionCheck | None = None


class ActivityRefused(BaseException):
    """The operation was not run: its activity could not be recorded, and the host chose to
    refuse unaudited actions (``AUTOBOT_ACTIVITY_OVERFLOW=refuse``).

    A ``BaseException``, as ``asyncio.CancelledError`` is: the instrumentation swallows its
    own ``Exception``s so that tracking never breaks the caller, and this one must get past
    those guards to stop the operation.
    """


def admit() -> None:
    """Let an activity start, wait for room, or raise ``ActivityRefused``."""
    check = _check
    if check is not None:
        check()


def set_admission_check(check: AdmissionCheck | None) -> None:
    """Install the check every activity passes as it starts (None: admit everything)."""
    global _check
    _check = check


def admission_check() -> AdmissionCheck | None:
    """The check installed now (so its owner removes only its own)."""
    return _check
