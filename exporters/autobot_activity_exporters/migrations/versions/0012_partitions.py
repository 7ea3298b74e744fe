"""Monthly range partitions on ``timestamp`` for the five activity tables (PostgreSQL).

Retention then drops whole months instead of deleting rows, and each month's indexes stay
small. Each table is rebuilt in place, generically (whatever columns, indexes, policies and
grants it has are carried over, so columns added by earlier migrations travel too):
the old table is renamed aside, a partitioned table ``LIKE`` it is created with the primary
key ``(id, timestamp)`` (a partitioned table's unique keys must hold its partition key),
the month partitions from the oldest row's month to three months ahead and a ``_default``
partition for stragglers are made, the rows are copied, the old table dropped.

``autobot_activity_ensure_partitions(since, until)`` creates missing month partitions
(moving any rows the default partition holds for those months): ``db upgrade`` and every
writer call it for the coming months. It runs with its owner's rights (``SECURITY
DEFINER``), so the append-only writer role, which may only execute it, can have next
month's partition made without owning a table. Rows reach partitions through the parent,
whose grants and row-level security policies are the ones checked. The downgrade rebuilds
plain tables with the primary key ``(id)``. SQLite stays unpartitioned: nothing to do.

Revision ID: 0012_partitions
Revises: 0011_chain
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0012_partitions"
down_revision: str | None = "0011_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "terminal_activities",
    "file_activities",
    "browser_activities",
    "desktop_activities",
    "secret_usage",
)
WRITER_ROLE = "autobot_activity_writer"
MONTHS_AHEAD = 3
ENSURE = "autobot_activity_ensure_partitions"

ENSURE_FUNCTION = """
CREATE OR REPLACE FUNCTION {name}(since timestamptz, until timestamptz)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    parent text;
    first date := date_trunc('month', since AT TIME ZONE 'UTC')::date;
    month date;
    part text;
    low timestamptz;
    high timestamptz;
    made integer := 0;
BEGIN
    IF until - since > interval '25 years' THEN
        RAISE EXCEPTION 'at most 25 years of partitions at once';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('{name}'));
    FOREACH parent IN ARRAY ARRAY{tables} LOOP
        CONTINUE WHEN (SELECT relkind FROM pg_class WHERE oid = to_regclass(parent))
            IS DISTINCT FROM 'p';
        month := first;
        WHILE month <= (until AT TIME ZONE 'UTC')::date LOOP
            part := parent || '_p' || to_char(month, 'YYYYMM');
            low := month::timestamp AT TIME ZONE 'UTC';
            high := (month + interval '1 month')::timestamp AT TIME ZONE 'UTC';
            month := (month + interval '1 month')::date;
            CONTINUE WHEN to_regclass(part) IS NOT NULL;
            -- a table of the parent's shape, given the default partition's rows of its
            -- month (stragglers written before it existed), then attached
            EXECUTE format(
                'CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent
            );
            EXECUTE format(
                'WITH moved AS (DELETE FROM %I WHERE "timestamp" >= $1 AND "timestamp" < $2'
                ' RETURNING *) INSERT INTO %I SELECT * FROM moved',
                parent || '_default', part
            ) USING low, high;
            EXECUTE format(
                'ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                parent, part, low, high
            );
            made := made + 1;
        END LOOP;
    END LOOP;
    RETURN made;
END
$$
"""


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    schema = _schema(connection)
    tables = "[" + ", ".join(f"'{table}'" for table in TABLES) + "]"
    op.execute(ENSURE_FUNCTION.format(name=ENSURE, schema=schema, tables=tables))
    op.execute(f"REVOKE ALL ON FUNCTION {ENSURE}(timestamptz, timestamptz) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {ENSURE}(timestamptz, timestamptz) TO {WRITER_ROLE}")
    rebuilt = [table for table in TABLES if _relkind(connection, table) != "p"]
    for table in rebuilt:  # (on a second run, none)
        _rebuild(connection, table, partitioned=True)
    oldest = ", ".join(f'(SELECT min("timestamp") FROM "{OLD.format(t)}")' for t in rebuilt)
    op.execute(
        f"SELECT {ENSURE}(coalesce(least({oldest or 'NULL::timestamptz'}), now()),"
        f" now() + interval '{MONTHS_AHEAD} months')"
    )
    for table in rebuilt:
        _copy_rows(table)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    for table in TABLES:
        if _relkind(connection, table) == "p":
            _rebuild(connection, table, partitioned=False)
            _copy_rows(table)
    op.execute(f"DROP FUNCTION IF EXISTS {ENSURE}(timestamptz, timestamptz)")


OLD = "{}__rebuilt"
"""What a table is renamed to while its rows are copied into the new one."""


def _rebuild(connection: Connection, table: str, *, partitioned: bool) -> None:
    """Rename ``table`` aside and create its replacement with the same columns, indexes,
    policies, grants and row-level security flags; ``_copy_rows`` then moves the rows."""
    old = OLD.format(table)
    indexes = connection.exec_driver_sql(
        "SELECT indexdef FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname"
        " JOIN pg_index x ON x.indexrelid = c.oid"
        f" WHERE i.tablename = '{table}' AND i.schemaname = current_schema()"
        " AND NOT x.indisprimary"
    ).scalars()
    index_definitions = list(indexes)
    policies = connection.exec_driver_sql(
        "SELECT policyname, permissive, roles, cmd, qual, with_check FROM pg_policies"
        f" WHERE tablename = '{table}' AND schemaname = current_schema()"
    ).all()
    grants = connection.exec_driver_sql(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid("
        "a.grantee)) END, a.privilege_type FROM pg_class c, aclexplode(c.relacl) a"
        f" WHERE c.oid = to_regclass('{table}') AND a.grantee <> c.relowner"
    ).all()
    security = connection.exec_driver_sql(
        f"SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = '{table}'::regclass"
    ).one()
    for (name,) in connection.exec_driver_sql(
        "SELECT indexname FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname"
        " JOIN pg_index x ON x.indexrelid = c.oid"
        f" WHERE i.tablename = '{table}' AND i.schemaname = current_schema()"
        " AND NOT x.indisprimary"
    ).all():
        op.execute(f'DROP INDEX "{name}"')
    op.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    op.execute(f'ALTER TABLE "{old}" RENAME CONSTRAINT "{table}_pkey" TO "{old}_pkey"')
    op.execute(f'ALTER TABLE "{old}" NO FORCE ROW LEVEL SECURITY')  # the owner reads all
    like = f'(LIKE "{old}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED'
    like += " INCLUDING STORAGE INCLUDING COMMENTS)"
    if partitioned:
        op.execute(f'CREATE TABLE "{table}" {like} PARTITION BY RANGE ("timestamp")')
        op.execute(
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" PRIMARY KEY (id, "timestamp")'
        )
        op.execute(f'CREATE TABLE "{table}_default" PARTITION OF "{table}" DEFAULT')
    else:
        op.execute(f'CREATE TABLE "{table}" {like}')
        op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" PRIMARY KEY (id)')
    for definition in index_definitions:
        op.execute(definition)
    for name, permissive, roles, command, using, check in policies:
        to = ", ".join("PUBLIC" if role == "public" else f'"{role}"' for role in roles)
        statement = f'CREATE POLICY "{name}" ON "{table}" AS {permissive} FOR {command} TO {to}'
        statement += f" USING ({using})" if using is not None else ""
        statement += f" WITH CHECK ({check})" if check is not None else ""
        op.execute(statement)
    for grantee, privilege in grants:
        op.execute(f'GRANT {privilege} ON "{table}" TO {grantee}')
    if security[0]:
        op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
    if security[1]:
        op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')


def _copy_rows(table: str) -> None:
    """Move the rows of the renamed table into its replacement (same columns, same order)."""
    old = OLD.format(table)
    op.execute(f'INSERT INTO "{table}" SELECT * FROM "{old}"')
    op.execute(f'DROP TABLE "{old}"')


def _relkind(connection: Connection, table: str) -> str | None:
    kind = connection.exec_driver_sql(
        f"SELECT relkind::text FROM pg_class WHERE oid = to_regclass('{table}')"
    ).scalar()
    return None if kind is None else str(kind)


def _schema(connection: Connection) -> str:
    """The schema the tables live in (quoted), where the migration runs."""
    name = connection.exec_driver_sql("SELECT current_schema()").scalar_one()
    return '"' + str(name).replace('"', '""') + '"'
