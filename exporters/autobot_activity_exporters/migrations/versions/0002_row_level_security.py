"""Row-level security on PostgreSQL: each viewer reads only its scope, even through buggy code.

The policies read the viewer from session settings the store sets per transaction
(``autobot_activity.viewer_role``, ``.viewer_user_id``, ``.viewer_org_id``,
``.viewer_team_ids``); with none set, no row is visible. RLS is forced, so it also binds the
tables' owner: the owner appends through an INSERT policy that lets every row in, and prunes
as the system viewer, which the policies refuse to members of the application role.
``autobot_activity_app`` (NOLOGIN) is created if missing and may read and append, never
delete. Every statement tolerates a second run. SQLite has no RLS: nothing to do there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "terminal_activities",
    "file_activities",
    "browser_activities",
    "desktop_activities",
    "secret_usage",
)
APP_ROLE = "autobot_activity_app"

CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created meanwhile by a migration of another database of this cluster
END
$$
"""

# The system viewer: every row, but never for a login that is a member of the app role.
MAINTAINER = f"""
CREATE OR REPLACE FUNCTION autobot_activity_maintainer() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('autobot_activity.viewer_role', true) = 'system', false)
        AND NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER')
$$
"""

# Mirrors Viewer.condition: own rows for every role, plus the team's or the org's.
VISIBLE = """
CREATE OR REPLACE FUNCTION autobot_activity_visible(row_user uuid, row_org uuid, row_team uuid)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        row_user = nullif(current_setting('autobot_activity.viewer_user_id', true), '')::uuid
        OR CASE current_setting('autobot_activity.viewer_role', true)
            WHEN 'team-admin' THEN row_team = ANY (string_to_array(
                nullif(current_setting('autobot_activity.viewer_team_ids', true), ''), ','
            )::uuid[])
            WHEN 'org-admin' THEN
                row_org = nullif(current_setting('autobot_activity.viewer_org_id', true), '')::uuid
            WHEN 'auditor' THEN
                row_org = nullif(current_setting('autobot_activity.viewer_org_id', true), '')::uuid
            ELSE false
        END,
        false
    ) OR autobot_activity_maintainer()
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CREATE_ROLE)
    op.execute(MAINTAINER)
    op.execute(VISIBLE)
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        for policy in ("read", "append", "prune"):
            op.execute(f"DROP POLICY IF EXISTS autobot_activity_{policy} ON {table}")
        op.execute(
            f"CREATE POLICY autobot_activity_read ON {table} FOR SELECT"
            " USING (autobot_activity_visible(user_id, org_id, team_id))"
        )
        op.execute(f"CREATE POLICY autobot_activity_append ON {table} FOR INSERT WITH CHECK (true)")
        op.execute(
            f"CREATE POLICY autobot_activity_prune ON {table} FOR DELETE"
            " USING (autobot_activity_maintainer())"
        )
        op.execute(f"GRANT SELECT, INSERT ON {table} TO {APP_ROLE}")


def downgrade() -> None:
    """Drop the policies and functions; the role stays (other databases may use it)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"REVOKE SELECT, INSERT ON {table} FROM {APP_ROLE}")
        for policy in ("read", "append", "prune"):
            op.execute(f"DROP POLICY IF EXISTS autobot_activity_{policy} ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION IF EXISTS autobot_activity_visible(uuid, uuid, uuid)")
    op.execute("DROP FUNCTION IF EXISTS autobot_activity_maintainer()")
