"""Shipping: journal records to the destination, oldest segment first, cursor by cursor.

One drainer at a time holds the folder's drain lock (any process's shipper may be it). It
reads each segment from its cursor, sends complete records in batches, and advances the
cursor once ``send`` returns; a final segment (no writer left) that is fully shipped is
deleted. A transient failure leaves the cursor where it was: the batch is sent again after
a jittered back-off, and a batch that was committed before the failure is harmless the
second time (the destination ignores activity ids it has); a destination that asks for a
longer wait (``NotDelivered.retry_after``: the ingest service's ``Retry-After``) gets it.
Damaged bytes and refused activities go to the quarantine, activities a destination took
but rejected without saying which are counted and said, and the records behind them go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from pathlib import Path

from autobot_activity_exporters.delivery import NotDelivered, backoff
from autobot_activity_exporters.journal.destination import Destination, Refusal, Rejected
from autobot_activity_exporters.journal.directory import (
    JournalDirectory,
    QuarantineFull,
    Segment,
    read_records,
)
from autobot_activity_exporters.journal.format import (
    HEADER_SIZE,
    Damage,
    Frame,
    UnknownFormat,
    check_header,
    decode,
)
from autobot_activity_exporters.journal.reporting import Reporter
from autobot_activity_otel.snapshot import ActivitySnapshot

BATCH_RECORDS = 2048
"""Records per batch (one transaction, or one OTLP request), and no more than one 4 MiB read
holds: a transaction's fixed cost (begin, staging, chain entry, commit) is spread over more
rows when a backlog builds (512 left a flat-out producer's committed share at about 0.52)."""
POLL_SECONDS = 0.2
"""How often an idle shipper looks for records other processes left (its own wake it)."""
RETRY_BASE_SECONDS = 0.25
RETRY_MAX_SECONDS = 5.0
"""Back-off after failures: 0.25 s doubling to 5 s, each wait jittered between half and all."""
RETRY_AFTER_MAX_SECONDS = 60.0
"""The longest wait a destination's ``retry_after`` may impose."""
_COUNTS = re.compile(r"\d+")
"""The counts in a destination's reason for rejecting ("2 activity spans rejected: 2 name
an org ..."): one cause whatever the counts, so it is warned about once, not once per batch."""


class DeliveryTimeout(TimeoutError):
    """The destination did not answer within the send timeout (what was sent may have been
    committed: sending it again is harmless)."""


class Shipper:
    """Drains one journal folder into one destination, on the caller's (the loop thread's) loop."""

    def __init__(
        self,
        directory: JournalDirectory,
        destination: Destination,
        reporter: Reporter,
        *,
        send_timeout: float,
        batch_records: int = BATCH_RECORDS,
    ) -> None:
        self.directory = directory
        self.destination = destination
        self.reporter = reporter
        self.send_timeout = send_timeout
        self.batch_records = batch_records
        self.idle = False
        """True while waiting for work: a writer then wakes it (else it polls)."""
        self._wake: asyncio.Event | None = None
        self._serial: asyncio.Lock | None = None
        self._headers_checked: set[str] = set()

    # --- running in the background ---

    async def run(self) -> None:
        """Drain now, then whenever woken (or every ``POLL_SECONDS``); back off after
        failures (a writer does not cut a back-off short; ``ship_until`` does)."""
        self._wake = asyncio.Event()
        failures = 0
        while True:
            self.idle = False
            self._wake.clear()
            try:
                await self.drain_once()
            except Exception as exc:
                failures += 1
                self.reporter.delivery_failed(exc, self.destination.description)
                delay = pause_after(failures, exc)
            else:
                failures = 0
                delay = POLL_SECONDS
            self.idle = not failures
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def forget_fork_parent(self) -> None:
        """In a forked child: the parent's loop state is the parent's. A fork while the
        parent's loop thread was in ``drain_once`` copies ``_serial`` locked, with no task
        in the child to release it: every drain in the child would wait on it forever."""
        self.idle = False
        self._wake = None
        self._serial = None

    def wake(self) -> None:
        """Ask the running shipper to drain now (call on its loop)."""
        self.idle = False
        if self._wake is not None:
            self._wake.set()

    async def ship_until(self, done: Callable[[], bool], deadline: float) -> bool:
        """Drain (back-off or not) until ``done()`` or the monotonic ``deadline``."""
        failures = 0
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self.drain_once(), remaining)
                failures = 0
            except DeliveryTimeout as exc:
                failures += 1
                self.reporter.delivery_failed(exc, self.destination.description)
                continue
            except TimeoutError:
                break
            except Exception as exc:
                failures += 1
                self.reporter.delivery_failed(exc, self.destination.description)
                pause = pause_after(failures, exc)
                await asyncio.sleep(max(0.0, min(pause, deadline - time.monotonic())))
                continue
            if not done():  # another process drains, or a writer is still appending
                await asyncio.sleep(max(0.0, min(0.02, deadline - time.monotonic())))
        return done()

    # --- one pass ---

    async def drain_once(self) -> bool:
        """Ship every complete record of every segment; False if another drainer holds the
        folder. Raises on a transient failure (what was not shipped stays, in order)."""
        if self._serial is None:
            self._serial = asyncio.Lock()
        async with self._serial:
            with self.directory.draining() as mine:
                if not mine:
                    return False
                self.directory.remove_orphan_cursors()
                for segment in self.directory.segments():
                    await self._ship_segment(segment)
                return True

    async def _ship_segment(self, segment: Segment) -> None:
        final = segment.is_final()  # decided first: what is read after it is all there is
        if not self._header_ok(segment, final):
            return
        cursor = segment.cursor()
        while True:
            found = read_records(segment, cursor, final=final, limit=self.batch_records)
            if found.stop <= cursor:
                break
            batch: list[ActivitySnapshot] = []
            damaged: list[tuple[int, int, str]] = []
            for item in found.items:
                if isinstance(item, Damage):
                    damaged.append((item.offset, item.end, "bytes that are no journal record"))
                    continue
                assert isinstance(item, Frame)
                try:
                    batch.append(decode(item.payload))
                except ValueError as exc:
                    damaged.append((item.offset, item.end, str(exc)))
            refused = await self._send(batch) if batch else []
            for offset, end, reason in damaged:
                self._quarantine_damage(segment, offset, segment.read(offset, end - offset), reason)
            for refusal in refused:
                if isinstance(refusal, Rejected):
                    self._count_rejected(refusal)
                else:
                    self._quarantine_refusal(refusal)
            cursor = found.stop
            segment.set_cursor(cursor)
        if final:
            size = segment.size()
            if cursor < size:  # no record behind it: a tear by a process that died writing
                self._quarantine_damage(
                    segment, cursor, segment.read(cursor, size - cursor), "torn record"
                )
                self.reporter.dropped(1, "torn")
            segment.remove()
            self._headers_checked.discard(segment.name)

    async def _send(self, batch: list[ActivitySnapshot]) -> list[Refusal | Rejected]:
        try:
            return await asyncio.wait_for(self.destination.send(batch), self.send_timeout)
        except TimeoutError:
            raise DeliveryTimeout(f"no answer within {self.send_timeout:g} s") from None

    def _header_ok(self, segment: Segment, final: bool) -> bool:
        """Whether the segment is in this version's format; a final one that is not is
        quarantined whole (a live one is left to its writer)."""
        if segment.name in self._headers_checked:
            return True
        header = segment.read(0, HEADER_SIZE)
        try:
            check_header(header)
        except UnknownFormat as exc:
            if final:
                data = segment.read(0, max(segment.size(), 1))
                self._quarantine_damage(segment, 0, data, str(exc), whole=True)
                segment.remove()
            else:
                self.reporter.warn(
                    f"format {segment.name}", "journal segment %s skipped: %s", segment.path, exc
                )
            return False
        self._headers_checked.add(segment.name)
        return True

    def _quarantine_damage(
        self, segment: Segment, offset: int, data: bytes, reason: str, *, whole: bool = False
    ) -> None:
        name = segment.path.stem if whole else f"{segment.path.stem}@{offset}"
        try:
            path: Path | None = self.directory.quarantine_bytes(name, data, reason)
        except OSError as exc:
            path = None
            self.reporter.warn("quarantine", "damaged journal bytes not kept (%s)", exc)
        self.reporter.quarantined(1, "damaged_journal")
        self.reporter.warn(
            f"damaged {segment.name}",
            "damaged journal bytes in %s at offset %d set aside (%s): %s",
            segment.path,
            offset,
            reason,
            path,
        )

    def _quarantine_refusal(self, refusal: Refusal) -> None:
        try:
            self.directory.quarantine_document(
                refusal.activity_id, {"reason": refusal.reason, **refusal.evidence}
            )
        except (OSError, QuarantineFull) as exc:
            self.reporter.dropped(1, "quarantine_unavailable")
            self.reporter.warn("quarantine", "refused activity dropped: %s", type(exc).__name__)
            return
        self.reporter.quarantined(1, refusal.kind)
        self.reporter.warn(
            f"refused {refusal.reason}",
            "activity quarantined in %s: %s",
            self.directory.quarantine_path,
            refusal.reason,
        )

    def _count_rejected(self, rejected: Rejected) -> None:
        self.reporter.dropped(rejected.count, "rejected")
        self.reporter.warn(
            f"rejected {_COUNTS.sub('#', rejected.reason)}",
            "%d activities rejected by %s, not retried: %s",
            rejected.count,
            self.destination.description,
            rejected.reason,
        )


def pause_after(failures: int, error: BaseException) -> float:
    """The back-off after ``failures`` failures, or the wait the destination asked for."""
    pause = backoff(failures, RETRY_BASE_SECONDS, RETRY_MAX_SECONDS)
    if isinstance(error, NotDelivered) and error.retry_after is not None:
        return max(pause, min(error.retry_after, RETRY_AFTER_MAX_SECONDS))
    return pause
