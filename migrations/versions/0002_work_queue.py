"""Work queue for distributed scans: the scans shared out, their items, the workers.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "work_scans",
        sa.Column("scan_id", sa.Integer, sa.ForeignKey("scans.id"), primary_key=True),
        sa.Column("enqueued", sa.Boolean, nullable=False),
        sa.Column("files", sa.Integer, nullable=False),
        sa.Column("removed", sa.Integer, nullable=False),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("backend", sa.String(32), nullable=False),
        sa.Column("devices", sa.Text, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "work_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("scan_id", sa.Integer, sa.ForeignKey("scans.id"), nullable=False),
        sa.Column("repository_id", sa.Integer, sa.ForeignKey("repositories.id"), nullable=False),
        sa.Column("relpath", sa.Text, nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("expired", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.Integer, sa.ForeignKey("workers.id"), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.Integer, sa.ForeignKey("workers.id"), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.UniqueConstraint("scan_id", "repository_id", "relpath", name="uq_work_items_file"),
    )
    op.create_index("ix_work_items_state", "work_items", ["scan_id", "state"])
    op.create_index("ix_work_items_queue", "work_items", ["state", "id"])
    op.create_index("ix_work_items_done_by", "work_items", ["done_by"])
    op.create_table(
        "work_misses",
        sa.Column(
            "item_id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            sa.ForeignKey("work_items.id"),
            primary_key=True,
        ),
        sa.Column("host", sa.Text, primary_key=True),
        sa.Column("error", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("work_misses")
    op.drop_index("ix_work_items_done_by", table_name="work_items")
    op.drop_index("ix_work_items_queue", table_name="work_items")
    op.drop_index("ix_work_items_state", table_name="work_items")
    op.drop_table("work_items")
    op.drop_table("workers")
    op.drop_table("work_scans")
