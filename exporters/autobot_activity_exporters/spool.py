"""A durable local spool for batches the database did not take, replayed in order.

One file per batch, written to a temporary name, fsynced and renamed into place, so a crash
leaves either the whole batch or nothing; names start with a time-ordered number (then the
writer's pid and a random part, so processes sharing a spool never overwrite each other), so
replay keeps the order the batches failed in. The spool holds rows as the exporter would
write them: already redacted (twice). Its size is capped; a batch that does not fit is
refused, never written in part. One drainer at a time holds ``replay.lock`` (``flock``,
released by the kernel when its process dies).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from autobot_activity_exporters.rows import ActivityRows
from autobot_activity_otel import settings
from autobot_activity_otel.attributes import ActivityType

_logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
_SUFFIX = ".batch"
_QUARANTINE = "quarantine"
_LOCK = "replay.lock"
QUARANTINE_MAX_FILES = 10_000
"""Entries the quarantine keeps at most, so a flood of bad spans cannot fill the disk."""


class QuarantineFull(OSError):
    """The quarantine already holds ``QUARANTINE_MAX_FILES`` entries."""


def default_spool_dir(database_url: str) -> Path:
    """``$AUTOBOT_ACTIVITY_SPOOL_DIR`` (or a per-user state dir), one folder per database.

    Keyed on the URL without its password, so batches are only ever replayed into the
    database they were meant for.
    """
    base = settings.text(settings.SPOOL_DIR) or settings.state_dir() / "spool"
    safe_url = make_url(database_url).render_as_string(hide_password=True)
    return Path(base) / hashlib.sha256(safe_url.encode()).hexdigest()[:16]


class Spool:
    """Batches waiting for the database, oldest first."""

    def __init__(self, directory: Path, max_bytes: int | None = None) -> None:
        self.directory = directory
        self.max_bytes = max_bytes or settings.positive_int(
            settings.SPOOL_MAX_BYTES, DEFAULT_MAX_BYTES
        )
        self._lock = threading.Lock()
        self._last_ns = 0
        self._size: int | None = None
        self._quarantined: int | None = None

    def put(self, batch: list[ActivityRows]) -> bool:
        """Store a batch durably; False (and nothing written) when the spool is full."""
        data = _encode(batch)
        with self._lock:
            self._open()
            assert self._size is not None
            if self._size + len(data) > self.max_bytes:
                return False
            self._last_ns = max(time.time_ns(), self._last_ns + 1)
            name = f"{self._last_ns:020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{_SUFFIX}"
            _write_durably(self.directory / name, data)
            self._size += len(data)
        return True

    def has_pending(self) -> bool:
        """Whether any batch waits (cheaper than ``pending()``: stops at the first).

        An unreadable directory counts as empty: the write is tried, and spooling reports why.
        """
        try:
            with os.scandir(self.directory) as entries:
                return any(entry.name.endswith(_SUFFIX) for entry in entries)
        except OSError:
            return False

    def pending(self) -> list[Path]:
        """The spooled batch files, in the order they were written."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(f"*{_SUFFIX}"))

    def load(self, path: Path) -> list[ActivityRows]:
        return _decode(path.read_bytes())

    def remove(self, path: Path) -> None:
        """Forget a batch once the database has committed it (gone already is fine)."""
        with self._lock:
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                return
            if self._size is not None:
                self._size -= size

    @contextlib.contextmanager
    def draining(self) -> Iterator[bool]:
        """Hold the spool's drain lock if no one else does; yields whether it was acquired."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.directory / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # closing releases the lock

    def quarantine(self, rows: ActivityRows, reason: str) -> Path:
        """Set aside an activity the database rejects whatever happens, with the reason."""
        path = self._quarantine_folder() / f"{rows.activity['id']}.json"
        record = {"reason": reason, "rows": json.loads(_encode([rows]))}
        _write_durably(path, json.dumps(record).encode())
        return path

    def quarantine_span(self, reason: str, attributes: Mapping[str, object]) -> Path:
        """Set aside a span that cannot become rows: the reason and its attributes' names and
        types only (its values were never redacted, so none is stored)."""
        shape = {key: type(value).__name__ for key, value in attributes.items()}
        path = self._quarantine_folder() / f"span-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        _write_durably(path, json.dumps({"reason": reason, "attributes": shape}).encode())
        return path

    def quarantine_file(self, path: Path, reason: str) -> Path:
        """Move a batch file that cannot be read back aside (it holds redacted rows only)."""
        folder = self._quarantine_folder()
        target = folder / path.name
        with self._lock:
            size = path.stat().st_size
            os.replace(path, target)
            if self._size is not None:
                self._size -= size
        (folder / f"{path.name}.reason").write_text(reason)
        return target

    def _quarantine_folder(self) -> Path:
        """The quarantine folder, with room reserved for one more entry (``QuarantineFull``)."""
        folder = self.directory / _QUARANTINE
        with self._lock:
            if self._quarantined is None:
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._quarantined = sum(1 for _ in folder.iterdir())
            if self._quarantined >= QUARANTINE_MAX_FILES:
                raise QuarantineFull("the quarantine is full")
            self._quarantined += 1
        return folder

    def _open(self) -> None:
        """Find how much is stored (after a restart too)."""
        if self._size is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._size = sum(path.stat().st_size for path in self.pending())


def _write_durably(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _tag(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    raise TypeError(f"cannot spool a {type(value).__name__}")


def _untag(value: dict[str, Any]) -> Any:
    """A tagged UUID or datetime back; any other object (a look-alike in metadata) as it is."""
    if len(value) == 1 and isinstance(tagged := next(iter(value.values())), str):
        with contextlib.suppress(ValueError):
            if "$uuid" in value:
                return uuid.UUID(tagged)
            if "$datetime" in value:
                return datetime.fromisoformat(tagged)
    return value


def _encode(batch: list[ActivityRows]) -> bytes:
    return json.dumps([asdict(rows) for rows in batch], default=_tag).encode()


def _decode(data: bytes) -> list[ActivityRows]:
    return [
        ActivityRows(
            activity_type=ActivityType(item["activity_type"]),
            table=item["table"],
            activity=item["activity"],
            secret_usage=item["secret_usage"],
        )
        for item in json.loads(data, object_hook=_untag)
    ]
