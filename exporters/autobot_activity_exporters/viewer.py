"""Who is asking: the viewer whose scope every query of the activity store is limited to.

One definition of the scope, used twice: as a SQLAlchemy condition in ``ActivityStore`` (the
only guard on SQLite) and as PostgreSQL session settings read by the row-level security
policies of migration 0002 (the guard that holds even when query code has a bug).

Scopes widen with the role and always include the viewer's own activities:

- ``user``: rows whose ``user_id`` is the viewer's;
- ``team-admin``: those, and rows whose ``team_id`` is one of the viewer's teams;
- ``org-admin`` and ``auditor``: those, and rows whose ``org_id`` is the viewer's org.

Unattributed rows (no user) are therefore seen by the admins and auditors of their team or
org; a row with neither user, team nor org is seen only by the system viewer.
``Viewer.system()`` sees every row: it is for the operator's command line and for retention,
and is never built from a role string, so request data cannot ask for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from autobot_activity_otel.ids import parse_uuid

SETTING_PREFIX = "autobot_activity"
"""PostgreSQL custom settings read by the RLS policies: ``autobot_activity.viewer_*``."""
APPLICATION_ROLE = "autobot_activity_app"
"""The NOLOGIN role an application's database login is made a member of (migration 0002)."""


class Role(StrEnum):
    USER = "user"
    TEAM_ADMIN = "team-admin"
    ORG_ADMIN = "org-admin"
    AUDITOR = "auditor"
    SYSTEM = "system"


@dataclass(frozen=True)
class Viewer:
    """A viewer: ``Viewer(user_id, org_id, team_ids, role)``; ids are UUIDs or their strings.

    ``role`` is one of ``user``, ``team-admin``, ``org-admin``, ``auditor``; each needs the
    ids its scope is keyed on (a user id, team ids, an org id), else ``ValueError``.
    """

    user_id: uuid.UUID | None
    org_id: uuid.UUID | None = None
    team_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    role: Role = Role.USER

    def __post_init__(self) -> None:
        role = self.role if isinstance(self.role, Role) else Role(self.role)
        if role is Role.SYSTEM and not isinstance(self.role, Role):
            raise ValueError("the system viewer is made with Viewer.system(), not a role string")
        user_id = _optional_uuid(self.user_id, "user_id")
        org_id = _optional_uuid(self.org_id, "org_id")
        team_ids = frozenset(parse_uuid(team, "team_id") for team in _iterable(self.team_ids))
        needs = {
            Role.USER: ("user_id", user_id is not None),
            Role.TEAM_ADMIN: ("team_ids", bool(team_ids)),
            Role.ORG_ADMIN: ("org_id", org_id is not None),
            Role.AUDITOR: ("org_id", org_id is not None),
        }
        if role in needs and not needs[role][1]:
            raise ValueError(f"a {role.value} viewer needs {needs[role][0]}")
        object.__setattr__(self, "role", role)
        object.__setattr__(self, "user_id", user_id)
        object.__setattr__(self, "org_id", org_id)
        object.__setattr__(self, "team_ids", team_ids)

    @classmethod
    def system(cls) -> Viewer:
        """Every row of every org: the operator's CLI and retention, never a web request.

        On PostgreSQL the RLS policies honour it only for logins that are not members of
        the application role.
        """
        return cls(None, role=Role.SYSTEM)

    @classmethod
    def auditor(cls, org_id: uuid.UUID | str, user_id: uuid.UUID | str | None = None) -> Viewer:
        return cls(user_id, org_id, role=Role.AUDITOR)  # type: ignore[arg-type]

    def condition(self, table: Table) -> ColumnElement[bool]:
        """The rows of ``table`` this viewer may see, as a WHERE condition."""
        if self.role is Role.SYSTEM:
            return true()
        return or_(false(), *self.parts(table))

    def parts(self, table: Table) -> list[ColumnElement[bool]]:
        """The scope as conditions that each match one index: own rows, each team's, the
        org's; for the system viewer ``timestamp IS NOT NULL``, true of every row and the
        predicate of the partial index on ``timestamp`` (migration 0013); none for no scope.

        Their union is ``condition``; a listing asks each for its newest rows and merges
        them, because an ``OR`` of them makes PostgreSQL fetch and sort the whole scope to
        keep a hundred rows.
        """
        if self.role is Role.SYSTEM:  # every row; it names the time index's predicate
            return [table.c.timestamp.is_not(None)]
        columns = table.c
        parts = [] if self.user_id is None else [columns.user_id == self.user_id]
        if self.role is Role.TEAM_ADMIN:
            parts.extend(columns.team_id == team for team in sorted(self.team_ids))
        elif self.role in (Role.ORG_ADMIN, Role.AUDITOR):
            parts.append(columns.org_id == self.org_id)
        return parts

    def sees(
        self, user_id: uuid.UUID | None, org_id: uuid.UUID | None, team_id: uuid.UUID | None
    ) -> bool:
        """Whether a row with these ids is in this viewer's scope: ``condition`` for rows
        that are in no table yet (activities still waiting in the journal)."""
        if self.role is Role.SYSTEM:
            return True
        if self.user_id is not None and user_id == self.user_id:
            return True
        if self.role is Role.TEAM_ADMIN:
            return team_id is not None and team_id in self.team_ids
        if self.role in (Role.ORG_ADMIN, Role.AUDITOR):
            return org_id is not None and org_id == self.org_id
        return False

    def settings(self) -> dict[str, str]:
        """The session settings the RLS policies read (``set_config(name, value, true)``)."""
        return {
            f"{SETTING_PREFIX}.viewer_role": self.role.value,
            f"{SETTING_PREFIX}.viewer_user_id": str(self.user_id or ""),
            f"{SETTING_PREFIX}.viewer_org_id": str(self.org_id or ""),
            f"{SETTING_PREFIX}.viewer_team_ids": ",".join(sorted(map(str, self.team_ids))),
        }


async def apply_viewer(connection: AsyncConnection, viewer: Viewer) -> None:
    """Set the viewer's settings for the rest of this transaction (PostgreSQL; else nothing)."""
    if connection.dialect.name != "postgresql":
        return
    settings = [func.set_config(name, value, True) for name, value in viewer.settings().items()]
    await connection.execute(select(*settings))


def _optional_uuid(value: Any, what: str) -> uuid.UUID | None:
    return None if value is None else parse_uuid(value, what)


def _iterable(values: Any) -> Iterable[Any]:
    """Team ids as given: one id or a collection of them (a lone string is one id)."""
    if values is None:
        return ()
    if isinstance(values, str | uuid.UUID):
        return (values,)
    return cast(Iterable[Any], values)
