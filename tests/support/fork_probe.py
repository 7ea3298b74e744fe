"""Fork children while a thread repeats journal work; print how many started holding a
descriptor they must not have. Run as a script, in a process of its own: forking the test
run's own large process cost a few tenths of a second a fork (38 s for 100 in the suite).

``python fork_probe.py drain-lock|segment FOLDER FORKS``:
- ``drain-lock``: the thread takes and drops the drain lock as fast as it can; a child must
  not hold ``drain.lock`` (it would keep the lock for the child's life);
- ``segment``: the thread appends with segments so small that each append opens a new one;
  a child must not hold a segment it does not know it has (it would stay undrainable).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from autobot_activity_exporters.journal import JournalDirectory
from autobot_activity_exporters.journal.directory import SEGMENT_SUFFIX
from autobot_activity_exporters.journal.writer import SegmentWriter


def children_holding(holds: Callable[[str], bool], work: Callable[[], None], forks: int) -> int:
    """How many of ``forks`` children, forked while a thread repeats ``work``, started with a
    descriptor whose path ``holds`` says is one they must not have."""
    stop = threading.Event()

    def repeat() -> None:
        while not stop.is_set():
            work()

    thread = threading.Thread(target=repeat, daemon=True)
    thread.start()
    leaks = 0
    try:
        for _ in range(forks):
            pid = os.fork()
            if pid == 0:
                copies = 0
                for name in os.listdir("/proc/self/fd"):
                    with contextlib.suppress(OSError):
                        copies += holds(os.readlink(f"/proc/self/fd/{name}"))
                os._exit(1 if copies else 0)
            leaks += os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    finally:
        stop.set()
        thread.join(5)
    return leaks


def main(kind: str, folder: Path, forks: int) -> int:
    directory = JournalDirectory(folder)
    directory.ensure()
    if kind == "drain-lock":

        def drain_pass() -> None:
            with directory.draining():
                pass

        return children_holding(lambda path: path.endswith("/drain.lock"), drain_pass, forks)
    writer = SegmentWriter(directory, segment_bytes=1)

    def append() -> None:
        writer.append(b"x")
        time.sleep(0.0005)  # a few thousand segments in all, not tens of thousands

    try:
        return children_holding(lambda path: SEGMENT_SUFFIX in path, append, forks)
    finally:
        writer.close()


if __name__ == "__main__":
    print(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])))
