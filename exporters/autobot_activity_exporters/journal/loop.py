"""An asyncio event loop on a daemon thread of its own, for the journal's shipper.

Host names are resolved inline on this loop's thread, not through the loop's default
executor: at interpreter exit ``concurrent.futures`` refuses new work ("cannot schedule new
futures after interpreter shutdown") before atexit handlers run, and a database URL naming
``localhost`` could then never be connected to while the last activities are shipped. The
loop is private to the shipper, so a blocking lookup only delays the shipper.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _InlineResolvingLoop(asyncio.SelectorEventLoop):
    """``getaddrinfo`` / ``getnameinfo`` on the loop's own thread, no executor involved."""

    async def getaddrinfo(
        self,
        host: bytes | str | None,
        port: bytes | str | int | None,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[tuple[Any, ...]]:
        return socket.getaddrinfo(host, port, family, type, proto, flags)

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int = 0
    ) -> tuple[str, str]:
        return socket.getnameinfo(sockaddr, flags)


class LoopThread:
    """Runs coroutines on one loop thread, started on first use and again in a forked child."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopped = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop (started now if needed); ``RuntimeError`` once stopped."""
        with self._lock:
            if self._stopped:
                raise RuntimeError(f"{self.name} is stopped")
            if self._loop is None or self._pid != os.getpid():
                loop = _InlineResolvingLoop()
                thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
            return self._loop

    def in_this_process(self) -> bool:
        return self._loop is not None and self._pid == os.getpid()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start the coroutine on the loop; returns its future (to cancel it, or wait)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run on the loop and wait at most ``timeout`` seconds (then cancel it there)."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(max(timeout, 0.0))
        finally:
            future.cancel()

    def call_soon(self, callback: Any, *args: Any) -> None:
        """Schedule a plain callback on the loop from any thread (no-op once stopped)."""
        with self._lock:
            loop = self._loop if not self._stopped and self._pid == os.getpid() else None
        if loop is not None:
            loop.call_soon_threadsafe(callback, *args)

    def stop(self, timeout: float) -> None:
        """Stop the loop and join its thread (idempotent)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or self._pid != os.getpid():
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(max(timeout, 0.1))
        if not thread.is_alive():
            loop.close()
