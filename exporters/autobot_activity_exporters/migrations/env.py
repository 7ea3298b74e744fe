"""Alembic environment for the activity tables.

``schema.upgrade`` hands in an open connection (``config.attributes["connection"]``), which
is how an async engine runs migrations (``AsyncConnection.run_sync``). Run through the
``alembic`` command instead, it connects to ``sqlalchemy.url`` or the configured database.
"""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from autobot_activity_exporters.database import create_engine, resolve_database_url
from autobot_activity_exporters.models import Base
from autobot_activity_exporters.partitions import include_name
from autobot_activity_exporters.schema import VERSION_TABLE


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_with_own_engine() -> None:
    url = resolve_database_url(context.config.get_main_option("sqlalchemy.url"))
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported")
given = context.config.attributes.get("connection")
if given is None:
    asyncio.run(run_with_own_engine())
else:
    run_migrations(given)
