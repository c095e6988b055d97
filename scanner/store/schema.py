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
    Column("version", Text, nullable=False),  # the source's version token (ModelFile.version)
    # A POSIX file's stat (NULL for a source without them): its token is built from them.
    Column("mtime_ns", BigInteger, nullable=True),
    Column("inode", BigInteger, nullable=True),
    Column("fs_device", BigInteger, nullable=True),
    Column("content_hash", Text, nullable=True),
    Column("first_scan_id", Integer, ForeignKey("scans.id"), nullable=False),
    Column("last_scan_id", Integer, ForeignKey("scans.id"), nullable=False),
    Column("removed_scan_id", Integer, ForeignKey("scans.id"), nullable=True),
    Column("removed_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("repository_id", "relpath", name="uq_model_files_repository_relpath"),
)

# One row per file a scan read (or recorded as a placeholder): an answer. A scan that
# finds a file unchanged writes no answer but a range in ``carries``; the view
# ``results`` (migration 0006) puts both together, one row per file and scan as before.
answers = Table(
    "answers",
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
    # JSON [{submodel, type, size}], or past 64 partitions {count, by_type: {TYPE: {count, size}}}
    Column("partitions", Text, nullable=True),
    Column("warnings", Text, nullable=True),  # JSON list of strings
    Column("bytes_read", BigInteger, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("file_size", BigInteger, nullable=False),  # the file as it was when answered
    Column("file_version", Text, nullable=False),
    Column("file_mtime_ns", BigInteger, nullable=True),
    Column("file_inode", BigInteger, nullable=True),
    UniqueConstraint("scan_id", "file_id", name="uq_answers_scan_file"),
)

# The files a scan found unchanged and so did not read, as runs of consecutive file ids:
# each one's answer in that scan is its latest settled answer of an earlier scan. An
# unchanged night adds a handful of rows, not one per model.
carries = Table(
    "carries",
    metadata,
    Column("scan_id", Integer, ForeignKey("scans.id"), primary_key=True),
    Column("first_file_id", Integer, primary_key=True),
    Column("last_file_id", Integer, nullable=False),
)

# A file a scan recorded removed: the history ``model_files.removed_scan_id`` forgets
# once the file comes back.
removals = Table(
    "removals",
    metadata,
    Column("file_id", Integer, ForeignKey("model_files.id"), primary_key=True),
    Column("scan_id", Integer, ForeignKey("scans.id"), primary_key=True),
)

# --- the work queue of distributed scans (PostgreSQL) ---------------------------------

work_scans = Table(
    "work_scans",
    metadata,
    Column("scan_id", Integer, ForeignKey("scans.id"), primary_key=True),
    Column("enqueued", Boolean, nullable=False),  # the walk is over: no more items come
    Column("files", Integer, nullable=False),  # queued for workers
    Column("removed", Integer, nullable=False),
    # While the walk runs: past this, workers take the coordinator for dead.
    Column("coordinator_deadline_at", DateTime(timezone=True), nullable=True),
)

workers = Table(
    "workers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("backend", String(32), nullable=False),
    Column("devices", Text, nullable=False),  # JSON list of device ids
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("stopped_at", DateTime(timezone=True), nullable=True),
    Column("deadline_at", DateTime(timezone=True), nullable=True),  # live until then
    Column("late_answers", Integer, nullable=False, server_default="0"),  # dropped by the fence
)

work_items = Table(
    "work_items",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("scan_id", Integer, ForeignKey("scans.id"), nullable=False),
    Column("repository_id", Integer, ForeignKey("repositories.id"), nullable=False),
    Column("relpath", Text, nullable=False),
    Column("state", String(8), nullable=False),  # queued/leased/done
    # Claims so far; also the fencing token of the latest claim: only a new claim raises it.
    Column("attempts", Integer, nullable=False),
    Column("expired", Integer, nullable=False),  # workers whose lease on it ran out
    Column("lease_owner", Integer, ForeignKey("workers.id"), nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    Column("done_by", Integer, ForeignKey("workers.id"), nullable=True),
    Column("done_at", DateTime(timezone=True), nullable=True),
    Column("status", String(16), nullable=True),  # the stored result's status
    UniqueConstraint("scan_id", "repository_id", "relpath", name="uq_work_items_file"),
)


def _item_key() -> Column[int]:
    """A work item's id, as part of the key of a table about items."""
    return Column(
        "item_id",
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("work_items.id"),
        primary_key=True,
    )


# Hosts that could not see an item's file: it is offered to the others first.
work_misses = Table(
    "work_misses",
    metadata,
    _item_key(),
    Column("host", Text, primary_key=True),
    Column("error", Text, nullable=False),
)

# Workers whose lease on an item ran out, each once however often: what ``expired`` counts.
work_expiries = Table(
    "work_expiries",
    metadata,
    _item_key(),
    Column("worker_id", Integer, ForeignKey("workers.id"), primary_key=True),
    Column("expired_at", DateTime(timezone=True), nullable=False),
)
