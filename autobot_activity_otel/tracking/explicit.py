"""What every explicit tracking function does once it has built its record."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from opentelemetry.util.types import AttributeValue

from autobot_activity_otel.recording import ActivityRecord, finish
from autobot_activity_otel.secrets import Kind

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

SecretIds = Iterable[uuid.UUID | str] | None
"""Ids of the secrets a caller says an activity used (a broker's injection)."""


async def complete(
    db: AsyncSession | None,
    record: ActivityRecord,
    *,
    texts: Iterable[tuple[str, object, Kind]] = (),
    values: Mapping[str, AttributeValue | None] | None = None,
    secrets_used: SecretIds = None,
) -> uuid.UUID:
    """Set the call's texts (``(attribute, value, kind)``, redacted) and values, declare the
    secrets it used, end the activity and, with ``db``, write its row now; returns its id."""
    for key, value, kind in texts:
        record.set_text(key, value, kind)
    for key, number in (values or {}).items():
        record.set(key, number)
    record.declare_secrets(secrets_used)
    return await finish(record, db)
