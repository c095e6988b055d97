"""A store that grows with change, not with nights: an unchanged file is no longer copied
into every scan. The table ``results`` becomes ``answers`` (the files a scan read),
without its carried rows, which become ranges of file ids in ``carries``; a view
``results`` puts both together again, row for row as the table had them (a carried
row's ``id`` is that of the answer it repeats), so every query keeps its answer.
``latest_results`` reads the tables directly.

Revision ID: 0006_carries
Revises: 0005_identity
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_carries"
down_revision = "0005_identity"
branch_labels = None
depends_on = None

SETTLED = "('ok', 'failed', 'lfs_pointer', 'empty')"  # the statuses a carry repeats

# Every column of an answer, in the order the table ``results`` had them.
COLUMNS = [
    "id",
    "scan_id",
    "file_id",
    "status",
    "ret",
    "ret_name",
    "error",
    "work_size",
    "weight_size",
    "dynamic",
    "dynamic_reason",
    "format",
    "backend",
    "npu_device",
    "model_name",
    "modeltype",
    "soc_version",
    "atc_version",
    "platform_version",
    "inputs",
    "partitions",
    "warnings",
    "bytes_read",
    "duration_ms",
    "file_size",
    "file_mtime_ns",
    "file_inode",
]


def _columns(alias: str, scan: str = "", file: str = "") -> str:
    """The answer columns of ``alias``, with another scan and file id if given."""
    given = {"scan_id": scan, "file_id": file}
    return ", ".join(f"{given.get(c) or f'{alias}.{c}'} AS {c}" for c in COLUMNS)


# The files each carry covers, each with the latest settled answer before that scan (the
# answer the scan found its file unchanged from), unless the scan answered it as well.
CARRIED = f"""
FROM carries c
JOIN model_files f ON f.id BETWEEN c.first_file_id AND c.last_file_id
JOIN answers a ON a.id = (
    SELECT a2.id FROM answers a2
    WHERE a2.file_id = f.id AND a2.scan_id < c.scan_id AND a2.status IN {SETTLED}
    ORDER BY a2.scan_id DESC LIMIT 1)
WHERE NOT EXISTS (SELECT 1 FROM answers a3 WHERE a3.scan_id = c.scan_id AND a3.file_id = f.id)
"""

RESULTS = f"""
CREATE VIEW results AS
SELECT {_columns("a")}, FALSE AS carried, a.file_version AS file_version FROM answers a
UNION ALL
SELECT {_columns("a", "c.scan_id", "f.id")}, TRUE AS carried, a.file_version AS file_version
{CARRIED}
"""

# For each present file, the scan that last looked at it (``model_files.last_scan_id``):
# if it carried the file, the answer it repeats; else the file's latest answer.
LATEST_RESULTS = f"""
CREATE VIEW latest_results AS
SELECT
    repo.path AS repository,
    f.relpath AS relpath,
    f.id AS file_id,
    CASE WHEN f.carried THEN f.last_scan_id ELSE r.scan_id END AS scan_id,
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
    f.carried AS carried,
    f.size AS size,
    f.mtime_ns AS mtime_ns
FROM (
    SELECT m.*, (
        EXISTS (SELECT 1 FROM carries c WHERE c.scan_id = m.last_scan_id
                AND c.first_file_id <= m.id AND c.last_file_id >= m.id)
        AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.scan_id = m.last_scan_id
                        AND a.file_id = m.id)
    ) AS carried
    FROM model_files m
    WHERE m.removed_scan_id IS NULL
) f
JOIN repositories repo ON repo.id = f.repository_id
JOIN answers r ON r.id = (
    SELECT a.id FROM answers a
    WHERE a.file_id = f.id
      AND (NOT f.carried OR (a.scan_id < f.last_scan_id AND a.status IN {SETTLED}))
    ORDER BY a.scan_id DESC LIMIT 1)
"""

# The view of 0001, for the way down.
OLD_LATEST_RESULTS = """
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


def _answer_columns(table: str, *, carried: bool) -> list[sa.Column[object]]:
    """The columns of ``results`` as 0005 left them (``carried`` among them, ``file_version``
    last), or of ``answers`` (no ``carried``)."""
    columns: list[sa.Column[object]] = [
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
        sa.Column("file_mtime_ns", sa.BigInteger, nullable=True),
        sa.Column("file_inode", sa.BigInteger, nullable=True),
    ]
    if carried:
        columns.append(sa.Column("carried", sa.Boolean, nullable=False))
    columns.append(sa.Column("file_version", sa.Text, nullable=False))
    columns.append(sa.UniqueConstraint("scan_id", "file_id", name=f"uq_{table}_scan_file"))
    return columns


def _continue_ids(table: str, source: str) -> None:
    """PostgreSQL: the new table's id sequence goes on past the ids of ``source`` (SQLite
    takes the next id from the table itself)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" (SELECT MAX(id) FROM {source})) WHERE EXISTS (SELECT 1 FROM {source})"
        )


def upgrade() -> None:
    op.execute("DROP VIEW latest_results")
    op.create_table("answers", *_answer_columns("answers", carried=False))
    op.create_index("ix_answers_file_scan", "answers", ["file_id", "scan_id"])
    names = ", ".join([*COLUMNS, "file_version"])
    op.execute(f"INSERT INTO answers ({names}) SELECT {names} FROM results WHERE NOT carried")
    _continue_ids("answers", "results")
    op.create_table(
        "carries",
        sa.Column("scan_id", sa.Integer, sa.ForeignKey("scans.id"), primary_key=True),
        sa.Column("first_file_id", sa.Integer, primary_key=True),
        sa.Column("last_file_id", sa.Integer, nullable=False),
    )
    # Each scan's carried file ids, as runs of consecutive ids (gaps and islands).
    op.execute(
        "INSERT INTO carries (scan_id, first_file_id, last_file_id)"
        " SELECT scan_id, MIN(file_id), MAX(file_id) FROM ("
        "   SELECT scan_id, file_id,"
        "          file_id - ROW_NUMBER() OVER (PARTITION BY scan_id ORDER BY file_id) AS run"
        "   FROM results WHERE carried) runs"
        " GROUP BY scan_id, run"
    )
    op.drop_table("results")
    op.execute(RESULTS)
    op.execute(LATEST_RESULTS)


def downgrade() -> None:
    op.execute("DROP VIEW latest_results")
    op.execute("DROP VIEW results")
    op.create_table("results", *_answer_columns("results", carried=True))
    op.create_index("ix_results_file_scan", "results", ["file_id", "scan_id"])
    names = ", ".join([*COLUMNS, "file_version"])
    op.execute(f"INSERT INTO results ({names}, carried) SELECT {names}, FALSE FROM answers")
    # The carried rows come back after every answer, numbered by scan and file.
    copied = ", ".join(c for c in [*COLUMNS, "file_version"] if c != "id")
    op.execute(
        f"INSERT INTO results (id, {copied}, carried)"
        f" SELECT (SELECT COALESCE(MAX(id), 0) FROM answers)"
        f"   + ROW_NUMBER() OVER (ORDER BY scan_id, file_id), {copied}, TRUE"
        f" FROM (SELECT {_columns('a', 'c.scan_id', 'f.id')}, a.file_version AS file_version"
        f" {CARRIED}) copies"
    )
    _continue_ids("results", "results")
    op.drop_table("carries")
    op.drop_table("answers")
    op.execute(OLD_LATEST_RESULTS)
