"""The append-only writer role: what the ingest service (and an exporter) log in as.

``autobot_activity_writer`` (NOLOGIN) may append to the activity tables and nothing else:
``INSERT`` on the five tables; ``TEMPORARY`` on the database for the COPY staging tables
(``writer.py`` spells their columns out, as ``LIKE`` would need SELECT); ``SELECT`` on the
migration version table only, so it can check the schema it writes. No ``SELECT`` of any
activity row, no ``UPDATE``, ``DELETE`` or ``TRUNCATE``; not being the tables' owner, it
cannot ``ALTER`` them or turn row-level security off. Every statement tolerates a second run
and a concurrent creation of the role by another database's migration. SQLite has no roles.

Revision ID: 0010_writer_role
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

from autobot_activity_exporters.schema import VERSION_TABLE

revision: str = "0010_writer_role"
down_revision: str | None = "0003"
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

CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{WRITER_ROLE}') THEN
        CREATE ROLE {WRITER_ROLE} NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created meanwhile by a migration of another database of this cluster
END
$$
"""

# The database's name is only known at run time: GRANT cannot take it as a parameter.
DATABASE_GRANT = """
DO $$
BEGIN
    EXECUTE format('{verb} TEMPORARY ON DATABASE %I {direction} {role}', current_database());
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CREATE_ROLE)
    op.execute("GRANT USAGE ON SCHEMA " + _schema() + f" TO {WRITER_ROLE}")
    for table in TABLES:
        op.execute(f"REVOKE ALL ON {table} FROM {WRITER_ROLE}")
        op.execute(f"GRANT INSERT ON {table} TO {WRITER_ROLE}")
    op.execute(f"GRANT SELECT ON {VERSION_TABLE} TO {WRITER_ROLE}")
    op.execute(DATABASE_GRANT.format(verb="GRANT", direction="TO", role=WRITER_ROLE))


def downgrade() -> None:
    """Take the grants back; the role stays (other databases of the cluster may use it)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"REVOKE ALL ON {table} FROM {WRITER_ROLE}")
    op.execute(f"REVOKE ALL ON {VERSION_TABLE} FROM {WRITER_ROLE}")
    op.execute(DATABASE_GRANT.format(verb="REVOKE", direction="FROM", role=WRITER_ROLE))
    op.execute("REVOKE USAGE ON SCHEMA " + _schema() + f" FROM {WRITER_ROLE}")


def _schema() -> str:
    """The schema the tables live in (quoted), where the migration runs."""
    name = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar_one()
    return '"' + str(name).replace('"', '""') + '"'
