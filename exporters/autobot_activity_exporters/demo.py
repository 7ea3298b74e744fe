"""``autobot-activity demo``: one real session recorded, stored, and shown redacted.

Inside one ``activity_session`` (so the session is one trace) it runs, under the real
instrumentors:

- terminal: child processes, one with a password on its command line, one whose output
  holds an API token a secret broker injected (registered with the redactor, as a broker
  would), one that fails;
- files: a note written, read, renamed and deleted under a temporary root (the only root
  the file instrumentation watches);
- browser, when Playwright and a Chromium are installed: a login on a small site the demo
  serves itself on 127.0.0.1 (no network), a password typed into its password field, the
  form's redirect to its welcome page, and a link to a missing page (404).

Then it reads the session back from the database, prints it in the terminal view fitted to
the terminal's width, prints the secret-usage audit, checks that no secret value reached the
rows, and writes the session's HTML report, printing its path.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from autobot_activity_exporters import report, tables
from autobot_activity_exporters.cli.session import render_session
from autobot_activity_exporters.configuration import configure
from autobot_activity_exporters.report.waiting import JournalStatus
from autobot_activity_exporters.store import ActivityStore
from autobot_activity_exporters.viewer import Viewer
from autobot_activity_otel import activity_session, settings
from autobot_activity_otel.instrumentation.file import FileInstrumentor
from autobot_activity_otel.instrumentation.terminal import TerminalInstrumentor
from autobot_activity_otel.secrets import registered_secret

REPORT_FILE = "autobot_activity_report.html"
"""Written next to the demo's database, in the working directory."""
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def run_demo(database_url: str | None = None, width: int | None = None) -> int:
    """Record, store and print the demo's session; 0 when no secret reached the rows.

    ``width``: the terminal's, to fit the tables to it (None: nothing cut).
    """
    provider = configure(database_url, instrument=False)
    user_id, session_id = uuid.uuid4(), f"demo-{secrets.token_hex(4)}"
    password = f"hunter2-{secrets.token_hex(4)}"
    site_password = f"Shop-{secrets.token_hex(6)}"
    token_id, token = uuid.uuid4(), f"tok_{secrets.token_urlsafe(24)}"
    terminal, files = TerminalInstrumentor(), FileInstrumentor()
    with tempfile.TemporaryDirectory(prefix="autobot-activity-demo-") as folder:
        root = Path(folder)
        terminal.instrument()
        files.instrument(roots=[root], coalesce_window_ms=0)
        try:
            with (
                activity_session(user_id=user_id, session_id=session_id, application="demo"),
                registered_secret(token_id, token),
            ):
                _commands(root, password, token)
                _files(root)
                browsed = _browser(site_password)
        finally:
            files.uninstrument()
            terminal.uninstrument()
    provider.force_flush()

    session = asyncio.run(_read_back(database_url, session_id))
    activities, usage = session.activities, session.secret_usage
    waiting = {a.id for a in activities if _waiting(session, a.id)}
    print(render_session(session_id, activities, usage, len(activities), width, waiting=waiting))
    if browsed:
        print(f"\n{browsed}")
    print("\nSecret-usage audit (which secret, where, by which rule; never the value):\n")
    described = {activity.id: activity for activity in activities}
    print(tables.render(usage, tables.secret_columns(described), width))
    stored = tables.as_json([*activities, *usage])
    leaked = any(value in stored for value in (password, token, site_password))
    print(
        "\nPlaintext secrets in the stored rows: "
        + ("FOUND (this is a bug)" if leaked else "none (the passwords and the token are redacted)")
    )
    written = report.write(Path(REPORT_FILE), session)
    print(f"\nThe session as an HTML report (opens from disk): {written.resolve()}")
    return 1 if leaked or not activities else 0


def _commands(root: Path, password: str, token: str) -> None:
    run: dict[str, Any] = {"capture_output": True, "cwd": root, "check": False}
    subprocess.run(["echo", "hello from the autobot-activity demo"], **run)
    subprocess.run(
        ["sh", "-c", "echo connecting to the shop", "--", f"--password={password}"], **run
    )
    subprocess.run(
        ["sh", "-c", 'echo "Authorization: Bearer $API_TOKEN"'],
        env={**os.environ, "API_TOKEN": token},
        **run,
    )
    subprocess.run(["sh", "-c", "exit 3"], **run)


def _files(root: Path) -> None:
    notes = root / "notes.txt"
    notes.write_text("what the agent did today\n", encoding="utf-8")
    notes.read_text(encoding="utf-8")
    notes.rename(root / "report.txt")
    (root / "report.txt").unlink()


def _browser(site_password: str) -> str:
    """The browser part; returns a line saying what was done, or why it was left out."""
    try:
        from playwright.sync_api import Error, sync_playwright

        from autobot_activity_otel.instrumentation.playwright import PlaywrightInstrumentor
    except ImportError:
        return "Browser: left out (Playwright is not installed: pip install playwright)."
    executable = next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    instrumentor = PlaywrightInstrumentor()
    instrumentor.instrument()
    try:
        with _site() as site, sync_playwright() as playwright:
            try:
                browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            except Error:
                return "Browser: left out (no Chromium found: apt-get install chromium)."
            try:
                page = browser.new_page()
                page.goto(f"{site}/")
                with page.expect_navigation():
                    page.click("#to-login")
                page.fill("#user", "demo")
                page.fill("#password", site_password)
                with page.expect_navigation():
                    page.click("#sign-in")
                with page.expect_navigation():
                    page.click("#broken")
            finally:
                browser.close()
    finally:
        instrumentor.uninstrument()
    return f"Browser: a login on the demo's own site ({site}), in {executable or 'Chromium'}."


PAGES = {
    "/": b"""<!doctype html><title>Shop</title><h1>Shop</h1>
<a id="to-login" href="/login">Sign in</a>""",
    "/login": b"""<!doctype html><title>Sign in</title>
<form method="post" action="/signin"><input id="user" name="user">
<input id="password" name="password" type="password">
<button id="sign-in">Sign in</button></form>""",
    "/welcome": b"""<!doctype html><title>Welcome</title><p>Welcome back.</p>
<a id="broken" href="/orders/2024">Last year's orders</a>""",
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGES.get(self.path)
        self._send(200 if body else 404, body or b"<!doctype html><title>Not found</title>")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(303, b"", location="/welcome")

    def _send(self, status: int, body: bytes, location: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the demo prints what was recorded, not the server's log."""


@contextmanager
def _site() -> Iterator[str]:
    """The demo's site on a free port of 127.0.0.1, for as long as the block runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _waiting(session: report.SessionData, activity_id: uuid.UUID) -> bool:
    status = session.statuses.get(activity_id)
    return status is not None and status.delivery == report.WAITING


async def _read_back(database_url: str | None, session_id: str) -> report.SessionData:
    async with ActivityStore(database_url, viewer=Viewer.system()) as store:
        journal = JournalStatus(settings.journal_dir())
        return await report.read_session(store, session_id, journal=journal)


if __name__ == "__main__":
    sys.exit(run_demo())
