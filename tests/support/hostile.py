"""Text an audited agent controls, chosen to deceive its reviewer, stored for real."""

from __future__ import annotations

import subprocess
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from autobot_activity_otel import activity_context, track_window_focus
from autobot_activity_otel.attributes import ACTIVITY_ID
from autobot_activity_otel.ids import new_activity_text
from autobot_activity_otel.instrumentation.terminal import TerminalInstrumentor
from support.database import run_async

if TYPE_CHECKING:
    from support.database import ActivityDB
    from support.spans import SpanCapture

TERMINAL_TRICKS = (
    "ok\x1b[2K\r\x1b[1Afake row",  # erase the line, go up: rewrite the row above
    "\x1b]8;;http://evil.example\x07click\x1b]8;;\x07 \x1b]0;title\x07 \x1b[8mhidden\x1b[0m",
    "over\rwritten back\b\b\bspace",
    "invoice\u202efdp.exe \u2066x\u2069 zero\u200bwidth\ufeff",
    "c1 \u009b2J csi",  # an 8-bit CSI
)
FORMULAS = (" =1+1", "\t=1+1", "\r=1+1", "\n=HYPERLINK(1)", "\x1b=1+1", "  @SUM(1)", "-2+3")
TWO_COMMANDS = "cat notes.txt\nrm -rf ./gone"
"""Two shell commands that, folded onto one line, would read as one ``cat`` of three files."""


def store_hostile(activity_db: ActivityDB, spans: SpanCapture, titles: tuple[str, ...]) -> str:
    """A session with these window titles, a two-line shell script and a killed command."""
    session_id, user_id = f"hostile-{uuid.uuid4().hex[:8]}", uuid.uuid4()

    async def focus() -> None:
        for title in titles:
            await track_window_focus(
                user_id=user_id, session_id=session_id, window_title=title, app_name="agent"
            )

    run_async(focus())  # on a thread of its own: Playwright's sync API may hold this one's loop
    with activity_context(user_id=user_id, session_id=session_id):
        instrumentor = TerminalInstrumentor()
        instrumentor.instrument()
        try:
            subprocess.run(["sh", "-c", TWO_COMMANDS], capture_output=True, check=False)
            subprocess.run(["sh", "-c", "kill -9 $$"], capture_output=True, check=False)
        finally:
            instrumentor.uninstrument()
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS
    return session_id


BACK = timedelta(days=400)


def store_dated_back(activity_db: ActivityDB, spans: SpanCapture) -> str:
    """A session of two window focuses, the second sent with its times moved ``BACK`` (as
    a sender with a wrong clock, or one forging its spans, would): a past start is stored
    as sent, unlike a future one."""
    session_id, user_id = f"back-{uuid.uuid4().hex[:8]}", uuid.uuid4()
    run_async(track_window_focus(user_id=user_id, session_id=session_id, window_title="now"))
    [span] = spans.activities()
    shift = -int(BACK.total_seconds() * 1e9)
    assert span.start_time is not None and span.end_time is not None
    forged = ReadableSpan(
        name=span.name,
        context=span.context,
        resource=span.resource,
        attributes={**(span.attributes or {}), ACTIVITY_ID: new_activity_text()},
        kind=span.kind,
        status=span.status,
        start_time=span.start_time + shift,
        end_time=span.end_time + shift,
        instrumentation_scope=span.instrumentation_scope,
    )
    assert activity_db.export([span, forged]) is SpanExportResult.SUCCESS
    return session_id
