"""Isolation: each viewer sees exactly its scope, through the store and, on PostgreSQL, in SQL.

Two orgs, three teams, five users, plus two unattributed activities (one in org 1's team 2,
one with no tenancy at all). Each person has a terminal activity that used a secret and a
file activity. The store is checked on SQLite and PostgreSQL; on PostgreSQL the same sets are
checked in raw SQL as the application role with row-level security, through a store whose
query code forgot the viewer, and as a non-superuser table owner (RLS is forced).
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from alembic import command
from opentelemetry.sdk.trace.export import SpanExportResult
from sqlalchemy import Select, Table, event, select
from sqlalchemy.engine import make_url
from support import planted

from autobot_activity_exporters import ActivitySpanExporter
from autobot_activity_exporters.database import create_engine
from autobot_activity_exporters.models import ACTIVITY_TABLES, TABLES
from autobot_activity_exporters.retention import prune
from autobot_activity_exporters.schema import alembic_config, head_revision, upgrade
from autobot_activity_exporters.store import ActivityStore
from autobot_activity_exporters.viewer import APPLICATION_ROLE, Role, Viewer
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.recording import ActivityRecord

if TYPE_CHECKING:
    from support.database import ActivityDB
    from support.spans import SpanCapture


def _id(n: int) -> uuid.UUID:
    return uuid.UUID(f"0192f0c1-0000-7000-8000-{n:012d}")


ORG1, ORG2 = _id(101), _id(102)
TEAM1, TEAM2, TEAM3 = _id(201), _id(202), _id(203)
U1, U2, U3, U4, U5 = (_id(n) for n in range(1, 6))
PASSWORD = planted.plant("Acl-planted-Pw-60417")


@dataclass(frozen=True)
class Person:
    """Whose activities a label's rows are: a user (or None) with their team and org."""

    user: uuid.UUID | None
    team: uuid.UUID | None
    org: uuid.UUID | None


PEOPLE = {
    "u1": Person(U1, TEAM1, ORG1),
    "u2": Person(U2, TEAM1, ORG1),
    "u3": Person(U3, TEAM2, ORG1),
    "u4": Person(U4, TEAM3, ORG2),
    "u5": Person(U5, TEAM3, ORG2),
    "unattributed-team2": Person(None, TEAM2, ORG1),
    "unattributed": Person(None, None, None),
}
VIEWERS: list[tuple[Viewer, set[str]]] = [
    (Viewer(U1), {"u1"}),
    (Viewer(str(U5), role="user"), {"u5"}),
    (Viewer(U3, ORG1, frozenset({TEAM1}), Role.TEAM_ADMIN), {"u1", "u2", "u3"}),
    (Viewer(None, ORG1, [TEAM2], "team-admin"), {"u3", "unattributed-team2"}),
    (Viewer(U1, ORG1, role="org-admin"), {"u1", "u2", "u3", "unattributed-team2"}),
    (Viewer.auditor(ORG2), {"u4", "u5"}),
    (Viewer(U4, ORG1, role=Role.AUDITOR), {"u1", "u2", "u3", "u4", "unattributed-team2"}),
    (Viewer.system(), set(PEOPLE)),
]
"""Each viewer and the labels whose rows it must see: own rows, plus the team's or the org's."""
VIEWER_IDS = [f"{viewer.role.value}-{i}" for i, (viewer, _) in enumerate(VIEWERS)]


@dataclass
class Recorded:
    activities: dict[uuid.UUID, str]  # activity id -> label
    usage: dict[uuid.UUID, str]  # activity id of a secret-usage row -> label
    secrets: dict[str, uuid.UUID]  # label -> secret id

    def activity_ids(self, labels: set[str]) -> set[uuid.UUID]:
        return {id_ for id_, label in self.activities.items() if label in labels}

    def usage_ids(self, labels: set[str]) -> set[uuid.UUID]:
        return {id_ for id_, label in self.usage.items() if label in labels}


def record_everyone() -> Recorded:
    """Two activities per label (a terminal one that used a secret, a file one), ended now."""
    recorded = Recorded({}, {}, {})
    for label, person in PEOPLE.items():
        with activity_context(
            user_id=person.user, org_id=person.org, team_id=person.team, session_id=label
        ):
            terminal = ActivityRecord(ActivityType.TERMINAL, "execute")
            terminal.set_text(attr.PROCESS_COMMAND_LINE, f"mysql -p{PASSWORD} {label}", "command")
            recorded.secrets[label] = uuid.uuid4()
            terminal.declare_secrets([recorded.secrets[label]])
            terminal.end()
            file = ActivityRecord(ActivityType.FILE, "read")
            file.end()
        recorded.activities[terminal.activity_id] = label
        recorded.activities[file.activity_id] = label
        recorded.usage[terminal.activity_id] = label
    return recorded


@pytest.fixture
def everyone(activity_db: ActivityDB, spans: SpanCapture) -> Recorded:
    recorded = record_everyone()
    assert activity_db.export(spans.activities()) is SpanExportResult.SUCCESS
    usage = activity_db.rows("secret_usage")  # the declared secret and the found password
    assert {row["activity_id"] for row in usage} == set(recorded.usage) and len(usage) == 14
    return recorded


# --- through the store (SQLite and PostgreSQL) ---


@pytest.mark.parametrize(("viewer", "labels"), VIEWERS, ids=VIEWER_IDS)
async def test_each_viewer_sees_exactly_its_scope(
    activity_db: ActivityDB, everyone: Recorded, viewer: Viewer, labels: set[str]
) -> None:
    async with ActivityStore(activity_db.url, viewer=viewer) as store:
        activities = await store.activities(limit=1000)
        usage = await store.secret_usage(limit=1000)
    assert {row.id for row in activities} == everyone.activity_ids(labels)
    assert {row.activity_id for row in usage} == everyone.usage_ids(labels)


@pytest.mark.parametrize(("viewer", "labels"), VIEWERS[:-1], ids=VIEWER_IDS[:-1])
async def test_no_filter_reaches_past_the_scope(
    activity_db: ActivityDB, everyone: Recorded, viewer: Viewer, labels: set[str]
) -> None:
    """Every filter naming someone else's user, session, activity or secret finds nothing."""
    visible, visible_usage = everyone.activity_ids(labels), everyone.usage_ids(labels)
    outside = set(PEOPLE) - labels
    async with ActivityStore(activity_db.url, viewer=viewer) as store:
        for label in outside:
            person = PEOPLE[label]
            for kind in (None, *ActivityType):
                found = await store.activities(kind, user_id=person.user, session_id=label)
                assert found == []
                if person.user is not None:
                    assert await store.activities(kind, user_id=person.user) == []
            assert await store.secret_usage(session_id=label) == []
            assert await store.secret_usage(secret_id=everyone.secrets[label]) == []
        for activity_id in everyone.usage:
            found = await store.secret_usage(activity_id=activity_id, limit=1000)
            assert {row.activity_id for row in found} == ({activity_id} & visible_usage)
        everything = await store.activities(limit=1000)
    assert {row.id for row in everything} == visible


@pytest.mark.parametrize(("viewer", "labels"), VIEWERS, ids=VIEWER_IDS)
async def test_the_merged_listing_finds_what_one_or_of_the_scope_finds(
    activity_db: ActivityDB, everyone: Recorded, viewer: Viewer, labels: set[str]
) -> None:
    """One limited query per part of the scope, merged, returns the very rows (and order)
    of the single ``user OR team OR org`` query, for every limit and both orders."""
    async with ActivityStore(activity_db.url, viewer=viewer) as store:
        for limit, order in itertools.product((1, 2, 3, 5, None), ("asc", "desc")):
            descending = order == "desc"
            expected: list[tuple[Any, ...]] = []
            for table in ACTIVITY_TABLES.values():
                whole = store._select(table, None, None, None, None, limit, (), descending)
                expected += [(row["timestamp"], row["id"]) for row in await store._fetch(whole)]
            expected = sorted(expected, reverse=descending)[:limit]
            found = await store.activities(limit=limit, order=order)  # type: ignore[arg-type]
            assert [(row.timestamp, row.id) for row in found] == expected, (limit, order)
            usage = store._select(TABLES["secret_usage"], None, None, None, None, limit, ())
            expected_usage = [row["id"] for row in await store._fetch(usage)]
            assert [row.id for row in await store.secret_usage(limit=limit)] == expected_usage


def test_a_viewer_is_validated_and_the_system_viewer_cannot_be_asked_for_by_name() -> None:
    with pytest.raises(ValueError, match=r"Viewer\.system"):
        Viewer(None, role="system")
    with pytest.raises(ValueError, match="user_id"):
        Viewer(None, ORG1, role="user")
    with pytest.raises(ValueError, match="team_ids"):
        Viewer(U1, ORG1, role="team-admin")
    with pytest.raises(ValueError, match="org_id"):
        Viewer(U1, role="auditor")
    with pytest.raises(ValueError):
        Viewer(U1, role="superuser")
    with pytest.raises(ValueError, match="user_id must be a UUID"):
        Viewer("alice")
    with pytest.raises(TypeError):
        ActivityStore("sqlite:///x.db")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ActivityStore("sqlite:///x.db", viewer="system")  # type: ignore[arg-type]
    assert Viewer(str(U1), role="team-admin", team_ids=str(TEAM1)).team_ids == {TEAM1}


# --- in the database: PostgreSQL row-level security ---


def _pg(activity_db: ActivityDB) -> dict[str, Any]:
    """asyncpg connection arguments for the fixture's database."""
    url = make_url(activity_db.url)
    return {"host": url.host, "port": url.port, "user": "postgres", "database": url.database}


async def app_role_ids(
    connect: dict[str, Any], settings: dict[str, str] | None, table: str, column: str = "id"
) -> set[uuid.UUID]:
    """``SELECT column FROM table`` (no WHERE) as the application role with these settings."""
    connection = await asyncpg.connect(**connect)
    try:
        async with connection.transaction():
            await connection.execute(f"SET LOCAL ROLE {APPLICATION_ROLE}")
            for name, value in (settings or {}).items():
                await connection.execute("SELECT set_config($1, $2, true)", name, value)
            rows = await connection.fetch(f"SELECT {column} FROM {table}")
    finally:
        await connection.close()
    return {row[0] for row in rows}


@pytest.mark.parametrize("activity_db", ["postgresql"], indirect=True)
async def test_raw_sql_as_the_application_role_sees_only_the_viewers_rows(
    activity_db: ActivityDB, everyone: Recorded
) -> None:
    connect = _pg(activity_db)
    for viewer, labels in VIEWERS[:-1]:
        found: set[uuid.UUID] = set()
        for table in ACTIVITY_TABLES.values():
            found |= await app_role_ids(connect, viewer.settings(), table.name)
        usage = await app_role_ids(connect, viewer.settings(), "secret_usage", "activity_id")
        assert found == everyone.activity_ids(labels), viewer
        assert usage == everyone.usage_ids(labels), viewer
    for table in TABLES:  # no settings, or the system viewer's: nothing for the app role
        assert await app_role_ids(connect, None, table) == set()
        assert await app_role_ids(connect, Viewer.system().settings(), table) == set()
    literal = {
        "autobot_activity.viewer_role": "user",
        "autobot_activity.viewer_user_id": str(U2),
    }
    assert await app_role_ids(connect, literal, "file_activities") == everyone.activity_ids(
        {"u2"}
    ) & {id_ for id_ in everyone.activities if id_ not in everyone.usage}


@pytest.mark.parametrize("activity_db", ["postgresql"], indirect=True)
async def test_the_application_role_may_append_but_never_delete(
    activity_db: ActivityDB, everyone: Recorded
) -> None:
    connection = await asyncpg.connect(**_pg(activity_db))
    mine = uuid.uuid4()
    try:
        async with connection.transaction():
            await connection.execute(f"SET LOCAL ROLE {APPLICATION_ROLE}")
            insert = (
                "INSERT INTO file_activities (id, user_id, metadata, timestamp, operation)"
                " VALUES ($1, $2, '{}', now(), 'read') ON CONFLICT DO NOTHING"
            )
            await connection.execute(insert, mine, U1)
            await connection.execute(insert, mine, U1)  # a second write changes nothing
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with connection.transaction():
                await connection.execute(f"SET LOCAL ROLE {APPLICATION_ROLE}")
                await connection.execute(
                    "SELECT set_config('autobot_activity.viewer_role', 'system', true)"
                )
                await connection.execute("DELETE FROM terminal_activities")
    finally:
        await connection.close()
    assert sum(row["id"] == mine for row in activity_db.rows("file_activities")) == 1
    assert len(activity_db.rows("terminal_activities")) == len(PEOPLE)


class ForgetfulStore(ActivityStore):
    """A store whose query code forgot the viewer and every filter: only RLS stands."""

    def _select(self, table: Table, *args: Any) -> Select[Any]:
        return select(table)


@pytest.mark.parametrize("activity_db", ["postgresql"], indirect=True)
async def test_a_store_that_forgets_the_viewer_still_leaks_nothing_as_the_application_login(
    activity_db: ActivityDB, everyone: Recorded, member_login: str
) -> None:
    for viewer, labels in VIEWERS:
        async with ForgetfulStore(member_login, viewer=viewer) as store:
            activities = await store.activities()
            usage = await store.secret_usage()
        expected = set() if viewer.role is Role.SYSTEM else labels
        assert {row.id for row in activities} == everyone.activity_ids(expected)
        assert {row.activity_id for row in usage} == everyone.usage_ids(expected)


# --- the writer under forced RLS: a table owner that is not a superuser ---


async def _admin_sql(*statements: str) -> None:
    connection = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres")
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
async def owner_url(activity_db: ActivityDB) -> AsyncIterator[str]:
    """A database owned by a plain login role (no superuser, no BYPASSRLS), migrated by it."""
    role = f"autobot_activity_test_owner_{os.getpid()}"
    name = f"autobot_activity_test_{os.getpid()}_owner"
    await _admin_sql(
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        f'DROP ROLE IF EXISTS "{role}"',
        f'CREATE ROLE "{role}" LOGIN',
        f'CREATE DATABASE "{name}" OWNER "{role}"',
    )
    url = f"postgresql+asyncpg://{role}@127.0.0.1:5432/{name}"
    try:
        yield url
    finally:
        planted.archive_database(url.replace(role, "postgres"))
        await _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'DROP ROLE "{role}"')


@pytest.mark.parametrize("activity_db", ["postgresql"], indirect=True)
async def test_the_owner_writes_reads_nothing_without_a_viewer_and_prunes_as_system(
    owner_url: str, spans: SpanCapture, tmp_path: Path
) -> None:
    engine = create_engine(owner_url)
    try:
        assert await upgrade(engine) == head_revision()
        recorded = record_everyone()
        exporter = ActivitySpanExporter(  # its own journal: activity_db's shipper ships elsewhere
            owner_url, timeout=30, journal_dir=tmp_path / "owner-journal"
        )
        try:
            assert exporter.export(spans.activities()) is SpanExportResult.SUCCESS
        finally:
            exporter.shutdown()
        as_postgres = make_url(owner_url).set(username="postgres")
        superuser = await asyncpg.connect(
            host="127.0.0.1", port=5432, user="postgres", database=as_postgres.database
        )
        owner = await asyncpg.connect(
            host="127.0.0.1",
            port=5432,
            user=make_url(owner_url).username,
            database=as_postgres.database,
        )
        try:
            assert await superuser.fetchval("SELECT count(*) FROM terminal_activities") == 7
            assert await owner.fetchval("SELECT count(*) FROM terminal_activities") == 0  # FORCE
            async with ActivityStore(owner_url, viewer=Viewer.system()) as store:
                assert {row.id for row in await store.activities(limit=100)} == set(
                    recorded.activities
                )
            async with ActivityStore(owner_url, viewer=Viewer(U1)) as store:
                mine = {row.id for row in await store.activities()}
            assert mine == recorded.activity_ids({"u1"})

            u1_rows = sorted(str(id_) for id_ in recorded.activity_ids({"u1"}))
            for table in ("terminal_activities", "file_activities", "secret_usage"):
                await superuser.execute(
                    f"UPDATE {table} SET timestamp = timestamp - interval '400 days'"
                    f" WHERE {'activity_id' if table == 'secret_usage' else 'id'}::text = ANY($1)",
                    u1_rows,
                )
            result = await prune(engine, timedelta(days=365))
            assert result.deleted == {
                "terminal_activities": 1,
                "file_activities": 1,
                "browser_activities": 0,
                "desktop_activities": 0,
                "secret_usage": 2,
            }
            left = await superuser.fetch(
                "SELECT id FROM terminal_activities UNION ALL SELECT id FROM file_activities"
            )
            assert {row["id"] for row in left} == set(recorded.activities) - set(
                recorded.activity_ids({"u1"})
            )
            assert await superuser.fetchval("SELECT count(*) FROM secret_usage") == 12
        finally:
            await superuser.close()
            await owner.close()
    finally:
        await engine.dispose()


@pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)
async def test_the_policies_are_installed_forced_and_survive_a_second_run(
    empty_database_url: str,
) -> None:
    engine = create_engine(empty_database_url)
    try:
        assert await upgrade(engine) == head_revision()
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0001"))
        assert await upgrade(engine) == head_revision()  # the role exists already: no failure
        async with engine.connect() as connection:
            flags = (
                await connection.exec_driver_sql(
                    "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
                    " WHERE relname IN ('terminal_activities', 'file_activities',"
                    " 'browser_activities', 'desktop_activities', 'secret_usage')"
                )
            ).all()
            policies = (
                await connection.exec_driver_sql(
                    "SELECT tablename, policyname, cmd FROM pg_policies ORDER BY 1, 2"
                )
            ).all()
            role = (
                await connection.exec_driver_sql(
                    "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'autobot_activity_app'"
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert sorted(flags) == sorted((table, True, True) for table in TABLES)
    assert sorted(policies) == sorted(
        (table, f"autobot_activity_{name}", cmd)
        for table, (name, cmd) in itertools.product(
            TABLES,
            [("append", "INSERT"), ("prune", "DELETE"), ("read", "SELECT"), ("system", "SELECT")],
        )
    )
    assert role is False


MONTH = (datetime.now(UTC).replace(day=1) + timedelta(days=32)).replace(day=1, hour=0)


@pytest.mark.parametrize("activity_db", ["postgresql"], indirect=True)
async def test_the_policy_alone_reads_a_users_rows_through_an_index(
    activity_db: ActivityDB,
) -> None:
    """Without any condition of the query's own, the read policy is answered from the
    indexes (a bitmap of the user's, team's and org's index entries), not a full scan: its
    arms compare columns to one-off sub-selects, not to a function of the row. The newest
    hundred, too, are found from the user's index."""
    activity_db.ensure_schema()
    connection = await asyncpg.connect(**_pg(activity_db))
    try:  # two weeks of next month: one partition of its own (made ahead)
        await connection.execute(
            "INSERT INTO file_activities"
            " (id, user_id, team_id, org_id, metadata, timestamp, operation)"
            " SELECT gen_random_uuid(), ('00000000-0000-7000-8000-' || lpad((n % 500)::text,"
            " 12, '0'))::uuid, ('00000000-0000-7000-9000-' || lpad((n % 250)::text, 12,"
            " '0'))::uuid, ('00000000-0000-7000-a000-' || lpad((n % 50)::text, 12, '0'))::uuid,"
            " '{}', $1::timestamptz + n * interval '1 minute', 'read'"
            " FROM generate_series(1, 20000) AS n",
            MONTH,
        )
        await connection.execute("ANALYZE file_activities")
        async with connection.transaction():
            await connection.execute(f"SET LOCAL ROLE {APPLICATION_ROLE}")
            for name, value in Viewer(U1).settings().items():
                await connection.execute("SELECT set_config($1, $2, true)", name, value)
            plan = "\n".join(
                row[0] for row in await connection.fetch("EXPLAIN SELECT * FROM file_activities")
            )
            newest = "\n".join(
                row[0]
                for row in await connection.fetch(
                    "EXPLAIN SELECT * FROM file_activities ORDER BY timestamp DESC LIMIT 100"
                )
            )
    finally:
        await connection.close()
    assert not any(
        "Seq Scan on file_activities_p" in line and "(cost=0.00..0.00" not in line
        for line in plan.splitlines()
    ), plan  # (an empty month's partition may)
    assert "user_id_timestamp" in plan, plan
    # nor walks every row newest first: the time index is partial, on a predicate the
    # policy does not state (a walk would read the whole table for a sparse viewer)
    assert "user_id_timestamp" in newest and "activities_timestamp" not in newest, newest


@pytest.mark.parametrize("activity_db", ["postgresql"], indirect=True)
async def test_a_listing_reads_its_newest_rows_in_index_order_not_its_whole_scope(
    activity_db: ActivityDB, member_login: str
) -> None:
    """An org admin's newest 10, as the application login: each branch of the listing
    reads about 10 rows from its index, not the org's 400 (fetched and sorted, which is
    what the planner picks when the row-level security policy skews its estimate)."""
    activity_db.ensure_schema()
    connection = await asyncpg.connect(**_pg(activity_db))
    try:  # two weeks of next month, 50 orgs of 400 rows
        await connection.execute(
            "INSERT INTO file_activities"
            " (id, user_id, team_id, org_id, metadata, timestamp, operation)"
            " SELECT gen_random_uuid(), ('00000000-0000-7000-8000-' || lpad((n % 500)::text,"
            " 12, '0'))::uuid, ('00000000-0000-7000-9000-' || lpad((n % 250)::text, 12,"
            " '0'))::uuid, ('00000000-0000-7000-a000-' || lpad((n % 50)::text, 12, '0'))::uuid,"
            " '{}', $1::timestamptz + n * interval '1 minute', 'read'"
            " FROM generate_series(1, 20000) AS n",
            MONTH,
        )
        await connection.execute("ANALYZE file_activities")
    finally:
        await connection.close()
    org = uuid.UUID("00000000-0000-7000-a000-000000000007")
    viewer = Viewer(uuid.UUID("00000000-0000-7000-8000-000000000007"), org, role=Role.ORG_ADMIN)
    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    async with ActivityStore(member_login, viewer=viewer) as store:
        assert len(await store.activities(ActivityType.FILE, limit=10)) == 10
        assert store._engine is not None
        event.listen(store._engine.sync_engine, "before_cursor_execute", capture)
        await store.activities(ActivityType.FILE, limit=10)
        event.remove(store._engine.sync_engine, "before_cursor_execute", capture)
        async with store._connection() as connection:  # replayed as sent: settings, listing
            for statement, parameters in sent:
                if "FROM file_activities" not in statement:
                    await connection.exec_driver_sql(statement, parameters)
                    continue
                result = await connection.exec_driver_sql(
                    "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
                )
                plan = result.scalar_one()
    read = _rows_read((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
    assert 10 <= read <= 2 * 10 + 20, read  # two branches of about 10 (plus the ties)


def _rows_read(node: dict[str, Any]) -> int:
    """Rows the scans of a plan returned (leaves: the work of reading the table)."""
    children = node.get("Plans", [])
    if not children:
        return int(node.get("Actual Rows", 0)) * int(node.get("Actual Loops", 1))
    return sum(
        _rows_read(child) for child in children if child.get("Parent Relationship") != "InitPlan"
    )
