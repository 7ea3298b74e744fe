"""The seed's five activity tables, with tenancy and trace links.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from autobot_activity_exporters.models import JSONDocument, UtcDateTime, UuidList

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _common() -> list[sa.Column[Any]]:
    """Columns every table shares, frozen as they were at this revision."""
    return [
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("session_id", sa.Text(), nullable=True),
        sa.Column("org_id", sa.Uuid(), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("trace_id", sa.String(32), nullable=True),
        sa.Column("span_id", sa.String(16), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("metadata", JSONDocument, nullable=False),
        sa.Column("timestamp", UtcDateTime(), nullable=False),
    ]


def _create(table: str, *columns: sa.Column[Any]) -> None:
    op.create_table(table, *_common(), *columns)
    op.create_index(f"ix_{table}_user_id_timestamp", table, ["user_id", "timestamp"])
    op.create_index(f"ix_{table}_session_id_timestamp", table, ["session_id", "timestamp"])


def upgrade() -> None:
    _create(
        "terminal_activities",
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column("working_directory", sa.Text(), nullable=True),
        sa.Column("exit_code", sa.BigInteger(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("secrets_used", UuidList(), nullable=False),
    )
    _create(
        "file_activities",
        sa.Column("operation", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("new_path", sa.Text(), nullable=True),
        sa.Column("file_type", sa.Text(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
    )
    _create(
        "browser_activities",
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("selector", sa.Text(), nullable=True),
        sa.Column("input_value", sa.Text(), nullable=True),
        sa.Column("secrets_used", UuidList(), nullable=False),
    )
    _create(
        "desktop_activities",
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("coordinates", sa.JSON(), nullable=True),
        sa.Column("window_title", sa.Text(), nullable=True),
        sa.Column("input_text", sa.Text(), nullable=True),
        sa.Column("screenshot_path", sa.Text(), nullable=True),
    )
    _create(
        "secret_usage",
        sa.Column("secret_id", sa.Uuid(), nullable=True),
        sa.Column("activity_type", sa.String(16), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("access_granted", sa.Boolean(), nullable=False),
        sa.Column("denial_reason", sa.Text(), nullable=True),
        sa.Column("rule", sa.Text(), nullable=True),
        sa.Column("fingerprint", sa.Text(), nullable=True),
    )
    op.create_index("ix_secret_usage_activity", "secret_usage", ["activity_type", "activity_id"])
    op.create_index(
        "ix_secret_usage_secret_id_timestamp", "secret_usage", ["secret_id", "timestamp"]
    )


def downgrade() -> None:
    for table in (
        "secret_usage",
        "desktop_activities",
        "browser_activities",
        "file_activities",
        "terminal_activities",
    ):
        op.drop_table(table)
