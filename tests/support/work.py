"""Work counted, never timed: the lines of the project's own code that a call runs."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

TraceFunction = Callable[[FrameType, str, Any], Any]


def lines_run(call: Callable[[], object], under: str) -> int:
    """The lines of code in files whose path starts with ``under`` that ``call`` runs."""
    count = 0

    def line(frame: FrameType, event: str, arg: object) -> TraceFunction:
        nonlocal count
        count += event == "line"
        return line

    def enter(frame: FrameType, event: str, arg: object) -> TraceFunction | None:
        return line if frame.f_code.co_filename.startswith(under) else None

    previous = sys.gettrace()
    sys.settrace(enter)
    try:
        call()
    finally:
        sys.settrace(previous)
    return count
