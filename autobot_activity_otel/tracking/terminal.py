"""Terminal tracking: explicit functions for commands and PTY sessions, and the decorator."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.context import explicit_attribution
from autobot_activity_otel.recording import ActivityRecord, start_activity
from autobot_activity_otel.tracking.decorators import activity_handler, result_field
from autobot_activity_otel.tracking.explicit import SecretIds, complete

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


async def track_command_execution(
    db: AsyncSession | None = None,
    user_id: uuid.UUID | str | None = None,
    command: str | bytes | list[str] = "",
    session_id: str | None = None,
    working_directory: str | None = None,
    exit_code: int | None = None,
    output: str | bytes | None = None,
    shell_type: str | None = None,
    *,
    secrets_used: SecretIds = None,
) -> uuid.UUID:
    """Record a command that was run; returns the activity id.

    With ``db`` (an ``AsyncSession``) the row is also written through it at once. A
    ``user_id`` that is not a UUID raises ``ValueError``.
    """
    record = start_activity(
        attr.ActivityType.TERMINAL,
        "execute",
        attribution=explicit_attribution(user_id, session_id),
    )
    return await complete(
        db,
        record,
        texts=(
            (attr.PROCESS_COMMAND_LINE, command, "command"),
            (attr.PROCESS_WORKING_DIRECTORY, working_directory, "text"),
            (attr.TERMINAL_OUTPUT, output, "output"),
            (attr.TERMINAL_SHELL, shell_type, "text"),
        ),
        values={attr.PROCESS_EXIT_CODE: exit_code},
        secrets_used=secrets_used,
    )


async def track_pty_session_creation(
    db: AsyncSession | None = None,
    user_id: uuid.UUID | str | None = None,
    session_id: str | None = None,
    pty_id: str | None = None,
    shell_type: str | None = None,
    working_directory: str | None = None,
) -> uuid.UUID:
    """Record that an interactive terminal (PTY) session was opened; returns the activity id."""
    record = start_activity(
        attr.ActivityType.TERMINAL,
        "pty_session_created",
        attribution=explicit_attribution(user_id, session_id),
    )
    if pty_id is not None:
        record.metadata["pty_id"] = str(pty_id)
    return await complete(
        db,
        record,
        texts=(
            (attr.PROCESS_COMMAND_LINE, shell_type or "", "command"),
            (attr.PROCESS_WORKING_DIRECTORY, working_directory, "text"),
            (attr.TERMINAL_SHELL, shell_type, "text"),
        ),
    )


def _record_outcome(record: ActivityRecord, result: object) -> None:
    """Exit code and output from what a command handler returned, whatever its shape.

    Understood: an ``int`` exit code, a ``CompletedProcess``-like object (``returncode``,
    ``stdout``), and objects or mappings with ``exit_code`` / ``output``.
    """
    if isinstance(result, bool):
        return
    if isinstance(result, int):
        record.set(attr.PROCESS_EXIT_CODE, result)
        return
    code = result_field(result, "exit_code", "returncode")
    if isinstance(code, int) and not isinstance(code, bool):
        record.set(attr.PROCESS_EXIT_CODE, code)
    output = result_field(result, "output", "stdout")
    if isinstance(output, str | bytes):
        record.set_text(attr.TERMINAL_OUTPUT, output, "output")


terminal_activity = activity_handler(
    attr.ActivityType.TERMINAL,
    "execute",
    texts={
        "command": (attr.PROCESS_COMMAND_LINE, "command"),
        "working_directory": (attr.PROCESS_WORKING_DIRECTORY, "text"),
        "shell_type": (attr.TERMINAL_SHELL, "text"),
    },
    on_result=_record_outcome,
)
"""Decorator: each call of a command handler is one terminal activity.

The handler's ``command``, ``user_id``, ``session_id`` and ``working_directory`` parameters
are read by name; its return value gives the exit code and output (see ``_record_outcome``).
"""
