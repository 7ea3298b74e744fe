"""vncdotool's threaded API client (``vncdotool.api.connect(...)``, a ``ThreadedVNCClientProxy``).

The proxy makes each method in ``__getattr__`` and runs it on the Twisted reactor thread,
where the caller's context (``activity_context``, the current span) does not exist. So the
wrapper sits on the proxy's ``__getattr__`` and records in the caller's thread, around the
callable the proxy hands out. What those methods call internally (``mousePress`` ->
``mouseDown``/``mouseUp``, ``mouseDrag`` -> ``mouseMove``) runs on the reactor against the
protocol object, not through the proxy, so nothing is recorded twice. ``disconnect`` first
closes the connection's open runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from autobot_activity_otel.arguments import Parameters, parameters
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

Handler = Callable[..., Any]
"""``(proxy, method, *args, **kwargs)``: a recorded call of one of the proxy's methods."""


def _server(proxy: Any) -> Server:
    peer = proxy.protocol.transport.getPeer()
    host = getattr(peer, "host", None) or getattr(peer, "name", None)
    return None if host is None else str(host), getattr(peer, "port", None)


def _position(proxy: Any) -> tuple[Any, Any] | None:
    """Where vncdotool's pointer is: the protocol's last position (its calls complete in order)."""
    protocol = proxy.protocol
    return None if protocol is None else (protocol.x, protocol.y)


class _Handlers:
    """The recorded methods of the proxy, by name. Each handler reads its arguments by
    parameter name, as the client method the proxy forwards to
    (``vncdotool.client.VNCDoToolClient``) declares them."""

    def __init__(self, tracking: VNCTracking, client: type) -> None:
        self.tracking = tracking
        kinds: dict[str, Callable[..., Any]] = {
            "mouseMove": self.move,
            "mouseDrag": self.move,
            "mousePress": self.button(None),
            "mouseDown": self.button("down"),
            "mouseUp": self.button("up"),
            "keyPress": self.key,
            "keyDown": self.held(down=True),
            "keyUp": self.held(down=False),
            "paste": self.paste,
            "captureScreen": self.capture_screen,
            "captureRegion": self.capture_region,
        }
        self.by_name: dict[str, Handler] = {
            name: functools.partial(handler, parameters(getattr(client, name), bound=True))
            for name, handler in kinds.items()
        }

    def move(
        self, arguments: Parameters, proxy: Any, method: Handler, *args: Any, **kwargs: Any
    ) -> Any:
        def feed(coalescer: Coalescer) -> None:
            x, y = arguments.get(args, kwargs, "x"), arguments.get(args, kwargs, "y")
            coalescer.move(proxy, _server, x, y)

        return self.tracking.coalesced(feed, method, args, kwargs)

    def key(
        self, arguments: Parameters, proxy: Any, method: Handler, *args: Any, **kwargs: Any
    ) -> Any:
        def feed(coalescer: Coalescer) -> None:
            key = str(arguments.get(args, kwargs, "key"))
            coalescer.keys(proxy, _server, key_text([key] if len(key) == 1 else key.split("-")))

        return self.tracking.coalesced(feed, method, args, kwargs)

    def held(self, down: bool) -> Callable[..., Any]:
        """``keyDown`` / ``keyUp``: a modifier held through other keys is replayed as held."""

        def handler(
            arguments: Parameters, proxy: Any, method: Handler, *args: Any, **kwargs: Any
        ) -> Any:
            def feed(coalescer: Coalescer) -> None:
                text = held_key_text(str(arguments.get(args, kwargs, "key")), down)
                if text:
                    coalescer.keys(proxy, _server, text)

            return self.tracking.coalesced(feed, method, args, kwargs)

        return handler

    def button(self, event: str | None) -> Callable[..., Any]:
        def handler(
            arguments: Parameters, proxy: Any, method: Handler, *args: Any, **kwargs: Any
        ) -> Any:
            try:
                action, button = button_action(int(arguments.get(args, kwargs, "button")) - 1)
                extra = {} if event is None else {"event": event}
                describe = describe_button(_position(proxy), button, **extra)
            except Exception:  # a bad button: the library reports it, unrecorded
                return method(*args, **kwargs)
            return self.tracking.discrete(proxy, _server, action, describe, method, args, kwargs)

        return handler

    def paste(
        self, arguments: Parameters, proxy: Any, method: Handler, *args: Any, **kwargs: Any
    ) -> Any:
        describe = describe_paste(arguments.get(args, kwargs, "message"))
        return self.tracking.discrete(proxy, _server, "type", describe, method, args, kwargs)

    def capture_screen(
        self, arguments: Parameters, proxy: Any, method: Handler, *args: Any, **kwargs: Any
    ) -> Any:
        describe = describe_screenshot(arguments.get(args, kwargs, "fp"), None)
        return self.tracking.discrete(proxy, _server, "screenshot", describe, method, args, kwargs)

    def capture_region(
        self, arguments: Parameters, proxy: Any, method: Handler, *args: Any, **kwargs: Any
    ) -> Any:
        try:
            region: list[int] | None = [int(arguments.get(args, kwargs, name)) for name in "xywh"]
        except Exception:
            region = None
        describe = describe_screenshot(arguments.get(args, kwargs, "fp"), region)
        return self.tracking.discrete(proxy, _server, "screenshot", describe, method, args, kwargs)


def targets(tracking: VNCTracking) -> list[Target]:
    """The proxy's ``__getattr__`` and ``disconnect``; ImportError without vncdotool."""
    import vncdotool.api
    import vncdotool.client

    handlers = _Handlers(tracking, vncdotool.client.VNCDoToolClient).by_name

    def getattr_wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Hand out a recording callable in place of the proxy's, for the methods recorded."""
        method = wrapped(*args, **kwargs)
        handler = handlers.get(args[0]) if args and isinstance(args[0], str) else None
        if handler is None or not callable(method):
            return method
        return functools.partial(handler, instance, method)

    def disconnect_wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        tracking.flush(instance)
        return wrapped(*args, **kwargs)

    proxy = vncdotool.api.ThreadedVNCClientProxy
    wrappers: list[tuple[str, Wrapper]] = [
        ("__getattr__", getattr_wrapper),
        ("disconnect", disconnect_wrapper),
    ]
    return [Target(proxy, name, wrapper) for name, wrapper in wrappers]
