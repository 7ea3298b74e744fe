"""VNC auto-instrumentation: what a program does on a remote desktop, as desktop activities.

Whichever of the two Python VNC clients is installed is wrapped:

- ``vncdotool``'s API client (``vncdotool.api.connect(...)``, a ``ThreadedVNCClientProxy``).
  The proxy makes each method in ``__getattr__`` and runs it on the Twisted reactor thread,
  where the caller's context (``activity_context``, the current span) does not exist. So the
  wrapper sits on the proxy's ``__getattr__`` and records in the caller's thread, around the
  callable the proxy hands out: ``mouseMove``, ``mouseDrag``, ``mousePress``, ``mouseDown``,
  ``mouseUp``, ``keyPress``, ``keyDown``, ``paste``, ``captureScreen``, ``captureRegion``
  (``keyUp`` only releases a key recorded at ``keyDown``). What these call internally
  (``mousePress`` -> ``mouseDown``/``mouseUp``, ``mouseDrag`` -> ``mouseMove``) runs on the
  reactor against the protocol object, not through the proxy, so nothing is recorded twice.
  ``disconnect`` first closes the connection's open runs.
- ``asyncvnc``: ``Mouse.move``, ``click``, ``middle_click``, ``right_click``, ``scroll_up``,
  ``scroll_down``, ``Keyboard.write``, ``press``, ``Clipboard.write``, ``Client.screenshot``.
  ``right_click`` and ``scroll_*`` call ``click``: a context-variable guard makes the outer call
  the only activity.

Moves and keystrokes are coalesced (see ``coalescer``); clicks, scrolls, pastes and
screenshots are one activity each. Usage::

    VNCInstrumentor().instrument(move_window=0.5, keystroke_window=1.0, max_run=10.0)
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
from collections.abc import Callable, Collection, Sequence
from typing import Any, ClassVar

from opentelemetry.instrumentation.dependencies import DependencyConflict, get_dependency_conflicts
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import is_instrumentation_enabled, unwrap
from wrapt import wrap_function_wrapper

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.instrumentation.vnc.coalescer import (
    Coalescer,
    Server,
    ServerOf,
    start_record,
)
from autobot_activity_otel.instrumentation.vnc.package import _instruments, _instruments_any
from autobot_activity_otel.recording import ActivityRecord, in_span
from autobot_activity_otel.tracking.desktop import as_coordinates, keystroke_mode, record_input_text

_logger = logging.getLogger(__name__)

MOVE_WINDOW = 0.5
"""Seconds without a move after which a run of moves is one activity."""
KEYSTROKE_WINDOW = 1.0
"""Seconds without a key after which a burst of keystrokes is one activity."""
MAX_RUN = 10.0
"""Seconds after which a run still going on is closed and a new one begun."""

_coalescer: Coalescer | None = None
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "autobot_activity_vnc_inside", default=False
)
"""Set while a wrapped call runs, so the wrapped calls it makes itself are not recorded."""

Describe = Callable[[ActivityRecord], None]
After = Callable[[ActivityRecord, Any], None]

_NAMED_KEYS = {"space": " ", "enter": "\n", "return": "\n", "kp_enter": "\n", "tab": "\t"}
_SHIFT = frozenset({"shift", "shift_l", "shift_r", "lshift", "rshift"})
_BUTTONS = {0: "left", 1: "middle", 2: "right", 3: "wheel_up", 4: "wheel_down"}
"""Button names by asyncvnc's 0-based number (vncdotool counts from 1)."""


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


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    return kwargs[name] if name in kwargs else args[index]


def _optional_arg(
    args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any
) -> Any:
    return kwargs.get(name, args[index] if index < len(args) else default)


# --- the recording paths shared by both clients -------------------------------------------


def _coalesced(
    feed: Callable[[Coalescer], None], call: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    """Run a move or keystroke call, then hand the event to the coalescer."""
    coalescer = _coalescer
    if coalescer is None or _inside.get() or not is_instrumentation_enabled():
        return call(*args, **kwargs)
    token = _inside.set(True)
    try:
        result = call(*args, **kwargs)
    finally:
        _inside.reset(token)
    try:
        feed(coalescer)
    except Exception as exc:
        _logger.warning("a desktop input event was not recorded (%s)", type(exc).__name__)
    return result


def _start(
    connection: object, server_of: ServerOf, action: str, describe: Describe
) -> ActivityRecord | None:
    """A discrete action's record, after closing the connection's open runs."""
    coalescer = _coalescer
    if coalescer is None or _inside.get() or not is_instrumentation_enabled():
        return None
    try:
        coalescer.flush(connection)
        record = start_record(action, connection, server_of)
        describe(record)
        return record
    except Exception as exc:
        _logger.warning("a desktop action was not recorded (%s)", type(exc).__name__)
        return None


def _settle(record: ActivityRecord, after: After | None, result: Any) -> None:
    if after is not None:
        try:
            after(record, result)
        except Exception as exc:
            _logger.warning("a desktop action's result was not read (%s)", type(exc).__name__)


def _discrete(
    connection: object,
    server_of: ServerOf,
    action: str,
    describe: Describe,
    after: After | None,
    call: Callable[..., Any],
    *args: Any,
    **kwargs: Any,
) -> Any:
    """Run a click, scroll, paste or screenshot call as one activity."""
    record = _start(connection, server_of, action, describe)
    if record is None:
        return call(*args, **kwargs)
    token = _inside.set(True)
    try:
        with in_span(record):
            result = call(*args, **kwargs)
    finally:
        _inside.reset(token)
    _settle(record, after, result)
    record.end()
    return result


async def _discrete_async(
    connection: object,
    server_of: ServerOf,
    action: str,
    describe: Describe,
    after: After | None,
    call: Callable[..., Any],
    *args: Any,
    **kwargs: Any,
) -> Any:
    """``_discrete`` for a coroutine function: the activity lasts until it completes."""
    record = _start(connection, server_of, action, describe)
    if record is None:
        return await call(*args, **kwargs)
    token = _inside.set(True)
    try:
        with in_span(record):
            result = await call(*args, **kwargs)
    finally:
        _inside.reset(token)
    _settle(record, after, result)
    record.end()
    return result


def _describe_button(position: object, button: str, **extra: Any) -> Describe:
    def describe(record: ActivityRecord) -> None:
        record.set(attr.DESKTOP_COORDINATES, as_coordinates(position))
        record.metadata["button"] = button
        record.metadata.update(extra)

    return describe


def _describe_paste(text: object) -> Describe:
    def describe(record: ActivityRecord) -> None:
        record.metadata["via"] = "clipboard"
        record_input_text(record, text, keystroke_mode())

    return describe


def _describe_screenshot(target: object, region: list[int] | None) -> Describe:
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


# --- vncdotool: the threaded API proxy ----------------------------------------------------


def _vncdotool_server(proxy: Any) -> Server:
    peer = proxy.protocol.transport.getPeer()
    host = getattr(peer, "host", None) or getattr(peer, "name", None)
    return None if host is None else str(host), getattr(peer, "port", None)


def _vncdotool_position(proxy: Any) -> tuple[Any, Any] | None:
    """Where vncdotool's pointer is: the protocol's last position (its calls complete in order)."""
    protocol = proxy.protocol
    return None if protocol is None else (protocol.x, protocol.y)


def _vncdotool_button(number: Any) -> tuple[str, str]:
    """(action, button name) for vncdotool's 1-based button number; 4 and 5 are the wheel."""
    name = _BUTTONS.get(int(number) - 1, str(number))
    return ("scroll" if name.startswith("wheel") else "click"), name


def _vd_move(proxy: Any, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return _coalesced(
        lambda c: c.move(
            proxy, _vncdotool_server, _arg(args, kwargs, 0, "x"), _arg(args, kwargs, 1, "y")
        ),
        method,
        *args,
        **kwargs,
    )


def _vd_key(proxy: Any, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    def feed(coalescer: Coalescer) -> None:
        key = str(_arg(args, kwargs, 0, "key"))
        coalescer.keys(
            proxy, _vncdotool_server, key_text([key] if len(key) == 1 else key.split("-"))
        )

    return _coalesced(feed, method, *args, **kwargs)


def _vd_button(event: str | None) -> Callable[..., Any]:
    def handler(proxy: Any, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            action, button = _vncdotool_button(_arg(args, kwargs, 0, "button"))
            extra = {} if event is None else {"event": event}
            describe = _describe_button(_vncdotool_position(proxy), button, **extra)
        except Exception:  # a bad button: the library reports it, unrecorded
            return method(*args, **kwargs)
        return _discrete(proxy, _vncdotool_server, action, describe, None, method, *args, **kwargs)

    return handler


def _vd_paste(proxy: Any, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    describe = _describe_paste(_optional_arg(args, kwargs, 0, "message", None))
    return _discrete(proxy, _vncdotool_server, "type", describe, None, method, *args, **kwargs)


def _vd_capture_screen(proxy: Any, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    describe = _describe_screenshot(_optional_arg(args, kwargs, 0, "fp", None), None)
    return _discrete(
        proxy, _vncdotool_server, "screenshot", describe, None, method, *args, **kwargs
    )


def _vd_capture_region(proxy: Any, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        region = [int(_arg(args, kwargs, i, name)) for i, name in enumerate("xywh", start=1)]
    except Exception:
        region = None
    describe = _describe_screenshot(_optional_arg(args, kwargs, 0, "fp", None), region)
    return _discrete(
        proxy, _vncdotool_server, "screenshot", describe, None, method, *args, **kwargs
    )


_VNCDOTOOL: dict[str, Callable[..., Any]] = {
    "mouseMove": _vd_move,
    "mouseDrag": _vd_move,
    "mousePress": _vd_button(None),
    "mouseDown": _vd_button("down"),
    "mouseUp": _vd_button("up"),
    "keyPress": _vd_key,
    "keyDown": _vd_key,
    "paste": _vd_paste,
    "captureScreen": _vd_capture_screen,
    "captureRegion": _vd_capture_region,
}


def _wrap_proxy_getattr(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """Hand out a recording callable in place of the proxy's, for the methods we record."""
    method = wrapped(*args, **kwargs)
    handler = _VNCDOTOOL.get(args[0]) if args and isinstance(args[0], str) else None
    if handler is None or not callable(method):
        return method
    return functools.partial(handler, instance, method)


def _wrap_proxy_disconnect(
    wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any
) -> Any:
    coalescer = _coalescer
    if coalescer is not None:
        try:
            coalescer.flush(instance)
        except Exception as exc:
            _logger.warning("open desktop runs not closed (%s)", type(exc).__name__)
    return wrapped(*args, **kwargs)


# --- asyncvnc -----------------------------------------------------------------------------


def _asyncvnc_server(writer: Any) -> Server:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple):
        return str(peer[0]), int(peer[1])
    return (None if peer is None else str(peer)), None


def _av_move(wrapped: Callable[..., Any], mouse: Any, args: Any, kwargs: Any) -> Any:
    return _coalesced(
        lambda c: c.move(mouse.writer, _asyncvnc_server, mouse.x, mouse.y), wrapped, *args, **kwargs
    )


def _av_click(button: int | None) -> Callable[..., Any]:
    """A click wrapper; ``button`` None means the method's own ``button`` argument."""

    def wrapper(wrapped: Callable[..., Any], mouse: Any, args: Any, kwargs: Any) -> Any:
        try:
            number = _optional_arg(args, kwargs, 0, "button", 0) if button is None else button
            name = _BUTTONS.get(int(number), str(number))
            action = "scroll" if name.startswith("wheel") else "click"
            describe = _describe_button((mouse.x, mouse.y), name)
        except Exception:
            return wrapped(*args, **kwargs)
        return _discrete(
            mouse.writer, _asyncvnc_server, action, describe, None, wrapped, *args, **kwargs
        )

    return wrapper


def _av_scroll(direction: str) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], mouse: Any, args: Any, kwargs: Any) -> Any:
        repeat = _optional_arg(args, kwargs, 0, "repeat", 1)
        describe = _describe_button(
            (mouse.x, mouse.y), f"wheel_{direction}", direction=direction, repeat=repeat
        )
        return _discrete(
            mouse.writer, _asyncvnc_server, "scroll", describe, None, wrapped, *args, **kwargs
        )

    return wrapper


def _av_write(wrapped: Callable[..., Any], keyboard: Any, args: Any, kwargs: Any) -> Any:
    return _coalesced(
        lambda c: c.keys(keyboard.writer, _asyncvnc_server, str(_arg(args, kwargs, 0, "text"))),
        wrapped,
        *args,
        **kwargs,
    )


def _av_press(wrapped: Callable[..., Any], keyboard: Any, args: Any, kwargs: Any) -> Any:
    return _coalesced(
        lambda c: c.keys(keyboard.writer, _asyncvnc_server, key_text(args)),
        wrapped,
        *args,
        **kwargs,
    )


def _av_clipboard(wrapped: Callable[..., Any], clipboard: Any, args: Any, kwargs: Any) -> Any:
    describe = _describe_paste(_optional_arg(args, kwargs, 0, "text", None))
    return _discrete(
        clipboard.writer, _asyncvnc_server, "type", describe, None, wrapped, *args, **kwargs
    )


def _av_screenshot(wrapped: Callable[..., Any], client: Any, args: Any, kwargs: Any) -> Any:
    names = ("x", "y", "width", "height")
    given = [_optional_arg(args, kwargs, i, name, None) for i, name in enumerate(names)]
    region = None if all(value in (None, 0) for value in given) else given

    def size(record: ActivityRecord, image: Any) -> None:
        height, width = image.shape[:2]
        record.metadata["size"] = [int(width), int(height)]

    return _discrete_async(
        client.writer,
        _asyncvnc_server,
        "screenshot",
        _describe_screenshot(None, region),
        size,
        wrapped,
        *args,
        **kwargs,
    )


_ASYNCVNC: dict[str, Callable[..., Any]] = {
    "Mouse.move": _av_move,
    "Mouse.click": _av_click(None),
    "Mouse.middle_click": _av_click(1),
    "Mouse.right_click": _av_click(2),
    "Mouse.scroll_up": _av_scroll("up"),
    "Mouse.scroll_down": _av_scroll("down"),
    "Keyboard.write": _av_write,
    "Keyboard.press": _av_press,
    "Clipboard.write": _av_clipboard,
    "Client.screenshot": _av_screenshot,
}


class VNCInstrumentor(BaseInstrumentor):
    """Records VNC input and screenshots (vncdotool's API client, asyncvnc) as desktop activities.

    ``instrument()`` options: ``move_window``, ``keystroke_window`` and ``max_run``, in seconds
    (defaults ``MOVE_WINDOW``, ``KEYSTROKE_WINDOW``, ``MAX_RUN``).
    """

    _wrapped: ClassVar[list[tuple[Any, str]]] = []

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _check_dependency_conflicts(self) -> DependencyConflict | None:
        """Either client is enough (``instruments-any``)."""
        return get_dependency_conflicts(_instruments, _instruments_any)

    def _instrument(self, **kwargs: Any) -> None:
        global _coalescer
        wrapped: list[tuple[Any, str]] = []
        try:
            import vncdotool.api

            proxy = vncdotool.api.ThreadedVNCClientProxy
            wrap_function_wrapper(proxy, "__getattr__", _wrap_proxy_getattr)
            wrap_function_wrapper(proxy, "disconnect", _wrap_proxy_disconnect)
            wrapped += [(proxy, "__getattr__"), (proxy, "disconnect")]
        except ImportError as exc:
            _logger.debug("vncdotool not instrumented (%s)", type(exc).__name__)
        try:
            import asyncvnc

            for target, wrapper in _ASYNCVNC.items():
                owner_name, method = target.split(".")
                owner = getattr(asyncvnc, owner_name)
                wrap_function_wrapper(owner, method, wrapper)
                wrapped.append((owner, method))
        except ImportError as exc:
            _logger.debug("asyncvnc not instrumented (%s)", type(exc).__name__)
        if not wrapped:
            raise ModuleNotFoundError("neither vncdotool nor asyncvnc is installed")
        type(self)._wrapped = wrapped
        _coalescer = Coalescer(
            float(kwargs.get("move_window", MOVE_WINDOW)),
            float(kwargs.get("keystroke_window", KEYSTROKE_WINDOW)),
            float(kwargs.get("max_run", MAX_RUN)),
        )

    def _uninstrument(self, **kwargs: Any) -> None:
        global _coalescer
        for owner, method in type(self)._wrapped:
            unwrap(owner, method)
        type(self)._wrapped = []
        coalescer, _coalescer = _coalescer, None
        if coalescer is not None:
            coalescer.close()

    def flush(self) -> None:
        """Close every open run of moves and keystrokes now (e.g. before flushing exporters)."""
        if _coalescer is not None:
            _coalescer.flush()
