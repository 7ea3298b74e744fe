"""asyncvnc: ``Mouse``, ``Keyboard`` and ``Clipboard`` methods and ``Client.screenshot``.

``right_click`` and ``scroll_*`` call ``click``: the nested-call guard makes the outer call
the only activity.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from autobot_activity_otel.arguments import parameters
from autobot_activity_otel.instrumentation.kit import Target, Wrapper
from autobot_activity_otel.instrumentation.vnc.actions import (
    VNCTracking,
    button_action,
    describe_button,
    describe_paste,
    describe_screenshot,
    held_key_text,
    key_text,
)
from autobot_activity_otel.instrumentation.vnc.coalescer import Coalescer, Server
from autobot_activity_otel.recording import ActivityRecord


def _server(writer: Any) -> Server:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple):
        return str(peer[0]), int(peer[1])
    return (None if peer is None else str(peer)), None


def _screenshot_size(record: ActivityRecord, image: Any) -> None:
    """Width and height of the screenshot (a numpy array, rows first)."""
    height, width = image.shape[:2]
    record.metadata["size"] = [int(width), int(height)]


def targets(tracking: VNCTracking) -> list[Target]:
    """Every recorded method of asyncvnc; ImportError without it."""
    import asyncvnc

    Call = Callable[..., Any]

    def move(wrapped: Call, mouse: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return tracking.coalesced(
            lambda c: c.move(mouse.writer, _server, mouse.x, mouse.y), wrapped, args, kwargs
        )

    def click(button: int | None) -> Wrapper:
        """A click wrapper; ``button`` None means the method's own ``button`` argument."""
        arguments = parameters(asyncvnc.Mouse.click, bound=True)

        def wrapper(
            wrapped: Call, mouse: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Any:
            try:
                number = arguments.get(args, kwargs, "button") if button is None else button
                action, name = button_action(int(number))
                describe = describe_button((mouse.x, mouse.y), name)
            except Exception:
                return wrapped(*args, **kwargs)
            return tracking.discrete(mouse.writer, _server, action, describe, wrapped, args, kwargs)

        return wrapper

    def scroll(direction: str) -> Wrapper:
        arguments = parameters(getattr(asyncvnc.Mouse, f"scroll_{direction}"), bound=True)

        def wrapper(
            wrapped: Call, mouse: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Any:
            repeat = arguments.get(args, kwargs, "repeat")
            describe = describe_button(
                (mouse.x, mouse.y), f"wheel_{direction}", direction=direction, repeat=repeat
            )
            return tracking.discrete(
                mouse.writer, _server, "scroll", describe, wrapped, args, kwargs
            )

        return wrapper

    write_arguments = parameters(asyncvnc.Keyboard.write, bound=True)

    def write(wrapped: Call, keyboard: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        text = str(write_arguments.get(args, kwargs, "text"))
        return tracking.coalesced(
            lambda c: c.keys(keyboard.writer, _server, text), wrapped, args, kwargs
        )

    press_arguments = parameters(asyncvnc.Keyboard.press, bound=True)

    def press(wrapped: Call, keyboard: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        keys = press_arguments.get(args, kwargs, "keys")
        return tracking.coalesced(
            lambda c: c.keys(keyboard.writer, _server, key_text(keys)), wrapped, args, kwargs
        )

    hold_arguments = parameters(asyncvnc.Keyboard.hold, bound=True)

    def hold(wrapped: Call, keyboard: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        keys = [str(key) for key in hold_arguments.get(args, kwargs, "keys") or ()]

        def feed(coalescer: Coalescer, down: bool) -> None:
            for key in keys if down else reversed(keys):
                text = held_key_text(key, down)
                if text:
                    coalescer.keys(keyboard.writer, _server, text)

        return tracking.held(feed, wrapped, args, kwargs)

    paste_arguments = parameters(asyncvnc.Clipboard.write, bound=True)

    def paste(wrapped: Call, clipboard: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        describe = describe_paste(paste_arguments.get(args, kwargs, "text"))
        return tracking.discrete(clipboard.writer, _server, "type", describe, wrapped, args, kwargs)

    screenshot_arguments = parameters(asyncvnc.Client.screenshot, bound=True)

    def screenshot(
        wrapped: Callable[..., Awaitable[Any]],
        client: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Awaitable[Any]:
        given = screenshot_arguments.read(args, kwargs, ("x", "y", "width", "height")).values()
        region = None if all(value in (None, 0) for value in given) else list(given)
        return tracking.discrete_async(
            client.writer,
            _server,
            "screenshot",
            describe_screenshot(None, region),
            _screenshot_size,
            wrapped,
            args,
            kwargs,
        )

    mouse, keyboard = asyncvnc.Mouse, asyncvnc.Keyboard
    return [
        Target(mouse, "move", move),
        Target(mouse, "click", click(None)),
        Target(mouse, "middle_click", click(1)),
        Target(mouse, "right_click", click(2)),
        Target(mouse, "scroll_up", scroll("up")),
        Target(mouse, "scroll_down", scroll("down")),
        Target(keyboard, "write", write),
        Target(keyboard, "press", press),
        Target(keyboard, "hold", hold),
        Target(asyncvnc.Clipboard, "write", paste),
        Target(asyncvnc.Client, "screenshot", screenshot),
    ]
