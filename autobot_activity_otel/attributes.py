"""Span attribute names: the one contract between the instrumentation and the exporter.

Semantic-convention names are used where the OpenTelemetry conventions define one; the
``activity.*`` names are this project's own.
"""

from enum import StrEnum
from typing import Final

from opentelemetry.semconv._incubating.attributes.file_attributes import (
    FILE_EXTENSION,
    FILE_PATH,
    FILE_SIZE,
)
from opentelemetry.semconv._incubating.attributes.process_attributes import (
    PROCESS_COMMAND_ARGS,
    PROCESS_COMMAND_LINE,
    PROCESS_EXECUTABLE_NAME,
    PROCESS_EXIT_CODE,
    PROCESS_PID,
    PROCESS_WORKING_DIRECTORY,
)
from opentelemetry.semconv._incubating.attributes.session_attributes import SESSION_ID
from opentelemetry.semconv._incubating.attributes.user_attributes import USER_ID
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import HTTP_RESPONSE_STATUS_CODE
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.semconv.attributes.url_attributes import URL_FULL

SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.30.0"
"""The semantic-conventions version whose names these are; the tracers' ``schema_url``."""


class ActivityType(StrEnum):
    """What kind of activity a span records; also names its table."""

    TERMINAL = "terminal"
    FILE = "file"
    BROWSER = "browser"
    DESKTOP = "desktop"


# Every activity span.
ACTIVITY_TYPE: Final = "activity.type"
ACTIVITY_ID: Final = "activity.id"
"""Client-generated UUIDv7: time-ordered, and the idempotency key of the row."""
ACTIVITY_ACTION: Final = "activity.action"
ACTIVITY_METADATA: Final = "activity.metadata"
"""A JSON object (as a string) of redacted extras that have no column of their own."""
METADATA_PREFIX: Final = "activity.metadata."
"""``activity.metadata.<key>`` is stored in the row's metadata under ``<key>``: a value of
this package's own making (an API's name, a count) set without JSON on the caller's thread."""

# Attribution, from ``activity_context``.
ACTIVITY_ORG_ID: Final = "activity.org.id"
ACTIVITY_TEAM_ID: Final = "activity.team.id"
ACTIVITY_WINDOW_TITLE: Final = "activity.window.title"
ACTIVITY_APPLICATION: Final = "activity.application"

# Secret findings, as parallel arrays (one entry per finding); never values.
SECRETS_COUNT: Final = "activity.secrets.count"
SECRETS_RULES: Final = "activity.secrets.rules"
SECRETS_IDS: Final = "activity.secrets.ids"
SECRETS_FINGERPRINTS: Final = "activity.secrets.fingerprints"
SECRETS_FIELDS: Final = "activity.secrets.fields"
"""For each finding, the attribute whose value held the secret."""
SECRETS_ACCESS_GRANTED: Final = "activity.secrets.access_granted"  # bool per entry; absent: True
SECRETS_DENIAL_REASONS: Final = "activity.secrets.denial_reasons"  # per entry, "" when granted

# Terminal.
TERMINAL_OUTPUT: Final = "activity.terminal.output"
TERMINAL_OUTPUT_LENGTH: Final = "activity.terminal.output.length"
"""Length in characters of the output before it was capped."""
TERMINAL_SHELL: Final = "activity.terminal.shell"

# File.
FILE_NEW_PATH: Final = "activity.file.new_path"
FILE_TYPE: Final = "activity.file.type"

# Browser.
BROWSER_SELECTOR: Final = "activity.browser.selector"
BROWSER_INPUT_VALUE: Final = "activity.browser.input_value"
BROWSER_REDIRECT_CHAIN: Final = "activity.browser.redirect_chain"

# Desktop.
DESKTOP_COORDINATES: Final = "activity.desktop.coordinates"
DESKTOP_INPUT_TEXT: Final = "activity.desktop.input_text"
DESKTOP_SCREENSHOT_PATH: Final = "activity.desktop.screenshot_path"

__all__ = [
    "ACTIVITY_ACTION",
    "ACTIVITY_APPLICATION",
    "ACTIVITY_ID",
    "ACTIVITY_METADATA",
    "ACTIVITY_ORG_ID",
    "ACTIVITY_TEAM_ID",
    "ACTIVITY_TYPE",
    "ACTIVITY_WINDOW_TITLE",
    "BROWSER_INPUT_VALUE",
    "BROWSER_REDIRECT_CHAIN",
    "BROWSER_SELECTOR",
    "DESKTOP_COORDINATES",
    "DESKTOP_INPUT_TEXT",
    "DESKTOP_SCREENSHOT_PATH",
    "ERROR_TYPE",
    "FILE_EXTENSION",
    "FILE_NEW_PATH",
    "FILE_PATH",
    "FILE_SIZE",
    "FILE_TYPE",
    "HTTP_RESPONSE_STATUS_CODE",
    "PROCESS_COMMAND_ARGS",
    "PROCESS_COMMAND_LINE",
    "PROCESS_EXECUTABLE_NAME",
    "PROCESS_EXIT_CODE",
    "PROCESS_PID",
    "PROCESS_WORKING_DIRECTORY",
    "SCHEMA_URL",
    "SECRETS_ACCESS_GRANTED",
    "SECRETS_COUNT",
    "SECRETS_DENIAL_REASONS",
    "SECRETS_FIELDS",
    "SECRETS_FINGERPRINTS",
    "SECRETS_IDS",
    "SECRETS_RULES",
    "SERVER_ADDRESS",
    "SERVER_PORT",
    "SESSION_ID",
    "TERMINAL_OUTPUT",
    "TERMINAL_OUTPUT_LENGTH",
    "TERMINAL_SHELL",
    "URL_FULL",
    "USER_ID",
    "ActivityType",
]
