"""``open()``, ``io.open`` and ``aiofiles.open``: the activity lasts until the file is closed.

The file object handed back is a transparent proxy (``wrapt.ObjectProxy``: ``isinstance``,
attributes and methods are the file's own) that counts what is read and written and ends the
activity on ``close()``, on leaving a ``with`` block, or when the file is garbage collected.
Only files under a root are proxied; every other ``open()`` returns the plain file object.
``aiofiles.open`` returns aiofiles' own object, whose underlying file is the proxy.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import wrapt

from autobot_activity_otel.activities.file import describe_path, note_origin
from autobot_activity_otel.arguments import parameters
from autobot_activity_otel.instrumentation.file.scope import SCOPE, fd_path, normalised
from autobot_activity_otel.instrumentation.file.tracker import FileOp, FileTracking
from autobot_activity_otel.instrumentation.kit import (
    Wrapper,
    allowed,
    call_recorded,
    call_recorded_async,
)

_logger = logging.getLogger(__name__)
_WRITING = frozenset("wax+")
_OPEN = parameters(open)


class Claimed(os.PathLike[str]):
    """A path already recorded by the aiofiles wrapper: the ``open()`` it runs on a worker
    thread (where our context variables are not set) must not record it again."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def __fspath__(self) -> str:
        return self.path


_claimed_fds: set[int] = set()


def _claimed(file: object) -> bool:
    if type(file) is str:  # the usual call, answered first
        return False
    return isinstance(file, Claimed) or (type(file) is int and file in _claimed_fds)


class _Opening:
    """One tracked ``open``: its activity (None for a read counted into a coalesced window)
    from the plan to the file object handed back; none of its methods raises."""

    __slots__ = ("api", "candidate", "file", "op", "tracking", "written")

    def __init__(self, tracking: FileTracking, api: str, file: object, candidate: str) -> None:
        self.tracking = tracking
        self.api = api
        self.file = file
        self.candidate = candidate
        self.written = normalised(candidate)
        self.op: FileOp | None = None

    def plan(self, mode: object) -> bool:
        """Start the activity under the path as written (normalised); False when the path is
        one of the tracker's own, or tracking failed. Where the file really lies is settled
        after the open, from its descriptor: one ``readlink`` instead of ``realpath``'s
        ``lstat`` per component."""
        try:
            written = self.written
            if SCOPE.ignored(written):
                return False
            mode = mode if isinstance(mode, str) else "r"
            if _WRITING.isdisjoint(mode):
                operation = "read"
            elif "x" in mode:
                operation = "create"
            elif isinstance(self.file, int) or os.path.exists(written):
                operation = "update"
            else:
                operation = "create"
            if operation == "read" and self.tracking.coalescer.absorb(
                written, lambda: self.tracking.start("read", written, api=self.api)
            ):
                return True
            record = self.tracking.start(operation, written, api=self.api)
            self.op = FileOp(record, size_path=written)
            return True
        except Exception as exc:
            _logger.warning("file activity skipped for %s (%s)", self.api, type(exc).__name__)
            return False

    def opened(self, result: Any) -> FileOp | None:
        """After a successful open of ``result``: the activity its proxy ends, if any."""
        op = self.op
        if op is None:
            return None
        try:
            return op if self._settle(op, result) else None
        except Exception as exc:
            _logger.warning("file activity ended early for %s (%s)", self.api, type(exc).__name__)
            op.end()
            return None

    def _settle(self, op: FileOp, opened: Any) -> bool:
        """Record where the file really lies; False when it is one of the tracker's own."""
        file, candidate = self.file, self.candidate
        real = None if opened is None or type(file) is int else fd_path(opened.fileno())
        if real is None:
            real = os.path.realpath(candidate)
        if real == candidate and type(file) is str and file == real:
            return True  # the usual case: recorded as given, which ``plan`` found not ignored
        target = SCOPE.target(candidate, real, file)
        if target is None:
            op.discard()
            return False
        if target.path != self.written:
            describe_path(op.record, target.path, implied=False)
        note_origin(op.record, target.path, target.given, target.traversal)
        op.size_path = target.path
        return True

    def fail(self, exc: BaseException) -> None:
        """The open raised: the failure recorded on the activity (and ended)."""
        try:
            op = self.op
            if op is None:  # counted into a window: recorded on its own after all
                target = SCOPE.resolve(self.candidate, self.file)
                if target is not None:
                    self.tracking.record_failure(self.api, target, exc)
            elif self._settle(op, None):
                op.fail(exc)
                op.end()
        except Exception as error:
            _logger.warning("could not record a failed open (%s)", type(error).__name__)

    def end(self) -> None:
        """Nothing more: ``fail`` ended the activity, or the file's proxy will."""


def open_wrapper(tracking: FileTracking, api: str) -> Wrapper:
    """The wrapper of ``builtins.open`` / ``io.open``."""

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        file = args[0] if args else _OPEN.get(args, kwargs, "file")  # the usual call, first
        candidate = SCOPE.candidate(file)
        if candidate is None or not allowed() or _claimed(file):
            return wrapped(*args, **kwargs)
        opening = _Opening(tracking, api, file, candidate)
        mode = args[1] if len(args) > 1 else _OPEN.get(args, kwargs, "mode")
        if not opening.plan(mode):
            return wrapped(*args, **kwargs)
        result = call_recorded(opening, wrapped, args, kwargs)
        op = opening.opened(result)
        return result if op is None else _proxied(api, op, result, None)

    return wrapper


def _proxied(api: str, op: FileOp, opened: Any, inner: Any) -> Any:
    """The opened file behind a counting proxy; aiofiles' object gets its inner file proxied,
    because aiofiles runs that file's own methods (and its ``__exit__``) on a worker thread."""
    try:
        if inner is None:
            return TrackedFile(opened, op, _unit(opened))
        opened._file = TrackedFile(inner, op, _unit(inner))
    except Exception as exc:
        _logger.warning("file activity ended early for %s (%s)", api, type(exc).__name__)
        op.end()
    return opened


def _unit(file: Any) -> str:
    """What a file's reads and writes count: bytes in binary mode, characters in text mode."""
    return "chars" if "b" not in getattr(file, "mode", "b") else "bytes"


class TrackedFile(wrapt.ObjectProxy[Any]):
    """A file object whose reads and writes are counted and whose close ends the activity.

    Only methods every file object of ``open()`` has are overridden, so ``hasattr`` answers
    as for the file itself; other methods (``readinto``, ``writelines``...) pass through,
    uncounted.
    """

    def __init__(self, wrapped: Any, op: FileOp, unit: str) -> None:
        super().__init__(wrapped)
        self._self_op = op
        self._self_read = f"{unit}_read"
        self._self_written = f"{unit}_written"

    def _self_call(self, method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except BaseException as exc:
            if not isinstance(exc, StopIteration | EOFError):
                self._self_op.fail(exc)
            raise

    def read(self, *args: Any) -> Any:
        data = self._self_call(self.__wrapped__.read, *args)
        if data is not None:
            self._self_op.add(self._self_read, len(data))
        return data

    def readline(self, *args: Any) -> Any:
        line = self._self_call(self.__wrapped__.readline, *args)
        self._self_op.add(self._self_read, len(line))
        return line

    def readlines(self, *args: Any) -> Any:
        lines = self._self_call(self.__wrapped__.readlines, *args)
        self._self_op.add(self._self_read, sum(map(len, lines)))
        return lines

    def write(self, data: Any) -> Any:
        try:
            count = self.__wrapped__.write(data)
        except BaseException as exc:
            self._self_op.fail(exc)
            raise
        self._self_op.add(self._self_written, count)
        return count

    def __iter__(self) -> TrackedFile:
        return self

    def __next__(self) -> Any:
        line = self._self_call(self.__wrapped__.__next__)
        self._self_op.add(self._self_read, len(line))
        return line

    def close(self) -> None:
        try:
            self._self_call(self.__wrapped__.close)
        finally:
            self._self_op.end()

    def __enter__(self) -> TrackedFile:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self._self_call(self.__wrapped__.__exit__, *exc_info)
        finally:
            self._self_op.end()

    def __del__(self) -> None:
        """Never closed: flush what was written, so the size is right, and end the activity."""
        op = getattr(self, "_self_op", None)
        if op is None or not op.pending:  # closed: ended already
            return
        try:
            if not self.__wrapped__.closed:
                self.__wrapped__.flush()
        except Exception:  # the file's own finaliser reports its errors
            pass
        op.end()


def aiofiles_open_wrapper(tracking: FileTracking) -> Wrapper:
    """The wrapper of ``aiofiles.threadpool._open``, the coroutine behind ``aiofiles.open``."""

    def wrapper(
        wrapped: Callable[..., Awaitable[Any]],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        file = args[0] if args else _OPEN.get(args, kwargs, "file")  # the usual call, first
        candidate = SCOPE.candidate(file)
        if candidate is None or not allowed():
            return wrapped(*args, **kwargs)
        return _open_async(
            _Opening(tracking, "aiofiles.open", file, candidate), wrapped, args, kwargs
        )

    return wrapper


async def _open_async(
    opening: _Opening,
    wrapped: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    if not opening.plan(_OPEN.get(args, kwargs, "mode")):
        return await wrapped(*args, **kwargs)
    file = opening.file
    fd = file if type(file) is int else None
    if fd is not None:
        _claimed_fds.add(fd)
    else:
        try:
            claimed = Claimed(os.fsdecode(os.fspath(file)))  # type: ignore[call-overload]
        except Exception:  # a path-like that failed this time: leave the call to fail alone
            if opening.op is not None:
                opening.op.discard()
            return await wrapped(*args, **kwargs)
        args, kwargs = _OPEN.replace(args, kwargs, "file", claimed)
    try:
        result = await call_recorded_async(opening, wrapped, args, kwargs)
    finally:
        if fd is not None:
            _claimed_fds.discard(fd)
    inner = getattr(result, "_file", None)
    op = opening.opened(inner)
    if op is None:
        return result
    if inner is None:  # not the aiofiles object we know: no file to proxy, end at once
        op.end()
        return result
    return _proxied(opening.api, op, result, inner)
