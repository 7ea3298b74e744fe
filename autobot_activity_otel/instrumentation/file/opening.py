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
from collections.abc import Callable
from typing import Any

import wrapt

from autobot_activity_otel.instrumentation.file.activity import (
    describe_path,
    note_origin,
    start_file_activity,
)
from autobot_activity_otel.instrumentation.file.scope import SCOPE, fd_path
from autobot_activity_otel.instrumentation.file.tracker import (
    COALESCER,
    Busy,
    FileOp,
    allowed,
    record_failure,
)
from autobot_activity_otel.recording import ActivityRecord

_logger = logging.getLogger(__name__)
_WRITING = frozenset("wax+")


class Claimed(os.PathLike):  # type: ignore[type-arg]
    """A path already recorded by the aiofiles wrapper: the ``open()`` it runs on a worker
    thread (where our context variables are not set) must not record it again."""

    __slots__ = ("path",)

    def __init__(self, path: str | bytes) -> None:
        self.path = path

    def __fspath__(self) -> str | bytes:
        return self.path


_claimed_fds: set[int] = set()


def _claimed(file: object) -> bool:
    return isinstance(file, Claimed) or (type(file) is int and file in _claimed_fds)


def _plan(api: str, file: object, candidate: str, mode: object) -> tuple[FileOp | None, str] | None:
    """Start the activity of an open under the path as written (normalised); no FileOp for a
    read counted into a coalesced window. Where the file really lies is settled after the open,
    from its descriptor: one ``readlink`` instead of ``realpath``'s ``lstat`` per component."""
    written = os.path.normpath(candidate)
    if SCOPE.ignored(written):
        return None
    mode = mode if isinstance(mode, str) else "r"
    if not _WRITING.intersection(mode):
        operation = "read"
    elif "x" in mode:
        operation = "create"
    elif isinstance(file, int) or os.path.exists(written):
        operation = "update"
    else:
        operation = "create"

    def start() -> ActivityRecord:
        return start_file_activity(operation, written, api=api)

    if operation == "read" and COALESCER.absorb(written, start):
        return None, written
    return FileOp(start(), size_path=written), written


def _settle(op: FileOp, file: object, candidate: str, written: str, opened: Any) -> bool:
    """Record where the file really lies; False when it is one of the tracker's own."""
    real = None if opened is None or type(file) is int else fd_path(opened.fileno())
    if real is None:
        real = os.path.realpath(candidate)
    target = SCOPE.target(candidate, real, file)
    if target is None:
        op.discard()
        return False
    if target.path != written:
        describe_path(op.record, target.path)
    note_origin(op.record, target.path, target.given, target.traversal)
    op.size_path = target.path
    return True


def _safe_plan(
    api: str, file: object, candidate: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[FileOp | None, str] | None:
    mode = args[1] if len(args) > 1 else kwargs.get("mode", "r")
    try:
        return _plan(api, file, candidate, mode)
    except Exception as exc:
        _logger.warning("file activity skipped for %s (%s)", api, type(exc).__name__)
        return None


def _opened(
    api: str, op: FileOp | None, file: object, candidate: str, written: str, result: Any
) -> bool:
    """After a successful open: whether ``result`` is to be proxied for ``op``."""
    if op is None:
        return False
    try:
        return _settle(op, file, candidate, written, result)
    except Exception as exc:
        _logger.warning("file activity ended early for %s (%s)", api, type(exc).__name__)
        op.finish()
        return False


def _failed(
    api: str, op: FileOp | None, file: object, candidate: str, written: str, exc: BaseException
) -> None:
    """After an open that raised: the failure recorded on the activity."""
    try:
        if op is None:  # counted into a window: recorded on its own after all
            target = SCOPE.resolve(candidate, file)
            if target is not None:
                record_failure(api, target, exc)
            return
        if _settle(op, file, candidate, written, None):
            op.fail(exc)
            op.finish()
    except Exception as error:
        _logger.warning("could not record a failed open (%s)", type(error).__name__)


def open_wrapper(api: str) -> Callable[..., Any]:
    """The wrapper of ``builtins.open`` / ``io.open``."""

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        file = args[0] if args else kwargs.get("file")
        candidate = SCOPE.candidate(file)
        if candidate is None or not allowed() or _claimed(file):
            return wrapped(*args, **kwargs)
        plan = _safe_plan(api, file, candidate, args, kwargs)
        if plan is None:
            return wrapped(*args, **kwargs)
        op, written = plan
        try:
            with Busy():
                result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _failed(api, op, file, candidate, written, exc)
            raise
        if op is None or not _opened(api, op, file, candidate, written, result):
            return result
        return _proxied(api, op, result, None)

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
        op.finish()
    return opened


def _unit(file: Any) -> str:
    """What a file's reads and writes count: bytes in binary mode, characters in text mode."""
    return "chars" if "b" not in getattr(file, "mode", "b") else "bytes"


class TrackedFile(wrapt.ObjectProxy):  # type: ignore[misc]
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
        count = self._self_call(self.__wrapped__.write, data)
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
            self._self_op.finish()

    def __enter__(self) -> TrackedFile:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self._self_call(self.__wrapped__.__exit__, *exc_info)
        finally:
            self._self_op.finish()

    def __del__(self) -> None:
        """Never closed: flush what was written, so the size is right, and end the activity."""
        op = getattr(self, "_self_op", None)
        if op is None:
            return
        try:
            if not self.__wrapped__.closed:
                self.__wrapped__.flush()
        except Exception:  # the file's own finaliser reports its errors
            pass
        op.finish()


def aiofiles_open_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """The wrapper of ``aiofiles.threadpool._open``, the coroutine behind ``aiofiles.open``."""
    file = args[0] if args else kwargs.get("file")
    candidate = SCOPE.candidate(file)
    if candidate is None or not allowed():
        return wrapped(*args, **kwargs)
    return _open_async(wrapped, args, kwargs, file, candidate)


async def _open_async(
    wrapped: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    file: Any,
    candidate: str,
) -> Any:
    api = "aiofiles.open"
    plan = _safe_plan(api, file, candidate, args, kwargs)
    if plan is None:
        return await wrapped(*args, **kwargs)
    op, written = plan
    fd = file if type(file) is int else None
    if fd is not None:
        _claimed_fds.add(fd)
    else:
        try:
            claimed = Claimed(os.fspath(file))
        except Exception:  # a path-like that failed this time: leave the call to fail alone
            if op is not None:
                op.discard()
            return await wrapped(*args, **kwargs)
        if args:
            args = (claimed, *args[1:])
        else:
            kwargs = {**kwargs, "file": claimed}
    try:
        with Busy():
            result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        _failed(api, op, file, candidate, written, exc)
        raise
    finally:
        if fd is not None:
            _claimed_fds.discard(fd)
    inner = getattr(result, "_file", None)
    if op is None or not _opened(api, op, file, candidate, written, inner):
        return result
    if inner is None:  # not the aiofiles object we know: no file to proxy, end at once
        op.finish()
        return result
    return _proxied(api, op, result, inner)
