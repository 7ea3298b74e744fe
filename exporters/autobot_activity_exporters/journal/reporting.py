"""What the journal says out loud: counters for every loss, and warnings once per cause.

A warning names where (the destination without its password, the journal's path), what
(the real cause: ``delivery.explain``) and how much (activities waiting), and is repeated
at most once a minute for the same cause, so an outage cannot flood the log.
"""

from __future__ import annotations

import logging
import threading
import time

from opentelemetry import metrics

from autobot_activity_exporters.delivery import explain
from autobot_activity_exporters.journal.directory import JournalDirectory
from autobot_activity_exporters.version import __version__

_logger = logging.getLogger("autobot_activity_exporters.journal")

WARNING_INTERVAL_SECONDS = 60.0


class Reporter:
    """The ``autobot_activity.dropped`` / ``.quarantined`` counters and rate-limited warnings."""

    def __init__(
        self, directory: JournalDirectory, meter_provider: metrics.MeterProvider | None = None
    ) -> None:
        self.directory = directory
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(
            "autobot_activity_exporters", __version__
        )
        self._dropped = meter.create_counter(
            "autobot_activity.dropped",
            unit="{activity}",
            description=(
                "Activities lost: the journal was full or could not be written, or the"
                " ingest service rejected them."
            ),
        )
        self._quarantined = meter.create_counter(
            "autobot_activity.quarantined",
            unit="{activity}",
            description="Activities (or damaged journal bytes) set aside for good.",
        )
        self._refused = meter.create_counter(
            "autobot_activity.refused",
            unit="{activity}",
            description="Operations not run: the journal was full under OVERFLOW=refuse.",
        )
        self._lock = threading.Lock()
        self._warned: dict[str, float] = {}

    def forget_fork_parent(self) -> None:
        """In a forked child: a lock the parent's loop thread held at the fork stays held."""
        self._lock = threading.Lock()

    def dropped(self, count: int, reason: str) -> None:
        self._dropped.add(count, {"reason": reason})

    def refused(self, count: int) -> None:
        self._refused.add(count)

    def quarantined(self, count: int, reason: str) -> None:
        self._quarantined.add(count, {"reason": reason})

    def warn(self, key: str, message: str, *args: object) -> bool:
        """Log a warning unless the same ``key`` was warned about within the interval."""
        now = time.monotonic()
        with self._lock:
            if now - self._warned.get(key, -WARNING_INTERVAL_SECONDS) < WARNING_INTERVAL_SECONDS:
                return False
            self._warned[key] = now
        _logger.warning(message, *args)
        return True

    def delivery_failed(self, error: BaseException, destination: str) -> None:
        cause = explain(error)
        now = time.monotonic()
        with self._lock:  # checked before counting: the count reads the whole journal
            if now - self._warned.get(cause, -WARNING_INTERVAL_SECONDS) < WARNING_INTERVAL_SECONDS:
                return
        waiting = self.directory.status().pending
        self.warn(
            cause,
            "activities not delivered to %s: %s; %d waiting in the journal at %s (retrying)",
            destination,
            cause,
            waiting,
            self.directory.path,
        )
