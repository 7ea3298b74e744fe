"""The recording paths both VNC clients share: coalesced input, and one activity per action.

Moves and keystrokes are handed to the connection's coalescer after the call; clicks,
scrolls, pastes and screenshots are one activity each, started after closing the
connection's open runs, and last until the call returns.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from opentelemetry.trace import Tracer

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.activities.desktop import (
    as_coordinates,
    keystroke_mode,
    record_input_text,
)
from autobot_activity_otel.instrumentation.kit import (
    Inside,
    allowed,
    call_recorded,
    call_recorded_async,
)
from autobot_activity_otel.instrumentation.vnc.coalescer import Coalescer, ServerOf, start_record
from autobot_activity_otel.recording import ActivityRecord

_logger = logging.getLogger(__name__)

Describe = Callable[[ActivityRecord], None]
"""Sets what is known of an action before it runs."""
After = Callable[[ActivityRecord, Any], None]
"""Reads what an action returned (the client's own result type)."""

_NAMED_KEYS = {"space": " ", "enter": "\n", "return": "\n", "kp_enter": "\n", "tab": "\t"}
_SHIFT = frozenset({"shift", "shift_l", "shift_r", "lshift", "rshift"})
BUTTONS = {0: "left", 1: "middle", 2: "right", 3: "wheel_up", 4: "wheel_down"}
"""Button names by 0-based number (asyncvnc's; vncdotool counts from 1)."""


def key_text(keys: Sequence[object]) -> str:
    """The text a key or key combination types: the character, or ``<name>`` for other keys."""
    names = [str(key) for key in keys]
    if len(names) == 1:
        name = names[0]
        return name if len(name) == 1 else _NAMED_KEYS.get(name.lower(), f"<{name}>")
    *modifiers, last = names
    if len(last) == 1 and all(modifier.lower() in _SHIFT for modifier in modifiers):
        return last.upper()
    return f"<{'-'.join(names)}>"


_MODIFIERS = frozenset(
    {*_SHIFT, "ctrl", "control", "control_l", "control_r", "lctrl", "rctrl", "alt", "alt_l",
     "alt_r", "lalt", "ralt", "meta", "meta_l", "meta_r", "super", "super_l", "super_r"}
)  # fmt: skip


def held_key_text(key: str, down: bool) -> str:
    """The text of a key held down (``down``) or let go: a modifier as ``<+name>`` /
    ``<-name>`` (the replay in ``secrets.keystrokes`` holds it for the keys between), any
    other key as a press when it goes down and nothing when it comes up."""
    if key.lower() in _MODIFIERS:
        return f"<{'+' if down else '-'}{key}>"
    return key_text([key] if len(key) == 1 else key.split("-")) if down else ""


def button_action(number: int) -> tuple[str, str]:
    """(action, button name) for a 0-based button number: 3 and 4 are the wheel."""
    name = BUTTONS.get(number, str(number))
    return ("scroll" if name.startswith("wheel") else "click"), name


class VNCTracking:
    """What the wrappers of one ``instrument()`` share: its tracer and its coalescer."""

    def __init__(self, tracer: Tracer, coalescer: Coalescer) -> None:
        self.tracer = tracer
        self.coalescer = coalescer

    def coalesced(
        self,
        feed: Callable[[Coalescer], None],
        call: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """Run a move or keystroke call, then hand the event to the coalescer."""
        if not allowed():
            return call(*args, **kwargs)
        with Inside():
            result = call(*args, **kwargs)
        try:
            feed(self.coalescer)
        except Exception as exc:
            _logger.warning("a desktop input event was not recorded (%s)", type(exc).__name__)
        return result

    def held(
        self,
        feed: Callable[[Coalescer, bool], None],
        call: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """A context manager that holds keys (asyncvnc's ``Keyboard.hold``): the keys go down
        at its entry and come up at its exit, and the coalescer is told both."""
        manager = call(*args, **kwargs)
        if not allowed():
            return manager
        return _Held(manager, self.coalescer, feed)

    def start(
        self, connection: object, server_of: ServerOf, action: str, describe: Describe
    ) -> ActivityRecord | None:
        """A discrete action's record, after closing the connection's open runs."""
        if not allowed():
            return None
        try:
            self.coalescer.flush(connection)
            record = start_record(self.tracer, action, connection, server_of)
            describe(record)
            return record
        except Exception as exc:
            _logger.warning("a desktop action was not recorded (%s)", type(exc).__name__)
            return None

    def discrete(
        self,
        connection: object,
        server_of: ServerOf,
        action: str,
        describe: Describe,
        call: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """Run a click, scroll, paste or screenshot call as one activity."""
        record = self.start(connection, server_of, action, describe)
        if record is None:
            return call(*args, **kwargs)
        result = call_recorded(record, call, args, kwargs, record.span)
        record.end()
        return result

    async def discrete_async(
        self,
        connection: object,
        server_of: ServerOf,
        action: str,
        describe: Describe,
        after: After,
        call: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """``discrete`` for a coroutine function: the activity lasts until it completes, and
        ``after`` reads its result."""
        record = self.start(connection, server_of, action, describe)
        if record is None:
            return await call(*args, **kwargs)
        result = await call_recorded_async(record, call, args, kwargs, record.span)
        try:
            after(record, result)
        except Exception as exc:
            _logger.warning("a desktop action's result was not read (%s)", type(exc).__name__)
        record.end()
        return result

    def flush(self, connection: object) -> None:
        """Close the connection's open runs (it is disconnecting); never raises."""
        try:
            self.coalescer.flush(connection)
        except Exception as exc:
            _logger.warning("open desktop runs not closed (%s)", type(exc).__name__)


class _Held:
    """Wraps a key-holding context manager: what it does is recorded as held keys."""

    def __init__(
        self, manager: Any, coalescer: Coalescer, feed: Callable[[Coalescer, bool], None]
    ) -> None:
        self._manager = manager
        self._coalescer = coalescer
        self._feed = feed

    def __enter__(self) -> Any:
        with Inside():  # the keys it writes itself are this activity, not others
            entered = self._manager.__enter__()
        self._tell(down=True)
        return entered

    def __exit__(self, *exc: Any) -> Any:
        with Inside():
            result = self._manager.__exit__(*exc)
        self._tell(down=False)
        return result

    def _tell(self, down: bool) -> None:
        try:
            self._feed(self._coalescer, down)
        except Exception as error:
            _logger.warning("held keys not recorded (%s)", type(error).__name__)


def describe_button(position: object, button: str, **extra: object) -> Describe:
    def describe(record: ActivityRecord) -> None:
        record.set(attr.DESKTOP_COORDINATES, as_coordinates(position))
        record.metadata["button"] = button
        record.metadata.update(extra)

    return describe


def describe_paste(text: object) -> Describe:
    def describe(record: ActivityRecord) -> None:
        record.metadata["via"] = "clipboard"
        record_input_text(record, text, keystroke_mode())

    return describe


def describe_screenshot(target: object, region: list[int] | None) -> Describe:
    def describe(record: ActivityRecord) -> None:
        if isinstance(target, str | bytes | os.PathLike):
            record.set_text(attr.DESKTOP_SCREENSHOT_PATH, os.path.abspath(target))
        elif target is not None:  # a file object: its name, if it has a real one
            name = getattr(target, "name", None)
            if isinstance(name, str):
                record.set_text(attr.DESKTOP_SCREENSHOT_PATH, os.path.abspath(name))
        if region is not None:
            record.metadata["region"] = region

    return describe
