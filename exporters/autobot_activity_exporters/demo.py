"""``autobot-activity demo``: a few real commands recorded, stored, and shown redacted.

Inside an ``activity_context`` it runs real child processes under the TerminalInstrumentor:
one with a password on its command line, one whose output holds an API token a secret
broker injected (registered with the redactor, as a broker would). Then it reads the rows
and the secret-usage audit back from the database, shows them, checks no secret value is
in them, and writes the session's HTML report.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

from autobot_activity_exporters import report, tables
from autobot_activity_exporters.configuration import configure
from autobot_activity_exporters.store import ActivityStore
from autobot_activity_exporters.viewer import Viewer
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.instrumentation.terminal import TerminalInstrumentor
from autobot_activity_otel.secrets import registered_secret

REPORT_FILE = "autobot_activity_report.html"
"""Written next to the demo's database, in the working directory."""


def run_demo(database_url: str | None = None, width: int | None = None) -> int:
    """Record, store and print the demo's activities; 0 when no secret reached the rows.

    ``width``: the terminal's, to fit the tables to it (None: nothing cut).
    """
    provider = configure(database_url, instrument=False)
    instrumentor = TerminalInstrumentor()
    instrumentor.instrument()
    user_id, session_id = uuid.uuid4(), f"demo-{secrets.token_hex(4)}"
    password = f"hunter2-{secrets.token_hex(4)}"
    token_id, token = uuid.uuid4(), f"tok_{secrets.token_urlsafe(24)}"
    try:
        with (
            activity_context(user_id=user_id, session_id=session_id, application="demo"),
            registered_secret(token_id, token),
        ):
            subprocess.run(["echo", "hello from the autobot-activity demo"], capture_output=True)
            subprocess.run(
                [
                    "sh",
                    "-c",
                    "echo connecting to the shop",
                    "--",
                    f"--password={password}",
                ],
                capture_output=True,
            )
            subprocess.run(
                ["sh", "-c", 'echo "Authorization: Bearer $API_TOKEN"'],
                capture_output=True,
                env={**os.environ, "API_TOKEN": token},
            )
            subprocess.run(["sh", "-c", "exit 3"], capture_output=True)
    finally:
        instrumentor.uninstrument()
    provider.force_flush()

    session = asyncio.run(_read_back(database_url, session_id))
    activities, usage = session.activities, session.secret_usage
    print(f"Activities of session {session_id} (user {user_id}):\n")
    print(tables.render(activities, tables.activity_columns(activities), width))
    print("\nSecret-usage audit (which secret, where, by which rule; never the value):\n")
    described = {activity.id: activity for activity in activities}
    print(tables.render(usage, tables.secret_columns(described), width))
    stored = tables.as_json([*activities, *usage])
    leaked = password in stored or token in stored
    print(
        "\nPlaintext secrets in the stored rows: "
        + ("FOUND (this is a bug)" if leaked else "none (the password and the token are redacted)")
    )
    written = report.write(Path(REPORT_FILE), session)
    print(f"\nThe session as an HTML report (opens from disk): {written.resolve()}")
    return 1 if leaked or not activities else 0


async def _read_back(database_url: str | None, session_id: str) -> report.SessionData:
    async with ActivityStore(database_url, viewer=Viewer.system()) as store:
        return await report.read_session(store, session_id)


if __name__ == "__main__":
    sys.exit(run_demo())
