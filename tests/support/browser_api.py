"""Both Playwright APIs behind one face, so that each browser scenario is written once.

The sync API is used as it is. The async API runs on an event loop in a thread of its own,
and ``Synced`` makes each of its calls a blocking one: the call runs on that loop (as a task,
the way an async script's own calls run, with the calling thread's context copied in, so
``activity_context`` and suppression follow), its result is awaited, and a Playwright object
it returns is wrapped in turn. Async context managers (``expect_navigation``) become plain
ones. A scenario therefore reads as sync Playwright code and exercises whichever API's
wrappers it is given.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from support.browser_site import CHROMIUM, CHROMIUM_ARGS

APIS = ("sync", "async")


class Synced:
    """An object of ``playwright.async_api`` whose methods block until their result is in."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_loop", loop)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return self._wrap(value)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._wrap(self._run(value, args, kwargs))

        return call

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Synced) and other._target == self._target

    def __hash__(self) -> int:
        return hash(self._target)

    def _run(self, function: Callable[..., Any], args: tuple[Any, ...], kwargs: Any) -> Any:
        async def invoke() -> Any:
            result = function(*map(_unwrap, args), **{k: _unwrap(v) for k, v in kwargs.items()})
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(invoke(), self._loop).result()

    def _wrap(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._wrap(item) for item in value]
        if type(value).__module__.startswith("playwright.async_api"):
            return Synced(value, self._loop)
        if hasattr(value, "__aenter__"):
            return _SyncedManager(value, self)
        return value


def _unwrap(value: Any) -> Any:
    return value._target if isinstance(value, Synced) else value


class _SyncedManager:
    """An async context manager of Playwright's (``expect_navigation()``) used with ``with``."""

    def __init__(self, manager: Any, owner: Synced) -> None:
        self._manager = manager
        self._owner = owner

    def __enter__(self) -> Any:
        return self._owner._wrap(self._owner._run(self._manager.__aenter__, (), {}))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        return self._owner._run(self._manager.__aexit__, (exc_type, exc, tb), {})


@contextmanager
def playwright(api: str) -> Iterator[Any]:
    """A started Playwright of the given API (``sync`` or ``async``), as sync code uses it."""
    if api == "sync":
        from playwright.sync_api import sync_playwright

        with sync_playwright() as started:
            yield started
        return
    from playwright.async_api import async_playwright

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="async-playwright", daemon=True)
    thread.start()
    manager = async_playwright()
    try:
        started = asyncio.run_coroutine_threadsafe(manager.__aenter__(), loop).result()
        try:
            yield Synced(started, loop)
        finally:
            asyncio.run_coroutine_threadsafe(manager.__aexit__(None, None, None), loop).result()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


@contextmanager
def chromium(api: str) -> Iterator[Any]:
    """Debian's Chromium launched through the given API."""
    with playwright(api) as started:
        browser = started.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
