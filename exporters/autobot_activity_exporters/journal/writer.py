"""Appending records: one ``write`` of a whole frame to this process's own open segment.

The segment is opened ``O_APPEND`` under a hidden name, locked (``flock``, exclusive, for
as long as this process may append), given its header and only then renamed into place,
so a drainer never sees a segment without a header or a writer. Once ``write`` returns the
record is in the kernel's page cache: it survives the death of the process. What survives
a machine crash depends on the fsync policy (see ``FsyncPolicy``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import weakref
from pathlib import Path
from typing import Literal

from autobot_activity_exporters.journal.directory import (
    JournalDirectory,
    fsync_directory,
    new_segment_name,
)
from autobot_activity_exporters.journal.format import HEADER

FsyncPolicy = Literal["off", "batch", "always"]
FSYNC_POLICIES: tuple[FsyncPolicy, ...] = ("off", "batch", "always")
BATCH_FSYNC_SECONDS = 0.1
"""Under ``batch``, each segment with new records is synced this often (at most this much
is lost to a machine crash, besides what was being written)."""
SEGMENT_BYTES = 16 * 1024 * 1024
"""A segment is closed and a new one begun past this size, so shipped ones can be deleted."""


class SegmentWriter:
    """This process's open segment in one journal folder; safe to call from any thread."""

    def __init__(
        self,
        directory: JournalDirectory,
        fsync: FsyncPolicy = "off",
        segment_bytes: int = SEGMENT_BYTES,
    ) -> None:
        self.directory = directory
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._pid = 0
        self._dirty = False
        self.marks: dict[Path, int] = {}
        """Per segment this writer wrote: the end of its last record (what a flush awaits)."""
        self._closed = False
        _writers.add(self)
        if fsync == "batch":
            _start_syncer()

    def append(self, frame: bytes) -> None:
        """Append one frame with a single ``write``; ``OSError`` if it could not be written
        whole (nothing of it is left behind when the file can be cut back)."""
        with self._lock:
            if self._closed:
                raise OSError("the journal writer is closed")
            if self._fd is None or self._pid != os.getpid() or self._size >= self.segment_bytes:
                self._open_segment()
            fd = self._fd
            assert fd is not None and self._path is not None
            try:
                written = os.write(fd, frame)
            except OSError:
                self._cut_back(fd)
                raise
            if written != len(frame):
                self._cut_back(fd)
                raise OSError(f"short write to the journal ({written} of {len(frame)} bytes)")
            self._size += written
            self.marks[self._path] = self._size
            if self.fsync == "always":
                os.fdatasync(fd)
            else:
                self._dirty = True

    def close(self) -> None:
        """Close the open segment (it becomes final); later appends raise."""
        with self._lock:
            self._closed = True
            self._close_segment()

    def sync(self) -> None:
        """Make what was appended so far durable (``batch``'s periodic sync)."""
        with self._lock:
            if not self._dirty or self._fd is None or self._pid != os.getpid():
                return
            self._dirty = False
            fd = os.dup(self._fd)  # synced outside the lock: appends go on meanwhile
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)

    def forget_fork_parent(self) -> None:
        """In a forked child: the parent's segment and lock are the parent's; start afresh."""
        self._lock = threading.Lock()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # the parent's descriptor keeps its lock
        self._fd, self._path, self._size, self._dirty = None, None, 0, False
        self.marks = {}

    def _open_segment(self) -> None:
        self._close_segment()
        self.directory.ensure()
        pid = os.getpid()
        name = new_segment_name(pid)
        hidden = self.directory.path / f".{name}.new"
        fd = os.open(
            hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, HEADER)
            path = self.directory.path / name
            os.rename(hidden, path)
            if self.fsync != "off":
                os.fdatasync(fd)
                fsync_directory(self.directory.path)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(hidden)
            raise
        self._fd, self._path, self._size, self._pid = fd, path, len(HEADER), pid

    def _close_segment(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if self.fsync != "off" and self._dirty and self._pid == os.getpid():
                os.fdatasync(fd)
        finally:
            self._dirty = False
            os.close(fd)  # releases the lock: the segment is final

    def _cut_back(self, fd: int) -> None:
        """Remove a partly written frame; if that fails, retire the segment (its torn tail
        is then final, and a drainer skips it)."""
        try:
            os.ftruncate(fd, self._size)
        except OSError:
            self._close_segment()


_writers: weakref.WeakSet[SegmentWriter] = weakref.WeakSet()
_syncer: threading.Thread | None = None
_syncer_lock = threading.Lock()


def _start_syncer() -> None:
    """One thread per process syncs every ``batch`` writer's new records periodically."""
    global _syncer
    with _syncer_lock:
        if _syncer is not None and _syncer.is_alive():
            return
        _syncer = threading.Thread(target=_sync_forever, name="autobot-journal-sync", daemon=True)
        _syncer.start()


def _sync_forever() -> None:
    wait = threading.Event().wait
    while True:
        wait(BATCH_FSYNC_SECONDS)
        for writer in list(_writers):
            if writer.fsync == "batch":
                with contextlib.suppress(OSError):  # the next append reports a failing disk
                    writer.sync()


_held_for_fork: list[SegmentWriter] = []


def _before_fork() -> None:
    """Hold every writer's lock across ``fork``: a fork while a segment is being opened or
    closed would give the child a copy of its descriptor that no one knows to close, and the
    copy would keep the segment locked (undrainable) for the child's life."""
    for writer in list(_writers):
        writer._lock.acquire()
        _held_for_fork.append(writer)


def _after_fork_in_parent() -> None:
    while _held_for_fork:
        _held_for_fork.pop()._lock.release()


def _after_fork_in_child() -> None:
    global _syncer
    _syncer = None
    _held_for_fork.clear()
    for writer in list(_writers):
        writer.forget_fork_parent()  # a fresh lock: the parent's is held
        if writer.fsync == "batch":
            _start_syncer()


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
)
