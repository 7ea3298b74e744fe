"""File tracking: explicit functions for operations, uploads and downloads, and the decorator.

Paths given here are recorded as the caller wrote them, normalised without touching the
filesystem (an upload handler's path may name storage this process cannot see); a path with
a ``..`` component is flagged ``path_traversal`` in the metadata, the classic upload attack.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.activities.file import (
    check_operation,
    extension,
    start_file_activity,
)
from autobot_activity_otel.activities.file import file_type as type_of
from autobot_activity_otel.context import explicit_attribution
from autobot_activity_otel.recording import ActivityRecord, to_text
from autobot_activity_otel.tracking.decorators import activity_handler, result_field
from autobot_activity_otel.tracking.explicit import complete

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

P = ParamSpec("P")
R = TypeVar("R")
PathArg = str | bytes | os.PathLike[str]


def _normalised(path: object) -> tuple[str, bool]:
    """The path normalised lexically, and whether it climbs with ``..``."""
    text = to_text(path)[0]
    if not text:
        raise ValueError("a file activity needs a path")
    return os.path.normpath(text), ".." in text.replace("\\", "/").split("/")


def _size(size_bytes: object) -> int | None:
    if size_bytes is None:
        return None
    if isinstance(size_bytes, bool) or not isinstance(size_bytes, int | str):
        raise ValueError("size_bytes must be a whole number of bytes")
    try:
        return int(size_bytes)
    except ValueError:
        raise ValueError("size_bytes must be a whole number of bytes") from None


async def track_file_operation(
    db: AsyncSession | None = None,
    user_id: uuid.UUID | str | None = None,
    operation: str = "",
    path: PathArg = "",
    session_id: str | None = None,
    size_bytes: int | None = None,
    new_path: PathArg | None = None,
    file_type: str | None = None,
) -> uuid.UUID:
    """Record a file operation (see ``OPERATIONS``); returns the activity id.

    With ``db`` (an ``AsyncSession``) the row is also written through it at once. An unknown
    ``operation`` or a ``user_id`` that is not a UUID raises ``ValueError``.
    """
    operation = check_operation(operation)
    attribution = explicit_attribution(user_id, session_id)
    size = _size(size_bytes)
    recorded, climbs = _normalised(path)
    new_recorded, new_climbs = _normalised(new_path) if new_path is not None else (None, False)
    record = start_file_activity(
        operation,
        recorded,
        new_path=new_recorded,
        given=to_text(path)[0],
        traversal=climbs or new_climbs,
        kind_of_file=file_type,
        attribution=attribution,
    )
    return await complete(db, record, values={attr.FILE_SIZE: size})


async def track_file_upload(
    db: AsyncSession | None = None,
    user_id: uuid.UUID | str | None = None,
    path: PathArg = "",
    session_id: str | None = None,
    size_bytes: int | None = None,
    file_type: str | None = None,
) -> uuid.UUID:
    """Record a file received from a user (stored at ``path``); returns the activity id."""
    return await track_file_operation(
        db, user_id, "upload", path, session_id, size_bytes, file_type=file_type
    )


async def track_file_download(
    db: AsyncSession | None = None,
    user_id: uuid.UUID | str | None = None,
    path: PathArg = "",
    session_id: str | None = None,
    size_bytes: int | None = None,
    file_type: str | None = None,
) -> uuid.UUID:
    """Record a file sent to a user (read from ``path``); returns the activity id."""
    return await track_file_operation(
        db, user_id, "download", path, session_id, size_bytes, file_type=file_type
    )


def _describe(record: ActivityRecord, result: object) -> None:
    """Type, extension and size of what a handler handled, from its parameters and result.

    The size comes from a ``size_bytes`` / ``size`` key or attribute of the result when the
    handler's parameters did not give one.
    """
    path = record.attributes.get(attr.FILE_PATH)
    if isinstance(path, str) and path:  # already redacted: type and extension need not be
        if attr.FILE_TYPE not in record.attributes:
            record.set(attr.FILE_TYPE, type_of(path))
        record.set(attr.FILE_EXTENSION, extension(path))
    size: object = record.attributes.get(attr.FILE_SIZE)
    if size is None:
        size = result_field(result, "size_bytes", "size")
    try:
        record.set(attr.FILE_SIZE, _size(size))
    except ValueError:
        record.metadata["unparsed_size"] = str(size)[:100]


def file_activity(
    operation: str = "upload",
    *,
    path: str = "file_path",
    size: str = "size",
    file_type: str = "file_type",
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: each call of an upload or download handler is one file activity.

    The handler's parameters named by ``path``, ``size`` and ``file_type`` (and ``user_id``,
    ``session_id``) are read by name, sync or async. An unknown ``operation`` raises
    ``ValueError`` at decoration time.
    """
    return activity_handler(
        attr.ActivityType.FILE,
        check_operation(operation),
        texts={path: (attr.FILE_PATH, "text"), file_type: (attr.FILE_TYPE, "text")},
        values={size: attr.FILE_SIZE},
        on_result=_describe,
    )


__all__ = ["file_activity", "track_file_download", "track_file_operation", "track_file_upload"]
