"""Policies and an index that keep a listing's cost flat as the tables grow.

The read policy of 0002 called ``autobot_activity_visible(user_id, org_id, team_id)``: a
function of the row, which no index can serve, so a query with no condition of its own
(a store that forgot its viewer, raw SQL as the application role) scanned the whole table.
Here each column is compared to a one-off sub-select of the setting
(``user_id = (SELECT ...)``, ``team_id = ANY ((SELECT ...)::uuid[])``, ``org_id = (SELECT
...)``; the cast makes the array one value rather than a set of rows):
PostgreSQL computes each sub-select once and can answer the ``OR`` of the three from the
``(user_id, timestamp)``, ``(team_id, timestamp)`` and ``(org_id, timestamp)`` indexes. The
role still decides which arms apply: the team arm is NULL unless the viewer is a team admin,
the org arm unless an org admin or auditor, exactly as in ``Viewer.condition``.

The system viewer moves to a policy of its own, ``autobot_activity_system``, for the tables'
owner only (the login that migrates, prunes and runs the operator's CLI): an ``OR`` with it
would make every application-role query a full scan, since a setting is no index. The
DELETE policy reads the same one-off test. ``autobot_activity_maintainer()`` also says no to
a member of the writer role, so an append-only login can never claim the system viewer.

``ix_<table>_timestamp`` serves the system viewer's newest-first listing and any range of
time (retention's cut-off, "the last 7 days"). It is partial, ``WHERE "timestamp" IS NOT
NULL``, which every row is: a query uses it only when its own condition implies that (the
system viewer's says it; a time range implies it). A query with nothing but the read policy
cannot walk all rows newest first hoping to meet the viewer's; it takes the policy's own
indexes, in time proportional to the viewer's rows. SQLite has no RLS: only the index.

Revision ID: 0013_flat_policies
Revises: 0012_partitions
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_flat_policies"
down_revision: str | None = "0012_partitions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "terminal_activities",
    "file_activities",
    "browser_activities",
    "desktop_activities",
    "secret_usage",
)


def _setting(name: str) -> str:
    return f"nullif(current_setting('autobot_activity.viewer_{name}', true), '')"


ROLE = "current_setting('autobot_activity.viewer_role', true)"
READ = (
    f"user_id = (SELECT {_setting('user_id')}::uuid)"
    f" OR team_id = ANY ((SELECT CASE WHEN {ROLE} = 'team-admin'"
    f" THEN string_to_array({_setting('team_ids')}, ',')::uuid[] END)::uuid[])"
    f" OR org_id = (SELECT CASE WHEN {ROLE} IN ('org-admin', 'auditor')"
    f" THEN {_setting('org_id')}::uuid END)"
)
MAINTAINER = "(SELECT autobot_activity_maintainer())"
MAINTAINER_FUNCTION = """
CREATE OR REPLACE FUNCTION autobot_activity_maintainer() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('autobot_activity.viewer_role', true) = 'system', false)
        AND NOT pg_has_role(current_user, 'autobot_activity_app', 'MEMBER')
        {and_not_writer}
$$
"""
NOT_WRITER = "AND NOT pg_has_role(current_user, 'autobot_activity_writer', 'MEMBER')"
EVERY_ROW = sa.text('"timestamp" IS NOT NULL')

# The owner's name is only known at run time: CREATE POLICY cannot take it as a parameter.
SYSTEM_POLICY = """
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY autobot_activity_system ON %I FOR SELECT TO %I USING ({using})',
        '{table}',
        (SELECT pg_get_userbyid(relowner) FROM pg_class
         WHERE oid = to_regclass(quote_ident('{table}')))
    );
END
$$
"""


def upgrade() -> None:
    for table in TABLES:
        op.create_index(
            f"ix_{table}_timestamp",
            table,
            ["timestamp"],
            if_not_exists=True,
            postgresql_where=EVERY_ROW,
            sqlite_where=EVERY_ROW,
        )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(MAINTAINER_FUNCTION.format(and_not_writer=NOT_WRITER))
    for table in TABLES:
        for policy in ("read", "system", "prune"):
            op.execute(f"DROP POLICY IF EXISTS autobot_activity_{policy} ON {table}")
        op.execute(f"CREATE POLICY autobot_activity_read ON {table} FOR SELECT USING ({READ})")
        op.execute(SYSTEM_POLICY.format(table=table, using=MAINTAINER))
        op.execute(
            f"CREATE POLICY autobot_activity_prune ON {table} FOR DELETE USING ({MAINTAINER})"
        )


def downgrade() -> None:
    """Back to 0002's policies and maintainer function."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(MAINTAINER_FUNCTION.format(and_not_writer=""))
        for table in TABLES:
            for policy in ("read", "system", "prune"):
                op.execute(f"DROP POLICY IF EXISTS autobot_activity_{policy} ON {table}")
            op.execute(
                f"CREATE POLICY autobot_activity_read ON {table} FOR SELECT"
                " USING (autobot_activity_visible(user_id, org_id, team_id))"
            )
            op.execute(
                f"CREATE POLICY autobot_activity_prune ON {table} FOR DELETE"
                " USING (autobot_activity_maintainer())"
            )
    for table in TABLES:
        op.drop_index(f"ix_{table}_timestamp", table_name=table, if_exists=True)
