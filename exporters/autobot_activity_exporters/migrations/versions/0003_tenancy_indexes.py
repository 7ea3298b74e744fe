"""Indexes for the team and org scopes: admins' and auditors' listings are by time in a scope.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "terminal_activities",
    "file_activities",
    "browser_activities",
    "desktop_activities",
    "secret_usage",
)


def upgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_org_id_timestamp", table, ["org_id", "timestamp"])
        op.create_index(f"ix_{table}_team_id_timestamp", table, ["team_id", "timestamp"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_team_id_timestamp", table_name=table)
        op.drop_index(f"ix_{table}_org_id_timestamp", table_name=table)
