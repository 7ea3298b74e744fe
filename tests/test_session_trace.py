"""A session as one trace (``activity_session``): every activity of it shares the session
span's trace id, in the spans and in the stored rows, and the session span is no row."""

from __future__ import annotations

import asyncio
import contextvars
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import StatusCode
from support.database import ActivityDB, run_async
from support.instrumentors import Instrument, OwnProvider
from support.spans import SpanCapture

from autobot_activity_exporters.records import AnyActivity
from autobot_activity_otel import (
    activity_context,
    activity_session,
    current_attribution,
    track_browser_navigation,
    track_keyboard_input,
)
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.instrumentation.file import FileInstrumentor
from autobot_activity_otel.instrumentation.terminal import TerminalInstrumentor
from autobot_activity_otel.recording import SESSION_SPAN_NAME

USER = uuid.UUID("0195f000-0000-7000-8000-00000000a001")


def session_spans(spans: SpanCapture) -> list[ReadableSpan]:
    return [span for span in spans.all() if span.name == SESSION_SPAN_NAME]


def stored(activity_db: ActivityDB, session_id: str) -> list[AnyActivity]:
    async def read() -> list[AnyActivity]:
        async with activity_db.store as store:
            return await store.activities(session_id=session_id, limit=None, order="asc")

    return run_async(read())


def test_every_activity_of_a_session_has_the_session_span_s_trace_id(
    activity_db: ActivityDB, spans: SpanCapture, instrument: Instrument, tmp_path: Path
) -> None:
    instrument(TerminalInstrumentor)
    instrument(FileInstrumentor, roots=[tmp_path], coalesce_window_ms=0)
    with activity_session(user_id=USER, session_id="one-trace", application="agent"):
        subprocess.run(["echo", "hello"], capture_output=True, check=True)
        (tmp_path / "notes.txt").write_text("notes")
        asyncio.run(track_browser_navigation(url="https://example.test/", status_code=200))
        with activity_context(window_title="Editor"):  # a nested context keeps the trace
            asyncio.run(track_keyboard_input(text="hello"))
        copied = contextvars.copy_context()
        worker = threading.Thread(target=copied.run, args=(subprocess.run, ["true"]))
        worker.start()
        worker.join()
    outside = subprocess.run(["echo", "after"], capture_output=True, check=True)
    assert outside.returncode == 0

    [session] = session_spans(spans)
    activities = spans.activities()
    inside = [s for s in activities if (s.attributes or {}).get(attr.SESSION_ID) == "one-trace"]
    assert {(s.attributes or {})[attr.ACTIVITY_TYPE] for s in inside} == {
        "terminal",
        "file",
        "browser",
        "desktop",
    }
    assert len(inside) == len(activities) - 1 == 5
    assert {span.context.trace_id for span in inside} == {session.context.trace_id}
    assert all(span.parent and span.parent.span_id == session.context.span_id for span in inside)
    assert session.parent is None
    assert (session.attributes or {})[attr.SESSION_ID] == "one-trace"
    assert (session.attributes or {})[attr.USER_ID] == str(USER)
    assert attr.ACTIVITY_TYPE not in (session.attributes or {})
    [after] = [span for span in activities if span not in inside]
    assert after.context.trace_id != session.context.trace_id

    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS
    assert activity_db.pending() == 0
    rows = stored(activity_db, "one-trace")
    assert len(rows) == 5  # the session span is no row
    assert {row.trace_id for row in rows} == {f"{session.context.trace_id:032x}"}


def test_each_session_is_its_own_trace_and_a_session_entered_twice_is_two(
    spans: SpanCapture, instrument: Instrument
) -> None:
    instrument(TerminalInstrumentor)
    session = activity_session(user_id=USER, session_id="twice")
    for _ in range(2):
        with session:
            subprocess.run(["true"], check=True)
    with activity_session(user_id=USER, session_id="other"):
        subprocess.run(["true"], check=True)
    opened = session_spans(spans)
    traces = [span.context.trace_id for span in opened]
    assert len(opened) == 3 and len(set(traces)) == 3
    commands = spans.activities("terminal")
    assert [span.context.trace_id for span in commands] == traces


async def test_decorator_and_async_with_open_the_session_span_for_their_tasks(
    spans: SpanCapture,
) -> None:
    @activity_session(user_id=USER, session_id="decorated")
    async def handler() -> str | None:
        await asyncio.create_task(track_browser_navigation(url="https://example.test/a"))
        return current_attribution().session_id

    assert await handler() == "decorated"
    async with activity_session(session_id="async-with"):
        await track_browser_navigation(url="https://example.test/b")
    sessions = session_spans(spans)
    navigations = spans.activities("browser")
    assert [span.context.trace_id for span in navigations] == [
        span.context.trace_id for span in sessions
    ]
    assert current_attribution().session_id is None


def test_a_failing_block_marks_the_session_span_failed_by_the_exception_type_only(
    spans: SpanCapture,
) -> None:
    raised = pytest.raises(KeyError, match="planted-message")  # unchanged for the caller
    with raised, activity_session(session_id="failing"):
        raise KeyError("planted-message")
    [session] = session_spans(spans)
    assert session.status.status_code is StatusCode.ERROR
    assert session.status.description == "KeyError"
    assert current_attribution().session_id is None


def test_the_session_span_goes_through_the_provider_it_is_given(
    spans: SpanCapture, instrument: Instrument
) -> None:
    own = OwnProvider()
    with activity_session(session_id="own", tracer_provider=own.provider):
        asyncio.run(track_browser_navigation(url="https://example.test/"))
    [session] = own.exporter.get_finished_spans()
    assert session.name == SESSION_SPAN_NAME and session.resource is own.resource
    [navigation] = spans.activities("browser")
    assert navigation.context.trace_id == session.context.trace_id
    assert session_spans(spans) == []


def test_a_session_span_that_cannot_start_leaves_attribution_working(
    spans: SpanCapture, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("tracking bug")

    monkeypatch.setattr("autobot_activity_otel.session.start_session_span", broken)
    with activity_session(user_id=USER, session_id="no-span"):
        asyncio.run(track_browser_navigation(url="https://example.test/"))
    [navigation] = spans.activities("browser")
    assert (navigation.attributes or {})[attr.SESSION_ID] == "no-span"
    assert navigation.parent is None
    assert "session span not started (RuntimeError)" in caplog.text
