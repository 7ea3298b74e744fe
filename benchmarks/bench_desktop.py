"""Desktop (VNC) figures: added time per click and per typed character, rows per 10,000 moves.

Drives a real Xvfb + x11vnc with vncdotool's API client and asyncvnc. Each figure is the
instrumented call against the same call uninstrumented, in the same run: the instrumentor is
switched on and off between rounds (its wrappers are class-level), rounds alternate, and the
median is reported. Run from the repository root: ``python -m benchmarks.bench_desktop``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from autobot_activity_otel.instrumentation.vnc import VNCInstrumentor
from benchmarks.harness import Row, machine, markdown, micros, per_call
from tests.support.vnc_server import MISSING, installed, running_vnc_server

MOVES = 10_000


class Sink(SpanExporter):
    """Discards spans, except while ``keep`` is set (to write them as rows afterwards)."""

    def __init__(self) -> None:
        self.keep = False
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.keep:
            self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def per_event(steps: Callable[[], None], events: int, flush: Callable[[], None]) -> float:
    """Seconds per event of ``steps`` (``events`` events), closing open runs inside the timing."""
    start = time.perf_counter()
    steps()
    flush()
    return (time.perf_counter() - start) / events


def toggled(
    instrumentor: VNCInstrumentor, steps: Callable[[], None], events: int, rounds: int
) -> tuple[float, float]:
    """Median seconds per event (uninstrumented, instrumented), rounds alternating."""
    plain: list[float] = []
    tracked: list[float] = []
    for _ in range(rounds + 1):  # the first round warms up and is dropped
        plain.append(per_event(steps, events, lambda: None))
        instrumentor.instrument()
        tracked.append(per_event(steps, events, instrumentor.flush))
        instrumentor.uninstrument()
    return statistics.median(plain[1:]), statistics.median(tracked[1:])


def ratio_row(figure: str, timings: tuple[float, float]) -> Row:
    plain, tracked = timings
    return Row(
        figure,
        micros(tracked),
        micros(plain),
        f"{tracked / plain:.2f}× (+{micros(tracked - plain)})",
    )


def typing(press: Callable[[str], None], enter: str, words: int) -> Callable[[], None]:
    """Type ``words`` 7-letter words, each ended by Enter: one ``type`` activity per word."""

    def steps() -> None:
        for _ in range(words):
            for char in "letmein":
                press(char)
            press(enter)

    return steps


def rows_written(spans: list[ReadableSpan], directory: Path) -> int:
    """Push the spans through the real exporter into SQLite and count the desktop rows."""
    from autobot_activity_exporters import ActivitySpanExporter

    database = directory / "activity.db"
    exporter = ActivitySpanExporter(f"sqlite+aiosqlite:///{database}", timeout=60)
    try:
        exporter.export(spans)
    finally:
        exporter.shutdown()
    with sqlite3.connect(database) as connection:
        query = "SELECT count(*) FROM desktop_activities WHERE action = 'move'"
        return int(connection.execute(query).fetchone()[0])


def moves_to_rows(
    instrumentor: VNCInstrumentor,
    sink: Sink,
    provider: TracerProvider,
    move: Callable[[int, int], None],
) -> int:
    provider.force_flush()  # spans of earlier figures are not counted
    sink.spans.clear()
    instrumentor.instrument()
    sink.keep = True
    try:
        for step in range(MOVES):
            move(step % 800, (step // 800) % 600)
        instrumentor.flush()
        provider.force_flush()
    finally:
        sink.keep = False
        instrumentor.uninstrument()
    with tempfile.TemporaryDirectory() as directory:
        return rows_written(list(sink.spans), Path(directory))


def bare_span_reference(number: int = 2000) -> Row:
    """What one SDK span with a click's attributes costs here: the floor of a recorded click."""
    tracer = trace.get_tracer("bench")
    attributes = {
        "activity.type": "desktop",
        "activity.id": "0195f000-0000-7000-8000-000000000001",
        "activity.action": "click",
        "activity.desktop.coordinates": [10, 20],
        "server.address": "127.0.0.1",
        "server.port": 5900,
        "activity.metadata": '{"button": "left"}',
    }

    def span() -> None:
        with tracer.start_as_current_span("desktop click", attributes=attributes):
            pass

    seconds = statistics.median(per_call(span, number) for _ in range(7))
    return Row("reference: one bare SDK span with a click's attributes", micros(seconds), "", "")


def run(rounds: int = 7) -> list[Row]:
    from vncdotool import api

    sink = Sink()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(sink, max_queue_size=1 << 16))
    trace.set_tracer_provider(provider)
    instrumentor = VNCInstrumentor()
    rows = [bare_span_reference()]
    with running_vnc_server() as vnc:
        client = api.connect(f"{vnc.host}::{vnc.port}", timeout=30)
        client.refreshScreen()
        rows.append(
            ratio_row(
                "vncdotool `mousePress` (a click)",
                toggled(
                    instrumentor, lambda: [client.mousePress(1) for _ in range(200)], 200, rounds
                ),
            )
        )
        rows.append(
            ratio_row(
                "vncdotool `keyPress`, per typed character (words of 7 + Enter)",
                toggled(
                    instrumentor, typing(lambda key: client.keyPress(key), "enter", 25), 200, rounds
                ),
            )
        )
        vncdotool_rows = moves_to_rows(
            instrumentor, sink, provider, lambda x, y: client.mouseMove(x, y)
        )
        client.disconnect()

        async def asyncvnc_figures() -> int:
            import asyncvnc

            async with asyncvnc.connect(vnc.host, vnc.port) as session:
                mouse, keyboard = session.mouse, session.keyboard
                rows.append(
                    ratio_row(
                        "asyncvnc `Mouse.click`",
                        toggled(
                            instrumentor, lambda: [mouse.click() for _ in range(2000)], 2000, rounds
                        ),
                    )
                )
                await session.drain()
                rows.append(
                    ratio_row(
                        "asyncvnc `Keyboard.press`, per typed character (words of 7 + Enter)",
                        toggled(
                            instrumentor,
                            typing(lambda key: keyboard.press(key), "Return", 250),
                            2000,
                            rounds,
                        ),
                    )
                )
                await session.drain()
                rows.append(
                    ratio_row(
                        "asyncvnc `Mouse.move`, per move (coalesced)",
                        toggled(
                            instrumentor,
                            lambda: [mouse.move(i % 800, 1) for i in range(2000)],
                            2000,
                            rounds,
                        ),
                    )
                )
                await session.drain()
                moved = moves_to_rows(instrumentor, sink, provider, lambda x, y: mouse.move(x, y))
                await session.drain()
                return moved

        asyncvnc_rows = asyncio.run(asyncvnc_figures())
    api.shutdown()
    provider.shutdown()
    rows.append(Row(f"rows for {MOVES:,} vncdotool moves", str(vncdotool_rows), f"{MOVES:,}", ""))
    rows.append(Row(f"rows for {MOVES:,} asyncvnc moves", str(asyncvnc_rows), f"{MOVES:,}", ""))
    return rows


METHOD = f"""
Real Xvfb + x11vnc on loopback. Each figure: the same calls with the instrumentor off, then
on, alternating for 7 rounds after a warm-up round; medians. Instrumented timings include
closing the open runs (`flush()`), so a typed word's one span is charged to its characters.
SDK: `TracerProvider` + `BatchSpanProcessor` with a discarding exporter. Rows: the spans of
{MOVES:,} moves (one continuous sweep) written by the real `ActivitySpanExporter` to SQLite,
where uncoalesced recording would write one row per move. Machine: {machine()}.
"""

if __name__ == "__main__":
    if not installed():
        sys.exit(MISSING)
    print(markdown("Desktop (VNC) overhead", run(), METHOD))
