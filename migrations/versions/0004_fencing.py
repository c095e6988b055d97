"""Fencing and liveness for distributed scans: each worker's and coordinator's deadline,
when an item was claimed, which workers lost a lease on it, answers dropped as late.

The fencing token of a claim is the item's claim count (``work_items.attempts``): only a
new claim raises it, so it needs no column of its own.

Revision ID: 0004_fencing
Revises: 0003_removals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_fencing"
down_revision = "0003_removals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as workers:
        # Live while the deadline is ahead: heartbeat plus the worker's own lease.
        workers.add_column(sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True))
        workers.add_column(
            sa.Column("late_answers", sa.Integer, nullable=False, server_default="0")
        )
    with op.batch_alter_table("work_scans") as work_scans:
        # The walking coordinator's deadline: past it, workers mark the scan interrupted.
        work_scans.add_column(
            sa.Column("coordinator_deadline_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("work_items") as work_items:
        work_items.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "work_expiries",
        sa.Column(
            "item_id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            sa.ForeignKey("work_items.id"),
            primary_key=True,
        ),
        sa.Column("worker_id", sa.Integer, sa.ForeignKey("workers.id"), primary_key=True),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("work_expiries")
    with op.batch_alter_table("work_items") as work_items:
        work_items.drop_column("claimed_at")
    with op.batch_alter_table("work_scans") as work_scans:
        work_scans.drop_column("coordinator_deadline_at")
    with op.batch_alter_table("workers") as workers:
        workers.drop_column("late_answers")
        workers.drop_column("deadline_at")
