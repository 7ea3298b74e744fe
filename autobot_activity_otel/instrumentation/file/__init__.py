"""File auto-instrumentation: operations on files under configured roots become activities.

Wrapped: ``open`` / ``io.open``, ``os.remove`` / ``unlink`` / ``rename`` / ``replace`` /
``mkdir`` / ``makedirs`` / ``rmdir``, ``shutil.move`` / ``copy`` / ``copy2`` / ``copyfile`` /
``copytree`` / ``rmtree``, the ``pathlib.Path`` methods that read, write, touch, create,
rename or remove, and ``aiofiles.open`` when aiofiles is importable. Only paths under a root
are tracked (``AUTOBOT_ACTIVITY_FILE_ROOTS``, ``os.pathsep``-separated, or
``instrument(roots=[...])``); paths registered with ``ignore_path`` (the exporter's own
database and journal) and anything inside ``suppress_instrumentation()`` never are. An
operation that calls another wrapped one (``shutil.move`` calling ``os.rename``) is one
activity. See docs/file.md for the operations, the attributes and the coalescing rule.

Usage::

    FileInstrumentor().instrument(roots=["/srv/uploads"])
"""

from __future__ import annotations

import atexit
import builtins
import importlib
import io
import logging
import os
import pathlib
import shutil
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from opentelemetry.trace import Tracer

from autobot_activity_otel.arguments import parameters
from autobot_activity_otel.instrumentation.file.opening import aiofiles_open_wrapper, open_wrapper
from autobot_activity_otel.instrumentation.file.package import _instruments
from autobot_activity_otel.instrumentation.file.scope import (
    SCOPE,
    ignore_path,
    roots_from_environment,
)
from autobot_activity_otel.instrumentation.file.tracker import FileTracking, ReadCoalescer
from autobot_activity_otel.instrumentation.file.wrappers import Call, one_shot
from autobot_activity_otel.instrumentation.kit import ActivityInstrumentor, Target

_logger = logging.getLogger(__name__)

_OS_CALLS = {
    "remove": Call("os.remove", "delete", source_dir_fd="dir_fd"),
    "unlink": Call("os.unlink", "delete", source_dir_fd="dir_fd"),
    "rmdir": Call("os.rmdir", "rmdir", source_dir_fd="dir_fd"),
    "mkdir": Call("os.mkdir", "mkdir", source_dir_fd="dir_fd"),
    "makedirs": Call("os.makedirs", "mkdir", source="name", recursive=True),
    "rename": Call("os.rename", "move", "src", "dst", "src_dir_fd", "dst_dir_fd"),
    "replace": Call("os.replace", "move", "src", "dst", "src_dir_fd", "dst_dir_fd"),
}
_SHUTIL_CALLS = {
    "move": Call("shutil.move", "move", "src", "dst", into_directory=True),
    "copy": Call("shutil.copy", "copy", "src", "dst", into_directory=True),
    "copy2": Call("shutil.copy2", "copy", "src", "dst", into_directory=True),
    "copyfile": Call("shutil.copyfile", "copy", "src", "dst"),
    "copytree": Call("shutil.copytree", "copy", "src", "dst", recursive=True),
    "rmtree": Call("shutil.rmtree", "rmdir", source_dir_fd="dir_fd", recursive=True),
}
_PATH_CALLS = {
    "write_text": Call("Path.write_text", "write", source=None, count_key="chars_written"),
    "write_bytes": Call("Path.write_bytes", "write", source=None, count_key="bytes_written"),
    "read_text": Call("Path.read_text", "read", source=None, count_key="chars_read"),
    "read_bytes": Call("Path.read_bytes", "read", source=None, count_key="bytes_read"),
    "touch": Call("Path.touch", "touch", source=None),
    "unlink": Call("Path.unlink", "delete", source=None),
    "rename": Call("Path.rename", "move", source=None, target="target"),
    "replace": Call("Path.replace", "move", source=None, target="target"),
    "mkdir": Call("Path.mkdir", "mkdir", source=None),
    "rmdir": Call("Path.rmdir", "rmdir", source=None),
}
_CALLS: tuple[tuple[object, dict[str, Call]], ...] = (
    (os, _OS_CALLS),
    (shutil, _SHUTIL_CALLS),
    (pathlib.Path, _PATH_CALLS),
)


class FileInstrumentor(ActivityInstrumentor):
    """Record file operations under the configured roots as ``file`` activities.

    Options of ``instrument()``: ``tracer_provider``; ``roots`` (paths; default
    ``AUTOBOT_ACTIVITY_FILE_ROOTS``); ``coalesce_window_ms`` (default
    ``AUTOBOT_ACTIVITY_FILE_COALESCE_MS`` or 1000; 0 records every read on its own).
    """

    _coalescer: ReadCoalescer | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _targets(self, tracer: Tracer, options: Mapping[str, Any]) -> Iterable[Target]:
        roots = options.get("roots")
        SCOPE.set_roots(roots_from_environment() if roots is None else roots)
        if not SCOPE.roots:
            _logger.info(
                "file instrumentation: no roots configured (AUTOBOT_ACTIVITY_FILE_ROOTS or "
                "instrument(roots=...)), so no file operation is tracked"
            )
            return []
        coalescer = self._coalescer = ReadCoalescer(options.get("coalesce_window_ms"))
        atexit.register(coalescer.flush)
        tracking = FileTracking(tracer, coalescer)
        targets = [
            Target(builtins, "open", open_wrapper(tracking, "open")),
            Target(io, "open", open_wrapper(tracking, "io.open")),
        ]
        for owner, calls in _CALLS:
            for name, call in calls.items():
                arguments = parameters(getattr(owner, name), bound=isinstance(owner, type))
                targets.append(Target(owner, name, one_shot(tracking, call, arguments)))
        try:
            threadpool = importlib.import_module("aiofiles.threadpool")
        except ImportError:
            return targets
        if callable(getattr(threadpool, "_open", None)):
            targets.append(Target(threadpool, "_open", aiofiles_open_wrapper(tracking)))
        return targets

    def _release(self) -> None:
        coalescer, self._coalescer = self._coalescer, None
        if coalescer is not None:
            atexit.unregister(coalescer.flush)
            coalescer.flush()
        SCOPE.set_roots(())

    def flush(self) -> None:
        """End the pending summaries of coalesced reads now instead of when their window ends."""
        if self._coalescer is not None:
            self._coalescer.flush()


def flush() -> None:
    """End the pending summaries of coalesced reads now instead of when their window closes."""
    FileInstrumentor().flush()


__all__ = ["FileInstrumentor", "flush", "ignore_path"]
