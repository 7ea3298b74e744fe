"""Playwright instrumentation overhead: a click and a fill in Chromium, against the bare call.

Bare is the public method captured before ``instrument()``, called on the same page in the
same run; instrumented is the method after it. "Warm" is the usual case, an element seen
before on the same page (its classification is cached); "cold" forces the one look at the
element, which runs concurrently with the action, on every call. A click on a link that
loads another page is measured too: instrumented, it is recorded as two activities (the
click and the navigation it caused).
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from autobot_activity_otel.instrumentation.playwright import PlaywrightInstrumentor, fields
from benchmarks.harness import Row, machine, markdown

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGE = """<!doctype html><form onsubmit="return false">
<input id="user" name="username"><input id="pw" type="password">
<button id="press" type="button">Press</button></form>"""


LINKED = b"""<!doctype html><title>%s</title><a id="next" href="/%s">next</a>"""
"""Two pages, ``/a`` and ``/b``, each linking to the other: every click loads a new document."""


class _Linked(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        here = self.path.strip("/") or "a"
        body = LINKED % (here.encode(), b"b" if here == "a" else b"a")
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent."""


@contextmanager
def linked_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Linked)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Discard(SpanExporter):
    def export(self, spans: object) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def millis(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f} ms"


def micros(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs"


def measure(
    candidates: dict[str, Callable[[], object]], number: int, rounds: int
) -> dict[str, tuple[float, float]]:
    """Median (wall, this thread's CPU) seconds per call, candidates measured round-robin.

    The CPU time of this thread is Playwright's client work plus the instrumentation's; it
    is far less disturbed by a busy machine than the wall time, which waits on Chromium.
    """
    for fn in candidates.values():
        fn()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            wall, cpu = time.perf_counter(), time.thread_time()
            for _ in range(number):
                fn()
            samples[name].append(
                ((time.perf_counter() - wall) / number, (time.thread_time() - cpu) / number)
            )
    return {
        name: (
            statistics.median(wall for wall, _ in values),
            statistics.median(cpu for _, cpu in values),
        )
        for name, values in samples.items()
    }


def run(number: int = 10, rounds: int = 15) -> list[Row]:
    from playwright.sync_api import Page, sync_playwright

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=1 << 16))
    trace.set_tracer_provider(provider)
    bare_click, bare_fill = Page.click, Page.fill
    instrumentor = PlaywrightInstrumentor()
    with sync_playwright() as playwright, linked_site() as site:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_content(PAGE)
        links = browser.new_page()
        links.goto(f"{site}/a")
        instrumentor.instrument()

        def cold(action: object) -> None:
            fields._cache.clear()
            action()  # type: ignore[operator]

        try:
            t = measure(
                {
                    "bare_click": lambda: bare_click(page, "#press"),
                    "click": lambda: page.click("#press"),
                    "cold_click": lambda: cold(lambda: page.click("#press")),
                    "bare_fill": lambda: bare_fill(page, "#user", "alice"),
                    "fill": lambda: page.fill("#user", "alice"),
                    "cold_fill": lambda: cold(lambda: page.fill("#user", "alice")),
                    "bare_fill_pw": lambda: bare_fill(page, "#pw", "s3cret-pw"),
                    "fill_pw": lambda: page.fill("#pw", "s3cret-pw"),
                    "bare_link": lambda: bare_click(links, "#next"),
                    "link": lambda: links.click("#next"),
                },
                number,
                rounds,
            )
        finally:
            instrumentor.uninstrument()
            browser.close()
            provider.shutdown()
    rows = []
    for name, label in (
        ("click", "`page.click`, warm"),
        ("cold_click", "`page.click`, cold (element looked at)"),
        ("fill", "`page.fill`, warm"),
        ("cold_fill", "`page.fill`, cold (element looked at)"),
        ("fill_pw", "`page.fill` into a password field, warm"),
        ("link", "`page.click` on a link that loads a page (click + navigate recorded)"),
    ):
        (wall, cpu), (bare_wall, bare_cpu) = t[name], t["bare_" + name.removeprefix("cold_")]
        warm = name in ("click", "fill", "fill_pw")
        rows.append(
            Row(
                f"{label}: wall time",
                millis(wall),
                millis(bare_wall),
                f"{wall / bare_wall:.3f}×",
                "< 1.02×" if warm else "",
            )
        )
        rows.append(
            Row(
                f"{label}: client CPU added per call, as a share of the bare wall time",
                micros(cpu - bare_cpu),
                millis(bare_wall),
                f"{(cpu - bare_cpu) / bare_wall:.2%}",
                "< 2%" if warm else "",
            )
        )
    return rows


METHOD = f"""
Each candidate runs 10 calls per round, 15 rounds, round-robin; the median
round is reported, as wall time and as the CPU time of the calling thread (Playwright's
client plus the instrumentation; Chromium and the driver run in other processes).
Playwright's sync API drives Debian's Chromium (headless) on a page set with
`set_content`: a click on a plain button, a fill of a text field and of a password
field; and, on a page of a local server, a click on a link to the other of two pages (a new
document each time: instrumented, a click row and the navigate row it caused). Bare:
`Page.click` / `Page.fill` captured before `instrument()`; instrumented: the same
page's methods after it, in the same run. SDK `TracerProvider` with a `BatchSpanProcessor`
whose exporter discards. Cold clears the element cache before each call, so every call also
looks at its element once (concurrently with the action). Machine: {machine()}.
"""

if __name__ == "__main__":
    if not os.path.exists(CHROMIUM):
        sys.exit("Chromium not installed (apt-get install chromium)")
    number = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    print(
        markdown(
            "Playwright instrumentation overhead",
            run(number),
            METHOD,
        )
    )
