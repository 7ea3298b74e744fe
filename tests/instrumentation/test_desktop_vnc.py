"""Desktop activity from a real VNC session: Xvfb + x11vnc driven by vncdotool and asyncvnc."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from support import require
from support.database import ActivityDB
from support.instrumentors import Instrument, OwnProvider
from support.planted import plant
from support.spans import SpanCapture
from support.vnc_server import HEIGHT, MISSING, WIDTH, VNCServer, installed, running_vnc_server
from support.work import lines_run

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.instrumentation.vnc import VNCInstrumentor
from autobot_activity_otel.instrumentation.vnc import coalescer as coalescer_module
from autobot_activity_otel.instrumentation.vnc.coalescer import Coalescer
from autobot_activity_otel.secrets import registered_secret
from autobot_activity_otel.settings import KEYSTROKES

USER = uuid.UUID("0195f000-0000-7000-8000-00000000de51")
SECRET_ID = uuid.UUID("0195f000-0000-7000-8000-00000000005e")
SECRET = plant("Vnc-Typed-S3cret-9931")
MOVE_WINDOW = 0.2
CLIENTS = ["vncdotool", "asyncvnc"]


@pytest.fixture(scope="session")
def vnc() -> Iterator[VNCServer]:
    require(installed(), MISSING)
    with running_vnc_server() as server:
        yield server


@pytest.fixture(scope="module")
def vncdotool_client(vnc: VNCServer) -> Iterator[Any]:
    from vncdotool import api

    client = api.connect(f"{vnc.host}::{vnc.port}", timeout=10)  # never hang a test
    client.refreshScreen()  # connected before any test counts its spans
    yield client
    client.disconnect()


pytestmark = pytest.mark.instrumentor.with_args(
    VNCInstrumentor, move_window=MOVE_WINDOW, keystroke_window=0.3
)


class Driver:
    """One VNC client behind the same few verbs, so every scenario runs on both."""

    def __init__(self, name: str, vnc: VNCServer, vncdotool_client: Any) -> None:
        self.name = name
        self.vnc = vnc
        self.client = vncdotool_client

    def run(self, steps: Any) -> None:
        """Run ``steps(verbs)``; for asyncvnc inside a fresh connection on an event loop."""
        if self.name == "vncdotool":
            steps(_VncdotoolVerbs(self.client))
            return
        import asyncvnc

        async def session() -> None:
            async with asyncvnc.connect(self.vnc.host, self.vnc.port) as client:
                verbs = _AsyncvncVerbs(client)
                steps(verbs)
                if verbs.pending_screenshot:
                    verbs.image = await client.screenshot()

        asyncio.run(session())


class _VncdotoolVerbs:
    def __init__(self, client: Any) -> None:
        self.client = client

    def move(self, x: int, y: int) -> None:
        self.client.mouseMove(x, y)

    def click(self) -> None:
        self.client.mousePress(1)

    def type_keys(self, text: str) -> None:
        for char in text:
            self.client.keyPress(char)


class _AsyncvncVerbs:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.pending_screenshot = False
        self.image: Any = None

    def move(self, x: int, y: int) -> None:
        self.client.mouse.move(x, y)

    def click(self) -> None:
        self.client.mouse.click()

    def type_keys(self, text: str) -> None:
        for char in text:
            self.client.keyboard.press(char)


@pytest.fixture(params=CLIENTS)
def driver(request: pytest.FixtureRequest, vnc: VNCServer) -> Driver:
    client = request.getfixturevalue("vncdotool_client") if request.param == "vncdotool" else None
    return Driver(request.param, vnc, client)


def desktop(spans: SpanCapture, action: str | None = None) -> list[ReadableSpan]:
    return [
        span
        for span in spans.activities("desktop")
        if action in (None, span.attributes[attr.ACTIVITY_ACTION])
    ]


def metadata(row: dict[str, Any]) -> dict[str, Any]:
    return row["metadata"] if isinstance(row["metadata"], dict) else json.loads(row["metadata"])


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_click_at_coordinates_is_a_row_with_position_user_and_server(
    instrumented: VNCInstrumentor, driver: Driver, spans: SpanCapture, activity_db: ActivityDB
) -> None:
    with activity_context(user_id=USER, session_id="vnc", window_title="xterm"):
        driver.run(lambda verbs: (verbs.move(123, 45), verbs.click()))
    instrumented.flush()

    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS
    assert activity_db.pending() == 0
    rows = activity_db.rows("desktop_activities")
    assert [row["action"] for row in rows] == ["move", "click"]
    click = rows[1]
    assert click["coordinates"] == [123, 45]
    assert (click["user_id"], click["session_id"], click["window_title"]) == (USER, "vnc", "xterm")
    assert metadata(click)["button"] == "left"
    assert metadata(click)[attr.SERVER_PORT] == driver.vnc.port
    assert metadata(click)[attr.SERVER_ADDRESS] == "127.0.0.1"
    assert click["trace_id"] and click["duration_ms"] is not None


def test_a_burst_of_moves_is_one_row_closed_by_the_timer(
    instrumented: VNCInstrumentor, driver: Driver, spans: SpanCapture, activity_db: ActivityDB
) -> None:
    def sweep(verbs: Any) -> None:
        for step in range(40):
            verbs.move(10 + step * 5, 300)

    started = time.monotonic()
    driver.run(sweep)
    assert time.monotonic() - started < 5  # the wrappers never wait for the window
    wait_for(lambda: bool(desktop(spans, "move")))

    moves = desktop(spans, "move")
    assert len(moves) == 1
    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS
    assert activity_db.pending() == 0
    (row,) = activity_db.rows("desktop_activities")
    details = metadata(row)
    assert (row["action"], row["coordinates"]) == ("move", [205, 300])
    assert (details["count"], details["start"], details["end"]) == (40, [10, 300], [205, 300])
    assert 0 <= details["duration_ms"] < row["duration_ms"]


@pytest.mark.parametrize(
    ("mode", "stored"), [("redacted", "hello"), ("length", None), ("off", None)]
)
def test_a_typed_word_is_one_row_kept_as_the_capture_mode_says(
    instrumented: VNCInstrumentor,
    driver: Driver,
    spans: SpanCapture,
    activity_db: ActivityDB,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    stored: str | None,
) -> None:
    monkeypatch.setenv(KEYSTROKES, mode)
    driver.run(lambda verbs: verbs.type_keys("hello"))
    instrumented.flush()

    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS
    assert activity_db.pending() == 0
    (row,) = activity_db.rows("desktop_activities")
    details = metadata(row)
    assert (row["action"], row["input_text"], details["keystrokes"]) == ("type", stored, mode)
    assert details.get("input_length") == (None if mode == "off" else 5)
    assert details.get("key_events") == (None if mode == "off" else 5)


@pytest.mark.parametrize("mode", ["redacted", "length"])
def test_a_typed_registered_secret_is_redacted_and_audited_under_its_id(
    instrumented: VNCInstrumentor,
    driver: Driver,
    spans: SpanCapture,
    activity_db: ActivityDB,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    monkeypatch.setenv(KEYSTROKES, mode)
    caplog.set_level(logging.DEBUG)
    with activity_context(user_id=USER), registered_secret(SECRET_ID, SECRET):
        driver.run(lambda verbs: verbs.type_keys(SECRET))
    # The secret is no longer registered when the burst would have timed out: it was closed
    # (and redacted) the moment the secret was complete.
    driver.run(lambda verbs: verbs.type_keys("x"))
    instrumented.flush()

    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS
    assert activity_db.pending() == 0
    rows = activity_db.rows("desktop_activities")
    usage = activity_db.rows("secret_usage")
    span_values = [str(value) for span in spans.all() for value in span.attributes.values()]
    row_values = [str(value) for row in rows + usage for value in row.values()]
    # Booleans first, so that a failure never prints the secret.
    in_spans = any(SECRET in value for value in span_values)
    in_rows = any(SECRET in value for value in row_values)
    in_logs = SECRET in caplog.text
    assert not in_spans, "planted secret leaked to a span"
    assert not in_rows, "planted secret leaked to a row"
    assert not in_logs, "planted secret leaked to a log"
    assert [row["action"] for row in rows] == ["type", "type"]
    expected = f"[REDACTED:secret:{SECRET_ID}]" if mode == "redacted" else None
    assert rows[0]["input_text"] == expected
    assert [(u["secret_id"], u["activity_id"], u["user_id"]) for u in usage] == [
        (SECRET_ID, rows[0]["id"], USER)
    ]


def test_a_screenshot_saved_to_a_path(
    instrumented: VNCInstrumentor,
    vncdotool_client: Any,
    vnc: VNCServer,
    spans: SpanCapture,
    activity_db: ActivityDB,
    tmp_path: Path,
) -> None:
    shot = tmp_path / "screen.png"
    vncdotool_client.captureScreen(str(shot))
    captured: list[Any] = []

    def grab(verbs: Any) -> None:
        verbs.pending_screenshot = True
        captured.append(verbs)

    Driver("asyncvnc", vnc, None).run(grab)

    assert shot.stat().st_size > 0
    assert captured[0].image.shape[:2] == (HEIGHT, WIDTH)
    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS
    assert activity_db.pending() == 0
    vncdotool_row, asyncvnc_row = activity_db.rows("desktop_activities")
    assert (vncdotool_row["action"], vncdotool_row["screenshot_path"]) == ("screenshot", str(shot))
    assert asyncvnc_row["action"] == "screenshot"
    assert asyncvnc_row["screenshot_path"] is None  # asyncvnc returns pixels, saves nothing
    assert metadata(asyncvnc_row)["size"] == [WIDTH, HEIGHT]


def test_asyncvnc_right_click_and_scroll_are_one_activity_each(
    instrumented: VNCInstrumentor, vnc: VNCServer, spans: SpanCapture
) -> None:
    def steps(verbs: Any) -> None:
        verbs.client.mouse.right_click()
        verbs.client.mouse.scroll_down(3)

    Driver("asyncvnc", vnc, None).run(steps)

    actions = [span.attributes[attr.ACTIVITY_ACTION] for span in desktop(spans)]
    assert actions == ["click", "scroll"]
    details = [json.loads(span.attributes[attr.ACTIVITY_METADATA]) for span in desktop(spans)]
    assert details[0]["button"] == "right"
    assert (details[1]["direction"], details[1]["repeat"]) == ("down", 3)


def test_the_tail_of_a_run_is_recorded_at_uninstrument(
    instrument: Instrument, vnc: VNCServer, vncdotool_client: Any, spans: SpanCapture
) -> None:
    instrumentor = instrument(VNCInstrumentor, move_window=60, keystroke_window=60)
    vncdotool_client.mouseMove(1, 2)
    vncdotool_client.keyPress("q")
    assert [s.attributes[attr.ACTIVITY_ACTION] for s in desktop(spans)] == ["move"]
    instrumentor.uninstrument()
    assert [s.attributes[attr.ACTIVITY_ACTION] for s in desktop(spans)] == ["move", "type"]


EXIT_SCRIPT = """
import asyncio, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

class Print(SpanExporter):
    def export(self, spans):
        for span in spans:
            attributes = span.attributes
            print(attributes["activity.action"], attributes.get("activity.desktop.input_text"))
        return SpanExportResult.SUCCESS

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(Print()))
trace.set_tracer_provider(provider)

import asyncvnc
from autobot_activity_otel.instrumentation.vnc import VNCInstrumentor

VNCInstrumentor().instrument(move_window=60, keystroke_window=60)

async def main():
    async with asyncvnc.connect("127.0.0.1", int(sys.argv[1])) as client:
        client.mouse.move(7, 7)
        client.keyboard.write("tail")

asyncio.run(main())
"""


def test_the_tail_of_a_run_is_recorded_at_interpreter_exit(vnc: VNCServer) -> None:
    done = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, str(vnc.port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["move None", "type tail"]


def test_a_failing_call_raises_unchanged_and_records_no_event(
    instrumented: VNCInstrumentor, vnc: VNCServer, spans: SpanCapture
) -> None:
    def steps(verbs: Any) -> None:
        verbs.client.keyboard.press("a")
        with pytest.raises(KeyError):
            verbs.client.keyboard.press("NoSuchKeyName")  # asyncvnc: unknown keysym name

    Driver("asyncvnc", vnc, None).run(steps)
    instrumented.flush()
    (typed,) = desktop(spans, "type")
    assert typed.attributes[attr.DESKTOP_INPUT_TEXT] == "a"


def test_suppressed_instrumentation_records_nothing(
    instrumented: VNCInstrumentor, vncdotool_client: Any, spans: SpanCapture
) -> None:
    with suppress_instrumentation():
        vncdotool_client.mouseMove(3, 4)
        vncdotool_client.mousePress(1)
    instrumented.flush()
    assert desktop(spans) == []


HELD_SECRET = plant("Vnc-HELD-s3cret-4417")


def test_a_secret_typed_with_a_correction_shift_held_and_a_pause_is_one_redacted_text(
    instrumented: VNCInstrumentor,
    vncdotool_client: Any,
    spans: SpanCapture,
    activity_db: ActivityDB,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = vncdotool_client
    with registered_secret(SECRET_ID, HELD_SECRET):
        for char in "Vnc-":
            client.keyPress(char)
        client.keyDown("shift")
        for char in "held":
            client.keyPress(char)
        client.keyUp("shift")
        for char in "-s3cx":
            client.keyPress(char)
        client.keyPress("bsp")
        time.sleep(0.6)  # twice the keystroke window: the field stays open
        for char in "ret-4417":
            client.keyPress(char)
        client.keyPress("enter")
        wait_for(lambda: len(desktop(spans)) >= 2)
    instrumented.flush()

    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS
    rows = activity_db.rows("desktop_activities")
    usage = activity_db.rows("secret_usage")
    stored = [str(value) for row in rows + usage for value in row.values()]
    in_rows = any(HELD_SECRET in value or "HELD" in value for value in stored)
    in_logs = re.search(r"key(?:Press|Down|Up) \[\d", caplog.text) is not None  # keysyms
    assert not in_rows, "planted secret (or a piece of it) stored"
    assert not in_logs, "vncdotool logged a typed key"
    assert rows[0]["input_text"] == f"[REDACTED:secret:{SECRET_ID}]"
    assert [u["secret_id"] for u in usage] == [SECRET_ID]


ASYNC_HELD_SECRET = plant("Avnc-HELD-s3cret-5520")


def test_asyncvnc_keys_held_through_hold_are_replayed_as_held(
    instrumented: VNCInstrumentor, vnc: VNCServer, spans: SpanCapture, activity_db: ActivityDB
) -> None:
    import asyncvnc

    async def session() -> None:
        async with asyncvnc.connect(vnc.host, vnc.port) as client:
            client.keyboard.write("Avnc-")
            with client.keyboard.hold("Shift_L"):
                client.keyboard.write("held")
            client.keyboard.write("-s3cret-5520")
            client.keyboard.press("Return")

    with registered_secret(SECRET_ID, ASYNC_HELD_SECRET):
        asyncio.run(session())
        instrumented.flush()

    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS
    rows = activity_db.rows("desktop_activities")
    stored = [str(value) for row in rows for value in row.values()]
    leaked = any(ASYNC_HELD_SECRET in value or "HELD" in value for value in stored)
    assert not leaked, "planted secret (or a piece of it) stored"
    assert rows[0]["input_text"] == f"[REDACTED:secret:{SECRET_ID}]"
    assert [u["secret_id"] for u in activity_db.rows("secret_usage")] == [SECRET_ID]


def test_vncdotool_logs_keys_without_what_was_typed_only_while_instrumented(
    vnc: VNCServer, vncdotool_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from vncdotool.client import log as vncdotool_log

    caplog.set_level(logging.DEBUG)
    instrumentor = VNCInstrumentor()
    instrumentor.instrument()
    try:
        vncdotool_client.keyPress("Q")
        vncdotool_client.refreshScreen()  # the key was sent (and logged) before this returns
        while_on = [r.getMessage() for r in caplog.records if r.name == "vncdotool.client"]
    finally:
        instrumentor.uninstrument()
        instrumentor.flush()
    filters_after = list(vncdotool_log.filters)
    caplog.clear()
    vncdotool_client.keyPress("Q")
    vncdotool_client.refreshScreen()
    while_off = [r.getMessage() for r in caplog.records if r.name == "vncdotool.client"]

    assert "keyPress [REDACTED:keystroke]" in while_on
    assert not any(str(ord("Q")) in line for line in while_on)
    assert filters_after == []
    assert f"keyPress [{ord('Q')}]" in while_off  # the library's own logging is back


def test_uninstrument_restores_the_very_originals(
    vnc: VNCServer, vncdotool_client: Any, spans: SpanCapture
) -> None:
    import asyncvnc
    from vncdotool.api import ThreadedVNCClientProxy

    targets = [
        (ThreadedVNCClientProxy, "__getattr__"),
        (ThreadedVNCClientProxy, "disconnect"),
        *[(asyncvnc.Mouse, name) for name in ("move", "click", "middle_click", "right_click")],
        *[(asyncvnc.Mouse, name) for name in ("scroll_up", "scroll_down")],
        (asyncvnc.Keyboard, "write"),
        (asyncvnc.Keyboard, "press"),
        (asyncvnc.Keyboard, "hold"),
        (asyncvnc.Clipboard, "write"),
        (asyncvnc.Client, "screenshot"),
    ]
    originals = [owner.__dict__[name] for owner, name in targets]
    instrumentor = VNCInstrumentor()
    instrumentor.instrument()
    wrapped = [owner.__dict__[name] for owner, name in targets]
    instrumentor.uninstrument()

    assert all(w is not o for w, o in zip(wrapped, originals, strict=True))
    assert all(
        owner.__dict__[name] is o for (owner, name), o in zip(targets, originals, strict=True)
    )
    vncdotool_client.mousePress(1)
    assert desktop(spans) == []


def test_runs_are_kept_apart_per_connection_and_per_attribution(
    instrumented: VNCInstrumentor, vnc: VNCServer, spans: SpanCapture
) -> None:
    import asyncvnc

    other_user = uuid.UUID("0195f000-0000-7000-8000-00000000de53")

    async def session() -> None:
        async with (
            asyncvnc.connect(vnc.host, vnc.port) as first,
            asyncvnc.connect(vnc.host, vnc.port) as second,
        ):
            with activity_context(user_id=USER):
                for step in range(5):  # interleaved on two connections
                    first.mouse.move(step, 1)
                    second.mouse.move(step, 2)
            with activity_context(user_id=other_user):
                first.mouse.move(9, 9)

    asyncio.run(session())
    instrumented.flush()

    runs = sorted(
        (
            span.attributes[attr.USER_ID],
            json.loads(span.attributes[attr.ACTIVITY_METADATA])["count"],
            list(span.attributes[attr.DESKTOP_COORDINATES]),
        )
        for span in desktop(spans, "move")
    )
    assert runs == sorted(
        [(str(USER), 5, [4, 1]), (str(USER), 5, [4, 2]), (str(other_user), 1, [9, 9])]
    )


def test_a_tracking_failure_never_reaches_the_caller(
    instrumented: VNCInstrumentor,
    vnc: VNCServer,
    spans: SpanCapture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncvnc

    from autobot_activity_otel import recording

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracking bug")

    monkeypatch.setattr(recording, "ActivityRecord", broken)
    monkeypatch.setattr(Coalescer, "move", broken)
    monkeypatch.setattr(Coalescer, "keys", broken)
    shapes: list[tuple[int, ...]] = []

    async def session() -> None:
        async with asyncvnc.connect(vnc.host, vnc.port) as client:
            client.mouse.move(50, 60)
            client.mouse.click()
            client.keyboard.write("still typed")
            shapes.append((await client.screenshot()).shape)
            assert (client.mouse.x, client.mouse.y) == (50, 60)

    asyncio.run(session())
    instrumented.flush()
    assert shapes == [(HEIGHT, WIDTH, 4)]
    assert desktop(spans) == []


def test_instrument_records_through_the_tracer_provider_it_is_given(
    instrument: Instrument, driver: Driver, spans: SpanCapture
) -> None:
    own = OwnProvider()
    instrumentor = instrument(VNCInstrumentor, tracer_provider=own.provider)

    def steps(verbs: Any) -> None:
        verbs.move(3, 4)
        verbs.click()

    driver.run(steps)
    instrumentor.flush()
    found = own.assert_recorded("autobot_activity_otel.instrumentation.vnc")
    assert sorted(span.attributes[attr.ACTIVITY_ACTION] for span in found) == ["click", "move"]
    assert desktop(spans) == []


def test_a_field_cut_by_max_run_at_every_key_costs_each_key_the_same(spans: SpanCapture) -> None:
    """Each cut walked the unfinished field back to its start to hand it to the next run, so
    a field whose every key came after ``max_run`` cost the square of its length (16,000
    keys: 47 s on the caller's thread); the field still ends in one activity."""
    coalescer = Coalescer(trace.get_tracer(__name__), 1.0, 1.0, max_run=0.0, field_window=30.0)
    connection, keys = object(), 400

    def type_one_long_field() -> None:
        for _ in range(keys):
            coalescer.keys(connection, lambda _: (None, None), "a")
        coalescer.close()

    steps = lines_run(type_one_long_field, coalescer_module.__file__)
    texts = [span.attributes.get(attr.DESKTOP_INPUT_TEXT) for span in desktop(spans, "type")]
    assert texts[-1] == "a" * keys
    assert not any(texts[:-1])
    assert steps <= 100 * keys
