"""Async query API over the activity audit trail, limited to what one viewer may see."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import Select, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from autobot_activity_exporters.database import create_engine, resolve_database_url
from autobot_activity_exporters.models import ACTIVITY_TABLES, SECRET_USAGE
from autobot_activity_exporters.viewer import Viewer, apply_viewer
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.ids import parse_uuid

if TYPE_CHECKING:  # rows.py loads the SDK, which a query does not need
    from autobot_activity_exporters.rows import Row


class ActivityStore:
    """Activities and secret usage, newest first, as dicts keyed by the tables' column names.

    ``viewer`` is required: every query is built by ``_select``, which intersects the
    caller's filters with the viewer's scope (see ``viewer.py``), so no filter reaches past
    it. On PostgreSQL each query also runs in a transaction that first sets the viewer's
    session settings, so when the store connects as a member of the application role the
    row-level security policies hold even if a query were built wrong. On SQLite the
    store's own condition is the only guard. Unattributed activities (no user) are
    returned to the viewers whose scope covers their team or org, and to the system viewer.
    """

    def __init__(self, database_url: str | None = None, *, viewer: Viewer) -> None:
        if not isinstance(viewer, Viewer):
            raise TypeError("viewer must be a Viewer (Viewer.system() for the operator)")
        self.database_url = resolve_database_url(database_url)
        self.viewer = viewer
        self._engine: AsyncEngine | None = None

    async def activities(
        self,
        activity_type: ActivityType | str | None = None,
        *,
        user_id: uuid.UUID | str | None = None,
        session_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[Row]:
        """Activities of one type (or all four), each with an ``activity_type`` key added.

        ``since`` is inclusive and ``until`` exclusive; naive datetimes are taken as UTC.
        """
        types = [ActivityType(activity_type)] if activity_type else list(ActivityType)
        found: list[Row] = []
        for kind in types:
            statement = self._select(
                ACTIVITY_TABLES[kind], user_id, session_id, since, until, limit
            )
            found.extend(
                {"activity_type": kind.value, **row} for row in await self._fetch(statement)
            )
        found.sort(key=lambda row: (row["timestamp"], row["id"]), reverse=True)
        return found[:limit]

    async def secret_usage(
        self,
        *,
        user_id: uuid.UUID | str | None = None,
        session_id: str | None = None,
        secret_id: uuid.UUID | str | None = None,
        activity_id: uuid.UUID | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[Row]:
        """The secret-usage audit: which secret (id, rule, fingerprint) was used where.

        Rows carry their activity's user, team and org, so the same scope applies.
        """
        statement = self._select(SECRET_USAGE, user_id, session_id, since, until, limit)
        if secret_id is not None:
            statement = statement.where(
                SECRET_USAGE.c.secret_id == parse_uuid(secret_id, "secret_id")
            )
        if activity_id is not None:
            statement = statement.where(
                SECRET_USAGE.c.activity_id == parse_uuid(activity_id, "activity_id")
            )
        return await self._fetch(statement)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _select(
        self,
        table: Table,
        user_id: uuid.UUID | str | None,
        session_id: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> Select[Any]:
        statement = (
            select(table)
            .where(self.viewer.condition(table))
            .order_by(table.c.timestamp.desc(), table.c.id.desc())
            .limit(limit)
        )
        if user_id is not None:
            statement = statement.where(table.c.user_id == parse_uuid(user_id, "user_id"))
        if session_id is not None:
            statement = statement.where(table.c.session_id == session_id)
        if since is not None:
            statement = statement.where(table.c.timestamp >= _aware(since))
        if until is not None:
            statement = statement.where(table.c.timestamp < _aware(until))
        return statement

    async def _fetch(self, statement: Select[Any]) -> list[Row]:
        if self._engine is None:
            self._engine = create_engine(self.database_url)
        async with self._engine.begin() as connection:
            await apply_viewer(connection, self.viewer)
            result = await connection.execute(statement)
            return [dict(row._mapping) for row in result]


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
