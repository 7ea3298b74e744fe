"""The journal folder: segments, their cursors, who may drain, and the quarantine.

Layout (folders ``0700``, files ``0600``)::

    <time_ns>-<pid>-<random>.seg      a segment: one process's records, appended in order
    <time_ns>-<pid>-<random>.cursor   how far the segment has been shipped (8 bytes)
    drain.lock                        flock: one drainer at a time, across processes
    quarantine/                       what can never be delivered, with the reason

A writer holds an exclusive ``flock`` on its open segment for as long as it may append; a
segment whose lock can be taken is *final* (closed, or its process is dead: the kernel
releases the lock), so a drainer knows when a torn tail will never be completed and when a
fully shipped segment may be deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import struct
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autobot_activity_exporters.journal.format import (
    HEADER_SIZE,
    Damage,
    Frame,
    Scan,
    decode,
    scan,
)

SEGMENT_SUFFIX = ".seg"
CURSOR_SUFFIX = ".cursor"
DRAIN_LOCK = "drain.lock"
QUARANTINE = "quarantine"
QUARANTINE_MAX_FILES = 10_000
"""Entries the quarantine keeps at most, so a flood of bad records cannot fill the disk."""
_OFFSET = struct.Struct("<Q")
_READ_CHUNK = 4 * 1024 * 1024


class QuarantineFull(OSError):
    """The quarantine already holds ``QUARANTINE_MAX_FILES`` entries."""


@dataclass(frozen=True)
class Segment:
    """One segment file and its cursor."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def cursor_path(self) -> Path:
        return self.path.with_suffix(CURSOR_SUFFIX)

    @property
    def pid(self) -> int:
        """The writer's process id, from the name."""
        try:
            return int(self.path.stem.split("-")[1])
        except (IndexError, ValueError):
            return 0

    def cursor(self) -> int:
        """The offset up to which records are shipped (just past the header if none are)."""
        try:
            data = self.cursor_path.read_bytes()
        except FileNotFoundError:
            return HEADER_SIZE
        return _OFFSET.unpack(data)[0] if len(data) == _OFFSET.size else HEADER_SIZE

    def set_cursor(self, offset: int) -> None:
        """Record progress (not fsynced: after a crash a record may be shipped twice, which
        the destination ignores, never skipped)."""
        fd = os.open(self.cursor_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.pwrite(fd, _OFFSET.pack(offset), 0)
        finally:
            os.close(fd)

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def is_final(self) -> bool:
        """Whether no writer holds the segment any more (closed, or its process died)."""
        try:
            with _lock_descriptor(self.path, os.O_RDONLY) as fd:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # closing releases it
        except FileNotFoundError:
            return True
        except BlockingIOError:
            return False
        return True

    def read(self, offset: int, length: int = _READ_CHUNK) -> bytes:
        """Up to ``length`` bytes from ``offset``."""
        with open(self.path, "rb", buffering=0) as handle:
            return os.pread(handle.fileno(), length, offset)

    def remove(self) -> None:
        """Delete the segment, then its cursor (a cursor without segment is harmless)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.cursor_path.unlink()


@dataclass(frozen=True)
class JournalStatus:
    """What waits in a journal folder (``autobot-activity journal status``)."""

    directory: Path
    pending: int
    """Complete records not yet shipped."""
    pending_bytes: int
    left_behind: int
    """Of the pending records, those in segments other processes no longer write to."""
    segments: int
    live_writers: int
    """Segments a running process may still append to."""
    oldest_ns: int | None
    """End time of the oldest record waiting (epoch ns), if any."""
    quarantined: int


_lock_descriptors: set[int] = set()
"""Descriptors that hold a ``flock`` for a moment (a drain pass, a finality check). A child
forked meanwhile gets copies that would hold the lock for the child's whole life, with no
thread left to release it: shipping would stop for every process until the child exits."""
_lock_descriptors_guard = threading.Lock()
"""Held while a descriptor is opened and recorded, or forgotten and closed, and by ``fork``:
a fork between ``os.open`` (which lets other threads run) and the record would give the
child a copy no one knows to close."""


@contextlib.contextmanager
def _lock_descriptor(path: Path, flags: int) -> Iterator[int]:
    with _lock_descriptors_guard:
        fd = os.open(path, flags | os.O_CLOEXEC, 0o600)
        _lock_descriptors.add(fd)
    try:
        yield fd
    finally:
        with _lock_descriptors_guard:
            _lock_descriptors.discard(fd)
            os.close(fd)


def _close_lock_descriptors_in_child() -> None:
    for fd in _lock_descriptors:
        with contextlib.suppress(OSError):
            os.close(fd)  # the parent's copy keeps its lock until the parent lets it go
    _lock_descriptors.clear()
    _lock_descriptors_guard.release()


os.register_at_fork(
    before=_lock_descriptors_guard.acquire,
    after_in_parent=_lock_descriptors_guard.release,
    after_in_child=_close_lock_descriptors_in_child,
)


class JournalDirectory:
    """The folder of one installation's journal."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.quarantine_path = path / QUARANTINE
        self._lock = threading.Lock()
        self._quarantined: int | None = None

    def ensure(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)

    def segments(self) -> list[Segment]:
        """The segments, oldest first (names start with their creation time)."""
        try:
            with os.scandir(self.path) as entries:
                names = sorted(e.name for e in entries if e.name.endswith(SEGMENT_SUFFIX))
        except FileNotFoundError:
            return []
        return [Segment(self.path / name) for name in names]

    def pending_bytes(self) -> int:
        """Bytes of records not yet shipped, over every segment (the size the cap limits)."""
        return sum(max(0, segment.size() - segment.cursor()) for segment in self.segments())

    def nothing_waits(self) -> bool:
        """Whether every segment is shipped to its end (and final ones are gone)."""
        return all(
            not segment.is_final() and segment.cursor() >= segment.size()
            for segment in self.segments()
        )

    def discard(self, patience: float = 5.0) -> int:
        """Drop every waiting record on purpose; returns how many. Final segments are
        deleted; a running writer's segment is marked shipped to its current end."""
        deadline = time.monotonic() + patience
        while True:
            with self.draining() as mine:
                if mine:
                    count = self.status().pending
                    for segment in self.segments():
                        if segment.is_final():
                            segment.remove()
                        else:
                            segment.set_cursor(segment.size())
                    return count
            if time.monotonic() > deadline:
                raise BlockingIOError(f"another process is shipping {self.path}; try again")
            time.sleep(0.05)

    def remove_orphan_cursors(self) -> None:
        """Cursors whose segment is gone (a drainer died between the two deletions)."""
        try:
            with os.scandir(self.path) as entries:
                cursors = [Path(e.path) for e in entries if e.name.endswith(CURSOR_SUFFIX)]
        except FileNotFoundError:
            return
        for cursor in cursors:
            if not cursor.with_suffix(SEGMENT_SUFFIX).exists():
                with contextlib.suppress(FileNotFoundError):
                    cursor.unlink()

    @contextlib.contextmanager
    def draining(self) -> Iterator[bool]:
        """Hold the drain lock if no one else does; yields whether it was acquired."""
        self.ensure()
        with _lock_descriptor(self.path / DRAIN_LOCK, os.O_RDWR | os.O_CREAT) as fd:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True  # closing the descriptor releases the lock

    def status(self) -> JournalStatus:
        """Count what waits (reads every pending record's frame; decodes only the oldest)."""
        pending = pending_bytes = live = left_behind = 0
        oldest: int | None = None
        segments = self.segments()
        for segment in segments:
            final = segment.is_final()
            live += not final
            offset = segment.cursor()
            while True:
                found = read_records(segment, offset, final=final, limit=1 << 30)
                for item in found.items:
                    if not isinstance(item, Frame):
                        continue
                    pending += 1
                    left_behind += final and segment.pid != os.getpid()
                    pending_bytes += item.end - item.offset
                    if oldest is None:
                        with contextlib.suppress(ValueError):
                            end = decode(item.payload).end_ns
                            oldest = end if isinstance(end, int) else None
                if found.stop <= offset:
                    break
                offset = found.stop
        return JournalStatus(
            directory=self.path,
            pending=pending,
            pending_bytes=pending_bytes,
            left_behind=left_behind,
            segments=len(segments),
            live_writers=live,
            oldest_ns=oldest,
            quarantined=self.quarantined(),
        )

    # --- quarantine ---

    def quarantined(self) -> int:
        try:
            return sum(1 for entry in self.quarantine_path.iterdir() if entry.suffix != ".reason")
        except FileNotFoundError:
            return 0

    def quarantine_document(self, name: str, document: Mapping[str, Any]) -> Path:
        """Keep a JSON document (a refused activity's redacted rows, or an invalid one's
        attribute names and types) under ``name``."""
        path = self._quarantine_folder() / f"{name}.json"
        _write_durably(path, json.dumps(document, default=str).encode())
        return path

    def quarantine_bytes(self, name: str, data: bytes, reason: str) -> Path:
        """Keep damaged journal bytes as they were, with the reason beside them."""
        folder = self._quarantine_folder()
        path = folder / f"{name}.damaged"
        _write_durably(path, data)
        _write_durably(folder / f"{name}.damaged.reason", reason.encode())
        return path

    def _quarantine_folder(self) -> Path:
        """The quarantine folder, with room reserved for one more entry (``QuarantineFull``)."""
        with self._lock:
            if self._quarantined is None:
                self.quarantine_path.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._quarantined = self.quarantined()
            if self._quarantined >= QUARANTINE_MAX_FILES:
                raise QuarantineFull(f"the quarantine at {self.quarantine_path} is full")
            self._quarantined += 1
        return self.quarantine_path


def new_segment_name(pid: int) -> str:
    """A name that sorts by creation time and never collides between processes."""
    return f"{time.time_ns():020d}-{pid}-{uuid.uuid4().hex[:8]}{SEGMENT_SUFFIX}"


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    fsync_directory(path.parent)


def read_records(segment: Segment, start: int, *, final: bool, limit: int) -> Scan:
    """Up to ``limit`` records of ``segment`` from ``start``, offsets absolute.

    Reads in chunks; a record larger than a chunk is read whole. A segment is only scanned
    as final up to its end as it was measured, so a chunk boundary is never taken for a tear.
    """
    size = segment.size()
    length = _READ_CHUNK
    while start < size:
        data = segment.read(start, length)
        at_end = start + len(data) >= size
        found = scan(data, final=final and at_end, limit=limit)
        if found.items or at_end:
            return Scan([_shifted(item, start) for item in found.items], start + found.stop)
        length = max(length * 2, min(size - start, length * 2))
    return Scan([], start)


def _shifted(item: Frame | Damage, by: int) -> Frame | Damage:
    if isinstance(item, Frame):
        return Frame(item.offset + by, item.end + by, item.payload)
    return Damage(item.offset + by, item.end + by)
