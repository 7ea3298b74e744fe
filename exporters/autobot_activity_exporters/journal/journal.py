"""The journal: every activity is appended to a local file before anything else, then shipped.

``append`` is what an ending activity span costs the application: one encode and one
``write`` (plus an ``fdatasync`` under ``FSYNC=always``). A shipper on its own loop thread
sends what was appended to the destination and deletes it once delivered. What is full,
broken or refused is counted and said once per cause; nothing raises into the caller except
the ``refuse`` policy's ``ActivityRefused``, which the host asked for.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from opentelemetry import metrics

from autobot_activity_exporters.journal.destination import DatabaseDestination, Destination
from autobot_activity_exporters.journal.directory import JournalDirectory, JournalStatus, Segment
from autobot_activity_exporters.journal.drainer import DrainerProcess, in_drainer, spec_for
from autobot_activity_exporters.journal.format import encode
from autobot_activity_exporters.journal.loop import LoopThread
from autobot_activity_exporters.journal.reporting import Reporter
from autobot_activity_exporters.journal.shipper import BATCH_RECORDS, POLL_SECONDS, Shipper
from autobot_activity_exporters.journal.writer import (
    FSYNC_POLICIES,
    SEGMENT_BYTES,
    FsyncPolicy,
    SegmentWriter,
)
from autobot_activity_otel import settings
from autobot_activity_otel.admission import (
    ActivityRefused,
    admission_check,
    set_admission_check,
)
from autobot_activity_otel.instrumentation.file.scope import ignore_path
from autobot_activity_otel.snapshot import ActivitySnapshot

_logger = logging.getLogger("autobot_activity_exporters.journal")

Overflow = Literal["drop", "block", "refuse"]
OVERFLOW_POLICIES: tuple[Overflow, ...] = ("drop", "block", "refuse")
ShipFrom = Literal["thread", "process"]
SHIP_FROM: tuple[ShipFrom, ...] = ("thread", "process")
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024
DEFAULT_BLOCK_TIMEOUT_SECONDS = 10.0
DEFAULT_EXIT_TIMEOUT_SECONDS = 10.0
ROOM_RECHECK_SECONDS = 0.02
"""A full journal is measured again at most this often (it reads every cursor)."""


class Journal:
    """One journal folder, this process's writer into it, and a shipper to a destination."""

    def __init__(
        self,
        destination: Destination,
        *,
        directory: str | os.PathLike[str] | None = None,
        fsync: FsyncPolicy | None = None,
        max_bytes: int | None = None,
        overflow: Overflow | None = None,
        block_timeout: float | None = None,
        exit_timeout: float | None = None,
        send_timeout: float = 10.0,
        meter_provider: metrics.MeterProvider | None = None,
        segment_bytes: int = SEGMENT_BYTES,
        batch_records: int = BATCH_RECORDS,
        shipper: ShipFrom | None = None,
    ) -> None:
        self.directory = JournalDirectory(
            Path(directory) if directory is not None else settings.journal_dir()
        )
        self.destination = destination
        self.fsync: FsyncPolicy = fsync or settings.choice(
            settings.JOURNAL_FSYNC, FSYNC_POLICIES, "off"
        )
        self.max_bytes = max_bytes or settings.positive_int(
            settings.JOURNAL_MAX_BYTES, DEFAULT_MAX_BYTES
        )
        self.overflow: Overflow = overflow or settings.choice(
            settings.OVERFLOW, OVERFLOW_POLICIES, "drop"
        )
        self.block_timeout = (
            settings.non_negative_float(settings.BLOCK_TIMEOUT, DEFAULT_BLOCK_TIMEOUT_SECONDS)
            if block_timeout is None
            else block_timeout
        )
        self.exit_timeout = (
            settings.non_negative_float(settings.EXIT_TIMEOUT, DEFAULT_EXIT_TIMEOUT_SECONDS)
            if exit_timeout is None
            else exit_timeout
        )
        self.reporter = Reporter(self.directory, meter_provider)
        self.writer = SegmentWriter(self.directory, self.fsync, segment_bytes)
        self.shipper = Shipper(
            self.directory,
            destination,
            self.reporter,
            send_timeout=send_timeout,
            batch_records=batch_records,
        )
        self.closed = False
        self._lock = threading.Lock()
        self._loop = LoopThread("autobot-activity-journal")
        self._background: concurrent.futures.Future[None] | None = None
        self._estimate = 0
        """Bytes waiting, as of the last measurement plus what this process appended since:
        never less than the truth, so the cap is only measured again when it seems reached."""
        self._measured_at = -ROOM_RECHECK_SECONDS
        self._largest = 1024
        """The largest record appended: the room an activity about to start may need."""
        self._full_until: float | None = None
        self._forked = False
        _check_one_destination(self.directory.path, destination.description)
        ignore_path(self.directory.path)  # the file instrumentation never records the journal
        self.directory.ensure()
        self.drainer = self._start_drainer(
            shipper or settings.choice(settings.SHIPPER, SHIP_FROM, "thread")
        )
        self._start_background()
        if self.overflow != "drop":
            set_admission_check(self.admit)
        _journals.add(self)
        atexit.register(_close_at_exit, weakref.ref(self))

    # --- the producer's side ---

    def append(self, snapshot: ActivitySnapshot) -> bool:
        """Journal one finished activity; False (counted, said once) if it was dropped.

        Never raises: a full journal under ``drop``, a failing disk, a value that cannot be
        encoded are drops; under ``block`` a full journal is waited on first.
        """
        return self.append_encoded(lambda: encode(snapshot))

    def append_encoded(self, encoder: Callable[[], bytes]) -> bool:
        """``append`` for a record framed by ``encoder`` (the span processor frames an SDK
        span directly)."""
        if self._forked:
            self._restart_after_fork()
        try:
            frame = encoder()
        except Exception as exc:
            return self._drop("unencodable", "activity dropped: it could not be encoded (%s)", exc)
        size = len(frame)
        if self._estimate + size > self.max_bytes and not self._room_at_end(size):
            return self._drop(
                "journal_full",
                "activity dropped: the journal at %s is full (%s); "
                f"{settings.JOURNAL_MAX_BYTES}={self.max_bytes}",
                self.directory.path,
                self.destination.description,
            )
        try:
            self.writer.append(frame)
        except OSError as exc:
            return self._drop(
                "journal_error",
                "activity dropped: the journal at %s could not be written (%s)",
                self.directory.path,
                exc.strerror or exc,
            )
        self._estimate += size
        if size > self._largest:
            self._largest = size
        if self.shipper.idle:
            self.shipper.idle = False
            self._loop.call_soon(self.shipper.wake)
        return True

    def admit(self) -> None:
        """The admission check (``block`` and ``refuse``): runs as an activity starts."""
        needed = self._largest
        if self._estimate + needed <= self.max_bytes or self.closed or self._room(needed):
            return
        if self.overflow == "refuse":
            self.reporter.refused(1)
            self.reporter.warn(
                "refused",
                "activities refused: the journal at %s is full (%s unreachable?)",
                self.directory.path,
                self.destination.description,
            )
            raise ActivityRefused(
                f"not run: its activity cannot be recorded, the activity journal at"
                f" {self.directory.path} is full ({settings.OVERFLOW}=refuse)"
            )
        self._wait_for_room(needed)  # block: if it gives up, the activity is dropped at its end

    def _room_at_end(self, size: int) -> bool:
        if self._room(size):
            return True
        if self.overflow == "refuse":
            return True  # admitted before the cap was reached: kept, over the cap
        return self.overflow == "block" and self._wait_for_room(size)

    def _room(self, size: int) -> bool:
        """Whether ``size`` more bytes fit, measuring the folder again if it is time."""
        if self._estimate + size <= self.max_bytes:
            return True
        now = time.monotonic()
        if now - self._measured_at >= ROOM_RECHECK_SECONDS:
            self._measured_at = now
            self._estimate = self.directory.pending_bytes()
        if self._estimate + size <= self.max_bytes:
            self._full_until = None
            return True
        return False

    def _wait_for_room(self, size: int) -> bool:
        """Wait for room until the current full spell is ``block_timeout`` old; after that,
        no one waits until there is room again (each drop is counted)."""
        now = time.monotonic()
        if self._full_until is None:
            self._full_until = now + self.block_timeout
            self.reporter.warn(
                "blocking",
                "activities wait: the journal at %s is full (%s unreachable?)",
                self.directory.path,
                self.destination.description,
            )
        while time.monotonic() < self._full_until:
            self._loop.call_soon(self.shipper.wake)
            time.sleep(ROOM_RECHECK_SECONDS)
            if self._room(size):
                return True
        return False

    def _drop(self, reason: str, message: str, *args: object) -> bool:
        self.reporter.dropped(1, reason)
        self.reporter.warn(reason, message, *args)
        return False

    # --- shipping on demand, and the end ---

    def flush(self, timeout: float) -> bool:
        """Ship what this process appended; True once all of it is delivered."""
        done = self._own_records_shipped()
        if done():
            return True
        if self.closed:
            return False
        deadline = time.monotonic() + timeout
        try:
            return self._loop.run(self.shipper.ship_until(done, deadline), timeout + 1.0)
        except Exception:
            return done()

    def drain(self, deadline: float) -> bool:
        """Ship everything waiting in the folder, whoever wrote it, until the monotonic
        ``deadline``; True once nothing waits (``autobot-activity journal replay``)."""
        timeout = deadline - time.monotonic()
        nothing_waits = self.directory.nothing_waits
        try:
            return self._loop.run(self.shipper.ship_until(nothing_waits, deadline), timeout + 1.0)
        except Exception:
            return nothing_waits()

    def close(self, timeout: float | None = None) -> None:
        """Ship what this process appended within ``timeout`` (at most the exit timeout),
        then stop; what is left waits in the journal for the next start (said once)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        budget = self.exit_timeout if timeout is None else min(timeout, self.exit_timeout)
        deadline = time.monotonic() + budget
        self.writer.close()
        if admission_check() == self.admit:
            set_admission_check(None)
        done = self._own_records_shipped(removed=True)  # closed segments are deleted once shipped
        if self._loop.in_this_process():
            try:
                self._loop.run(self.shipper.ship_until(done, deadline), budget + 1.0)
            except Exception as exc:
                _logger.debug("journal shipping at close ended: %s", type(exc).__name__)
            try:
                self._loop.run(self._stop_background(), max(deadline - time.monotonic(), 1.0))
            except Exception as exc:
                _logger.debug("journal shipper stop: %s", type(exc).__name__)
            self._loop.stop(max(deadline - time.monotonic(), 1.0))
        if self.drainer is not None:
            self.drainer.stop(max(deadline - time.monotonic(), 0.0))
        if not done():
            waiting = self.directory.status().pending
            _logger.warning(
                "%d activities wait in the journal at %s for the next start (%s not reached"
                " within %.0f s)",
                waiting,
                self.directory.path,
                self.destination.description,
                budget,
            )

    def status(self) -> JournalStatus:
        return self.directory.status()

    def _own_records_shipped(self, *, removed: bool = False) -> _Shipped:
        return _Shipped(dict(self.writer.marks), removed=removed)

    # --- the background shipper ---

    def _start_drainer(self, ship_from: ShipFrom) -> DrainerProcess | None:
        """The drainer child for ``process`` (a database destination only); None for
        ``thread``, or when it could not be started (said once: the thread ships)."""
        if ship_from != "process" or in_drainer():
            return None
        if not isinstance(self.destination, DatabaseDestination):
            _logger.warning(
                "%s=process ships to a database only; %s is shipped from a thread",
                settings.SHIPPER,
                self.destination.description,
            )
            return None
        try:
            return DrainerProcess(
                spec_for(
                    self.directory.path,
                    self.destination,
                    self.shipper.send_timeout,
                    self.exit_timeout,
                )
            )
        except OSError as exc:
            _logger.warning("journal drainer process not started (%s); a thread ships", exc)
            return None

    def _start_background(self) -> None:
        self._background = self._loop.submit(self._run_background())

    async def _run_background(self) -> None:
        await asyncio.sleep(0)
        self._report_leftovers()
        drainer = self.drainer
        if drainer is not None:
            # The drainer ships; this process only journals (polled: the child was not
            # started by this loop, so there is no awaitable exit to wait on).
            while drainer.alive():  # noqa: ASYNC110
                await asyncio.sleep(POLL_SECONDS)
            if not self.closed:
                _logger.warning(
                    "journal drainer process %d ended; shipping from this process", drainer.pid
                )
        await self.shipper.run()

    async def _stop_background(self) -> None:
        """Cancel the shipper (and a retention prune in flight), then close the destination."""
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.destination.close()

    def _report_leftovers(self) -> None:
        """Say once, at start, what earlier processes left, and where an old spool lies."""
        try:
            status = self.directory.status()
            if status.left_behind:
                _logger.warning(
                    "%d activities left by earlier processes wait in the journal at %s;"
                    " shipping them to %s",
                    status.left_behind,
                    self.directory.path,
                    self.destination.description,
                )
            _warn_about_an_old_spool()
        except OSError as exc:
            _logger.warning("journal at %s not readable (%s)", self.directory.path, exc)

    def _restart_after_fork(self) -> None:
        """In a forked child: a shipper of its own (the parent's thread did not come along)."""
        with self._lock:
            if not self._forked:
                return
            self._forked = False
            self.drainer = None  # the parent's drainer is the parent's: this child's thread ships
            self._loop = LoopThread("autobot-activity-journal")
            self._estimate = 0
            self._start_background()


class _Shipped:
    """Whether every record in ``marks`` (segment -> end) is delivered (or its segment gone;
    with ``removed``, only the latter: a closed segment is deleted by the next drain)."""

    def __init__(self, marks: dict[Path, int], *, removed: bool = False) -> None:
        self.marks = marks
        self.removed = removed

    def __call__(self) -> bool:
        for path, end in self.marks.items():
            if path.exists() and (self.removed or Segment(path).cursor() < end):
                return False
        return True


def _warn_about_an_old_spool() -> None:
    """The spool of versions before the journal is not replayed: name it, once per start."""
    folder = Path(settings.text(settings.LEGACY_SPOOL_DIR) or settings.state_dir() / "spool")
    if not folder.is_dir():
        return
    batches = sum(1 for _ in folder.rglob("*.batch"))
    if batches:
        _logger.warning(
            "%d batches of an earlier version wait in the spool at %s; they are not replayed"
            " (see docs/reliability.md, 'The old spool')",
            batches,
            folder,
        )


_destinations: dict[Path, str] = {}


def _check_one_destination(directory: Path, destination: str) -> None:
    """Say so when one process points two destinations at one journal: each drainer ships
    every record to its own destination, so which one gets a record is a race."""
    first = _destinations.setdefault(directory.resolve(), destination)
    if first != destination:
        _logger.warning(
            "the journal at %s is shared by two destinations (%s, %s): give each its own %s",
            directory,
            first,
            destination,
            settings.JOURNAL_DIR,
        )


_journals: weakref.WeakSet[Journal] = weakref.WeakSet()


def _close_at_exit(reference: weakref.ref[Journal]) -> None:
    journal = reference()
    if journal is not None:
        journal.close()


def _after_fork_in_child() -> None:
    for journal in list(_journals):
        journal._lock = threading.Lock()
        journal.shipper.forget_fork_parent()
        journal.reporter.forget_fork_parent()
        journal._forked = True


os.register_at_fork(after_in_child=_after_fork_in_child)
