"""The HTML report of a 10,000-activity session: rendered and filtered in Chromium.

Both sessions go through the real pipeline (activity records -> span exporter -> SQLite ->
``ActivityStore`` -> ``report``). The baseline is a 100-activity session's report, opened
in the same browser in the same run, alternately with the large one. "Ready" is the
page's own ``report-ready`` mark (navigation start to the end of the first render: JSON
parsed, axis and list drawn); "filter" is the page's ``report-filter`` measure for one
search-box input (every activity tested, list and axis redrawn), and for one type filter.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from autobot_activity_exporters import ActivitySpanExporter, ActivityStore, report
from autobot_activity_exporters.viewer import Viewer
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.recording import ActivityRecord
from benchmarks.bench_browser import CHROMIUM, CHROMIUM_ARGS
from benchmarks.harness import Row, machine, markdown

LARGE, SMALL = 10_000, 100
READY_TARGET_MS, FILTER_TARGET_MS = 1000.0, 100.0
"""No visible stall: the page ready within a second, a filter within 100 ms (RAIL's
"instant" response)."""


def record_session(session_id: str, count: int) -> None:
    """``count`` activities of all four types, with secrets and failures sprinkled in."""
    with activity_context(user_id=uuid.uuid4(), session_id=session_id):
        for index in range(count):
            kind = list(ActivityType)[index % 4]
            action = {"terminal": "execute", "file": "write", "browser": "click"}.get(
                kind.value, "click"
            )
            record = ActivityRecord(kind, action)
            if kind is ActivityType.TERMINAL:
                record.set_text(attr.PROCESS_COMMAND_LINE, f"make target-{index}", "command")
                record.set(attr.PROCESS_EXIT_CODE, int(index % 7 == 0))
            elif kind is ActivityType.FILE:
                record.set_text(attr.FILE_PATH, f"/srv/app/file-{index}.txt", "text")
                record.set(attr.FILE_SIZE, index)
            elif kind is ActivityType.BROWSER:
                record.set_text(attr.URL_FULL, f"https://shop.test/item/{index}", "url")
                record.set_text(attr.BROWSER_SELECTOR, f"#buy-{index}", "text")
            else:
                record.set(attr.DESKTOP_COORDINATES, [index % 800, index % 600])
                record.set_text(attr.ACTIVITY_WINDOW_TITLE, f"Window {index % 13}", "text")
            if index % 50 == 0:
                record.declare_secrets([uuid.uuid4()])
            record.end()


def write_reports(folder: Path) -> dict[str, tuple[Path, float]]:
    """Record, export, read back and write both reports; returns each path and write time."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)
    url = f"sqlite+aiosqlite:///{folder / f'bench_report_{os.getpid()}.db'}"
    exporter = ActivitySpanExporter(url, timeout=120)
    sessions = {"large": LARGE, "small": SMALL}
    try:
        for name, count in sessions.items():
            record_session(name, count)
            spans = list(memory.get_finished_spans())
            memory.clear()
            for start in range(0, len(spans), 2000):
                exporter.export(spans[start : start + 2000])
    finally:
        exporter.shutdown()

    async def build(name: str) -> tuple[Path, float]:
        started = time.perf_counter()
        async with ActivityStore(url, viewer=Viewer.system()) as store:
            session = await report.read_session(store, name)
        path = report.write(folder / f"{name}.html", session)
        return path, time.perf_counter() - started

    return {name: asyncio.run(build(name)) for name in sessions}


def measure(paths: dict[str, Path], rounds: int) -> dict[str, dict[str, float]]:
    """Median milliseconds per report: ready, search-box filter, type filter."""
    from playwright.sync_api import sync_playwright

    samples: dict[str, dict[str, list[float]]] = {
        name: {"ready": [], "search": [], "type": []} for name in paths
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(rounds):
                for name, path in paths.items():
                    page = browser.new_page(viewport={"width": 1440, "height": 900})
                    page.goto(path.resolve().as_uri())
                    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
                    samples[name]["ready"].append(
                        page.evaluate("performance.getEntriesByName('report-ready')[0].startTime")
                    )
                    search = _filtered(page, lambda p: p.fill("#search", "item/4"))
                    _filtered(page, lambda p: p.fill("#search", ""))
                    by_type = _filtered(
                        page, lambda p: p.uncheck("#type-filters input[data-type=file]")
                    )
                    samples[name]["search"].append(search)
                    samples[name]["type"].append(by_type)
                    page.close()
        finally:
            browser.close()
    return {
        name: {what: statistics.median(values) for what, values in figures.items()}
        for name, figures in samples.items()
    }


def _filtered(page: Any, act: Callable[[Any], object]) -> float:
    """Duration (ms) of the page's next ``report-filter`` measure after ``act(page)``."""
    before = page.evaluate("performance.getEntriesByName('report-filter').length")
    act(page)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        entries = page.evaluate(
            "performance.getEntriesByName('report-filter').map(entry => entry.duration)"
        )
        if len(entries) > before:
            return float(entries[-1])
        time.sleep(0.01)
    raise TimeoutError("the report did not filter within 30 s")


def run(rounds: int = 5) -> tuple[list[Row], dict[str, float]]:
    if not os.path.exists(CHROMIUM):
        raise SystemExit("Chromium not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix=f"bench-report-{os.getpid()}-") as tmp:
        written = write_reports(Path(tmp))
        sizes = {name: path.stat().st_size for name, (path, _) in written.items()}
        figures = measure({name: path for name, (path, _) in written.items()}, rounds)
    large, small = figures["large"], figures["small"]
    rows = [
        Row(
            f"page ready, {LARGE:,} activities",
            f"{large['ready']:,.0f} ms",
            f"{small['ready']:,.0f} ms ({SMALL} activities)",
            f"{large['ready'] / small['ready']:.1f}×",
            f"< {READY_TARGET_MS:,.0f} ms",
        ),
        Row(
            "search box, one input",
            f"{large['search']:,.1f} ms",
            f"{small['search']:,.1f} ms",
            f"{large['search'] / max(small['search'], 0.1):.1f}×",
            f"< {FILTER_TARGET_MS:,.0f} ms",
        ),
        Row(
            "type filter, one click",
            f"{large['type']:,.1f} ms",
            f"{small['type']:,.1f} ms",
            f"{large['type'] / max(small['type'], 0.1):.1f}×",
            f"< {FILTER_TARGET_MS:,.0f} ms",
        ),
    ]
    extra = {
        "large_bytes": sizes["large"],
        "write_seconds": written["large"][1],
        "small_write_seconds": written["small"][1],
    }
    return rows, extra


def main() -> int:
    rows, extra = run()
    method = f"""
Method: {__doc__.strip()}
Medians of 5 rounds; the {LARGE:,}-activity file is {extra["large_bytes"] / 1e6:.1f} MB and
took {extra["write_seconds"]:.1f} s to read from SQLite and write
({extra["small_write_seconds"] * 1e3:.0f} ms for {SMALL}). {machine()}.
"""
    print(markdown("HTML report (bench_report)", rows, method))
    return 0


if __name__ == "__main__":
    sys.exit(main())
