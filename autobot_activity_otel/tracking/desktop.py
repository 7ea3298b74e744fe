"""Desktop tracking with the seed's function names and parameters, and the VNC handler decorator.

Keystroke capture is sensitive (passwords are typed at prompts), so every typed text, from the
seed functions, the decorator or the VNC instrumentation, goes through ``record_input_text``,
which obeys ``AUTOBOT_ACTIVITY_KEYSTROKES``:

- ``redacted`` (default): the text is kept after known-secret and pattern redaction;
- ``length``: only the number of characters is kept (``metadata.input_length``), but the text
  is still scanned so a registered secret typed blind is audited under its id;
- ``off``: nothing about the text is kept or scanned.

Any other value is treated as ``off`` (fail closed) with one warning.
"""

from __future__ import annotations

import functools
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, Literal, TypeVar

from autobot_activity_otel import attributes as attr
from autobot_activity_otel import settings
from autobot_activity_otel.context import explicit_attribution
from autobot_activity_otel.decorators import activity_handler
from autobot_activity_otel.recording import MAX_TEXT_CHARS, ActivityRecord, persist, to_text
from autobot_activity_otel.secrets import redact

_logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
KeystrokeMode = Literal["redacted", "length", "off"]
_MODES: tuple[KeystrokeMode, ...] = ("redacted", "length", "off")


def keystroke_mode() -> KeystrokeMode:
    """The capture mode in force now (read per activity, so a change applies at once)."""
    return _parse_mode(os.environ.get(settings.KEYSTROKES, "redacted"))


@functools.lru_cache(maxsize=8)
def _parse_mode(raw: str) -> KeystrokeMode:
    value = raw.strip().lower()
    for mode in _MODES:
        if value == mode:
            return mode
    _logger.warning("%s has an unknown value; keystrokes are not recorded", settings.KEYSTROKES)
    return "off"


def record_input_text(record: ActivityRecord, text: object, mode: KeystrokeMode) -> None:
    """Put typed text on a record as the capture mode allows; never raises."""
    record.metadata["keystrokes"] = mode
    if mode == "off" or text is None:
        return
    try:
        if mode == "redacted":
            typed = record.set_text(attr.DESKTOP_INPUT_TEXT, text, "keystrokes")
            record.metadata["input_length"] = len(to_text(text)[0]) if typed else 0
            return
        plain = to_text(text)[0]
        record.metadata["input_length"] = len(plain)
        findings = redact(plain[:MAX_TEXT_CHARS], kind="keystrokes").findings
        record.findings.extend((attr.DESKTOP_INPUT_TEXT, finding) for finding in findings)
    except Exception as exc:
        _logger.warning("typed text not recorded (%s)", type(exc).__name__)


def as_coordinates(value: Any) -> list[int] | None:
    """``[x, y]`` from a pair of numbers, or None for anything that is not one."""
    try:
        x, y = value
        return [int(x), int(y)]
    except (TypeError, ValueError, OverflowError):
        return None


async def track_desktop_action(
    db: Any | None = None,
    user_id: uuid.UUID | str | None = None,
    action: str = "click",
    session_id: str | None = None,
    coordinates: tuple[int, int] | list[int] | None = None,
    window_title: str | None = None,
    input_text: str | bytes | None = None,
    screenshot_path: str | os.PathLike[str] | None = None,
    app_name: str | None = None,
    *,
    secrets_used: Iterable[uuid.UUID | str] | None = None,
) -> uuid.UUID:
    """Record one desktop action (click, type, move, screenshot, window_focus, scroll).

    ``window_title`` and ``app_name`` override the ones of the ``activity_context``. With
    ``db`` (an ``AsyncSession``) the row is also written through it at once. A ``user_id``
    that is not a UUID, or an ``action`` that is not a short non-empty string, raises
    ``ValueError``.
    """
    if not isinstance(action, str) or not 0 < len(action) <= 64:
        raise ValueError("action must be a non-empty string of at most 64 characters")
    attribution = explicit_attribution(user_id, session_id)
    if window_title is not None or app_name is not None:
        attribution = replace(
            attribution,
            window_title=attribution.window_title if window_title is None else window_title,
            application=attribution.application if app_name is None else app_name,
        )
    record = ActivityRecord(attr.ActivityType.DESKTOP, action, attribution=attribution)
    if coordinates is not None:
        point = as_coordinates(coordinates)
        if point is None:
            record.metadata["coordinates_invalid"] = True
        record.set(attr.DESKTOP_COORDINATES, point)
    if input_text is not None:
        record_input_text(record, input_text, keystroke_mode())
    record.set_text(attr.DESKTOP_SCREENSHOT_PATH, screenshot_path)
    record.declare_secrets(secrets_used)
    return await persist(record, db)


async def track_mouse_click(
    db: Any | None = None,
    user_id: uuid.UUID | str | None = None,
    x: int = 0,
    y: int = 0,
    session_id: str | None = None,
    window_title: str | None = None,
) -> uuid.UUID:
    """Record a mouse click at ``(x, y)``; returns the activity id."""
    return await track_desktop_action(
        db, user_id, "click", session_id, coordinates=(x, y), window_title=window_title
    )


async def track_keyboard_input(
    db: Any | None = None,
    user_id: uuid.UUID | str | None = None,
    text: str | bytes = "",
    session_id: str | None = None,
    window_title: str | None = None,
) -> uuid.UUID:
    """Record typed text (kept as ``AUTOBOT_ACTIVITY_KEYSTROKES`` allows); returns the id."""
    return await track_desktop_action(
        db, user_id, "type", session_id, input_text=text, window_title=window_title
    )


async def track_screenshot_capture(
    db: Any | None = None,
    user_id: uuid.UUID | str | None = None,
    screenshot_path: str | os.PathLike[str] = "",
    session_id: str | None = None,
    window_title: str | None = None,
) -> uuid.UUID:
    """Record a screenshot saved to ``screenshot_path``; returns the activity id."""
    return await track_desktop_action(
        db,
        user_id,
        "screenshot",
        session_id,
        screenshot_path=screenshot_path,
        window_title=window_title,
    )


async def track_window_focus(
    db: Any | None = None,
    user_id: uuid.UUID | str | None = None,
    window_title: str = "",
    session_id: str | None = None,
    app_name: str | None = None,
) -> uuid.UUID:
    """Record that a window (of application ``app_name``) got the focus; returns the id."""
    return await track_desktop_action(
        db, user_id, "window_focus", session_id, window_title=window_title, app_name=app_name
    )


def desktop_activity(action: str) -> Callable[[F], F]:
    """Decorator: each call of a VNC handler function (sync or async) is one desktop activity.

    Read by name from the handler's parameters: ``user_id``, ``session_id``, ``window_title``,
    ``app_name``, ``screenshot_path``, the position as ``x`` and ``y`` or ``coordinates``, and
    typed text as ``text`` or ``input_text`` (kept as ``AUTOBOT_ACTIVITY_KEYSTROKES``
    allows). A failing handler marks the activity failed and raises unchanged.
    """
    return activity_handler(
        attr.ActivityType.DESKTOP,
        action,
        texts={
            "window_title": (attr.ACTIVITY_WINDOW_TITLE, "text"),
            "app_name": (attr.ACTIVITY_APPLICATION, "text"),
            "screenshot_path": (attr.DESKTOP_SCREENSHOT_PATH, "text"),
        },
        reads=("coordinates", "x", "y", "text", "input_text"),
        on_params=_describe_handler_call,
    )


def _describe_handler_call(record: ActivityRecord, params: Mapping[str, Any]) -> None:
    """The position (``coordinates``, or ``x`` and ``y``) and the typed text of a handler call."""
    point = params.get("coordinates")
    if point is None and params.get("x") is not None and params.get("y") is not None:
        point = (params["x"], params["y"])
    if point is not None:
        record.set(attr.DESKTOP_COORDINATES, as_coordinates(point))
    text = params.get("text")
    text = params.get("input_text") if text is None else text
    if text is not None:
        record_input_text(record, text, keystroke_mode())
