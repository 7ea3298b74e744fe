"""Async query API over the activity audit trail, limited to what one viewer may see."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    Table,
    func,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from autobot_activity_exporters.database import create_engine, resolve_database_url
from autobot_activity_exporters.models import ACTIVITY_TABLES, SECRET_USAGE
from autobot_activity_exporters.records import (
    SEARCHED_COLUMNS,
    AnyActivity,
    SecretUse,
    record_from_row,
)
from autobot_activity_exporters.viewer import APPLICATION_ROLE, Viewer, apply_viewer
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.ids import parse_uuid

if TYPE_CHECKING:  # rows.py loads the SDK, which a query does not need
    from autobot_activity_exporters.rows import Row
Order = Literal["asc", "desc"]
"""Oldest first (``asc``) or newest first (``desc``, the default)."""


class ActivityStore:
    """Activities and secret usage as typed records (``records.py``), newest first by default.

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
        limit: int | None = 100,
        activity_ids: Iterable[uuid.UUID | str] | None = None,
        grep: str | None = None,
        order: Order = "desc",
    ) -> list[AnyActivity]:
        """Activities of one type (or all four), as ``TerminalActivity``, ``FileActivity``, …

        ``since`` is inclusive and ``until`` exclusive; naive datetimes are taken as UTC;
        ``limit=None`` returns every match. ``activity_ids`` keeps only those ids; ``grep``
        keeps activities whose command, path, new path, URL, selector or window title
        contains the text (any case).
        """
        descending = _descending(order)
        found: list[AnyActivity] = []
        for kind, conditions in self._activity_conditions(activity_type, activity_ids, grep):
            table = ACTIVITY_TABLES[kind]
            rows = await self._listing(
                table, user_id, session_id, since, until, limit, conditions, descending
            )
            found.extend(record_from_row(kind, row) for row in rows)
        found.sort(key=lambda record: (record.timestamp, record.id), reverse=descending)
        return found[:limit]

    async def count_activities(
        self,
        activity_type: ActivityType | str | None = None,
        *,
        user_id: uuid.UUID | str | None = None,
        session_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        activity_ids: Iterable[uuid.UUID | str] | None = None,
        grep: str | None = None,
    ) -> int:
        """How many activities ``activities()`` with the same filters would find, unlimited."""
        total = 0
        for kind, conditions in self._activity_conditions(activity_type, activity_ids, grep):
            table = ACTIVITY_TABLES[kind]
            statement = self._select(table, user_id, session_id, since, until, None, conditions)
            total += await self._count(statement)
        return total

    async def secret_usage(
        self,
        *,
        user_id: uuid.UUID | str | None = None,
        session_id: str | None = None,
        secret_id: uuid.UUID | str | None = None,
        activity_id: uuid.UUID | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 100,
        order: Order = "desc",
    ) -> list[SecretUse]:
        """The secret-usage audit: which secret (id, rule, fingerprint) was used where.

        Rows carry their activity's user, team and org, so the same scope applies.
        """
        conditions = _secret_conditions(secret_id, activity_id)
        rows = await self._listing(
            SECRET_USAGE, user_id, session_id, since, until, limit, conditions, _descending(order)
        )
        return [SecretUse.from_row(row) for row in rows]

    async def count_secret_usage(
        self,
        *,
        user_id: uuid.UUID | str | None = None,
        session_id: str | None = None,
        secret_id: uuid.UUID | str | None = None,
        activity_id: uuid.UUID | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """How many rows ``secret_usage()`` with the same filters would find, unlimited."""
        conditions = _secret_conditions(secret_id, activity_id)
        statement = self._select(SECRET_USAGE, user_id, session_id, since, until, None, conditions)
        return await self._count(statement)

    async def connects_as_application_role(self) -> bool:
        """Whether this store's login is a member of the application role (PostgreSQL only).

        Such a login never sees a row as the system viewer (the RLS policies refuse it), so
        an empty answer for that viewer means "name a viewer", not "nothing recorded".
        """
        async with self._connection() as connection:
            if connection.dialect.name != "postgresql":
                return False
            member = text(
                "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = :role"
                " AND pg_has_role(current_user, oid, 'MEMBER'))"
            )
            result = await connection.execute(member, {"role": APPLICATION_ROLE})
            return bool(result.scalar_one())

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

    async def _listing(
        self,
        table: Table,
        user_id: uuid.UUID | str | None,
        session_id: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int | None,
        conditions: Sequence[ColumnElement[bool]],
        descending: bool,
    ) -> list[Row]:
        """The newest (or oldest) ``limit`` rows of the viewer's scope, in one statement of
        one ordered, limited branch per part of the scope (``Viewer.parts``), merged here.

        Each branch can walk one index and stop after ``limit`` rows, so the time it takes
        does not grow with the scope; the rows of the branches are de-duplicated by id (a
        user's own row is also in the org's) and cut to ``limit`` in their order.
        """
        branches = [
            self._select(
                table, user_id, session_id, since, until, limit, conditions, descending, part
            )
            for part in self.viewer.parts(table)
        ]
        if not branches:
            return []
        statement: Select[Any] | CompoundSelect[Any]
        if len(branches) == 1:
            statement = branches[0]
        else:  # each branch as a subquery: SQLite refuses ORDER BY and LIMIT inside a UNION
            statement = union_all(*(select(branch.subquery()) for branch in branches))
        rows = await self._fetch(statement, in_order=limit is not None and not conditions)
        unique = {row["id"]: row for row in rows}
        ordered = sorted(
            unique.values(), key=lambda row: (row["timestamp"], row["id"]), reverse=descending
        )
        return ordered[:limit]

    def _select(
        self,
        table: Table,
        user_id: uuid.UUID | str | None,
        session_id: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int | None,
        conditions: Sequence[ColumnElement[bool]] = (),
        descending: bool = True,
        scope: ColumnElement[bool] | None = None,
    ) -> Select[Any]:
        """One query within the viewer's scope (``scope``: one of its parts, else all)."""
        order = (table.c.timestamp, table.c.id)
        statement = (
            select(table)
            .where(self.viewer.condition(table) if scope is None else scope, *conditions)
            .order_by(*(column.desc() if descending else column.asc() for column in order))
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

    @staticmethod
    def _activity_conditions(
        activity_type: ActivityType | str | None,
        activity_ids: Iterable[uuid.UUID | str] | None,
        grep: str | None,
    ) -> list[tuple[ActivityType, list[ColumnElement[bool]]]]:
        """The tables to query, each with the conditions the optional filters add."""
        types = [ActivityType(activity_type)] if activity_type else list(ActivityType)
        ids = None if activity_ids is None else [parse_uuid(i, "activity id") for i in activity_ids]
        queries = []
        for kind in types:
            table = ACTIVITY_TABLES[kind]
            conditions: list[ColumnElement[bool]] = []
            if ids is not None:
                conditions.append(table.c.id.in_(ids))
            if grep:
                searched = (table.c[name] for name in SEARCHED_COLUMNS[kind])
                conditions.append(
                    or_(*(column.icontains(grep, autoescape=True) for column in searched))
                )
            queries.append((kind, conditions))
        return queries

    async def _fetch(
        self, statement: Select[Any] | CompoundSelect[Any], *, in_order: bool = False
    ) -> list[Row]:
        """The rows of ``statement``; with ``in_order``, read in index order on PostgreSQL.

        A listing is "the newest N of one index range", which an ordered index scan answers
        by reading N rows. But PostgreSQL multiplies the row-level security policy's
        estimated selectivity with the query's own condition, expects a handful of rows
        where a scope has thousands, and so fetches them all (a bitmap scan, or an index
        scan and a sort) to keep N: work that grows with the table. Listings without id or
        text filters therefore run with bitmap scans and sorts discouraged for their
        transaction (``SET LOCAL``). A filtered listing keeps the planner's choice, since
        fetching a few ids and sorting them is right there; so does an unlimited one, which
        reads its whole range anyway.
        """
        async with self._connection() as connection:
            if in_order and connection.dialect.name == "postgresql":
                await connection.execute(_IN_INDEX_ORDER)
            result = await connection.execute(statement)
            return [dict(row._mapping) for row in result]

    async def _count(self, statement: Select[Any]) -> int:
        counting = select(func.count()).select_from(statement.order_by(None).subquery())
        async with self._connection() as connection:
            return int((await connection.execute(counting)).scalar_one())

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that sees what the viewer may see (RLS settings on PostgreSQL)."""
        if self._engine is None:
            self._engine = create_engine(self.database_url)
        async with self._engine.begin() as connection:
            await apply_viewer(connection, self.viewer)
            yield connection


_IN_INDEX_ORDER = select(
    *(func.set_config(name, "off", True) for name in ("enable_bitmapscan", "enable_sort"))
)
"""``SET LOCAL`` of both planner settings in one round trip."""


def _secret_conditions(
    secret_id: uuid.UUID | str | None, activity_id: uuid.UUID | str | None
) -> list[ColumnElement[bool]]:
    conditions = []
    if secret_id is not None:
        conditions.append(SECRET_USAGE.c.secret_id == parse_uuid(secret_id, "secret_id"))
    if activity_id is not None:
        conditions.append(SECRET_USAGE.c.activity_id == parse_uuid(activity_id, "activity_id"))
    return conditions


def _descending(order: Order) -> bool:
    if order not in ("asc", "desc"):
        raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
    return order == "desc"


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
