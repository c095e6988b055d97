"""Identity that fits any source: each file and each result carries a version token (for a
POSIX file ``device:inode:mtime_ns``; an object store's ETag or version id later), and
the POSIX stat columns become nullable (still filled for files, for SQL users).

The tokens of existing rows are built from their stat columns. ``results`` never held a
device: a result takes its file's (the device of the file's latest write).

Revision ID: 0005_identity
Revises: 0004_fencing
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0005_identity"
down_revision = "0004_fencing"
branch_labels = None
depends_on = None

# The columns only a POSIX file has, by table.
POSIX = {
    "model_files": ("mtime_ns", "inode", "fs_device"),
    "results": ("file_mtime_ns", "file_inode"),
}
TOKENS = {"model_files": "version", "results": "file_version"}
# The tables whose rows refer to model_files: set aside while SQLite rebuilds it.
REFERRING = ("results", "removals")


def _token(device: str, inode: str, mtime_ns: str) -> str:
    """SQL for ``device:inode:mtime_ns``, as ``ModelFile.version`` writes it."""
    return " || ':' || ".join(f"CAST({part} AS TEXT)" for part in (device, inode, mtime_ns))


@contextmanager
def _rebuilding() -> Iterator[None]:
    """Room for SQLite to alter columns, which it does by building a table anew (copy,
    drop, rename). omscan's connections enforce foreign keys, and inside the migration's
    transaction they cannot be turned off: a table cannot be dropped while rows refer
    to it, so those rows are set aside meanwhile and put back after. Views naming the
    tables would stop the rename: they are dropped and created again as they were.
    PostgreSQL alters columns in place and needs none of this."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    views = bind.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'view'")).all()
    for name, _ in views:
        op.execute(f'DROP VIEW "{name}"')
    for table in REFERRING:
        op.execute(f"CREATE TEMP TABLE _aside_{table} AS SELECT * FROM {table}")
        op.execute(f"DELETE FROM {table}")
    yield
    for table in REFERRING:
        kept = {column["name"] for column in sa.inspect(bind).get_columns(table)}
        aside = bind.execute(sa.text(f"SELECT * FROM _aside_{table} LIMIT 0")).keys()
        names = ", ".join(name for name in aside if name in kept)
        op.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _aside_{table}")
        op.execute(f"DROP TABLE _aside_{table}")
    for _, sql in views:
        op.execute(sql)


def upgrade() -> None:
    for table, token in TOKENS.items():
        op.add_column(table, sa.Column(token, sa.Text, nullable=True))
    op.execute(f"UPDATE model_files SET version = {_token('fs_device', 'inode', 'mtime_ns')}")
    device = "(SELECT f.fs_device FROM model_files f WHERE f.id = results.file_id)"
    op.execute(f"UPDATE results SET file_version = {_token(device, 'file_inode', 'file_mtime_ns')}")
    with _rebuilding():
        for table, token in TOKENS.items():
            with op.batch_alter_table(table) as batch:
                batch.alter_column(token, existing_type=sa.Text, nullable=False)
                for name in POSIX[table]:
                    batch.alter_column(name, existing_type=sa.BigInteger, nullable=True)


def downgrade() -> None:
    with _rebuilding():
        for table, token in TOKENS.items():
            with op.batch_alter_table(table) as batch:
                batch.drop_column(token)
                for name in POSIX[table]:
                    batch.alter_column(name, existing_type=sa.BigInteger, nullable=False)
