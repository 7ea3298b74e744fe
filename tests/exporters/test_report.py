"""The HTML report of a real session, driven in real Chromium from ``file://``.

Every request other than the report file itself is refused (and remembered), so the test
proves the page needs nothing else. Screenshots at two viewport sizes are written to the
test's folder, and to ``REPORT_SCREENSHOTS_DIR`` when set (``make screenshots`` sets it to
docs/images, the pictures the README shows).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape as html_unescape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from playwright.sync_api import expect
from support import require
from support.browser_site import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CHROMIUM_MISSING,
    chromium_installed,
    serve,
)
from support.cli import cli
from support.database import run_async
from support.hostile import TERMINAL_TRICKS, store_hostile
from support.review_session import ReviewSession, record_review_session
from support.spans import SpanCapture
from support.waiting import WAITING_PASSWORD, partly_delivered

from autobot_activity_exporters.records import AnyActivity, BrowserActivity, SecretUse
from autobot_activity_otel import activity_session
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.instrumentation.terminal import TerminalInstrumentor
from autobot_activity_otel.recording import SESSION_SPAN_NAME

if TYPE_CHECKING:
    from support.database import ActivityDB

SCREENSHOTS = {"wide": {"width": 1440, "height": 900}, "narrow": {"width": 820, "height": 1100}}
PAUSE_SECONDS = 1.2
"""Between the session's phases; the report collapses pauses over a second."""


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serve() as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require(chromium_installed(), CHROMIUM_MISSING)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Stored:
    """The recorded session, its report file, and what the store says about it."""

    session: ReviewSession
    report: Path
    activities: list[AnyActivity]
    usage: list[SecretUse]


@dataclass
class Recorded:
    session: ReviewSession
    spans: list[ReadableSpan]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, browser: Any, site: str) -> Recorded:
    """The review session, recorded once for the module (its pauses and browser are the slow
    part); each test stores its spans in a database of its own."""
    root = tmp_path_factory.mktemp("work")
    capture = SpanCapture()
    capture.clear()
    session = record_review_session(root, browser=browser, site=site, pause=PAUSE_SECONDS)
    return Recorded(session, capture.activities())


@pytest.fixture
def stored(activity_db: ActivityDB, recorded: Recorded, tmp_path: Path) -> Stored:
    session = recorded.session
    assert activity_db.export(recorded.spans) is SpanExportResult.SUCCESS
    report = tmp_path / "report.html"
    done = cli(
        "report", "--session", session.session_id, "-o", str(report), "--idle-gap", "1s",
        "--database-url", activity_db.url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith(f"written to {report.resolve()}")

    async def read() -> tuple[list[AnyActivity], list[SecretUse]]:
        async with activity_db.store as store:
            filters: dict[str, Any] = {"session_id": session.session_id, "limit": None}
            return await store.activities(**filters), await store.secret_usage(**filters)

    activities, usage = run_async(read())
    return Stored(session, report, activities, usage)


class ReportPage:
    """The report open in Chromium, with every request but the file's own refused."""

    def __init__(self, browser: Any, report: Path, viewport: dict[str, int]) -> None:
        self.url = report.resolve().as_uri()
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.refused: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.route("**/*", self._route)

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"{message.type}: {message.text}")

    def _route(self, route: Any) -> None:
        if route.request.url.split("#", 1)[0] == self.url:
            route.continue_()
        else:
            self.refused.append(route.request.url)
            route.abort()

    def open(self, fragment: str = "") -> None:
        self.page.goto(self.url + fragment)
        self.page.wait_for_selector("body[data-ready=true]")

    def shown(self) -> int:
        return int(self.page.get_attribute("body", "data-shown"))

    def listed_ids(self) -> list[str]:
        return self.page.eval_on_selector_all(
            ".row[data-id]:not([hidden])", "rows => rows.map(row => row.dataset.id)"
        )

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def report_page(browser: Any, stored: Stored) -> Iterator[ReportPage]:
    page = ReportPage(browser, stored.report, SCREENSHOTS["wide"])
    yield page
    page.close()


def test_the_report_shows_the_session_without_fetching_anything(
    stored: Stored, report_page: ReportPage
) -> None:
    report_page.open()
    page = report_page.page
    by_type = {kind: [a for a in stored.activities if a.type is kind] for kind in ActivityType}
    assert all(by_type.values()), {kind: len(found) for kind, found in by_type.items()}

    lanes = page.eval_on_selector_all(".lane", "lanes => lanes.map(lane => lane.dataset.type)")
    assert lanes == ["terminal", "file", "browser", "desktop"]
    assert report_page.shown() == len(stored.activities)
    assert sorted(report_page.listed_ids()) == sorted(str(a.id) for a in stored.activities)
    counts = page.eval_on_selector_all(
        "#type-filters label", "labels => labels.map(label => label.textContent.trim())"
    )
    assert counts == [f"{kind.value} {len(by_type[kind])}" for kind in ActivityType]

    markers = page.eval_on_selector_all(
        ".secret-marker", "nodes => nodes.map(node => [node.dataset.secretUse, node.title])"
    )
    assert sorted(use for use, _ in markers) == sorted(str(use.id) for use in stored.usage)
    assert len(stored.usage) >= 4  # the flag, the token, the typed password, the login field
    for use, title in markers:
        [row] = [u for u in stored.usage if str(u.id) == use]
        assert (str(row.secret_id) if row.secret_id else "unregistered") in title
        assert (row.rule or "declared") in title

    gaps = page.locator(".gap-marker")
    assert gaps.count() >= 3 and "idle" in gaps.first.inner_text()
    grouped = page.locator(".row.group")
    traces = Counter(activity.trace_id for activity in stored.activities)
    # the two commands of one parent span; each click that navigated, with its navigation
    assert grouped.count() == sum(1 for size in traces.values() if size > 1) == 4
    assert all("2 activities" in text for text in grouped.all_inner_texts())
    badges = page.locator(".row .badge")
    assert badges.count() >= 1 and badges.first.inner_text().startswith("REDACTED")

    assert report_page.errors == [] and report_page.refused == []


def test_search_and_filters_narrow_the_list(stored: Stored, report_page: ReportPage) -> None:
    report_page.open()
    page = report_page.page
    page.fill("#search", "LOGIN")
    login = {str(a.id) for a in stored.activities if "login" in a.search_text().lower()}
    assert 0 < len(login) < len(stored.activities)
    expect(page.locator("body")).to_have_attribute("data-shown", str(len(login)))
    assert set(report_page.listed_ids()) == login

    page.fill("#search", "")
    for kind in ("terminal", "file", "desktop"):
        page.uncheck(f"#type-filters input[data-type={kind}]")
    browser_rows = {str(a.id) for a in stored.activities if a.type is ActivityType.BROWSER}
    assert report_page.shown() == len(browser_rows)
    assert set(report_page.listed_ids()) == browser_rows
    types = page.eval_on_selector_all(
        ".row[data-id]:not([hidden])", "rows => rows.map(row => row.dataset.type)"
    )
    assert set(types) == {"browser"}

    for kind in ("terminal", "file", "desktop"):
        page.check(f"#type-filters input[data-type={kind}]")
    page.check("#only-failed")
    failed = {str(a.id) for a in stored.activities if a.failed}
    assert len(failed) >= 2  # ls on a missing file, the 404 page
    assert set(report_page.listed_ids()) == failed

    page.uncheck("#only-failed")
    page.check("#only-secret")
    used = {str(use.activity_id) for use in stored.usage}
    used |= {str(a.id) for a in stored.activities if a.secrets_used}
    assert set(report_page.listed_ids()) == used
    assert report_page.errors == [] and report_page.refused == []


def test_a_deep_link_and_a_secret_marker_open_their_activity(
    stored: Stored, report_page: ReportPage
) -> None:
    missing = next(
        a for a in stored.activities if isinstance(a, BrowserActivity) and a.status == 404
    )
    report_page.open(f"#activity={missing.id}")
    page = report_page.page
    assert page.get_attribute("#detail", "data-activity") == str(missing.id)
    fields = dict(
        page.eval_on_selector_all(
            "#detail-fields tr", "rows => rows.map(row => [row.cells[0].textContent,"
            " row.cells[0].nextElementSibling.textContent])",
        )
    )  # fmt: skip
    assert fields["id"] == str(missing.id) and fields["url"] == missing.url
    assert fields["trace id"] == missing.trace_id and fields["span id"] == missing.span_id
    assert fields["delivery"] == "stored" and fields["chain"] == "not checked"
    assert '"http.response.status_code": 404' in page.inner_text("#detail pre")
    assert page.locator(f'.row.selected[data-id="{missing.id}"]').count() == 1

    use = stored.usage[0]
    page.click(f'.secret-marker[data-secret-use="{use.id}"]')
    assert page.get_attribute("#detail", "data-activity") == str(use.activity_id)
    assert page.evaluate("location.hash") == f"#activity={use.activity_id}"
    secrets_panel = page.inner_text("#detail-secrets")
    assert (use.rule or "declared") in secrets_panel
    assert report_page.errors == [] and report_page.refused == []


def test_no_secret_value_is_anywhere_in_the_file(stored: Stored) -> None:
    html = stored.report.read_text(encoding="utf-8")
    for secret in stored.session.secrets:
        assert secret not in html and json.dumps(secret)[1:-1] not in html
    data = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    assert data is not None and "</" not in data[1] and "<" not in data[1]
    assert len(json.loads(data[1])["activities"]) == len(stored.activities)
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert policy is not None and html_unescape(policy[1]).startswith("default-src 'none';")
    assert "serviceWorker" not in html and "http://" not in html.split("<script", 1)[0]


def test_screenshots_at_two_sizes(
    activity_db: ActivityDB, stored: Stored, browser: Any, tmp_path: Path
) -> None:
    """Pictures of this real session; ``REPORT_SCREENSHOTS_DIR`` keeps them (for docs)."""
    wanted = os.environ.get("REPORT_SCREENSHOTS_DIR")
    first_traced = next(
        a for a in stored.activities if getattr(a, "command", None) == stored.session.traced[0]
    )
    for name, viewport in SCREENSHOTS.items():
        page = ReportPage(browser, stored.report, viewport)
        try:
            page.open(f"#activity={first_traced.id}")
            picture = page.page.screenshot()
            assert page.errors == [] and page.refused == []
        finally:
            page.close()
        assert picture.startswith(b"\x89PNG") and len(picture) > 20_000
        (tmp_path / f"report-{name}.png").write_bytes(picture)
        if wanted and activity_db.dialect == "postgresql":
            Path(wanted).mkdir(parents=True, exist_ok=True)
            (Path(wanted) / f"report-{name}.png").write_bytes(picture)


def test_the_report_holds_only_what_its_viewer_may_see(
    activity_db: ActivityDB, stored: Stored, browser: Any, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger.html"
    done = cli(
        "report", "--session", stored.session.session_id, "-o", str(stranger),
        "--viewer-role", "user", "--viewer-user", "0192f0c1-0000-7000-8000-00000000beef",
        "--database-url", activity_db.url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("0 activities and 0 secret uses")
    html = stranger.read_text(encoding="utf-8")
    assert all(str(activity.id) not in html for activity in stored.activities)
    page = ReportPage(browser, stranger, SCREENSHOTS["narrow"])
    try:
        page.open()
        assert page.shown() == 0 and page.page.locator(".lane").count() == 4
        assert page.errors == [] and page.refused == []
    finally:
        page.close()


def report_fields(page: Any) -> dict[str, str]:
    """The detail panel's table: label -> value."""
    return dict(
        page.eval_on_selector_all(
            "#detail-fields tr", "rows => rows.map(row => [row.cells[0].textContent,"
            " row.cells[0].nextElementSibling.textContent])",
        )
    )  # fmt: skip


def test_an_activity_still_waiting_in_the_journal_is_in_the_report_marked_so(
    activity_db: ActivityDB, spans: SpanCapture, browser: Any, tmp_path: Path
) -> None:
    with partly_delivered(activity_db, spans, tmp_path / "app-journal") as partly:
        report = tmp_path / "partly.html"
        done = cli(
            "report", "--session", partly.session_id, "-o", str(report),
            "--database-url", activity_db.url, "--journal-dir", str(partly.journal),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.startswith("4 activities (2 waiting in the journal) and 1 secret uses")
    html = report.read_text(encoding="utf-8")
    assert WAITING_PASSWORD not in html, "planted password leaked"
    page = ReportPage(browser, report, SCREENSHOTS["wide"])
    try:
        page.open(f"#activity={partly.waiting}")
        assert "(2 waiting in the journal)" in page.page.inner_text("header .meta")
        fields = report_fields(page.page)
        assert fields["delivery"] == "waiting in the journal"
        assert fields["command"] == "mysql -pREDACTED:mysql-password shop"  # a badge
        flagged = page.page.eval_on_selector_all(
            ".row .flag.waiting", "flags => flags.map(flag => flag.closest('.row').dataset.id)"
        )
        assert sorted(flagged) == sorted([str(partly.waiting), str(partly.other_user)])
        [marker] = page.page.eval_on_selector_all(
            ".secret-marker", "nodes => nodes.map(node => node.title)"
        )
        assert "mysql-password" in marker
        page.open(f"#activity={partly.stored[1]}")  # delivered, and still in the journal
        assert report_fields(page.page)["delivery"] == "stored"
        assert page.errors == [] and page.refused == []
    finally:
        page.close()


def test_a_session_recorded_as_one_trace_is_one_group_in_the_report(
    activity_db: ActivityDB, spans: SpanCapture, browser: Any, tmp_path: Path
) -> None:
    instrumentor = TerminalInstrumentor()
    instrumentor.instrument()
    session_id = f"traced-{uuid.uuid4().hex[:8]}"
    try:
        with activity_session(user_id=uuid.uuid4(), session_id=session_id):
            for command in (["true"], ["echo", "one trace"], ["uname"]):
                subprocess.run(command, capture_output=True, check=True)
    finally:
        instrumentor.uninstrument()
    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS
    report = tmp_path / "traced.html"
    done = cli(
        "report", "--session", session_id, "-o", str(report), "--database-url", activity_db.url
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [session_span] = [span for span in spans.all() if span.name == SESSION_SPAN_NAME]
    page = ReportPage(browser, report, SCREENSHOTS["narrow"])
    try:
        page.open()
        [group] = page.page.locator(".row.group").all_inner_texts()
        trace_id = f"{session_span.context.trace_id:032x}"
        assert f"trace {trace_id[:12]}… · 3 activities" in group
        assert page.errors == [] and page.refused == []
    finally:
        page.close()


def test_stored_controls_and_invisible_characters_are_shown_escaped(
    activity_db: ActivityDB, spans: SpanCapture, browser: Any, tmp_path: Path
) -> None:
    """A bidi override cannot reverse a command, a zero-width space cannot hide from the
    search box, and two lines cannot pass for one in the list."""
    session_id = store_hostile(activity_db, spans, TERMINAL_TRICKS)
    report = tmp_path / "hostile.html"
    done = cli(
        "report", "--session", session_id, "-o", str(report), "--database-url", activity_db.url
    )
    assert done.returncode == 0, done.stderr[-2000:]
    page = ReportPage(browser, report, SCREENSHOTS["wide"])
    try:
        page.open()
        rows = page.page.eval_on_selector_all(
            ".row[data-id]:not([hidden]) .what", "nodes => nodes.map(node => node.textContent)"
        )
        assert len(rows) == 7
        assert [c for row in rows for c in row if not c.isprintable()] == []
        listed = "\n".join(rows)
        assert r"cat notes.txt\nrm -rf ./gone" in listed
        assert r"invoice\u202efdp.exe \u2066x\u2069 zero\u200bwidth\ufeff" in listed
        assert r"ok\x1b[2K\r\x1b[1Afake row" in listed
        body = page.page.locator("body")
        page.page.fill("#search", "zerowidth")  # the stored title has a zero-width space
        expect(body).to_have_attribute("data-shown", "1")
        page.page.fill("#search", "")
        expect(body).to_have_attribute("data-shown", "7")
        page.page.fill("#search", "rm -rf")
        expect(body).to_have_attribute("data-shown", "1")
        page.page.click(".row[data-id]:not([hidden])")
        fields = report_fields(page.page)
        assert fields["command"] == "sh -c 'cat notes.txt\nrm -rf ./gone'"  # the detail keeps lines
    finally:
        page.close()
