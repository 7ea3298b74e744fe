"""A session a reviewer would look at, recorded through the real pipeline.

Real commands under the TerminalInstrumentor (one with a password on its command line, one
whose output holds a broker-registered token, one that fails, one very long), real file
operations under the FileInstrumentor, real Chromium under the PlaywrightInstrumentor (a
login with a password typed into a password field, a link that leads to a 404 page) when a
browser is given, and desktop actions through the seed functions a VNC handler calls
(typing a broker-registered password). Two commands run inside one parent span, so they
share a trace. Pauses between the phases leave idle
gaps. The spans then go through the real exporter into the test's database.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import subprocess
import time
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry import trace

from autobot_activity_otel import (
    activity_context,
    track_keyboard_input,
    track_mouse_click,
    track_window_focus,
)
from autobot_activity_otel.instrumentation.file import FileInstrumentor
from autobot_activity_otel.instrumentation.playwright import PlaywrightInstrumentor
from autobot_activity_otel.instrumentation.terminal import TerminalInstrumentor
from autobot_activity_otel.secrets import registered_secret
from support import planted
from support.browser_site import PASSWORD as BROWSER_PASSWORD

COMMAND_PASSWORD = planted.plant("Review-planted-Pw-30417")
BROKER_TOKEN = planted.plant("tok_review_planted_Zx81Qw5521")
TYPED_TEXT = planted.plant("Desk-typed-Secret-6620")
LONG_COMMAND_WORD = "review-" + "x" * 230
"""An argument longer than any terminal line, to show what fitting and ``--wide`` do."""


@dataclass
class ReviewSession:
    session_id: str
    user_id: uuid.UUID
    token_id: uuid.UUID
    typed_id: uuid.UUID
    secrets: tuple[str, ...] = (COMMAND_PASSWORD, BROKER_TOKEN, TYPED_TEXT, BROWSER_PASSWORD)
    traced: list[str] = field(default_factory=list)
    """Commands run inside one parent span (one trace)."""


def record_review_session(
    root: Path, *, browser: Any | None = None, site: str | None = None, pause: float = 0.0
) -> ReviewSession:
    """Record the session's activities (the spans land in the test's span capture)."""
    session = ReviewSession(
        f"review-{uuid.uuid4().hex[:8]}", uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    )
    with activity_context(
        user_id=session.user_id, session_id=session.session_id, application="review"
    ):
        _terminal(session, root)
        time.sleep(pause)
        _files(root)
        if browser is not None and site is not None:
            time.sleep(pause)
            _browser(browser, site)
        time.sleep(pause)
        with registered_secret(session.typed_id, TYPED_TEXT):  # a broker's value, typed
            _run_in_thread(_desktop())
    return session


def _terminal(session: ReviewSession, root: Path) -> None:
    instrumentor = TerminalInstrumentor()
    instrumentor.instrument()
    try:
        with registered_secret(session.token_id, BROKER_TOKEN):
            run = {"capture_output": True, "cwd": root, "check": False}
            subprocess.run(["echo", "starting the review"], **run)  # type: ignore[call-overload]
            subprocess.run(  # type: ignore[call-overload]
                ["sh", "-c", "echo connecting", "--", f"--password={COMMAND_PASSWORD}"], **run
            )
            subprocess.run(  # type: ignore[call-overload]
                ["sh", "-c", 'echo "Authorization: Bearer $API_TOKEN"'],
                env={**os.environ, "API_TOKEN": BROKER_TOKEN},
                **run,
            )
            subprocess.run(["ls", str(root / "no-such-file")], **run)  # type: ignore[call-overload]
            subprocess.run(["echo", LONG_COMMAND_WORD], **run)  # type: ignore[call-overload]
            with trace.get_tracer(__name__).start_as_current_span("agent step"):
                for command in (["git", "--version"], ["uname", "-s"]):
                    subprocess.run(command, **run)  # type: ignore[call-overload]
                    session.traced.append(" ".join(command))
    finally:
        instrumentor.uninstrument()


def _files(root: Path) -> None:
    instrumentor = FileInstrumentor()
    instrumentor.instrument(roots=[root], coalesce_window_ms=0)
    try:
        notes = root / "notes.txt"
        notes.write_text("review notes\n", encoding="utf-8")
        notes.read_text(encoding="utf-8")
        os.rename(notes, root / "final-notes.txt")
        (root / "final-notes.txt").unlink()
    finally:
        instrumentor.uninstrument()


def _browser(browser: Any, site: str) -> None:
    instrumentor = PlaywrightInstrumentor()
    instrumentor.instrument()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{site}/")
        page.locator("#to-login").click()
        page.wait_for_url(f"{site}/login")
        page.locator("#username").fill("reviewer")
        page.locator("#pw").fill(BROWSER_PASSWORD)
        page.locator("#go").click()
        page.wait_for_url(f"{site}/welcome")
        page.goto(f"{site}/")
        page.locator("#to-missing").click()  # a link to a page that is not there: a 404
        page.wait_for_url(f"{site}/missing")
    finally:
        context.close()
        instrumentor.uninstrument()


def _run_in_thread(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine on a thread of its own with this context (attribution included):
    Playwright's sync API keeps an event loop running on this thread."""
    context = contextvars.copy_context()
    with ThreadPoolExecutor(1) as pool:
        pool.submit(context.run, asyncio.run, coroutine).result()


async def _desktop() -> None:
    await track_window_focus(window_title="Terminal — review@host", app_name="xterm")
    await track_mouse_click(x=412, y=230, window_title="Terminal — review@host")
    await track_keyboard_input(text=f"sudo -k; {TYPED_TEXT}", window_title="Terminal — review@host")
