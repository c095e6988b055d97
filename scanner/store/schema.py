"""The tables, as SQLAlchemy Core metadata. Migrations create them; this module is
what the code queries with. Documented for SQL users in the README."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", Text, nullable=False, unique=True),
    Column("first_scan_id", Integer, nullable=True),
)

scans = Table(
    "scans",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("host", Text, nullable=False),
    Column("backend", String(32), nullable=False),
    Column("devices", Text, nullable=False),  # JSON list of device ids
    Column("roots", Text, nullable=False),  # JSON list of repository paths
    Column("options", Text, nullable=False),  # JSON
    Column("status", String(16), nullable=False),  # running/completed/interrupted/failed
    Column("counts", Text, nullable=True),  # JSON summary
)

model_files = Table(
    "model_files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("repository_id", Integer, ForeignKey("repositories.id"), nullable=False),
    Column("relpath", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("inode", BigInteger, nullable=False),
    Column("fs_device", BigInteger, nullable=False),
    Column("content_hash", Text, nullable=True),
    Column("first_scan_id", Integer, ForeignKey("scans.id"), nullable=False),
    Column("last_scan_id", Integer, ForeignKey("scans.id"), nullable=False),
    Column("removed_scan_id", Integer, ForeignKey("scans.id"), nullable=True),
    Column("removed_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("repository_id", "relpath", name="uq_model_files_repository_relpath"),
)

results = Table(
    "results",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("scan_id", Integer, ForeignKey("scans.id"), nullable=False),
    Column("file_id", Integer, ForeignKey("model_files.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("ret", Integer, nullable=True),
    Column("ret_name", String(64), nullable=True),
    Column("error", Text, nullable=True),
    Column("work_size", BigInteger, nullable=False),
    Column("weight_size", BigInteger, nullable=False),
    Column("dynamic", Boolean, nullable=False),
    Column("dynamic_reason", Text, nullable=True),
    Column("format", String(8), nullable=False),
    Column("backend", String(32), nullable=False),
    Column("npu_device", Integer, nullable=True),
    Column("model_name", Text, nullable=True),
    Column("modeltype", String(32), nullable=True),
    Column("soc_version", Text, nullable=True),
    Column("atc_version", Text, nullable=True),
    Column("platform_version", Text, nullable=True),
    Column("inputs", Text, nullable=True),  # JSON [{name, dtype, shape}]
    Column("partitions", Text, nullable=True),  # JSON [{submodel, type, size}]
    Column("warnings", Text, nullable=True),  # JSON list of strings
    Column("bytes_read", BigInteger, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("file_size", BigInteger, nullable=False),  # the file as it was when answered
    Column("file_mtime_ns", BigInteger, nullable=False),
    Column("file_inode", BigInteger, nullable=False),
    Column("carried", Boolean, nullable=False),
    UniqueConstraint("scan_id", "file_id", name="uq_results_scan_file"),
)

# Outcomes that are final for unchanged bytes; others (unreadable, timeout, …) are retried.
SETTLED_STATUSES = ("ok", "failed", "lfs_pointer", "empty")
