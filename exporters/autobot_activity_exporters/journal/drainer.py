"""Shipping from a child process (``AUTOBOT_ACTIVITY_SHIPPER=process``).

Shipping costs CPU per activity (decode, the row builder's redaction re-check, COPY) that a
shipper thread takes from the application's threads: they share one GIL, so a thread that
records flat out runs at the speed of recording plus shipping. A drainer process ships the
same journal folder under the same drain lock (``JournalDirectory.draining``) on a core of
its own. The application process keeps everything else: it journals each activity before
``end()`` returns, ``force_flush()`` and exit wait for delivery as before (and drain
themselves whenever the lock is free), and if the drainer dies its own shipper takes over.

The child learns the database URL through its stdin (never its argv or environment, which
other users may read), and stdin reaching its end is its signal that the application is gone
(closed at exit, or killed): it ships what is left and exits. It runs without the
application's auto-instrumentation (``opentelemetry-instrument``'s ``sitecustomize`` is
taken off its ``PYTHONPATH``), so it records nothing itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO

from opentelemetry.instrumentation.utils import suppress_instrumentation

from autobot_activity_exporters.journal.destination import DatabaseDestination
from autobot_activity_exporters.journal.directory import JournalDirectory
from autobot_activity_exporters.journal.reporting import Reporter
from autobot_activity_exporters.journal.shipper import Shipper
from autobot_activity_exporters.retention import RetentionSchedule

_logger = logging.getLogger("autobot_activity_exporters.journal")

IN_DRAINER = "AUTOBOT_ACTIVITY_IN_DRAINER"
"""Set in the drainer's environment: a drainer never starts another one."""
_AUTO_INSTRUMENTATION = os.path.join("opentelemetry", "instrumentation", "auto_instrumentation")


@dataclass(frozen=True)
class DrainerSpec:
    """What the child needs to ship the folder as the application's shipper would."""

    folder: str
    database_url: str
    create_schema: bool
    connect_timeout: float
    send_timeout: float
    exit_timeout: float
    retention_seconds: float | None


def spec_for(
    folder: Path, destination: DatabaseDestination, send_timeout: float, exit_timeout: float
) -> DrainerSpec:
    retention = destination.retention
    return DrainerSpec(
        folder=str(folder),
        database_url=destination.database_url,
        create_schema=destination.create_schema,
        connect_timeout=destination.connect_timeout,
        send_timeout=send_timeout,
        exit_timeout=exit_timeout,
        retention_seconds=None if retention is None else retention.older_than.total_seconds(),
    )


class DrainerProcess:
    """The application's handle on its drainer child."""

    def __init__(self, spec: DrainerSpec) -> None:
        with suppress_instrumentation():  # starting it is not an activity of the application
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__],
                stdin=subprocess.PIPE,
                env=_child_environment(),
                start_new_session=True,  # a Ctrl-C to the application's group does not stop it
                close_fds=True,
            )
        stdin = self._process.stdin
        assert stdin is not None
        self._stdin: IO[bytes] | None = stdin
        stdin.write(json.dumps(asdict(spec)).encode() + b"\n")
        stdin.flush()
        self._pid = os.getpid()

    @property
    def pid(self) -> int:
        return self._process.pid

    def alive(self) -> bool:
        """Whether the child still runs (False in a forked child of the application)."""
        return self._pid == os.getpid() and self._process.poll() is None

    def stop(self, timeout: float) -> None:
        """Tell the child the application is done; wait up to ``timeout`` for it to exit."""
        if self._pid != os.getpid():
            return
        stdin, self._stdin = self._stdin, None
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(max(timeout, 0.0))


def _child_environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment[IN_DRAINER] = "1"
    path = environment.get("PYTHONPATH")
    if path:
        kept = [entry for entry in path.split(os.pathsep) if _AUTO_INSTRUMENTATION not in entry]
        if kept:
            environment["PYTHONPATH"] = os.pathsep.join(kept)
        else:
            del environment["PYTHONPATH"]
    return environment


def in_drainer() -> bool:
    """Whether this process is a drainer (it must not start one of its own)."""
    return os.environ.get(IN_DRAINER) == "1"


async def _drain(spec: DrainerSpec, gone: asyncio.Event) -> None:
    directory = JournalDirectory(Path(spec.folder))
    destination = DatabaseDestination(
        spec.database_url,
        create_schema=spec.create_schema,
        connect_timeout=spec.connect_timeout,
        retention=(
            None
            if spec.retention_seconds is None
            else RetentionSchedule(timedelta(seconds=spec.retention_seconds))
        ),
    )
    shipper = Shipper(directory, destination, Reporter(directory), send_timeout=spec.send_timeout)
    running = asyncio.create_task(shipper.run())
    await gone.wait()
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    # The application is gone: what it left is shipped now (or waits for the next start).
    await shipper.ship_until(directory.nothing_waits, time.monotonic() + spec.exit_timeout)
    await destination.close()


def main() -> None:
    """The child: read the spec, ship until stdin ends, ship what is left, exit."""
    logging.basicConfig(level=logging.WARNING, format="autobot-activity drainer: %(message)s")
    spec = DrainerSpec(**json.loads(sys.stdin.buffer.readline()))
    loop = asyncio.new_event_loop()
    gone = asyncio.Event()

    def wait_for_end_of_input() -> None:
        sys.stdin.buffer.read()  # returns at end of input: the application closed it or died
        loop.call_soon_threadsafe(gone.set)

    threading.Thread(target=wait_for_end_of_input, daemon=True).start()
    try:
        loop.run_until_complete(_drain(spec, gone))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
