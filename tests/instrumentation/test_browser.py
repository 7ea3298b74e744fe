"""Browser activity through Playwright, in Debian's Chromium, on a local site.

Every scenario is written once and runs against both APIs (``api`` is ``sync`` or
``async``): the sync API as it is, the async API through ``support.browser_api.Synced``,
which runs each call as a task on the async API's own loop.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from support import require
from support.browser_api import APIS, chromium
from support.browser_site import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CHROMIUM_MISSING,
    PASSWORD,
    chromium_installed,
    in_order,
    leaked,
    serve,
    summary,
)
from support.database import ActivityDB, table_rows
from support.instrumentors import Instrument, OwnProvider
from support.planted import plant
from support.spans import SpanCapture

import autobot_activity_otel.instrumentation.playwright as pw_instrumentation
from autobot_activity_otel import attributes as attr
from autobot_activity_otel import recording
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.instrumentation.playwright import PlaywrightInstrumentor, navigation
from autobot_activity_otel.instrumentation.terminal import TerminalInstrumentor
from autobot_activity_otel.secrets import registered_secret, secret_id_for

pytestmark = pytest.mark.instrumentor.with_args(PlaywrightInstrumentor)
USER = uuid.UUID("0195f000-0000-7000-8000-0000000b0001")


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serve() as base:
        yield base


@pytest.fixture(scope="module", params=APIS)
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def browser(api: str) -> Iterator[Any]:
    require(chromium_installed(), CHROMIUM_MISSING)
    with chromium(api) as launched:
        yield launched


@pytest.fixture
def page(browser: Any, instrumented: PlaywrightInstrumentor) -> Iterator[Any]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def browser_activities(spans: SpanCapture) -> list[ReadableSpan]:
    return in_order(spans.activities("browser"))


def metadata(span: ReadableSpan) -> dict[str, Any]:
    return json.loads(str((span.attributes or {}).get(attr.ACTIVITY_METADATA, "{}")))


def test_each_action_is_one_row_and_the_password_is_only_audited(
    page: Any,
    site: str,
    api: str,
    spans: SpanCapture,
    activity_db: ActivityDB,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with activity_context(user_id=USER, session_id=f"browser-{api}"):
        assert page.goto(f"{site}/redirect").status == 200
        assert page.goto(f"{site}/missing").status == 404
        page.goto(f"{site}/")
        page.click("#plain")
        page.mouse.wheel(0, 600)
        page.locator("#footer").scroll_into_view_if_needed()
        assert page.screenshot()[:4] == b"\x89PNG"
        page.goto(f"{site}/login")
        page.fill("#username", "alice")
        page.get_by_label("Password").fill(PASSWORD)
        with page.expect_navigation():
            page.locator("#go").click()
        assert page.text_content("#hello") == "Welcome"

    recorded = browser_activities(spans)
    assert [summary(span) for span in recorded] == [
        ("navigate", None, 200, (f"{site}/redirect",)),
        ("navigate", None, 404, None),
        ("navigate", None, 200, None),
        ("click", "#plain", None, None),
        ("scroll", None, None, None),
        ("scroll", "#footer", None, None),
        ("screenshot", None, None, None),
        ("navigate", None, 200, None),
        ("type", "#username", None, None),
        ("type", 'internal:label="Password"i', None, None),
        ("submit", "#go", None, None),
        ("navigate", None, 200, (f"{site}/signin",)),
    ]
    assert not leaked(PASSWORD, spans.all(), caplog.text), "planted password leaked"

    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS
    assert activity_db.pending() == 0
    rows = activity_db.rows("browser_activities")
    assert len(rows) == len(recorded)
    assert {(row["user_id"], row["session_id"]) for row in rows} == {(USER, f"browser-{api}")}
    by_action = [(row["action"], row["url"], row["selector"], row["input_value"]) for row in rows]
    assert by_action[0] == ("navigate", f"{site}/login", None, None)
    assert by_action[1] == ("navigate", f"{site}/missing", None, None)
    assert by_action[8] == ("type", f"{site}/login", "#username", "alice")
    assert by_action[9] == (
        "type",
        f"{site}/login",
        'internal:label="Password"i',
        "[REDACTED:password-field]",
    )
    assert by_action[11] == ("navigate", f"{site}/welcome", None, None)
    first, missing = rows[0]["metadata"], rows[1]["metadata"]
    assert first[attr.HTTP_RESPONSE_STATUS_CODE] == 200
    assert first[attr.BROWSER_REDIRECT_CHAIN] == [f"{site}/redirect"]
    assert missing[attr.HTTP_RESPONSE_STATUS_CODE] == 404
    assert rows[4]["metadata"]["delta_y"] == 600
    assert rows[11]["metadata"]["caused_by"] == str(rows[10]["id"])

    usage = activity_db.rows("secret_usage")
    assert [(u["activity_id"], u["activity_type"], u["rule"]) for u in usage] == [
        (rows[9]["id"], "browser", "password-field")
    ]
    assert usage[0]["secret_id"] == secret_id_for(usage[0]["fingerprint"])
    assert rows[9]["secrets_used"] == [usage[0]["secret_id"]]
    dumped = json.dumps([*rows, *usage], default=str)
    assert PASSWORD not in dumped, "planted password leaked into a row"


def test_a_click_that_leads_to_a_404_is_a_click_row_and_a_navigate_row(
    page: Any, site: str, spans: SpanCapture, activity_db: ActivityDB
) -> None:
    page.goto(f"{site}/")
    page.click("#to-missing")
    page.wait_for_url(f"{site}/missing")

    recorded = browser_activities(spans)
    assert [summary(span) for span in recorded] == [
        ("navigate", None, 200, None),
        ("click", "#to-missing", None, None),
        ("navigate", None, 404, None),
    ]
    click, navigate = recorded[1:]
    assert (navigate.attributes or {})[attr.URL_FULL] == f"{site}/missing"
    assert metadata(navigate)["caused_by"] == (click.attributes or {})[attr.ACTIVITY_ID]
    assert navigate.parent is not None and navigate.parent.span_id == click.context.span_id
    assert navigate.context.trace_id == click.context.trace_id

    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS
    rows = activity_db.rows("browser_activities")
    statuses = [row["metadata"].get(attr.HTTP_RESPONSE_STATUS_CODE) for row in rows]
    assert [(row["action"], status) for row, status in zip(rows, statuses, strict=True)] == [
        ("navigate", 200),
        ("click", None),
        ("navigate", 404),
    ]
    assert rows[2]["url"] == f"{site}/missing"
    assert rows[2]["metadata"]["caused_by"] == str(rows[1]["id"])
    assert rows[1]["trace_id"] == rows[2]["trace_id"]


def test_a_form_submitted_by_enter_request_submit_or_a_click_leads_to_its_destination(
    page: Any, site: str, spans: SpanCapture
) -> None:
    page.goto(f"{site}/login")
    page.locator("#username").press("a")
    with page.expect_navigation():
        page.locator("#username").press("Enter")
    page.goto(f"{site}/login")
    assert page.evaluate("1 + 1") == 2
    with page.expect_navigation():
        page.evaluate("document.querySelector('#login').requestSubmit()")
    page.goto(f"{site}/login")
    with page.expect_navigation():
        page.click("#go")

    destination = ("navigate", None, 200, (f"{site}/signin",))
    recorded = browser_activities(spans)
    assert [summary(span) for span in recorded] == [
        ("navigate", None, 200, None),
        ("type", "#username", None, None),
        ("submit", "#username", None, None),
        destination,
        ("navigate", None, 200, None),
        ("submit", None, None, None),
        destination,
        ("navigate", None, 200, None),
        ("submit", "#go", None, None),
        destination,
    ]
    for index in (3, 6, 9):
        assert (recorded[index].attributes or {})[attr.URL_FULL] == f"{site}/welcome"
        cause = recorded[index - 1].attributes or {}
        assert metadata(recorded[index])["caused_by"] == cause[attr.ACTIVITY_ID]


def test_a_link_to_an_anchor_is_a_same_document_navigation(
    page: Any, site: str, spans: SpanCapture
) -> None:
    page.goto(f"{site}/")
    page.click("#to-footer")
    page.wait_for_url(f"{site}/#footer")
    recorded = browser_activities(spans)
    assert [summary(span) for span in recorded] == [
        ("navigate", None, 200, None),
        ("click", "#to-footer", None, None),
        ("navigate", None, None, None),
    ]
    assert (recorded[2].attributes or {})[attr.URL_FULL] == f"{site}/#footer"
    assert metadata(recorded[2])["same_document"] is True


def test_a_navigation_the_page_starts_later_is_not_blamed_on_the_last_click(
    page: Any, site: str, spans: SpanCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(navigation, "WINDOW_SECONDS", 0.2)
    page.goto(f"{site}/")
    page.click("#plain")
    page.wait_for_timeout(600)
    with page.expect_navigation():
        page.evaluate("location.href = '/login'")  # not an action that is recorded
    assert [summary(span)[:2] for span in browser_activities(spans)] == [
        ("navigate", None),
        ("click", "#plain"),
    ]


def test_a_registered_secret_in_a_plain_field_is_attributed_to_its_id(
    page: Any, site: str, spans: SpanCapture, activity_db: ActivityDB
) -> None:
    secret_id = uuid.uuid4()
    value = plant("sk_live_planted_51Habc0123456789")
    page.goto(f"{site}/login")
    with registered_secret(secret_id, value):
        page.fill("#note", f"token is {value}")

    typed = browser_activities(spans)[-1].attributes or {}
    assert str(typed[attr.BROWSER_INPUT_VALUE]).startswith("token is [REDACTED")
    assert value not in str(typed[attr.BROWSER_INPUT_VALUE]), "registered secret leaked"
    assert typed[attr.SECRETS_IDS] == (str(secret_id),)

    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS
    assert activity_db.pending() == 0
    row = activity_db.rows("browser_activities")[-1]
    assert row["secrets_used"] == [secret_id]
    assert [u["secret_id"] for u in activity_db.rows("secret_usage")] == [secret_id]


def test_fields_named_for_secrets_are_redacted_whatever_their_type(
    page: Any, site: str, spans: SpanCapture
) -> None:
    page.goto(f"{site}/login")
    page.locator("#key").press_sequentially("abc123")
    page.fill("#pw", "")
    page.press("#pw", "x")
    page.press("#pw", "Tab")
    page.fill("#note", "nul\x00byte")
    typed = [span.attributes or {} for span in browser_activities(spans)[1:]]
    assert [a[attr.BROWSER_INPUT_VALUE] for a in typed] == [
        "[REDACTED:secret-field]",
        "",
        "[REDACTED:password-field]",
        "Tab",
        "nul\u2400byte",
    ]
    assert [a.get(attr.SECRETS_RULES) for a in typed] == [
        ("secret-field",),
        None,
        ("password-field",),
        None,
        None,
    ]


def test_fields_labelled_as_secrets_are_redacted_whatever_their_selector(
    page: Any, spans: SpanCapture
) -> None:
    """The page says what a field is for (its label, placeholder, aria-label, a camel-case
    id, an autocomplete hint); the selector ``#f1`` does not."""
    page.set_content(
        "<label for=f1>Your PIN</label><input id=f1>"
        "<input id=f2 placeholder='One-time code'>"
        "<input id=f3 aria-label='Card security code'>"
        "<input id=otpInput>"
        "<input id=f5 autocomplete=cc-number>"
        "<label for=f6>Search</label><input id=f6>"
    )
    values = [plant(f"4417-{n}-typed-Lbl") for n in range(1, 6)]
    for number, value in enumerate(values, start=1):
        page.fill("#otpInput" if number == 4 else f"#f{number}", value)
    page.fill("#f6", "shipping rates")
    typed = [span.attributes or {} for span in browser_activities(spans)]
    assert [a[attr.BROWSER_INPUT_VALUE] for a in typed] == [
        *["[REDACTED:secret-field]"] * 5,
        "shipping rates",
    ]


def test_select_files_check_and_frame_methods_are_recorded_once(
    page: Any, spans: SpanCapture, tmp_path: Path
) -> None:
    upload = tmp_path / "report.txt"
    upload.write_text("contents stay out")
    page.set_content(
        "<select id=s><option value=a>A</option><option value=b>B</option></select>"
        "<input id=f type=file><input id=c type=checkbox>"
    )
    assert page.select_option("#s", "b") == ["b"]
    page.main_frame.set_input_files("#f", upload)
    page.locator("#c").check()
    page.main_frame.click("#c")
    recorded = [span.attributes or {} for span in browser_activities(spans)]
    assert [(a[attr.ACTIVITY_ACTION], a.get(attr.BROWSER_INPUT_VALUE)) for a in recorded] == [
        ("type", "b"),
        ("type", "report.txt"),
        ("click", None),
        ("click", None),
    ]


def test_child_frames_and_frame_locators_are_recorded_once_with_their_field_kind(
    page: Any, site: str, spans: SpanCapture
) -> None:
    page.goto(f"{site}/")
    page.set_content(f'<iframe src="{site}/login"></iframe>')
    child = page.frames[1]
    child.wait_for_selector("#pw")
    child.fill("#pw", PASSWORD)
    page.frame_locator("iframe").locator("#pw").fill(PASSWORD)
    page.frame_locator("iframe").locator("#username").fill("bob")
    typed = [span.attributes or {} for span in browser_activities(spans)[1:]]
    assert [(a[attr.URL_FULL], a[attr.BROWSER_INPUT_VALUE]) for a in typed] == [
        (f"{site}/login", "[REDACTED:password-field]"),
        (f"{site}/", "[REDACTED:password-field]"),
        (f"{site}/", "bob"),
    ]
    assert not leaked(PASSWORD, spans.all()), "planted password leaked"


COUNT_LOOKS = """
window.looks = 0;
const closest = Element.prototype.closest;
Element.prototype.closest = function (...args) {
  window.looks++;
  return closest.apply(this, args);
};
"""


def test_an_element_is_looked_at_once_per_page(page: Any, site: str) -> None:
    page.add_init_script(COUNT_LOOKS)
    page.goto(f"{site}/login")
    for _ in range(3):
        page.fill("#username", "alice")
    assert page.evaluate("window.looks") == 1
    page.locator("#note").fill("x")
    assert page.evaluate("window.looks") == 2
    page.goto(f"{site}/login?again")
    page.fill("#username", "alice")
    assert page.evaluate("window.looks") == 1


def test_errors_return_values_and_signatures_pass_through(
    page: Any, site: str, api: str, spans: SpanCapture
) -> None:
    from playwright.async_api import Page as AsyncPage
    from playwright.async_api import TimeoutError as AsyncTimeout
    from playwright.sync_api import Page as SyncPage
    from playwright.sync_api import TimeoutError as SyncTimeout

    timeout, page_class = (SyncTimeout, SyncPage) if api == "sync" else (AsyncTimeout, AsyncPage)
    page.goto(f"{site}/")
    with pytest.raises(timeout) as raised:
        page.click("#absent", timeout=200)
    assert str(raised.value).startswith("Page.click: Timeout 200ms exceeded")
    with pytest.raises(timeout) as raised:
        page.locator("#absent").fill("x", timeout=200)
    assert str(raised.value).startswith("Locator.fill: Timeout 200ms exceeded")

    failed = browser_activities(spans)[1:]
    assert [(summary(s)[:2], (s.attributes or {})[attr.ERROR_TYPE]) for s in failed] == [
        (("click", "#absent"), "TimeoutError"),
        (("type", "#absent"), "TimeoutError"),
    ]
    assert attr.BROWSER_INPUT_VALUE not in (failed[1].attributes or {})
    assert not failed[1].status.is_ok
    assert "timeout" in inspect.signature(page_class.click).parameters
    assert page_class.click.__doc__ and page_class.click.__name__ == "click"


def test_a_tracking_failure_never_reaches_the_script(
    page: Any,
    site: str,
    spans: SpanCapture,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("tracking bug")

    monkeypatch.setattr(recording, "ActivityRecord", broken)
    response = page.goto(f"{site}/")
    page.click("#plain")
    with page.expect_navigation():
        page.click("#to-login")
    assert response.status == 200
    assert page.url == f"{site}/login"
    assert spans.activities("browser") == []
    assert "browser action not tracked (RuntimeError)" in caplog.text


def test_a_navigation_that_cannot_be_recorded_never_reaches_the_script(
    page: Any,
    site: str,
    spans: SpanCapture,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("tracking bug")

    page.goto(f"{site}/")
    monkeypatch.setattr(navigation, "start_activity", broken)
    with page.expect_navigation():
        page.click("#to-login")
    assert page.text_content("#go") == "Sign in"
    assert [summary(span)[0] for span in browser_activities(spans)] == ["navigate", "click"]
    assert "navigation not tracked (RuntimeError)" in caplog.text


def test_suppressed_instrumentation_records_nothing(
    page: Any, site: str, spans: SpanCapture
) -> None:
    with suppress_instrumentation():
        page.goto(f"{site}/")
        page.click("#plain")
        with page.expect_navigation():
            page.click("#to-login")
    assert spans.activities("browser") == []


def navigation_listeners(page: Any) -> int:
    """Listeners on the page's main frame's own ``navigated`` event (the driver's, raw)."""
    frame = getattr(page, "_target", page)._impl_obj._main_frame
    return len(frame._event_emitter.listeners("navigated"))


def test_uninstrument_restores_the_original_methods_and_stops_listening(
    browser: Any, site: str, spans: SpanCapture
) -> None:
    wrapped = [(cls, name) for cls, name, _, _ in pw_instrumentation._recorded_methods()]
    originals = [vars(cls)[name] for cls, name in wrapped]
    assert len(wrapped) > 100  # both APIs, six classes
    page = browser.new_page()
    page.goto(f"{site}/")
    listening = navigation_listeners(page)
    instrumentor = PlaywrightInstrumentor()
    instrumentor.instrument()
    assert all(
        vars(cls)[name] is not orig for (cls, name), orig in zip(wrapped, originals, strict=True)
    )
    page.click("#plain")
    assert navigation_listeners(page) == listening + 1
    instrumentor.uninstrument()
    assert all(
        vars(cls)[name] is orig for (cls, name), orig in zip(wrapped, originals, strict=True)
    )
    assert navigation_listeners(page) == listening
    spans.clear()

    page.goto(f"{site}/")
    with page.expect_navigation():
        page.click("#to-missing")
    page.close()
    assert spans.activities("browser") == []


def test_instrument_records_through_the_tracer_provider_it_is_given(
    browser: Any, site: str, instrument: Instrument, spans: SpanCapture
) -> None:
    own = OwnProvider()
    instrument(PlaywrightInstrumentor, tracer_provider=own.provider)
    page = browser.new_page()
    try:
        page.goto(f"{site}/")
        page.click("#plain")
        with page.expect_navigation():
            page.click("#to-login")
    finally:
        page.close()
    found = in_order(own.assert_recorded("autobot_activity_otel.instrumentation.playwright"))
    assert [(span.attributes or {})[attr.ACTIVITY_ACTION] for span in found] == [
        "navigate",
        "click",
        "click",
        "navigate",
    ]
    assert spans.activities("browser") == []


@pytest.mark.parametrize("guarded", [True, False], ids=["with-playwright", "terminal-alone"])
def test_playwright_s_own_driver_process_is_no_terminal_activity(
    api: str, site: str, guarded: bool, instrument: Instrument, spans: SpanCapture
) -> None:
    """With the Playwright instrumentor on, starting Playwright records no command; a
    command run by a page's event handler still is (the guard covers the launch only).
    Without it, the driver is a command like any other: what the guard takes away."""
    require(chromium_installed(), CHROMIUM_MISSING)
    instrument(TerminalInstrumentor)
    if guarded:
        instrument(PlaywrightInstrumentor)

    def run_playwright() -> None:
        with chromium(api) as browser:
            page = browser.new_page()
            page.on("console", lambda message: subprocess.run(["true"], check=True))
            with page.expect_console_message():
                page.evaluate("console.log('hello')")
            page.close()

    with ThreadPoolExecutor(1) as pool:  # the module's sync Playwright holds this thread
        pool.submit(run_playwright).result()
    commands = [
        str((span.attributes or {})[attr.PROCESS_COMMAND_LINE])
        for span in spans.activities("terminal")
    ]
    drivers = [command for command in commands if "run-driver" in command]
    assert "true" in commands
    assert len(drivers) == (0 if guarded else 1)


SCRIPT = """
import sys
from playwright.sync_api import sync_playwright

site, password = sys.argv[1], sys.argv[2]
with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path={chromium!r}, args={args!r})
    page = browser.new_page()
    page.goto(site + "/login")
    page.fill("#username", "carol")
    page.fill("#pw", password)
    with page.expect_navigation():
        page.click("#go")
    browser.close()
"""


def test_opentelemetry_instrument_loads_the_playwright_instrumentor(
    site: str, tmp_path: Path
) -> None:
    """The whole auto-instrumentation, terminal included: the driver is no command row."""
    require(chromium_installed(), CHROMIUM_MISSING)
    script = tmp_path / "agent.py"
    script.write_text(textwrap.dedent(SCRIPT.format(chromium=CHROMIUM, args=CHROMIUM_ARGS)))
    url = f"sqlite+aiosqlite:///{tmp_path / 'activity.db'}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AUTOBOT_"))}
    instrument = str(Path(sys.executable).parent / "opentelemetry-instrument")
    done = subprocess.run(
        [instrument, sys.executable, str(script), site, PASSWORD],
        env=clean
        | {
            "OTEL_TRACES_EXPORTER": "autobot_activity",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "autobot_file,autobot_vnc",
            "AUTOBOT_ACTIVITY_DATABASE_URL": url,
            "AUTOBOT_ACTIVITY_STATE_DIR": str(tmp_path / "agent-state"),  # not the home's
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:].replace(PASSWORD, "<planted>")
    rows = table_rows(url, "browser_activities")  # read only: no exporter (and journal) here
    assert [(r["action"], r["url"], r["selector"], r["input_value"]) for r in rows] == [
        ("navigate", f"{site}/login", None, None),
        ("type", f"{site}/login", "#username", "carol"),
        ("type", f"{site}/login", "#pw", "[REDACTED:password-field]"),
        ("submit", f"{site}/login", "#go", None),
        ("navigate", f"{site}/welcome", None, None),
    ]
    assert table_rows(url, "terminal_activities") == []
    assert PASSWORD not in done.stdout + done.stderr, "planted password leaked in output"


def test_a_navigation_whose_response_the_client_has_not_seen_asks_for_it(
    page: Any, site: str, spans: SpanCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(navigation, "_known_response", lambda request: None)
    page.goto(f"{site}/")
    with page.expect_navigation():
        page.click("#to-missing")
    assert page.evaluate("document.title") == "Not found"  # turns the sync API's loop
    assert [summary(span) for span in browser_activities(spans)] == [
        ("navigate", None, 200, None),
        ("click", "#to-missing", None, None),
        ("navigate", None, 404, None),
    ]


def test_navigations_that_cannot_be_followed_leave_the_action_recorded(
    page: Any,
    site: str,
    spans: SpanCapture,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("tracking bug")

    monkeypatch.setattr(navigation.Navigations, "_start", broken)
    page.goto(f"{site}/")
    with page.expect_navigation():
        page.click("#to-login")
    assert [summary(span)[:2] for span in browser_activities(spans)] == [
        ("navigate", None),
        ("click", "#to-login"),
    ]
    assert "navigations not followed (RuntimeError)" in caplog.text
