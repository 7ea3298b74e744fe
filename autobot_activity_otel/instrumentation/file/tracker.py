"""The life of a tracked file operation: outcome, size, read coalescing."""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry.trace import Tracer

from autobot_activity_otel import attributes as attr
from autobot_activity_otel import settings
from autobot_activity_otel.activities.file import start_file_activity
from autobot_activity_otel.context import current_attribution
from autobot_activity_otel.instrumentation.file.scope import Target
from autobot_activity_otel.instrumentation.kit import Inside
from autobot_activity_otel.recording import ActivityRecord

_logger = logging.getLogger(__name__)

DEFAULT_COALESCE_MS = 1000


def size_of(path: str, *, follow: bool = True) -> int | None:
    """A regular file's size in bytes, or None (missing, a directory, unreadable)."""
    try:
        info = os.stat(path) if follow else os.lstat(path)
    except (OSError, ValueError):
        return None
    return info.st_size if not _is_dir(info.st_mode) else None


def _is_dir(mode: int) -> bool:
    return mode & 0o170000 == 0o040000


class FileOp:
    """A tracked operation in flight, ended once; every method swallows its own failures."""

    __slots__ = ("counts", "pending", "record", "size_path")

    def __init__(self, record: ActivityRecord, *, size_path: str | None = None) -> None:
        self.record = record
        self.size_path = size_path
        self.counts: dict[str, int] = {}
        self.pending = [True]
        """Emptied by whichever of ``end`` or ``discard`` comes first (``list.pop`` is atomic:
        a close and a garbage collection on two threads end the activity once, lock-free)."""

    def add(self, key: str, amount: object) -> None:
        """Count bytes or characters read or written (``bytes_written``, ``chars_read``...)."""
        if isinstance(amount, int) and amount > 0:
            self.counts[key] = self.counts.get(key, 0) + amount

    def discard(self) -> None:
        """Never end this activity: it turned out to be about one of the tracker's own files."""
        self._claim()

    def fail(self, exc: BaseException) -> None:
        self.size_path = None
        try:
            self.record.fail(exc)
        except Exception as error:
            _logger.warning("could not record a file operation failure (%s)", type(error).__name__)

    def _claim(self) -> bool:
        """True for the one caller that ends (or discards) the activity."""
        if not self.pending:  # ended already
            return False
        try:
            return self.pending.pop()
        except IndexError:  # another thread claimed it since the test above
            return False

    def end(self, size: int | None = None) -> None:
        """Set the size (given, or of ``size_path`` now) and the counts; end the activity."""
        if not self._claim():
            return
        try:
            with Inside():
                if size is None and self.size_path is not None:
                    size = size_of(self.size_path)
                record = self.record
                record.set(attr.FILE_SIZE, size)
                for key, amount in self.counts.items():  # counts: attributes, no JSON
                    record.set(f"{attr.METADATA_PREFIX}{key}", amount)
                record.end()
        except Exception as exc:
            _logger.warning("could not end a file activity (%s)", type(exc).__name__)


@dataclass(slots=True)
class _Window:
    deadline: int
    count: int = 0
    record: ActivityRecord | None = None


class ReadCoalescer:
    """Reads of one file in a tight loop become two activities per window instead of hundreds.

    The first read of a file (per user and session) is recorded at once and opens a window;
    the later reads of that file inside the window are counted into one more ``read``
    activity (metadata ``coalesced_reads``) that ends when the window closes.
    """

    def __init__(self, window_ms: float | None) -> None:
        """``window_ms``: the argument, else ``AUTOBOT_ACTIVITY_FILE_COALESCE_MS``, else 1 s."""
        if window_ms is None:
            window_ms = settings.non_negative_float(settings.FILE_COALESCE_MS, DEFAULT_COALESCE_MS)
        self.window_ns = max(0, int(window_ms * 1_000_000))
        self._windows: OrderedDict[tuple[object, ...], _Window] = OrderedDict()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._flusher: threading.Thread | None = None
        _after_fork_in_child.add(self)
        if not _fork_hook:
            os.register_at_fork(after_in_child=_forked)
            _fork_hook.append(True)

    def absorb(self, path: str, start: Callable[[], ActivityRecord]) -> bool:
        """Whether this read is counted into an open window (True) or recorded on its own."""
        if self.window_ns <= 0:
            return False
        who = current_attribution()
        key = (path, who.user_id, who.session_id)
        now = time.monotonic_ns()
        with self._lock:
            expired = self._expire(now)
            window = self._windows.get(key)
            if window is None:
                self._windows[key] = _Window(now + self.window_ns)
            else:
                window.count += 1
                if window.record is None:
                    window.record = start()
                    self._start_flusher()
                window.record.metadata["coalesced_reads"] = window.count
        _end_all(expired)
        return window is not None

    def flush(self) -> None:
        """End every pending summary now (uninstrument, exit, tests)."""
        with self._lock:
            expired = self._expire(None)
            self._wake.notify()
        _end_all(expired)

    def _expire(self, now: int | None) -> list[ActivityRecord]:
        """Drop the windows closed by ``now`` (all for None); their summaries, to end. Locked."""
        ended = []
        while self._windows:
            key, window = next(iter(self._windows.items()))
            if now is not None and window.deadline > now:
                break
            del self._windows[key]
            if window.record is not None:
                ended.append(window.record)
        return ended

    def after_fork(self) -> None:
        """In a forked child: no flusher thread, and the parent's windows are the parent's."""
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._windows.clear()
        self._flusher = None

    def _start_flusher(self) -> None:
        """Start the thread that closes windows, or wake it to the current window. Locked."""
        if self._flusher is None:
            self._flusher = threading.Thread(
                target=self._flush_loop, name="autobot-file-coalescer", daemon=True
            )
            self._flusher.start()
        else:
            self._wake.notify()

    def _flush_loop(self) -> None:
        """Close windows as they expire, checking four times a window; stop once none is open."""
        with Inside():
            while True:
                with self._lock:
                    self._wake.wait(max(self.window_ns, 1_000_000) / 4e9)
                    expired = self._expire(time.monotonic_ns())
                    idle = not self._windows
                    if idle:
                        self._flusher = None
                _end_all(expired)
                if idle:
                    return


def _end_all(records: list[ActivityRecord]) -> None:
    for record in records:
        try:
            with Inside():
                record.end()
        except Exception as exc:
            _logger.warning("could not end a coalesced read (%s)", type(exc).__name__)


_after_fork_in_child: weakref.WeakSet[ReadCoalescer] = weakref.WeakSet()
_fork_hook: list[bool] = []
"""Whether the fork hook is registered: once per process, by the first coalescer."""


def _forked() -> None:
    for coalescer in list(_after_fork_in_child):
        coalescer.after_fork()


@dataclass(frozen=True, slots=True)
class FileTracking:
    """What the wrappers of one ``instrument()`` share: its tracer and its read coalescer."""

    tracer: Tracer
    coalescer: ReadCoalescer

    def start(
        self,
        operation: str,
        path: str,
        *,
        new_path: str | None = None,
        given: str | None = None,
        traversal: bool = False,
        kind_of_file: str | None = None,
        api: str | None = None,
    ) -> ActivityRecord:
        """A file activity of this instrumentation (see ``start_file_activity``)."""
        return start_file_activity(
            operation,
            path,
            new_path=new_path,
            given=given,
            traversal=traversal,
            kind_of_file=kind_of_file,
            api=api,
            tracer=self.tracer,
            implied=False,
        )

    def record_failure(self, api: str, target: Target, exc: BaseException) -> None:
        """A failed read that coalescing had counted: recorded on its own after all."""
        try:
            record = self.start(
                "read", target.path, given=target.given, traversal=target.traversal, api=api
            )
            op = FileOp(record)
            op.fail(exc)
            op.end()
        except Exception as error:
            _logger.warning("could not record a failed read (%s)", type(error).__name__)
