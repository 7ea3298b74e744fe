"""Run the service under uvicorn: one process, or ``workers`` processes on one socket.

SIGTERM drains: uvicorn stops accepting connections, lets the requests in progress finish
(each commits before it answers) for up to ``GRACEFUL_SHUTDOWN_SECONDS``, closes the
database engine and exits 0. With several workers the parent passes SIGTERM on to each, and
SIGHUP to the parent replaces the workers one by one (each new one reads the token file;
one that cannot start leaves the old worker serving). A single process reloads the token
file itself on SIGHUP.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import signal
import tempfile
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from autobot_activity_exporters.service.app import PATHS
from autobot_activity_exporters.service.config import ServiceConfig
from autobot_activity_exporters.service.metrics import MULTIPROCESS_DIR

APP_FACTORY = "autobot_activity_exporters.service.app:app_from_env"
GRACEFUL_SHUTDOWN_SECONDS = 30


def serve(config: ServiceConfig, *, log_level: str = "info") -> int:
    """Serve until SIGTERM or SIGINT; returns the exit status (0 after a clean drain)."""
    os.environ.update(config.environ())  # worker processes read the same settings
    metrics_dir = None
    if config.workers > 1 and not os.environ.get(MULTIPROCESS_DIR):
        metrics_dir = tempfile.mkdtemp(prefix="autobot-activity-metrics-")
        os.environ[MULTIPROCESS_DIR] = metrics_dir
    # After its graceful shutdown uvicorn raises the signal it caught again, under the
    # handler that was there before it: make that one a no-op, so a drain ends in exit 0.
    previous = signal.signal(signal.SIGTERM, _drained)
    try:
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=config.host,
            port=config.port,
            workers=config.workers,
            log_level=log_level,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            server_header=False,
            log_config=log_config(log_level),
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, with this package's loggers on its handler at ``level`` (each
    worker process applies it as it starts)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"request_line": {"()": f"{__name__}.RequestLineFilter"}}
    config["handlers"]["access"]["filters"] = ["request_line"]
    config["loggers"]["autobot_activity_exporters"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


def _drained(signum: int, frame: FrameType | None) -> None:
    """SIGTERM once uvicorn has drained: nothing left to do."""


class RequestLineFilter(logging.Filter):
    """Keeps the sender's text out of uvicorn's access log: a query string or a path that is
    not one of ours (either may carry a secret) is replaced. The HTTP parser refuses a
    method it does not know before anything is logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, full_path, version, status = record.args
            path, query = str(full_path).partition("?")[::2]
            shown = (path if path in PATHS else "/[other]") + ("?[query]" if query else "")
            record.args = (client, method, shown, version, status)
        return True
