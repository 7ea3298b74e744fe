"""Playwright's own driver process is Playwright's business, not an activity of the script.

``sync_playwright().start()`` and ``async_playwright()`` start a Node.js driver as a child
process (``PipeTransport.connect`` runs ``asyncio.create_subprocess_exec``); with the terminal
instrumentation on, that launch would be recorded as a command the agent ran. The launch is
wrapped and runs under the kit's nested-call guard, as any recorded call's own work does, so
no instrumentor records it. Only the launch: the tasks that read the driver's messages (and
run the script's event handlers) are started outside it, so a command a handler runs is
still recorded.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any

from autobot_activity_otel.instrumentation.kit import Inside, Target

_TRANSPORT_MODULES = ("playwright._impl.transport", "playwright._impl._transport")
"""Where ``PipeTransport`` lives: its module lost its underscore in Playwright 1.6x."""


async def _launch_driver(
    wrapped: Callable[..., Awaitable[Any]],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    with Inside():
        return await wrapped(*args, **kwargs)


def driver_targets() -> list[Target]:
    """The driver launch to wrap (none if this Playwright has no ``PipeTransport``)."""
    for name in _TRANSPORT_MODULES:
        try:
            transport = importlib.import_module(name).PipeTransport
        except (ImportError, AttributeError):
            continue
        return [Target(transport, "connect", _launch_driver)]
    return []
