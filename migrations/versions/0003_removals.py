"""Removals: one row per file a scan recorded removed, kept when the file comes back.

Revision ID: 0003_removals
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_removals"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "removals",
        sa.Column("file_id", sa.Integer, sa.ForeignKey("model_files.id"), primary_key=True),
        sa.Column("scan_id", sa.Integer, sa.ForeignKey("scans.id"), primary_key=True),
    )
    # The removals recorded so far: those of files still removed (one that came back
    # has lost its removal, as it had before this table existed).
    op.execute(
        "INSERT INTO removals (file_id, scan_id)"
        " SELECT id, removed_scan_id FROM model_files WHERE removed_scan_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("removals")
