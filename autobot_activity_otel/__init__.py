"""autobot-activity-otel: an audit trail of what an AI agent does on a user's behalf, as spans.

Instrumentation side only: it depends on the OpenTelemetry API; the application chooses the
SDK and exporters (``autobot-activity-exporters`` stores the spans as audit rows).
"""

from autobot_activity_otel.context import Attribution, activity_context, current_attribution
from autobot_activity_otel.session import activity_session
from autobot_activity_otel.tracking.browser import (
    browser_activity,
    track_browser_action,
    track_browser_navigation,
    track_element_click,
    track_form_submission,
)
from autobot_activity_otel.tracking.desktop import (
    desktop_activity,
    track_desktop_action,
    track_keyboard_input,
    track_mouse_click,
    track_screenshot_capture,
    track_window_focus,
)
from autobot_activity_otel.tracking.file import (
    file_activity,
    track_file_download,
    track_file_operation,
    track_file_upload,
)
from autobot_activity_otel.tracking.secret_access import record_secret_access
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
    "activity_session",
    "browser_activity",
    "current_attribution",
    "desktop_activity",
    "file_activity",
    "record_secret_access",
    "terminal_activity",
    "track_browser_action",
    "track_browser_navigation",
    "track_command_execution",
    "track_desktop_action",
    "track_element_click",
    "track_file_download",
    "track_file_operation",
    "track_file_upload",
    "track_form_submission",
    "track_keyboard_input",
    "track_mouse_click",
    "track_pty_session_creation",
    "track_screenshot_capture",
    "track_window_focus",
]
