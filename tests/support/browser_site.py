"""A small website of the browser tests' own: http.server on 127.0.0.1, in a thread.

Pages: ``/`` (links to the login page, to a missing page and to its own footer, a button,
a long body to scroll), ``/redirect`` (302 to ``/login``), ``/missing`` (404), ``/login``
(username, password, API key and note fields, submit button) and ``/welcome``. The login
form posts to ``/signin``, which answers 303 to ``/welcome``, as a real login does.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from autobot_activity_otel import attributes as attr
from support.planted import plant

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_MISSING = "Chromium not installed (apt-get install chromium)"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = plant("Tr0ub4dor-planted-pw-81")
"""Typed into the password field; must never show in spans, rows or logs."""


def chromium_installed() -> bool:
    return os.path.exists(CHROMIUM)


INDEX = b"""<!doctype html><html><head><title>Home</title></head><body>
<a id="to-login" href="/login">Log in</a>
<a id="to-missing" href="/missing">Broken link</a>
<a id="to-footer" href="#footer">Footer</a>
<button id="plain" type="button" onclick="this.textContent='clicked'">Press</button>
<div style="height:3000px"></div><p id="footer">Bottom</p>
</body></html>"""

LOGIN = b"""<!doctype html><html><head><title>Login</title></head><body>
<form id="login" method="post" action="/signin">
  <label for="username">User</label><input id="username" name="username" type="text">
  <label for="pw">Password</label><input id="pw" name="pw" type="password">
  <input id="key" name="api_key" type="text">
  <input id="note" name="note" type="text">
  <button id="go" type="submit">Sign in</button>
</form>
</body></html>"""

WELCOME = b"""<!doctype html><html><head><title>Welcome</title></head><body>
<p id="hello">Welcome</p></body></html>"""


class _Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: bytes = b"", location: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(200, INDEX)
        elif path == "/login":
            self._send(200, LOGIN)
        elif path == "/redirect":
            self._send(302, location="/login")
        elif path == "/welcome":
            self._send(200, WELCOME)
        else:
            self._send(404, b"<!doctype html><title>Not found</title><p>Not found</p>")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(303, location="/welcome")

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the request line of a form post could carry what the tests plant."""


@contextmanager
def serve() -> Iterator[str]:
    """Run the site on a free port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def summary(span: ReadableSpan) -> tuple[Any, ...]:
    a = span.attributes or {}
    return (
        a[attr.ACTIVITY_ACTION],
        a.get(attr.BROWSER_SELECTOR),
        a.get(attr.HTTP_RESPONSE_STATUS_CODE),
        a.get(attr.BROWSER_REDIRECT_CHAIN),
    )


def in_order(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    """Spans by start time: a navigation an action causes ends before the action returns."""
    return sorted(spans, key=lambda span: span.start_time or 0)


def leaked(secret: str, spans: list[ReadableSpan], *texts: str) -> bool:
    """Whether ``secret`` shows anywhere in the spans' attributes or the given texts."""
    values = [str(v) for span in spans for v in (span.attributes or {}).values()]
    values += [span.name for span in spans]
    return any(secret in value for value in [*values, *texts])
