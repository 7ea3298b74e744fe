"""Browser activity through Playwright's async API, in Debian's Chromium, on a local site."""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace.export import SpanExportResult
from support import require
from support.browser_site import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CHROMIUM_MISSING,
    PASSWORD,
    chromium_installed,
    leaked,
    serve,
    summary,
)
from support.database import ActivityDB
from support.instrumentors import Instrument, OwnProvider
from support.planted import plant
from support.spans import SpanCapture

import autobot_activity_otel.instrumentation.playwright as pw_instrumentation
from autobot_activity_otel import attributes as attr
from autobot_activity_otel import recording
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.instrumentation.playwright import PlaywrightInstrumentor
from autobot_activity_otel.secrets import registered_secret, secret_id_for

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.instrumentor.with_args(PlaywrightInstrumentor),
]

USER = uuid.UUID("0195f000-0000-7000-8000-0000000b0001")


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serve() as base:
        yield base


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    require(chromium_installed(), CHROMIUM_MISSING)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Any, instrumented: PlaywrightInstrumentor) -> AsyncIterator[Any]:
    context = await browser.new_context()
    page = await context.new_page()
    yield page
    await context.close()


async def login_scenario(page: Any, site: str) -> None:
    """Navigate (302, 404, 200), click, scroll, screenshot, fill a login form and submit it."""
    assert (await page.goto(f"{site}/redirect")).status == 200
    assert (await page.goto(f"{site}/missing")).status == 404
    await page.goto(f"{site}/")
    await page.click("#plain")
    await page.mouse.wheel(0, 600)
    await page.locator("#footer").scroll_into_view_if_needed()
    assert (await page.screenshot())[:4] == b"\x89PNG"
    await page.goto(f"{site}/login")
    await page.fill("#username", "alice")
    await page.get_by_label("Password").fill(PASSWORD)
    async with page.expect_navigation():
        await page.locator("#go").click()
    assert await page.text_content("#hello") == "Welcome"


async def test_each_action_is_one_row_and_the_password_is_only_audited(
    page: Any,
    site: str,
    spans: SpanCapture,
    activity_db: ActivityDB,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with activity_context(user_id=USER, session_id="browser-async"):
        await login_scenario(page, site)

    recorded = spans.activities("browser")
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
    ]
    assert not leaked(PASSWORD, spans.all(), caplog.text), "planted password leaked"

    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS
    assert activity_db.pending() == 0
    rows = activity_db.rows("browser_activities")
    assert len(rows) == len(recorded)
    assert {(row["user_id"], row["session_id"]) for row in rows} == {(USER, "browser-async")}
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
    first, missing = rows[0]["metadata"], rows[1]["metadata"]
    assert first[attr.HTTP_RESPONSE_STATUS_CODE] == 200
    assert first[attr.BROWSER_REDIRECT_CHAIN] == [f"{site}/redirect"]
    assert missing[attr.HTTP_RESPONSE_STATUS_CODE] == 404
    assert rows[4]["metadata"]["delta_y"] == 600

    usage = activity_db.rows("secret_usage")
    assert [(u["activity_id"], u["activity_type"], u["rule"]) for u in usage] == [
        (rows[9]["id"], "browser", "password-field")
    ]
    assert usage[0]["secret_id"] == secret_id_for(usage[0]["fingerprint"])
    assert rows[9]["secrets_used"] == [usage[0]["secret_id"]]
    dumped = json.dumps([*rows, *usage], default=str)
    assert PASSWORD not in dumped, "planted password leaked into a row"


async def test_a_registered_secret_in_a_plain_field_is_attributed_to_its_id(
    page: Any, site: str, spans: SpanCapture, activity_db: ActivityDB
) -> None:
    secret_id = uuid.uuid4()
    value = plant("sk_live_planted_51Habc0123456789")
    await page.goto(f"{site}/login")
    with registered_secret(secret_id, value):
        await page.fill("#note", f"token is {value}")

    typed = spans.activities("browser")[-1].attributes or {}
    assert str(typed[attr.BROWSER_INPUT_VALUE]).startswith("token is [REDACTED")
    assert value not in str(typed[attr.BROWSER_INPUT_VALUE]), "registered secret leaked"
    assert typed[attr.SECRETS_IDS] == (str(secret_id),)

    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS
    assert activity_db.pending() == 0
    row = activity_db.rows("browser_activities")[-1]
    assert row["secrets_used"] == [secret_id]
    assert [u["secret_id"] for u in activity_db.rows("secret_usage")] == [secret_id]


async def test_fields_named_for_secrets_are_redacted_whatever_their_type(
    page: Any, site: str, spans: SpanCapture
) -> None:
    await page.goto(f"{site}/login")
    await page.locator("#key").press_sequentially("abc123")
    await page.fill("#pw", "")
    await page.press("#pw", "x")
    await page.press("#pw", "Tab")
    await page.fill("#note", "nul\x00byte")
    typed = [span.attributes or {} for span in spans.activities("browser")[1:]]
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


async def test_enter_in_a_form_field_and_request_submit_are_submits(
    page: Any, site: str, spans: SpanCapture
) -> None:
    await page.goto(f"{site}/login")
    await page.locator("#username").press("a")
    async with page.expect_navigation():
        await page.locator("#username").press("Enter")
    await page.goto(f"{site}/login")
    assert await page.evaluate("1 + 1") == 2
    async with page.expect_navigation():
        await page.evaluate("document.querySelector('#login').requestSubmit()")
    assert [summary(span)[:2] for span in spans.activities("browser")] == [
        ("navigate", None),
        ("type", "#username"),
        ("submit", "#username"),
        ("navigate", None),
        ("submit", None),
    ]


async def test_select_files_check_and_frame_methods_are_recorded_once(
    page: Any, site: str, spans: SpanCapture, tmp_path: Any
) -> None:
    upload = tmp_path / "report.txt"
    upload.write_text("contents stay out")
    await page.set_content(
        "<select id=s><option value=a>A</option><option value=b>B</option></select>"
        "<input id=f type=file><input id=c type=checkbox>"
    )
    assert await page.select_option("#s", "b") == ["b"]
    await page.main_frame.set_input_files("#f", upload)
    await page.locator("#c").check()
    await page.main_frame.click("#c")
    recorded = [span.attributes or {} for span in spans.activities("browser")]
    assert [(a[attr.ACTIVITY_ACTION], a.get(attr.BROWSER_INPUT_VALUE)) for a in recorded] == [
        ("type", "b"),
        ("type", "report.txt"),
        ("click", None),
        ("click", None),
    ]


async def test_child_frames_and_frame_locators_are_recorded_once_with_their_field_kind(
    page: Any, site: str, spans: SpanCapture
) -> None:
    await page.goto(f"{site}/")
    await page.set_content(f'<iframe src="{site}/login"></iframe>')
    child = page.frames[1]
    await child.wait_for_selector("#pw")
    await child.fill("#pw", PASSWORD)
    await page.frame_locator("iframe").locator("#pw").fill(PASSWORD)
    await page.frame_locator("iframe").locator("#username").fill("bob")
    typed = [span.attributes or {} for span in spans.activities("browser")[1:]]
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


async def test_an_element_is_looked_at_once_per_page(page: Any, site: str) -> None:
    await page.add_init_script(COUNT_LOOKS)
    await page.goto(f"{site}/login")
    for _ in range(3):
        await page.fill("#username", "alice")
    assert await page.evaluate("window.looks") == 1
    await page.locator("#note").fill("x")
    assert await page.evaluate("window.looks") == 2
    await page.goto(f"{site}/login?again")
    await page.fill("#username", "alice")
    assert await page.evaluate("window.looks") == 1


async def test_errors_return_values_and_signatures_pass_through(
    page: Any, site: str, spans: SpanCapture
) -> None:
    from playwright.async_api import Page, TimeoutError

    await page.goto(f"{site}/")
    with pytest.raises(TimeoutError) as raised:
        await page.click("#absent", timeout=200)
    assert str(raised.value).startswith("Page.click: Timeout 200ms exceeded")
    with pytest.raises(TimeoutError) as raised:
        await page.locator("#absent").fill("x", timeout=200)
    assert str(raised.value).startswith("Locator.fill: Timeout 200ms exceeded")

    failed = spans.activities("browser")[1:]
    assert [(summary(s)[:2], (s.attributes or {})[attr.ERROR_TYPE]) for s in failed] == [
        (("click", "#absent"), "TimeoutError"),
        (("type", "#absent"), "TimeoutError"),
    ]
    assert attr.BROWSER_INPUT_VALUE not in (failed[1].attributes or {})
    assert not failed[1].status.is_ok
    assert "timeout" in inspect.signature(Page.click).parameters
    assert Page.click.__doc__ and Page.click.__name__ == "click"


async def test_a_tracking_failure_never_reaches_the_script(
    page: Any,
    site: str,
    spans: SpanCapture,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("tracking bug")

    monkeypatch.setattr(recording, "ActivityRecord", broken)
    response = await page.goto(f"{site}/")
    await page.click("#plain")
    assert response.status == 200
    assert await page.text_content("#plain") == "clicked"
    assert spans.activities("browser") == []
    assert "browser action not tracked (RuntimeError)" in caplog.text


async def test_suppressed_instrumentation_records_nothing(
    page: Any, site: str, spans: SpanCapture
) -> None:
    with suppress_instrumentation():
        await page.goto(f"{site}/")
        await page.click("#plain")
    assert spans.activities("browser") == []


async def test_uninstrument_restores_the_original_methods(
    browser: Any, site: str, spans: SpanCapture
) -> None:
    wrapped = [(cls, name) for cls, name, _, _ in pw_instrumentation._recorded_methods()]
    originals = [vars(cls)[name] for cls, name in wrapped]
    assert len(wrapped) > 100  # both APIs, six classes
    instrumentor = PlaywrightInstrumentor()
    instrumentor.instrument()
    assert all(
        vars(cls)[name] is not orig for (cls, name), orig in zip(wrapped, originals, strict=True)
    )
    instrumentor.uninstrument()
    assert all(
        vars(cls)[name] is orig for (cls, name), orig in zip(wrapped, originals, strict=True)
    )

    page = await browser.new_page()
    await page.goto(f"{site}/")
    await page.click("#plain")
    await page.close()
    assert spans.activities("browser") == []


async def test_instrument_records_through_the_tracer_provider_it_is_given(
    browser: Any, site: str, instrument: Instrument, spans: SpanCapture
) -> None:
    own = OwnProvider()
    instrument(PlaywrightInstrumentor, tracer_provider=own.provider)
    page = await browser.new_page()
    try:
        await page.goto(f"{site}/")
        await page.click("#plain")
    finally:
        await page.close()
    found = own.assert_recorded("autobot_activity_otel.instrumentation.playwright")
    assert [span.attributes[attr.ACTIVITY_ACTION] for span in found] == ["navigate", "click"]
    assert spans.activities("browser") == []
