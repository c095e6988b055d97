"""Initial schema: repositories, scans, model files, results, latest_results view.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

LATEST_RESULTS = """
CREATE VIEW latest_results AS
SELECT
    repo.path AS repository,
    f.relpath AS relpath,
    f.id AS file_id,
    r.scan_id AS scan_id,
    r.status AS status,
    r.ret AS ret,
    r.ret_name AS ret_name,
    r.error AS error,
    r.work_size AS work_size,
    r.weight_size AS weight_size,
    r.work_size + r.weight_size AS total_size,
    r.dynamic AS dynamic,
    r.dynamic_reason AS dynamic_reason,
    r.format AS format,
    r.backend AS backend,
    r.npu_device AS npu_device,
    r.model_name AS model_name,
    r.modeltype AS modeltype,
    r.soc_version AS soc_version,
    r.atc_version AS atc_version,
    r.platform_version AS platform_version,
    r.inputs AS inputs,
    r.warnings AS warnings,
    r.carried AS carried,
    f.size AS size,
    f.mtime_ns AS mtime_ns
FROM results r
JOIN model_files f ON f.id = r.file_id
JOIN repositories repo ON repo.id = f.repository_id
WHERE f.removed_scan_id IS NULL
  AND r.scan_id = (SELECT MAX(r2.scan_id) FROM results r2 WHERE r2.file_id = r.file_id)
"""


def upgrade() -> None:
    op.create_table(
        "repositories",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.Text, nullable=False, unique=True),
        sa.Column("first_scan_id", sa.Integer, nullable=True),
    )
    op.create_table(
        "scans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("backend", sa.String(32), nullable=False),
        sa.Column("devices", sa.Text, nullable=False),
        sa.Column("roots", sa.Text, nullable=False),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("counts", sa.Text, nullable=True),
    )
    op.create_table(
        "model_files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("repository_id", sa.Integer, sa.ForeignKey("repositories.id"), nullable=False),
        sa.Column("relpath", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("inode", sa.BigInteger, nullable=False),
        sa.Column("fs_device", sa.BigInteger, nullable=False),
        sa.Column("content_hash", sa.Text, nullable=True),
        sa.Column("first_scan_id", sa.Integer, sa.ForeignKey("scans.id"), nullable=False),
        sa.Column("last_scan_id", sa.Integer, sa.ForeignKey("scans.id"), nullable=False),
        sa.Column("removed_scan_id", sa.Integer, sa.ForeignKey("scans.id"), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("repository_id", "relpath", name="uq_model_files_repository_relpath"),
    )
    op.create_table(
        "results",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scan_id", sa.Integer, sa.ForeignKey("scans.id"), nullable=False),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("model_files.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ret", sa.Integer, nullable=True),
        sa.Column("ret_name", sa.String(64), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("work_size", sa.BigInteger, nullable=False),
        sa.Column("weight_size", sa.BigInteger, nullable=False),
        sa.Column("dynamic", sa.Boolean, nullable=False),
        sa.Column("dynamic_reason", sa.Text, nullable=True),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("backend", sa.String(32), nullable=False),
        sa.Column("npu_device", sa.Integer, nullable=True),
        sa.Column("model_name", sa.Text, nullable=True),
        sa.Column("modeltype", sa.String(32), nullable=True),
        sa.Column("soc_version", sa.Text, nullable=True),
        sa.Column("atc_version", sa.Text, nullable=True),
        sa.Column("platform_version", sa.Text, nullable=True),
        sa.Column("inputs", sa.Text, nullable=True),
        sa.Column("partitions", sa.Text, nullable=True),
        sa.Column("warnings", sa.Text, nullable=True),
        sa.Column("bytes_read", sa.BigInteger, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("file_size", sa.BigInteger, nullable=False),
        sa.Column("file_mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("file_inode", sa.BigInteger, nullable=False),
        sa.Column("carried", sa.Boolean, nullable=False),
        sa.UniqueConstraint("scan_id", "file_id", name="uq_results_scan_file"),
    )
    op.create_index("ix_results_file_scan", "results", ["file_id", "scan_id"])
    op.create_index(
        "ix_model_files_repository", "model_files", ["repository_id", "removed_scan_id"]
    )
    op.execute(LATEST_RESULTS)


def downgrade() -> None:
    op.execute("DROP VIEW latest_results")
    op.drop_index("ix_model_files_repository", table_name="model_files")
    op.drop_index("ix_results_file_scan", table_name="results")
    op.drop_table("results")
    op.drop_table("model_files")
    op.drop_table("scans")
    op.drop_table("repositories")
