"""Terminal tracking with the seed's function names and parameters, and the handler decorator."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.context import explicit_attribution
from autobot_activity_otel.decorators import activity_handler
from autobot_activity_otel.recording import ActivityRecord, persist

F = TypeVar("F", bound=Callable[..., Any])


async def track_command_execution(
    db: Any | None = None,
    user_id: uuid.UUID | str | None = None,
    command: str | bytes | list[str] = "",
    session_id: str | None = None,
    working_directory: str | None = None,
    exit_code: int | None = None,
    output: str | bytes | None = None,
    shell_type: str | None = None,
    *,
    secrets_used: Iterable[uuid.UUID | str] | None = None,
) -> uuid.UUID:
    """Record a command that was run; returns the activity id.

    With ``db`` (an ``AsyncSession``) the row is also written through it at once. A
    ``user_id`` that is not a UUID raises ``ValueError``.
    """
    record = ActivityRecord(
        attr.ActivityType.TERMINAL,
        "execute",
        attribution=explicit_attribution(user_id, session_id),
    )
    record.set_text(attr.PROCESS_COMMAND_LINE, command, "command")
    record.set_text(attr.PROCESS_WORKING_DIRECTORY, working_directory)
    record.set(attr.PROCESS_EXIT_CODE, exit_code)
    record.set_text(attr.TERMINAL_OUTPUT, output, "output")
    record.set_text(attr.TERMINAL_SHELL, shell_type)
    record.declare_secrets(secrets_used)
    return await persist(record, db)


async def track_pty_session_creation(
    db: Any | None = None,
    user_id: uuid.UUID | str | None = None,
    session_id: str | None = None,
    pty_id: str | None = None,
    shell_type: str | None = None,
    working_directory: str | None = None,
) -> uuid.UUID:
    """Record that an interactive terminal (PTY) session was opened; returns the activity id."""
    record = ActivityRecord(
        attr.ActivityType.TERMINAL,
        "pty_session_created",
        attribution=explicit_attribution(user_id, session_id),
    )
    record.set_text(attr.PROCESS_COMMAND_LINE, shell_type or "", "command")
    record.set_text(attr.PROCESS_WORKING_DIRECTORY, working_directory)
    record.set_text(attr.TERMINAL_SHELL, shell_type)
    if pty_id is not None:
        record.metadata["pty_id"] = str(pty_id)
    return await persist(record, db)


def _record_outcome(record: ActivityRecord, result: Any) -> None:
    """Exit code and output from what a command handler returned, whatever its shape.

    Understood: an ``int`` exit code, a ``CompletedProcess``-like object (``returncode``,
    ``stdout``), and objects or mappings with ``exit_code`` / ``output``.
    """
    if isinstance(result, bool):
        return
    if isinstance(result, int):
        record.set(attr.PROCESS_EXIT_CODE, result)
        return
    get = result.get if isinstance(result, Mapping) else lambda key: getattr(result, key, None)
    code = get("exit_code")
    if code is None:
        code = get("returncode")
    if isinstance(code, int) and not isinstance(code, bool):
        record.set(attr.PROCESS_EXIT_CODE, code)
    output = get("output")
    if output is None:
        output = get("stdout")
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
