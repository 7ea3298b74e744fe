"""Browser activity through Playwright's sync API: the same wrappers' sync twins, real Chromium."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
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
from support.spans import SpanCapture

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.instrumentation.playwright import PlaywrightInstrumentor

pytestmark = pytest.mark.instrumentor.with_args(PlaywrightInstrumentor)
USER = uuid.UUID("0195f000-0000-7000-8000-0000000b0002")


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serve() as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require(chromium_installed(), CHROMIUM_MISSING)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, instrumented: PlaywrightInstrumentor) -> Iterator[Any]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def test_sync_api_actions_are_rows_and_the_password_is_only_audited(
    page: Any,
    site: str,
    spans: SpanCapture,
    activity_db: ActivityDB,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with activity_context(user_id=USER, session_id="browser-sync"):
        assert page.goto(f"{site}/redirect").status == 200
        assert page.goto(f"{site}/missing").status == 404
        page.goto(f"{site}/")
        page.locator("#plain").click()
        page.mouse.wheel(0, 300)
        page.locator("#footer").screenshot()
        page.goto(f"{site}/login")
        page.locator("#username").fill("bob")
        page.fill("#pw", PASSWORD)
        with page.expect_navigation():
            page.click("#go")

    recorded = spans.activities("browser")
    assert [summary(span) for span in recorded] == [
        ("navigate", None, 200, (f"{site}/redirect",)),
        ("navigate", None, 404, None),
        ("navigate", None, 200, None),
        ("click", "#plain", None, None),
        ("scroll", None, None, None),
        ("screenshot", "#footer", None, None),
        ("navigate", None, 200, None),
        ("type", "#username", None, None),
        ("type", "#pw", None, None),
        ("submit", "#go", None, None),
    ]
    assert not leaked(PASSWORD, spans.all(), caplog.text), "planted password leaked"

    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS
    assert activity_db.pending() == 0
    rows = activity_db.rows("browser_activities")
    assert [row["action"] for row in rows] == [summary(span)[0] for span in recorded]
    assert {(row["user_id"], row["session_id"]) for row in rows} == {(USER, "browser-sync")}
    assert (rows[7]["input_value"], rows[8]["input_value"]) == (
        "bob",
        "[REDACTED:password-field]",
    )
    assert rows[0]["metadata"][attr.BROWSER_REDIRECT_CHAIN] == [f"{site}/redirect"]
    usage = activity_db.rows("secret_usage")
    assert [(u["activity_id"], u["rule"]) for u in usage] == [(rows[8]["id"], "password-field")]
    assert PASSWORD not in json.dumps([*rows, *usage], default=str), "planted password leaked"


def test_sync_api_errors_pass_through_unchanged(page: Any, site: str, spans: SpanCapture) -> None:
    from playwright.sync_api import TimeoutError

    page.goto(f"{site}/")
    with pytest.raises(TimeoutError) as raised:
        page.locator("#absent").click(timeout=200)
    assert str(raised.value).startswith("Locator.click: Timeout 200ms exceeded")
    failed = spans.activities("browser")[-1]
    assert (failed.attributes or {})[attr.ERROR_TYPE] == "TimeoutError"


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
    browser: Any, site: str, tmp_path: Path
) -> None:
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
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "autobot_terminal,autobot_file,autobot_vnc",
            "AUTOBOT_ACTIVITY_DATABASE_URL": url,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:].replace(PASSWORD, "<planted>")
    rows = ActivityDB(url, "sqlite").rows("browser_activities")
    assert [(r["action"], r["selector"], r["input_value"]) for r in rows] == [
        ("navigate", None, None),
        ("type", "#username", "carol"),
        ("type", "#pw", "[REDACTED:password-field]"),
        ("submit", "#go", None),
    ]
    assert PASSWORD not in done.stdout + done.stderr, "planted password leaked in output"
