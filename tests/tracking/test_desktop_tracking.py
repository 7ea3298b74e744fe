"""Desktop seed functions and the VNC handler decorator (no VNC server needed)."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from support.database import ActivityDB, on_engine
from support.planted import plant
from support.spans import SpanCapture

from autobot_activity_exporters.database import create_engine
from autobot_activity_exporters.schema import upgrade
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.activities.desktop import keystroke_mode
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.secrets import registered_secret
from autobot_activity_otel.settings import KEYSTROKES
from autobot_activity_otel.tracking.desktop import (
    desktop_activity,
    track_desktop_action,
    track_keyboard_input,
    track_mouse_click,
    track_screenshot_capture,
    track_window_focus,
)

USER = uuid.UUID("0195f000-0000-7000-8000-00000000de52")
SECRET_ID = uuid.UUID("0195f000-0000-7000-8000-00000000005f")
SECRET = plant("Seed-Typed-S3cret-4417")


def only(spans: SpanCapture) -> dict[str, Any]:
    activities = spans.activities("desktop")
    assert len(activities) == 1, [span.name for span in activities]
    return dict(activities[0].attributes)


def details(attributes: dict[str, Any]) -> dict[str, Any]:
    return json.loads(attributes.get(attr.ACTIVITY_METADATA, "{}"))


async def test_each_seed_function_writes_its_row_through_the_given_session(
    activity_db: ActivityDB, spans: SpanCapture, tmp_path: Any
) -> None:
    await on_engine(activity_db.url, upgrade)
    engine = create_engine(activity_db.url)
    try:
        async with AsyncSession(engine) as db:
            ids = [
                await track_mouse_click(db, USER, 640, 480, "s1", window_title="Editor"),
                await track_keyboard_input(db, USER, "ls -la", "s1"),
                await track_screenshot_capture(db, USER, tmp_path / "shot.png", "s1"),
                await track_window_focus(db, str(USER), "Terminal", "s1", app_name="xterm"),
                await track_desktop_action(db, USER, "move", "s1", coordinates=(1, 2)),
            ]
            await db.commit()
    finally:
        await engine.dispose()

    rows = activity_db.rows("desktop_activities")  # written directly: nothing exported yet
    assert [row["id"] for row in rows] == ids
    assert all((row["user_id"], row["session_id"]) == (USER, "s1") for row in rows)
    click, typed, shot, focus, move = rows
    assert (click["action"], click["coordinates"], click["window_title"]) == (
        "click",
        [640, 480],
        "Editor",
    )
    assert (typed["action"], typed["input_text"]) == ("type", "ls -la")
    assert shot["screenshot_path"] == str(tmp_path / "shot.png")
    assert (focus["action"], focus["window_title"]) == ("window_focus", "Terminal")
    assert focus["metadata"][attr.ACTIVITY_APPLICATION] == "xterm"
    assert (move["action"], move["coordinates"]) == ("move", [1, 2])


async def test_explicit_calls_reject_a_non_uuid_user_and_a_bad_action() -> None:
    with pytest.raises(ValueError, match="user_id"):
        await track_mouse_click(user_id="alice", x=1, y=2)
    with pytest.raises(ValueError, match="action"):
        await track_desktop_action(action="")


async def test_window_title_comes_from_the_context_unless_given(spans: SpanCapture) -> None:
    with activity_context(user_id=USER, window_title="Browser", application="firefox"):
        await track_mouse_click(x=1, y=1)
        await track_mouse_click(x=2, y=2, window_title="Dialog")
    first, second = (dict(span.attributes) for span in spans.activities("desktop"))
    assert (first[attr.ACTIVITY_WINDOW_TITLE], first[attr.ACTIVITY_APPLICATION]) == (
        "Browser",
        "firefox",
    )
    assert (second[attr.ACTIVITY_WINDOW_TITLE], second[attr.ACTIVITY_APPLICATION]) == (
        "Dialog",
        "firefox",
    )
    assert first[attr.USER_ID] == str(USER)


@pytest.mark.parametrize(
    ("mode", "text", "length"),
    [("redacted", "hello", 5), ("length", None, 5), ("off", None, None), ("bogus", None, None)],
)
async def test_keyboard_input_obeys_the_capture_mode(
    spans: SpanCapture,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    text: str | None,
    length: int | None,
) -> None:
    monkeypatch.setenv(KEYSTROKES, mode)
    await track_keyboard_input(text="hello")
    attributes = only(spans)
    assert attributes.get(attr.DESKTOP_INPUT_TEXT) == text
    assert details(attributes).get("input_length") == length
    assert details(attributes)["keystrokes"] == ("off" if mode == "bogus" else mode)


def test_the_default_capture_mode_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEYSTROKES, raising=False)
    assert keystroke_mode() == "redacted"


async def test_a_typed_secret_is_redacted_and_attributed(
    spans: SpanCapture, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with registered_secret(SECRET_ID, SECRET):
        await track_keyboard_input(text=f"login admin {SECRET}\n")
    attributes = only(spans)
    leaked = any(SECRET in str(value) for value in attributes.values()) or SECRET in caplog.text
    assert not leaked, "planted secret leaked"
    assert attributes[attr.DESKTOP_INPUT_TEXT] == f"login admin [REDACTED:secret:{SECRET_ID}]\n"
    assert list(attributes[attr.SECRETS_IDS]) == [str(SECRET_ID)]


async def test_bad_input_is_recorded_never_raised(spans: SpanCapture) -> None:
    await track_keyboard_input(text=b"nul\x00 and \xff invalid")
    await track_desktop_action(action="click", coordinates=("x", None))
    await track_screenshot_capture(screenshot_path=b"/tmp/\xffshot.png")
    typed, click, shot = (dict(span.attributes) for span in spans.activities("desktop"))
    assert typed[attr.DESKTOP_INPUT_TEXT] == "nul\u2400 and \ufffd invalid"
    assert attr.DESKTOP_COORDINATES not in click and details(click)["coordinates_invalid"]
    assert shot[attr.DESKTOP_SCREENSHOT_PATH] == "/tmp/\ufffdshot.png"


def test_decorated_sync_handler_reads_position_title_and_user(spans: SpanCapture) -> None:
    @desktop_activity("click")
    def handle_vnc_click(user_id: str, x: int, y: int, window_title: str | None = None) -> dict:
        return {"clicked": (x, y)}

    assert handle_vnc_click(str(USER), 10, 20, window_title="Files") == {"clicked": (10, 20)}
    attributes = only(spans)
    assert attributes[attr.ACTIVITY_ACTION] == "click"
    assert list(attributes[attr.DESKTOP_COORDINATES]) == [10, 20]
    assert (attributes[attr.USER_ID], attributes[attr.ACTIVITY_WINDOW_TITLE]) == (
        str(USER),
        "Files",
    )
    assert spans.activities("desktop")[0].name.endswith("<locals>.handle_vnc_click")


async def test_decorated_async_handler_applies_the_capture_mode_and_propagates_failure(
    spans: SpanCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    @desktop_activity("type")
    async def handle_vnc_type(user_id: Any, text: str, session_id: str | None = None) -> int:
        if text == "boom":
            raise ConnectionError("vnc gone")
        return len(text)

    monkeypatch.setenv(KEYSTROKES, "length")
    assert await handle_vnc_type(USER, "secret-ish words", session_id="s9") == 16
    with pytest.raises(ConnectionError):
        await handle_vnc_type(USER, "boom")
    typed, failed = (dict(span.attributes) for span in spans.activities("desktop"))
    assert attr.DESKTOP_INPUT_TEXT not in typed
    assert (details(typed)["input_length"], typed[attr.SESSION_ID]) == (16, "s9")
    assert failed[attr.ERROR_TYPE] == "ConnectionError"


def test_a_handler_with_a_non_uuid_user_still_runs_and_is_kept(spans: SpanCapture) -> None:
    @desktop_activity("screenshot")
    def capture(user_id: str, screenshot_path: str) -> str:
        return screenshot_path

    assert capture("alice", "/tmp/s.png") == "/tmp/s.png"
    attributes = only(spans)
    assert attr.USER_ID not in attributes
    assert attributes[attr.DESKTOP_SCREENSHOT_PATH] == "/tmp/s.png"


def test_the_instrumentor_needs_either_client_and_skips_quietly_without_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from autobot_activity_otel.instrumentation.vnc import VNCInstrumentor

    instrumentor = VNCInstrumentor()
    assert instrumentor.instrumentation_dependencies() == ()
    assert instrumentor._check_dependency_conflicts() is None  # both installed here
    monkeypatch.setitem(sys.modules, "vncdotool.api", None)  # import now fails
    monkeypatch.setitem(sys.modules, "asyncvnc", None)
    # opentelemetry-instrument skips an instrumentor whose _instrument raises this.
    with pytest.raises(ModuleNotFoundError):
        instrumentor._instrument()
    assert not instrumentor.is_instrumented_by_opentelemetry
