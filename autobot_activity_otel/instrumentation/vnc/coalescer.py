"""Merging of high-frequency input into one activity per run, per VNC connection.

A *run* is a sequence of events of one kind on one connection, under one attribution:

- ``move``: consecutive pointer moves. The run is closed ``move_window`` seconds after its last
  move, by any other action on the connection, once it has lasted ``max_run`` seconds, and at
  ``close()`` (uninstrument, interpreter exit). Its activity holds the end position as
  coordinates and ``count``, ``start``, ``end`` and ``duration_ms`` in the metadata.
- ``type``: a burst of keystrokes, closed the same way with ``keystroke_window``, and right
  after Enter (a typed line is one row). A field still being typed (keys since the last
  Enter, Tab or Escape) stays open over a pause, up to ``field_window``; a run cut by
  ``max_run`` hands the unfinished field's keys to the next run, so a field's text is never
  split over two activities. The text is joined and only then redacted, so a
  registered secret typed key by key is still recognised and attributed to its id. Because a
  secret is often registered only for as long as it is typed (``registered_secret``), the
  end of the burst is checked after each event too, and the burst is closed, redacted, the
  moment a registered secret is complete in it.

The activity's record is created at the run's first event (its start time, attribution and
parent span are those of that moment) and ended when the run closes, so the span lasts until
the close; ``duration_ms`` in the metadata is first-to-last event. Closing happens on the
thread that closes the run (the caller's, or the timer's): nothing waits or sleeps in the
caller's call.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.trace import Tracer

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.activities.desktop import (
    KeystrokeMode,
    keystroke_mode,
    record_input_text,
)
from autobot_activity_otel.context import Attribution, current_attribution
from autobot_activity_otel.recording import ActivityRecord, start_activity
from autobot_activity_otel.secrets import known_secret_id
from autobot_activity_otel.secrets.keystrokes import typed_text

_logger = logging.getLogger(__name__)

Server = tuple[str | None, int | None]
ServerOf = Callable[[object], Server]
MOVE, TYPE = "move", "type"
SECRET_TAIL = 256
"""Characters before a keystroke event's own that are checked for a just-completed secret."""


@dataclass(slots=True)
class _Run:
    kind: str
    connection: object
    record: ActivityRecord
    attribution: Attribution
    first_ns: int
    last_ns: int
    mode: KeystrokeMode = "off"
    count: int = 0
    start: list[int] | None = None
    end: list[int] | None = None
    parts: list[str] = field(default_factory=list)
    tail: str = ""
    """The last ``SECRET_TAIL`` characters typed, for the per-event secret check."""
    open_field: bool = False
    """Keys were typed since the last Enter, Tab or Escape."""
    field_start: int = 0
    """Where in ``parts`` the field being typed begins (after the last Enter, Tab or Escape)."""


def start_record(
    tracer: Tracer, action: str, connection: object, server_of: ServerOf
) -> ActivityRecord:
    """A desktop activity for one connection, with the VNC server's address on it."""
    record = start_activity(attr.ActivityType.DESKTOP, action, tracer=tracer)
    try:
        host, port = server_of(connection)
    except Exception as exc:  # an unconnected or closed client: the activity stays
        _logger.debug("VNC server address unknown (%s)", type(exc).__name__)
        return record
    record.set(attr.SERVER_ADDRESS, host)  # the socket's peer address, not caller text
    record.set(attr.SERVER_PORT, port)
    return record


class Coalescer:
    """Open runs by connection and kind, and the one timer that closes idle ones."""

    def __init__(
        self,
        tracer: Tracer,
        move_window: float,
        keystroke_window: float,
        max_run: float,
        field_window: float = 0.0,
    ) -> None:
        self._tracer = tracer
        self._windows = {MOVE: int(move_window * 1e9), TYPE: int(keystroke_window * 1e9)}
        self._field_window = int(field_window * 1e9)
        self._max_run = int(max_run * 1e9)
        self._lock = threading.Lock()
        self._runs: dict[tuple[int, str], _Run] = {}
        self._timer: threading.Timer | None = None
        self._closed = False
        atexit.register(self.close)

    def move(self, connection: object, server_of: ServerOf, x: int, y: int) -> None:
        """A pointer move to ``(x, y)`` on ``connection``."""
        point = [int(x), int(y)]
        with self._lock:
            run, done = self._event(MOVE, connection, server_of)
            if run.start is None:
                run.start = point
            run.end = point
            run.count += 1
        self._finish(done)

    def keys(self, connection: object, server_of: ServerOf, text: str) -> None:
        """Keys pressed on ``connection``, as text (named keys as ``<name>``)."""
        with self._lock:
            run, done = self._event(TYPE, connection, server_of)
            if run.mode != "off":
                run.parts.append(text)
                run.count += 1
                ends = _ends_field(text)
                run.open_field = not ends and (run.open_field or bool(text))
                if ends:
                    run.field_start = len(run.parts)
            key = (id(connection), TYPE)
            if key in self._runs and (text.endswith("\n") or _completes_secret(run, text)):
                done.append(self._runs.pop(key))
        self._finish(done)

    def flush(self, connection: object | None = None) -> None:
        """Close the open runs of one connection (before another action on it), or all."""
        with self._lock:
            if connection is None:
                done = list(self._runs.values())
                self._runs.clear()
            else:
                done = [
                    self._runs.pop(key)
                    for key in ((id(connection), MOVE), (id(connection), TYPE))
                    if key in self._runs
                ]
        self._finish(done)

    def close(self) -> None:
        """Close every run and stop the timer; a later event becomes an activity of its own."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self.flush()
        atexit.unregister(self.close)

    def _event(self, kind: str, connection: object, server_of: ServerOf) -> tuple[_Run, list[_Run]]:
        """The run this event extends (opened if need be) and the runs it closes; under lock."""
        now = time.monotonic_ns()
        who = current_attribution()
        done: list[_Run] = []
        other = (id(connection), TYPE if kind == MOVE else MOVE)
        if other in self._runs:
            done.append(self._runs.pop(other))
        key = (id(connection), kind)
        run = self._runs.get(key)
        carried: list[str] = []
        if run is not None and (
            (run.attribution is not who and run.attribution != who)
            or now - run.first_ns > self._max_run
        ):
            done.append(self._runs.pop(key))
            if run.attribution is who or run.attribution == who:
                carried = _unfinished_field(run)  # a field's text stays in one activity
            run = None
        if run is None:
            record = start_record(self._tracer, kind, connection, server_of)
            run = _Run(kind, connection, record, who, now, now)
            if kind == TYPE:
                run.mode = keystroke_mode()
                if carried and run.mode != "off":
                    run.parts, run.count, run.open_field = carried, len(carried), True
            if not self._closed:
                self._runs[key] = run
                self._schedule(self._windows[kind])
            else:
                done.append(run)
        run.last_ns = now
        return run, done

    def _schedule(self, delay_ns: int) -> None:
        if self._timer is not None or self._closed:
            return
        self._timer = threading.Timer(delay_ns / 1e9, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        """Timer: close the runs idle for their window, and re-arm for the earliest other."""
        now = time.monotonic_ns()
        with self._lock:
            self._timer = None
            done = [run for run in self._runs.values() if now - run.last_ns >= self._window(run)]
            for run in done:
                del self._runs[(id(run.connection), run.kind)]
            if self._runs:
                due = min(run.last_ns + self._window(run) for run in self._runs.values())
                self._schedule(max(due - now, 1_000_000))
        self._finish(done)

    def _window(self, run: _Run) -> int:
        """How long a run may be idle: a field being typed stays open over a pause (a secret
        typed with a break in the middle is still one text), up to ``field_window``."""
        if run.kind == TYPE and run.open_field:
            return max(self._windows[TYPE], self._field_window)
        return self._windows[run.kind]

    @staticmethod
    def _finish(runs: list[_Run]) -> None:
        for run in runs:
            try:
                record = run.record
                record.metadata["duration_ms"] = round((run.last_ns - run.first_ns) / 1e6, 3)
                if run.kind == MOVE:
                    record.set(attr.DESKTOP_COORDINATES, run.end)
                    record.metadata.update(count=run.count, start=run.start, end=run.end)
                else:
                    if run.mode != "off":
                        record.metadata["key_events"] = run.count
                    record_input_text(record, "".join(run.parts), run.mode)
            except Exception as exc:
                _logger.warning("a coalesced desktop activity lost detail (%s)", type(exc).__name__)
            run.record.end()


def _completes_secret(run: _Run, text: str) -> bool:
    """Whether the latest keys complete a registered secret (checked while it is registered),
    in the text as the field holds it (after BackSpace, Shift, cursor moves)."""
    if run.mode == "off":
        return False
    scan = run.tail + text
    run.tail = scan[-SECRET_TAIL:]
    return known_secret_id(typed_text(scan)) is not None  # known secrets only: no rule per key


_FIELD_END_KEYS = frozenset({"\n", "\t", "<Escape>", "<escape>", "<esc>", "<Return>", "<Tab>"})


def _ends_field(text: str) -> bool:
    return text in _FIELD_END_KEYS or text.endswith(("\n", "\t"))


def _unfinished_field(run: _Run) -> list[str]:
    """The keys of the field still being typed when a run is cut (``max_run``): taken out of
    the run that ends and typed again in the next one. A run that holds nothing but that field
    hands its list over, so a long field cut again and again is never copied again."""
    if not run.open_field or run.mode == "off":
        return []
    if run.field_start:
        carried = run.parts[run.field_start :]
        del run.parts[run.field_start :]
    else:
        carried, run.parts = run.parts, []
    run.count -= len(carried)
    return carried
