"""The wrappers: each asks the scope first and calls straight through for an untracked path.

A tracked call is planned (paths resolved, operation named, activity started), run under the
nested-call guard so the wrapped calls it makes are not rows of their own, and finished with
its outcome. Planning and finishing swallow their own failures; the wrapped call's exception
propagates unchanged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.activities.file import DIRECTORY_TYPE
from autobot_activity_otel.arguments import Parameters
from autobot_activity_otel.instrumentation.file.scope import SCOPE, Target
from autobot_activity_otel.instrumentation.file.tracker import FileOp, FileTracking, size_of
from autobot_activity_otel.instrumentation.kit import Inside, Wrapper, allowed, call_recorded
from autobot_activity_otel.recording import ActivityRecord

_logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Call:
    """How to read and name one wrapped function's call.

    ``kind``: delete, rmdir, mkdir, move, copy, write, touch or read. ``source`` and
    ``target`` name the path parameters; ``source`` None means the path is the instance
    (``pathlib.Path`` methods). ``into_directory``: a destination that is a directory
    receives the source under its own name (``shutil.move``, ``copy``).
    """

    api: str
    kind: str
    source: str | None = "path"
    target: str | None = None
    source_dir_fd: str | None = None
    target_dir_fd: str | None = None
    recursive: bool = False
    into_directory: bool = False
    count_key: str | None = None


def one_shot(tracking: FileTracking, call: Call, arguments: Parameters) -> Wrapper:
    """A wrapper for a function that does its whole operation before it returns."""

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        source = instance if call.source is None else arguments.get(args, kwargs, call.source)
        source_fd = arguments.get(args, kwargs, call.source_dir_fd) if call.source_dir_fd else None
        tracked = SCOPE.candidate(source, source_fd) is not None
        target = target_fd = None
        if call.target is not None:
            target = arguments.get(args, kwargs, call.target)
            target_fd = (
                arguments.get(args, kwargs, call.target_dir_fd) if call.target_dir_fd else None
            )
            tracked = tracked or SCOPE.candidate(target, target_fd) is not None
        if not tracked or not allowed():
            return wrapped(*args, **kwargs)
        return _run(tracking, call, wrapped, args, kwargs, (source, source_fd), (target, target_fd))

    return wrapper


def _run(
    tracking: FileTracking,
    call: Call,
    wrapped: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    source: tuple[Any, int | None],
    target: tuple[Any, int | None],
) -> Any:
    try:
        plan = _plan(tracking, call, source, target)
    except Exception as exc:
        _logger.warning("file activity skipped for %s (%s)", call.api, type(exc).__name__)
        plan = None
    if plan is None:
        return wrapped(*args, **kwargs)
    op, before = plan
    if op is None:  # a read counted into a coalesced window
        return _run_absorbed(tracking, call.api, before, wrapped, args, kwargs)
    result = call_recorded(op, wrapped, args, kwargs)
    _after(call, op, before, result)
    return result


@dataclass(frozen=True, slots=True)
class _Before:
    """What was known before the call: the resolved paths, and the size of what is deleted."""

    source: Target
    target: Target | None
    size: int | None


def _plan(
    tracking: FileTracking,
    call: Call,
    source: tuple[Any, int | None],
    target: tuple[Any, int | None],
) -> tuple[FileOp | None, _Before] | None:
    """Resolve the paths, name the operation, start the activity; None when nothing to track."""
    follow = call.kind in ("write", "touch", "read", "copy")
    src = SCOPE.resolve(source[0], source[0], dir_fd=source[1], follow=follow)
    dst = None
    if call.target is not None:
        dst = SCOPE.resolve(target[0], target[0], dir_fd=target[1], follow=False)
    if src is None:
        return None
    operation = _operation(call, src, dst)
    size = size_of(src.path, follow=False) if operation == "delete" else None
    before = _Before(src, dst, size)
    if operation == "read" and tracking.coalescer.absorb(
        src.path, lambda: _start(tracking, call, before, "read")
    ):
        return None, before
    record = _start(tracking, call, before, operation)
    return FileOp(record, size_path=_size_path(call, src, dst)), before


def _operation(call: Call, src: Target, dst: Target | None) -> str:
    kind = call.kind
    if kind in ("write", "touch"):
        return "update" if os.path.exists(src.path) else "create"
    if kind == "move" and dst is not None:
        into = call.into_directory and os.path.isdir(dst.path)
        destination_dir = dst.path if into else os.path.dirname(dst.path)
        return "rename" if destination_dir == os.path.dirname(src.path) else "move"
    return {"delete": "delete", "rmdir": "rmdir", "mkdir": "mkdir", "copy": "copy"}.get(
        kind, "read"
    )


def _size_path(call: Call, src: Target, dst: Target | None) -> str | None:
    """The file whose size after the call is the activity's size."""
    if call.kind in ("write", "touch", "read"):
        return src.path
    if call.kind in ("move", "copy") and dst is not None:
        return dst.path
    return None


def _start(tracking: FileTracking, call: Call, before: _Before, operation: str) -> ActivityRecord:
    src, dst = before.source, before.target
    directory = call.kind in ("mkdir", "rmdir") or (call.recursive and call.kind == "copy")
    record = tracking.start(
        operation,
        src.path,
        new_path=None if dst is None else dst.path,
        given=src.given,
        traversal=src.traversal or (dst is not None and dst.traversal),
        kind_of_file=DIRECTORY_TYPE if directory else None,
        api=call.api,
    )
    if call.recursive:
        record.metadata["recursive"] = True
    return record


def _after(call: Call, op: FileOp, before: _Before, result: Any) -> None:
    """The destination the call reports (``shutil.move`` into a directory), counts, size."""
    try:
        if call.kind in ("move", "copy") and isinstance(result, str | os.PathLike):
            final = SCOPE.resolve(result, result, follow=False)
            if final is not None and before.target is not None and final.path != before.target.path:
                op.record.set_text(attr.FILE_NEW_PATH, final.path)
                op.size_path = final.path
        if call.count_key is not None:
            op.add(call.count_key, len(result) if call.kind == "read" else result)
    except Exception as exc:
        _logger.warning("could not read the outcome of %s (%s)", call.api, type(exc).__name__)
    op.end(before.size)


def _run_absorbed(
    tracking: FileTracking,
    api: str,
    before: _Before,
    wrapped: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """A coalesced read: counted already; only a failure becomes an activity of its own."""
    try:
        with Inside():
            return wrapped(*args, **kwargs)
    except BaseException as exc:
        tracking.record_failure(api, before.source, exc)
        raise
