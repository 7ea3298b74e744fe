"""The application process of the ingest service's tests: an agent that holds no database URL.

Senders (``sender``):
- ``sdk``: the plain OpenTelemetry SDK with the SDK's own OTLP/HTTP exporter (behind a
  ``BatchSpanProcessor``); the ingest token comes from stdin, never from its environment.
- ``configure``: ``autobot_activity_exporters.configure()`` with ``AUTOBOT_ACTIVITY_ENDPOINT``
  and ``AUTOBOT_ACTIVITY_TOKEN`` in its environment: activities go through the journal.

It reads its configuration from stdin, does its work and prints one JSON line: the
activities it recorded, by id, and what it can tell about itself.

Modes:
- ``activities``: a browser click (Playwright, real Chromium), a terminal command (``env``,
  whose output tells whether a child sees the token or a database URL) and a file write.
- ``load``: terminal activities as fast as ``ActivityRecord`` makes them, for ``seconds`` or
  up to ``count`` (the first ``forged`` claim ``forged_org``, the first ``big`` print
  ``big_lines`` lines); with the ``sdk`` sender the ids
  of every batch the service answered 200 are appended to ``acknowledged``; with
  ``configure`` the journal is flushed for up to ``flush_seconds`` at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from autobot_activity_otel import activity_context
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.recording import ActivityRecord


class AcknowledgingExporter(OTLPSpanExporter):
    """The SDK's exporter, noting the activity ids of each batch the service acknowledged."""

    def __init__(self, acknowledged: Path | None, **options: Any) -> None:
        super().__init__(**options)
        self.acknowledged = acknowledged

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        if result is SpanExportResult.SUCCESS and self.acknowledged is not None:
            ids = [str((span.attributes or {}).get(attr.ACTIVITY_ID)) for span in spans]
            with self.acknowledged.open("a") as out:
                out.write("".join(f"{activity_id}\n" for activity_id in ids))
        return result


def browse(site: str) -> None:
    from playwright.sync_api import sync_playwright

    from autobot_activity_otel.instrumentation.playwright import PlaywrightInstrumentor

    PlaywrightInstrumentor().instrument()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=config["chromium_args"]
        )
        page = browser.new_page()
        page.goto(site)
        page.click("#plain")
        browser.close()


def run_activities(token: str) -> dict[str, Any]:
    from autobot_activity_otel.instrumentation.file import FileInstrumentor
    from autobot_activity_otel.instrumentation.terminal import TerminalInstrumentor

    context = {key: value for key, value in config["context"].items() if value is not None}
    with activity_context(**context):
        if config.get("site"):
            browse(config["site"])  # before the terminal instrumentor: Chromium is not the agent
        TerminalInstrumentor().instrument()
        FileInstrumentor().instrument(roots=[config["workdir"]], coalesce_window_ms=0)
        child = subprocess.run(["env"], capture_output=True, text=True, check=True)
        Path(config["workdir"], "notes.txt").write_text("written by the agent\n")
    return {
        "child_saw_token": token in child.stdout,
        "child_saw_database_url": "AUTOBOT_ACTIVITY_DATABASE_URL" in child.stdout
        or "postgresql" in child.stdout,
    }


def run_load(seconds: float, limit: int) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    count = 0
    forged, big = config.get("forged", 0), config.get("big", 0)
    while time.monotonic() < deadline and count < limit:
        for _ in range(min(50, limit - count)):
            claim = {"org_id": config["forged_org"]} if count < forged else {}
            with activity_context(**claim):
                record = ActivityRecord(attr.ActivityType.TERMINAL, "execute")
                record.set_text(attr.PROCESS_COMMAND_LINE, f"make step-{count}", "command")
                output = "ok\n" * (config.get("big_lines", 20) if count < big else 20)
                record.set_text(attr.TERMINAL_OUTPUT, output, "output")
                record.set(attr.PROCESS_EXIT_CODE, 0)
                record.end()
            count += 1
        time.sleep(0.01)
    return {"made": count}


config: dict[str, Any] = json.loads(sys.stdin.read())


def sdk_provider(token: str) -> TracerProvider:
    acknowledged = Path(config["acknowledged"]) if config.get("acknowledged") else None
    exporter = AcknowledgingExporter(
        acknowledged,
        endpoint=config["endpoint"],
        headers={"authorization": f"Bearer {token}"},
        compression=Compression.Gzip if config.get("gzip") else Compression.NoCompression,
        timeout=config.get("timeout", 10),
    )
    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(exporter, schedule_delay_millis=config.get("delay_ms", 200))
    )
    trace.set_tracer_provider(provider)
    return provider


def configured_provider() -> TracerProvider:
    from autobot_activity_exporters import configure

    return configure(instrument=False)


def main() -> None:
    token = config["token"]
    configured = config.get("sender") == "configure"
    provider = configured_provider() if configured else sdk_provider(token)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    if config["mode"] == "activities":
        report = run_activities(token)
    else:
        context = {key: value for key, value in config["context"].items() if value is not None}
        with activity_context(**context):
            report = run_load(config["seconds"], config.get("count", 1_000_000))
    if configured:
        report["flushed"] = provider.force_flush(int(config.get("flush_seconds", 60) * 1000))
    provider.shutdown()
    report["environment_has_database_url"] = any("DATABASE_URL" in name for name in os.environ)
    report["drivers_imported"] = sorted({"asyncpg", "aiosqlite", "psycopg"} & set(sys.modules))
    report["activities"] = {
        str(span.attributes[attr.ACTIVITY_ID]): span.attributes[attr.ACTIVITY_TYPE]
        for span in memory.get_finished_spans()
        if span.attributes and attr.ACTIVITY_TYPE in span.attributes
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
