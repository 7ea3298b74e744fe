"""File auto-instrumentation: operations on files under configured roots become activities.

Wrapped: ``open`` / ``io.open``, ``os.remove`` / ``unlink`` / ``rename`` / ``replace`` /
``mkdir`` / ``makedirs`` / ``rmdir``, ``shutil.move`` / ``copy`` / ``copy2`` / ``copyfile`` /
``copytree`` / ``rmtree``, the ``pathlib.Path`` methods that read, write, touch, create,
rename or remove, and ``aiofiles.open`` when aiofiles is importable. Only paths under a root
are tracked (``AUTOBOT_ACTIVITY_FILE_ROOTS``, ``os.pathsep``-separated, or
``instrument(roots=[...])``); paths registered with ``ignore_path`` (the exporter's own
database and spool) and anything inside ``suppress_instrumentation()`` never are. An
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
from collections.abc import Collection
from typing import Any, ClassVar

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from autobot_activity_otel.instrumentation.file.opening import aiofiles_open_wrapper, open_wrapper
from autobot_activity_otel.instrumentation.file.package import _instruments
from autobot_activity_otel.instrumentation.file.scope import (
    SCOPE,
    ignore_path,
    roots_from_environment,
)
from autobot_activity_otel.instrumentation.file.tracker import COALESCER
from autobot_activity_otel.instrumentation.file.wrappers import Call, Wrapper, one_shot

_logger = logging.getLogger(__name__)

_SRC_DST = {"source": (0, "src"), "target": (1, "dst")}
_OS_CALLS = {
    "remove": Call("os.remove", "delete", source_dir_fd="dir_fd"),
    "unlink": Call("os.unlink", "delete", source_dir_fd="dir_fd"),
    "rmdir": Call("os.rmdir", "rmdir", source_dir_fd="dir_fd"),
    "mkdir": Call("os.mkdir", "mkdir", source_dir_fd="dir_fd"),
    "makedirs": Call("os.makedirs", "mkdir", source=(0, "name"), recursive=True),
    "rename": Call(
        "os.rename", "move", **_SRC_DST, source_dir_fd="src_dir_fd", target_dir_fd="dst_dir_fd"
    ),
    "replace": Call(
        "os.replace", "move", **_SRC_DST, source_dir_fd="src_dir_fd", target_dir_fd="dst_dir_fd"
    ),
}
_SHUTIL_CALLS = {
    "move": Call("shutil.move", "move", **_SRC_DST, into_directory=True),
    "copy": Call("shutil.copy", "copy", **_SRC_DST, into_directory=True),
    "copy2": Call("shutil.copy2", "copy", **_SRC_DST, into_directory=True),
    "copyfile": Call("shutil.copyfile", "copy", **_SRC_DST),
    "copytree": Call("shutil.copytree", "copy", **_SRC_DST, recursive=True),
    "rmtree": Call("shutil.rmtree", "rmdir", source_dir_fd="dir_fd", recursive=True),
}
_PATH_CALLS = {
    "write_text": Call("Path.write_text", "write", source=None, count_key="chars_written"),
    "write_bytes": Call("Path.write_bytes", "write", source=None, count_key="bytes_written"),
    "read_text": Call("Path.read_text", "read", source=None, count_key="chars_read"),
    "read_bytes": Call("Path.read_bytes", "read", source=None, count_key="bytes_read"),
    "touch": Call("Path.touch", "touch", source=None),
    "unlink": Call("Path.unlink", "delete", source=None),
    "rename": Call("Path.rename", "move", source=None, target=(0, "target")),
    "replace": Call("Path.replace", "move", source=None, target=(0, "target")),
    "mkdir": Call("Path.mkdir", "mkdir", source=None),
    "rmdir": Call("Path.rmdir", "rmdir", source=None),
}


def _targets() -> list[tuple[Any, str, Wrapper]]:
    """(owner, attribute, wrapper) for everything wrapped; aiofiles only when importable."""
    targets: list[tuple[Any, str, Wrapper]] = [
        (builtins, "open", open_wrapper("open")),
        (io, "open", open_wrapper("io.open")),
    ]
    targets += [(os, name, one_shot(call)) for name, call in _OS_CALLS.items()]
    targets += [(shutil, name, one_shot(call)) for name, call in _SHUTIL_CALLS.items()]
    targets += [(pathlib.Path, name, one_shot(call)) for name, call in _PATH_CALLS.items()]
    try:
        threadpool = importlib.import_module("aiofiles.threadpool")
    except ImportError:
        return targets
    if callable(getattr(threadpool, "_open", None)):
        targets.append((threadpool, "_open", aiofiles_open_wrapper))
    return targets


class FileInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Record file operations under the configured roots as ``file`` activities.

    Options of ``instrument()``: ``roots`` (paths; default ``AUTOBOT_ACTIVITY_FILE_ROOTS``),
    ``coalesce_window_ms`` (default ``AUTOBOT_ACTIVITY_FILE_COALESCE_MS`` or 1000; 0 records
    every read on its own).
    """

    _wrapped: ClassVar[list[tuple[Any, str]]] = []

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        roots = kwargs.get("roots")
        SCOPE.set_roots(roots_from_environment() if roots is None else roots)
        if not SCOPE.roots:
            _logger.info(
                "file instrumentation: no roots configured (AUTOBOT_ACTIVITY_FILE_ROOTS or "
                "instrument(roots=...)), so no file operation is tracked"
            )
            return
        COALESCER.configure(kwargs.get("coalesce_window_ms"))
        for owner, name, wrapper in _targets():
            wrap_function_wrapper(owner, name, wrapper)
            FileInstrumentor._wrapped.append((owner, name))
        atexit.register(COALESCER.flush)

    def _uninstrument(self, **kwargs: Any) -> None:
        while FileInstrumentor._wrapped:
            owner, name = FileInstrumentor._wrapped.pop()
            unwrap(owner, name)
        atexit.unregister(COALESCER.flush)
        COALESCER.flush()
        SCOPE.set_roots(())


def flush() -> None:
    """End the pending summaries of coalesced reads now instead of when their window closes."""
    COALESCER.flush()


__all__ = ["FileInstrumentor", "flush", "ignore_path"]
