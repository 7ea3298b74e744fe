"""An application with no tracing code of its own, recorded by auto-instrumentation.

    export OTEL_TRACES_EXPORTER=autobot_activity
    opentelemetry-instrument python examples/instrumented_app.py

``opentelemetry-instrument`` loads the configurator of autobot-activity-exporters (no
opentelemetry-distro needed) and the terminal instrumentor; the child process below becomes
a row in ``AUTOBOT_ACTIVITY_DATABASE_URL`` (default ``./autobot_activity.db``), attributed to
the user and session that ``activity_context`` names.
"""

import subprocess
import sys
import uuid

from autobot_activity_otel import activity_context

USER_ID = uuid.UUID("0192f0c1-0000-7000-8000-0000000a99e0")


def main(session_id: str) -> None:
    with activity_context(user_id=USER_ID, session_id=session_id):
        result = subprocess.run(["uname", "-s"], capture_output=True, text=True, check=True)
    print(result.stdout.strip())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "instrumented-app")
