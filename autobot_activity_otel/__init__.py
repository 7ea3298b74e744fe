"""autobot-activity-otel: an audit trail of what an AI agent does on a user's behalf, as spans.

Instrumentation side only: it depends on the OpenTelemetry API; the application chooses the
SDK and exporters (``autobot-activity-exporters`` stores the spans as audit rows).
"""

from autobot_activity_otel.context import Attribution, activity_context, current_attribution
from autobot_activity_otel.tracking.terminal import (
    terminal_activity,
    track_command_execution,
    track_pty_session_creation,
)
from autobot_activity_otel.version import __version__

__all__ = [
    "Attribution",
    "__version__",
    "activity_context",
    "current_attribution",
    "terminal_activity",
    "track_command_execution",
    "track_pty_session_creation",
]
