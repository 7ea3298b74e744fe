"""The shipped Alembic migrations: they build the models' schema, re-run, and stay apart."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from support.database import on_engine

from autobot_activity_exporters.models import TABLES, Base
from autobot_activity_exporters.partitions import include_name
from autobot_activity_exporters.schema import VERSION_TABLE, head_revision, upgrade

HEAD = head_revision()


def schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE, "include_name": include_name}
    )
    return compare_metadata(context, Base.metadata)


def indexes(connection: Connection) -> dict[str, list[list[str | None]]]:
    inspector = inspect(connection)
    return {
        table: sorted(index["column_names"] for index in inspector.get_indexes(table))
        for table in TABLES
    }


async def test_upgrade_builds_the_models_schema_and_can_run_again(empty_database_url: str) -> None:
    async def check(engine: AsyncEngine) -> None:
        assert await upgrade(engine) == HEAD
        assert await upgrade(engine) == HEAD
        async with engine.connect() as connection:
            assert await connection.run_sync(schema_differences) == []
            found = await connection.run_sync(indexes)
        for table in TABLES:
            assert ["session_id", "timestamp"] in found[table]
            assert ["user_id", "timestamp"] in found[table]
        assert ["activity_type", "activity_id"] in found["secret_usage"]
        assert ["secret_id", "timestamp"] in found["secret_usage"]

    await on_engine(empty_database_url, check)


@pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)
async def test_concurrent_starters_on_postgresql_do_not_race(empty_database_url: str) -> None:
    """Three migrations at once on an empty database: the advisory lock lets one work."""

    async def start_three(engine: AsyncEngine) -> list[str | None]:
        return list(await asyncio.gather(*(upgrade(engine) for _ in range(3))))

    assert await on_engine(empty_database_url, start_three) == [HEAD] * 3


async def test_the_host_applications_alembic_history_is_left_alone(empty_database_url: str) -> None:
    async def check(engine: AsyncEngine) -> str:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
            await connection.execute(text("INSERT INTO alembic_version VALUES ('host_app_42')"))
        await upgrade(engine)
        async with engine.connect() as connection:
            return (
                await connection.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar_one()

    assert await on_engine(empty_database_url, check) == "host_app_42"
