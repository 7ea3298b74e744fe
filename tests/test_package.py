"""The instrumentation package as an application imports it: no side effects, no SDK, no
storage; tracers from the provider current when an activity starts; ``db=`` without the
exporters' writer loses nothing."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import uuid

import pytest
from support.spans import SpanCapture

from autobot_activity_otel import attributes as attr
from autobot_activity_otel import direct, track_command_execution

FORBIDDEN = ("wrapt", "opentelemetry.sdk", "sqlalchemy", "autobot_activity_exporters")
"""No module of these may be loaded by importing the package (or its explicit tracking)."""


def run_python(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; it prints one JSON object as its last line."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


SIDE_EFFECTS = """
    import atexit, json, os, sys, threading
    hooks = []  # the modules whose code registers a fork or exit hook (the stdlib's do too)

    def owner(function):
        return getattr(getattr(function, "__self__", function), "__module__", "") or ""

    def at_fork(real):
        return lambda **given: (hooks.extend(map(owner, given.values())), real(**given))[1]

    def at_exit(real):
        return lambda function, *a, **k: (hooks.append(owner(function)), real(function, *a, **k))[1]

    os.register_at_fork = at_fork(os.register_at_fork)
    atexit.register = at_exit(atexit.register)
    import {modules}
    print(json.dumps({{
        "hooks": sorted({{name for name in hooks if name.startswith("autobot_activity")}}),
        "threads": threading.active_count(),
        "modules": sorted(sys.modules),
    }}))
"""


def test_importing_the_package_has_no_side_effects_and_loads_no_sdk_or_storage() -> None:
    found = run_python(
        SIDE_EFFECTS.format(modules="autobot_activity_otel, autobot_activity_otel.tracking.file")
    )
    assert (found["hooks"], found["threads"]) == ([], 1)
    modules = found["modules"]
    assert isinstance(modules, list)
    loaded = [
        name for name in modules if name.split(".")[0] == "wrapt" or name.startswith(FORBIDDEN)
    ]
    assert loaded == []
    assert not [
        name for name in modules if name.startswith("autobot_activity_otel.instrumentation")
    ]


def test_importing_the_instrumentors_starts_nothing_until_instrument() -> None:
    """No coalescer, timer, thread, fork or exit hook exists before ``instrument()``."""
    found = run_python(
        SIDE_EFFECTS.format(
            modules=", ".join(
                f"autobot_activity_otel.instrumentation.{name}"
                for name in ("file", "terminal", "playwright", "vnc")
            )
        )
    )
    assert (found["hooks"], found["threads"]) == ([], 1)
    modules = found["modules"]
    assert isinstance(modules, list)
    assert not [name for name in modules if name.startswith(FORBIDDEN[1:])]


def test_explicit_tracking_uses_the_provider_set_after_import() -> None:
    """Decorators and explicit functions take the global provider's tracer when an activity
    starts: one set after the package was imported (and used) is honoured."""
    found = run_python(
        """
        import asyncio, json
        import autobot_activity_otel as activity
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        @activity.terminal_activity
        def handler(command):
            return 0

        asyncio.run(activity.track_command_execution(command="before"))  # no provider yet
        handler("before")
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        asyncio.run(activity.track_command_execution(command="after"))
        handler("after")
        spans = exporter.get_finished_spans()
        print(json.dumps([
            [span.attributes["process.command_line"], span.instrumentation_scope.name]
            for span in spans
        ]))
        """
    )
    assert found == [["after", "autobot_activity_otel"], ["after", "autobot_activity_otel"]]


async def test_db_without_a_registered_writer_says_so_once_and_loses_nothing(
    spans: SpanCapture, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(direct, "_writer", direct._NO_WRITER)
    monkeypatch.setattr(direct._NoWriter, "warned", False)
    session = object()  # never touched: nothing is written through it
    with caplog.at_level(logging.WARNING, logger="autobot_activity_otel"):
        first = await track_command_execution(session, command="make", exit_code=0)  # type: ignore[arg-type]
        second = await track_command_execution(session, command="make", exit_code=0)  # type: ignore[arg-type]
    assert isinstance(first, uuid.UUID) and first != second
    recorded = [span.attributes[attr.ACTIVITY_ID] for span in spans.activities("terminal")]
    assert recorded == [str(first), str(second)]
    warnings = [r for r in caplog.records if "no direct writer is set up" in r.getMessage()]
    assert len(warnings) == 1
