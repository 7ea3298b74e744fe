"""``Viewer.sees`` (for rows in no table yet: the journal's) says what ``Viewer.condition``
says: both are asked about every combination of ids, the condition by a real SQLite."""

from __future__ import annotations

import itertools
import uuid

import pytest
from sqlalchemy import Column, MetaData, Table, Uuid, create_engine, select

from autobot_activity_exporters.viewer import Role, Viewer

ME, SOMEONE = uuid.uuid4(), uuid.uuid4()
MY_ORG, OTHER_ORG = uuid.uuid4(), uuid.uuid4()
MY_TEAM, OTHER_TEAM = uuid.uuid4(), uuid.uuid4()
COMBINATIONS = list(
    itertools.product((ME, SOMEONE, None), (MY_ORG, OTHER_ORG, None), (MY_TEAM, OTHER_TEAM, None))
)
VIEWERS = [
    Viewer.system(),
    Viewer(ME),
    Viewer(ME, team_ids=frozenset({MY_TEAM}), role=Role.TEAM_ADMIN),
    Viewer(None, team_ids=frozenset({MY_TEAM}), role=Role.TEAM_ADMIN),
    Viewer(ME, MY_ORG, role=Role.ORG_ADMIN),
    Viewer.auditor(MY_ORG),
]


@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda viewer: viewer.role.value)
def test_sees_is_the_condition_in_python(viewer: Viewer) -> None:
    table = Table(
        "rows",
        MetaData(),
        Column("n", Uuid, primary_key=True),
        Column("user_id", Uuid),
        Column("org_id", Uuid),
        Column("team_id", Uuid),
    )
    engine = create_engine("sqlite://")
    table.metadata.create_all(engine)
    keys = [uuid.uuid4() for _ in COMBINATIONS]
    with engine.begin() as connection:
        connection.execute(
            table.insert(),
            [
                {"n": key, "user_id": user, "org_id": org, "team_id": team}
                for key, (user, org, team) in zip(keys, COMBINATIONS, strict=True)
            ],
        )
        seen = set(connection.scalars(select(table.c.n).where(viewer.condition(table))))
    assert [key in seen for key in keys] == [viewer.sees(*ids) for ids in COMBINATIONS]
    assert any(key in seen for key in keys)
