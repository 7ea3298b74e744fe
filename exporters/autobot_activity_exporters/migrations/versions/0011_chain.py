"""The tamper-evident chain (docs/integrity.md): chain columns on every row, chain tables.

Each activity and secret-usage row gains ``chain_id`` and ``chain_sequence`` (the batch that
wrote it; NULL for rows written before this revision or through ``db=``), indexed together
so verify and prune walk a batch's rows in order. ``activity_chain`` holds one entry per
committed batch, ``activity_checkpoints`` the signed heads, ``activity_chain_prunes`` what
retention removed. The append-only writer role may ``INSERT`` chain entries and checkpoints
and nothing else: it keeps its chain's head in memory, so it never reads the chain.

Revision ID: 0011_chain
Revises: 0010_writer_role
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from autobot_activity_exporters.models import UtcDateTime

revision: str = "0011_chain"
down_revision: str | None = "0010_writer_role"
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
WRITER_APPENDS = ("activity_chain", "activity_checkpoints")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("chain_id", sa.Uuid(), nullable=True))
        op.add_column(table, sa.Column("chain_sequence", sa.BigInteger(), nullable=True))
        op.create_index(f"ix_{table}_chain", table, ["chain_id", "chain_sequence"])
    op.create_table(
        "activity_chain",
        sa.Column("chain_id", sa.Uuid(), primary_key=True),
        sa.Column("sequence", sa.BigInteger(), primary_key=True),
        sa.Column("previous_hash", sa.LargeBinary(), nullable=False),
        sa.Column("batch_hash", sa.LargeBinary(), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("first_timestamp", UtcDateTime(), nullable=False),
        sa.Column("last_timestamp", UtcDateTime(), nullable=False),
        sa.Column("committed_at", UtcDateTime(), nullable=False),
        sa.Column("manifest", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "activity_checkpoints",
        sa.Column("chain_id", sa.Uuid(), primary_key=True),
        sa.Column("sequence", sa.BigInteger(), primary_key=True),
        sa.Column("head_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    op.create_table(
        "activity_chain_prunes",
        sa.Column("chain_id", sa.Uuid(), primary_key=True),
        sa.Column("cutoff", UtcDateTime(), primary_key=True),
        sa.Column("first_kept_sequence", sa.BigInteger(), nullable=False),
        sa.Column("pruned_at", UtcDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in WRITER_APPENDS:
            op.execute(f"REVOKE ALL ON {table} FROM {WRITER_ROLE}")
            op.execute(f"GRANT INSERT ON {table} TO {WRITER_ROLE}")


def downgrade() -> None:
    for table in ("activity_chain_prunes", "activity_checkpoints", "activity_chain"):
        op.drop_table(table)
    for table in TABLES:
        op.drop_index(f"ix_{table}_chain", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("chain_sequence")
            batch.drop_column("chain_id")
