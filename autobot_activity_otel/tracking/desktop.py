"""Desktop tracking: explicit functions for clicks, typing, screenshots and focus, and the VNC
handler decorator. Typed text is kept as ``AUTOBOT_ACTIVITY_KEYSTROKES`` allows (see
``activities.desktop``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.activities.desktop import (
    as_coordinates,
    keystroke_mode,
    record_input_text,
)
from autobot_activity_otel.context import explicit_attribution
from autobot_activity_otel.recording import ActivityRecord, start_activity
from autobot_activity_otel.tracking.decorators import activity_handler
from autobot_activity_otel.tracking.explicit import SecretIds, complete

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

P = ParamSpec("P")
R = TypeVar("R")


async def track_desktop_action(
    db: AsyncSession | None = None,
    user_id: uuid.UUID | str | None = None,
    action: str = "click",
    session_id: str | None = None,
    coordinates: tuple[int, int] | list[int] | None = None,
    window_title: str | None = None,
    input_text: str | bytes | None = None,
    screenshot_path: str | os.PathLike[str] | None = None,
    app_name: str | None = None,
    *,
    secrets_used: SecretIds = None,
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
    record = start_activity(attr.ActivityType.DESKTOP, action, attribution=attribution)
    if coordinates is not None:
        point = as_coordinates(coordinates)
        if point is None:
            record.metadata["coordinates_invalid"] = True
        record.set(attr.DESKTOP_COORDINATES, point)
    if input_text is not None:
        record_input_text(record, input_text, keystroke_mode())
    return await complete(
        db,
        record,
        texts=((attr.DESKTOP_SCREENSHOT_PATH, screenshot_path, "text"),),
        secrets_used=secrets_used,
    )


async def track_mouse_click(
    db: AsyncSession | None = None,
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
    db: AsyncSession | None = None,
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
    db: AsyncSession | None = None,
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
    db: AsyncSession | None = None,
    user_id: uuid.UUID | str | None = None,
    window_title: str = "",
    session_id: str | None = None,
    app_name: str | None = None,
) -> uuid.UUID:
    """Record that a window (of application ``app_name``) got the focus; returns the id."""
    return await track_desktop_action(
        db, user_id, "window_focus", session_id, window_title=window_title, app_name=app_name
    )


def desktop_activity(action: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
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
