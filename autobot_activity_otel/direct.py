"""The ``db=`` hook: how a finished activity is written through the caller's own session.

This package declares the hook and a default that writes nothing; the exporters package
registers its writer when it is set up, as the OpenTelemetry API holds a no-op tracer
provider until an SDK sets one. The exporter writes every activity anyway, under the same
id, so a direct write only makes the row visible sooner: without a writer nothing is lost.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from autobot_activity_otel.snapshot import ActivitySnapshot

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

_logger = logging.getLogger(__name__)


class DirectWriter(Protocol):
    """Writes one finished activity's rows through ``session``; must never raise."""

    async def write(self, session: AsyncSession, activity: ActivitySnapshot) -> None: ...


class _NoWriter:
    """The default: says once that ``db=`` is ignored, and why."""

    warned = False

    async def write(self, session: AsyncSession, activity: ActivitySnapshot) -> None:
        if not _NoWriter.warned:
            _NoWriter.warned = True
            _logger.warning(
                "db= given but no direct writer is set up (autobot-activity-exporters not "
                "configured); the activity reaches the database through the exporter only"
            )


_NO_WRITER = _NoWriter()
_writer: DirectWriter = _NO_WRITER


def set_direct_writer(writer: DirectWriter | None) -> None:
    """Register the writer ``db=`` uses (None restores the default, which writes nothing)."""
    global _writer
    _writer = _NO_WRITER if writer is None else writer


def direct_writer() -> DirectWriter:
    """The writer registered now."""
    return _writer
