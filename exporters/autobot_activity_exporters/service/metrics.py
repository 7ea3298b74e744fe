"""The service's Prometheus metrics (``GET /metrics``), kept by ``prometheus_client``.

Each service has a registry of its own. With several worker processes, ``serve`` sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers start, so whichever worker answers a scrape
reports the sum over all of them (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's own variable: where worker processes keep their values."""
CONTENT_TYPE = CONTENT_TYPE_LATEST
_PREFIX = "autobot_activity_ingest"


class ServiceMetrics:
    """Requests by status, activity spans received, stored, ignored and rejected by reason,
    and the time each request's commit took."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            f"{_PREFIX}_requests",
            "Trace export requests answered, by HTTP status.",
            ["code"],
            registry=registry,
        )
        self.received = Counter(
            f"{_PREFIX}_spans_received",
            "Activity spans received (spans with activity.type).",
            registry=registry,
        )
        self.ignored = Counter(
            f"{_PREFIX}_spans_ignored",
            "Spans without activity.type: not activities, neither stored nor rejected.",
            registry=registry,
        )
        self.stored = Counter(
            f"{_PREFIX}_spans_stored",
            "Activity spans committed to the database.",
            registry=registry,
        )
        self.rejected = Counter(
            f"{_PREFIX}_spans_rejected",
            "Activity spans rejected (in partial_success), by reason.",
            ["reason"],
            registry=registry,
        )
        self.write_seconds = Histogram(
            f"{_PREFIX}_write_seconds",
            "Time to commit one request's rows.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )

    def exposition(self) -> bytes:
        """The text format: this process's values, or all workers' in multiprocess mode."""
        if os.environ.get(MULTIPROCESS_DIR):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
