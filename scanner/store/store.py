"""The results store: what a scan writes, and the few reads it needs.

Every write is one transaction of bulk statements; answers are unique per (scan, file)
and carries per (scan, first file), so a batch retried after a failure writes nothing
twice, and no statement ever deletes or overwrites an earlier scan's results. A file
found unchanged is not written again: its scan records it in ``carries``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    and_,
    case,
    false,
    func,
    insert,
    not_,
    null,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..core import SETTLED_STATUSES
from ..om import QueryResult
from ..om.flat import FlatResult, flatten
from . import carries, migrate
from .dbfile import DatabaseFile, database_file
from .dialect import BulkStatement, Dialect, chunks, dialect_for
from .errors import ScanClosed, StoreError
from .names import disk_name, storable_text, stored_name
from .schema import (
    answers,
    model_files,
    removals,
    repositories,
    scans,
    work_scans,
)
from .urls import async_url, mask, resolve


@dataclass(frozen=True)
class ResultItem:
    """One answered file, as the scan hands it over."""

    root: str
    relpath: str
    size: int
    mtime_ns: int
    inode: int
    fs_device: int
    version: str  # the record's version token (``ModelFile.version``)
    result: QueryResult | FlatResult
    backend: str
    npu_device: int | None = None
    seconds: float = 0.0
    content_hash: str | None = None
    warnings: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)  # one per file of a repository: no __dict__ each
class PreviousFile:
    """A file as the store last knew it. ``status``, ``size`` and ``version`` are those
    of its latest *settled* result (None: never settled, so it must be read)."""

    file_id: int
    result_id: int | None  # the settled result a carry copies
    status: str | None
    size: int | None
    version: str | None

    @property
    def settled(self) -> bool:
        return self.status is not None


def _now() -> datetime:
    return datetime.now(UTC)


FILE_COLUMNS = (
    "repository_id",
    "relpath",
    "size",
    "version",
    "mtime_ns",
    "inode",
    "fs_device",
    "content_hash",
    "first_scan_id",
    "last_scan_id",
)
PREVIOUS_ROWS = 10_000  # rows of ``previous_files`` fetched at a time
FILE_UPDATES = ("size", "version", "mtime_ns", "inode", "fs_device", "content_hash", "last_scan_id")
ANSWER_COLUMNS = tuple(column.name for column in answers.columns if column.name != "id")


def _file_upsert(dialect: Dialect) -> BulkStatement:
    """Insert or refresh file rows (``FILE_COLUMNS``).

    A scan's writes never undo what a later scan recorded (a late worker, an old
    distributed scan still draining): the size, version, stat and ``last_scan_id`` only move
    forward, and a removal by a later scan stands; a result of this scan or a later one
    brings a removed file back.
    """
    stmt = dialect.insert(model_files)
    new, old = stmt.excluded, model_files.c
    removed_later = func.coalesce(old.removed_scan_id > new.last_scan_id, false())
    newer = and_(new.last_scan_id >= old.last_scan_id, not_(removed_later))
    stmt = stmt.on_conflict_do_update(
        index_elements=["repository_id", "relpath"],
        set_={name: case((newer, new[name]), else_=old[name]) for name in FILE_UPDATES}
        | {
            "removed_scan_id": case((removed_later, old.removed_scan_id), else_=null()),
            "removed_at": case((removed_later, old.removed_at), else_=null()),
        },
    )
    return BulkStatement(stmt, FILE_COLUMNS, dialect)


def _answer_insert(dialect: Dialect) -> BulkStatement:
    """Insert answers (``ANSWER_COLUMNS``); a batch written again overwrites its own."""
    stmt = dialect.insert(answers)
    stmt = stmt.on_conflict_do_update(
        index_elements=["scan_id", "file_id"],
        set_={name: stmt.excluded[name] for name in ANSWER_COLUMNS[2:]},
    )
    return BulkStatement(stmt, ANSWER_COLUMNS, dialect)


# BIGINT holds 2**63 - 1; half of it keeps work + weight (the view's total) in range.
MAX_STORED_SIZE = (1 << 62) - 1


def _storable(value: int, name: str, warnings: list[str]) -> int:
    """A size as the BIGINT column can hold it. The API's sizes are uint64 and a
    hostile file can claim 2**64 - 1: such a size is stored clamped, with the exact
    answer kept in the warnings, rather than failing the whole batch."""
    if value <= MAX_STORED_SIZE:
        return value
    warnings.append(f"{name} is {value}: too large to store, stored as {MAX_STORED_SIZE}")
    return MAX_STORED_SIZE


def _answer_row(scan_id: int, file_id: int, item: ResultItem) -> tuple[Any, ...]:
    """The answer's row, in ``ANSWER_COLUMNS`` order."""
    flat = flatten(item.result)
    warnings = [*flat.warnings, *item.warnings]
    work_size = _storable(flat.work_size, "work_size", warnings)
    weight_size = _storable(flat.weight_size, "weight_size", warnings)
    return (
        scan_id,
        file_id,
        flat.status,
        flat.ret,
        storable_text(flat.ret_name),
        storable_text(flat.error),
        work_size,
        weight_size,
        flat.dynamic,
        storable_text(flat.dynamic_reason),
        flat.format,
        item.backend,
        item.npu_device,
        storable_text(flat.name),
        storable_text(flat.modeltype),
        storable_text(flat.soc_version),
        storable_text(flat.atc_version),
        storable_text(flat.platform_version),
        flat.inputs_json,
        flat.partitions_json,
        json.dumps(warnings) if warnings else None,
        flat.bytes_read,
        round(item.seconds * 1000, 3),
        item.size,
        item.version,
        item.mtime_ns,
        item.inode,
    )


class Store:
    def __init__(
        self, engine: AsyncEngine, dialect: Dialect, display_url: str, file: str | None = None
    ) -> None:
        self.engine = engine
        self.dialect = dialect
        self.display_url = display_url  # as the user typed it, password masked
        self.file = file  # the SQLite database file, None for PostgreSQL
        self._after_close = ExitStack()  # released once every connection is closed
        self._database_file: DatabaseFile | None = None
        self._file_upsert = _file_upsert(dialect)
        self._answer_insert = _answer_insert(dialect)

    def database_file(self) -> DatabaseFile:
        """This process's descriptor of the SQLite database file (see ``dbfile``)."""
        assert self.file is not None
        if self._database_file is None:
            self._database_file = self._after_close.enter_context(database_file(self.file))
        return self._database_file

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction; any database failure becomes a one-line StoreError."""
        async with self.failures_told(), self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def failures_told(self) -> AsyncIterator[None]:
        """Any database failure inside becomes a one-line StoreError."""
        try:
            yield
        except StoreError:
            raise
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"database {self.display_url}: {_reason(exc)}") from exc

    # --- schema -----------------------------------------------------------------

    async def upgrade(self, revision: str = "head") -> None:
        async with self._schema_change() as conn:
            await conn.run_sync(migrate.upgrade, revision)

    async def downgrade(self, revision: str) -> None:
        async with self._schema_change() as conn:
            await conn.run_sync(migrate.downgrade, revision)

    @asynccontextmanager
    async def _schema_change(self) -> AsyncIterator[AsyncConnection]:
        """One transaction for a whole migration, taken before anything is read: processes
        meeting a new database at once wait for each other, then find it at head, and a
        migration stopped halfway leaves nothing behind."""
        async with self.transaction() as conn:
            await self.dialect.lock_schema(conn)
            yield conn

    async def current_revision(self) -> str | None:
        async with self.transaction() as conn:
            return await conn.run_sync(migrate.current_revision)

    # --- what a scan writes -----------------------------------------------------

    async def start_scan(
        self,
        roots: Sequence[str],
        host: str,
        backend: str,
        devices: Sequence[int],
        options: dict[str, Any],
        *,
        repositories: Sequence[str] | None = None,
    ) -> int:
        """Open a scan of ``roots``, creating the ``repositories`` it walks (by default
        one per root) that the store does not know yet."""
        async with self.transaction() as conn:
            scan_id = await conn.scalar(
                insert(scans)
                .values(
                    started_at=_now(),
                    host=host,
                    backend=backend,
                    devices=json.dumps(list(devices)),
                    roots=json.dumps([stored_name(root) for root in roots]),
                    options=json.dumps(options),
                    status="running",
                )
                .returning(scans.c.id)
            )
            assert scan_id is not None
            await self.repository_ids(
                conn, roots if repositories is None else repositories, scan_id
            )
            return int(scan_id)

    async def close_abandoned_scans(self) -> int:
        """Scans still ``running`` died without closing (killed, host lost): called
        under the scan lock, which proves none of them is alive, it marks them
        ``interrupted`` so that ``omscan scans`` stops showing them as running.
        A distributed scan whose walk is over is alive without the lock: its workers
        are draining the queue, and they close it."""
        draining = select(work_scans.c.scan_id).where(work_scans.c.enqueued)
        async with self.transaction() as conn:
            done = await conn.execute(
                update(scans)
                .where(scans.c.status == "running", scans.c.id.not_in(draining))
                .values(status="interrupted")
            )
            return int(done.rowcount or 0)

    async def finish_scan(self, scan_id: int, status: str, counts: dict[str, Any]) -> None:
        """Close the scan, unless it was closed meanwhile (a distributed scan whose walk
        the workers took for dead): a scan is closed once."""
        async with self.transaction() as conn:
            await conn.execute(
                update(scans)
                .where(scans.c.id == scan_id, scans.c.status == "running")
                .values(status=status, finished_at=_now(), counts=json.dumps(counts))
            )
            await carries.compact(conn, scan_id)

    async def previous_files(self, root: str) -> dict[str, PreviousFile]:
        """Every known, present file of the repository with its latest settled result."""
        latest = (
            select(answers.c.id)
            .where(answers.c.file_id == model_files.c.id, answers.c.status.in_(SETTLED_STATUSES))
            .order_by(answers.c.scan_id.desc())
            .limit(1)
            .correlate(model_files)
            .scalar_subquery()
        )
        query = (
            select(
                model_files.c.relpath,
                model_files.c.id,
                answers.c.id,
                answers.c.status,
                answers.c.file_size,
                answers.c.file_version,
            )
            .join(repositories, repositories.c.id == model_files.c.repository_id)
            .outerjoin(answers, answers.c.id == latest)
            .where(
                repositories.c.path == stored_name(root), model_files.c.removed_scan_id.is_(None)
            )
        )
        known: dict[str, PreviousFile] = {}
        # Streamed: a repository of 300,000 files never has all its rows in memory twice.
        async with self.transaction() as conn:
            result = await conn.stream(query.execution_options(yield_per=PREVIOUS_ROWS))
            async for rows in result.partitions():
                for relpath, file_id, result_id, status, size, version in rows:
                    # One string per status, not one per file (15 MB at 300,000 files).
                    status = sys.intern(status) if status is not None else None
                    known[disk_name(relpath)] = PreviousFile(
                        file_id, result_id, status, size, version
                    )
        return known

    async def write_results(self, scan_id: int, items: Sequence[ResultItem]) -> None:
        """Upsert the files and their results for this scan, in one transaction, if the
        scan is still running (``ScanClosed`` if not)."""
        if not items:
            return
        async with self.transaction() as conn:
            await lock_running(conn, scan_id)
            await self.insert_results(conn, scan_id, items)

    async def insert_results(
        self,
        conn: AsyncConnection,
        scan_id: int,
        items: Sequence[ResultItem],
        repo_ids: Mapping[str, int] | None = None,
    ) -> None:
        """The writes of ``write_results``, in the caller's transaction: the caller has
        fenced them (the scan is running, the work is still its own). ``repo_ids``: the
        roots' repository ids, when the caller knows them already."""
        if repo_ids is None:
            repo_ids = await self.repository_ids(conn, sorted({i.root for i in items}), scan_id)
        keys = [(repo_ids[i.root], stored_name(i.relpath)) for i in items]
        file_rows = [
            (
                repo_id,
                relpath,
                i.size,
                i.version,
                i.mtime_ns,
                i.inode,
                i.fs_device,
                i.content_hash,
                scan_id,
                scan_id,
            )
            for i, (repo_id, relpath) in zip(items, keys, strict=True)
        ]
        key = (model_files.c.repository_id, model_files.c.relpath)
        file_ids = await self.dialect.upsert_ids(
            conn, self._file_upsert, file_rows, key, model_files.c.id
        )
        await self._answer_insert.run(
            conn, [_answer_row(scan_id, file_ids[k], i) for i, k in zip(items, keys, strict=True)]
        )

    async def carry_forward(self, scan_id: int, unchanged: Sequence[PreviousFile]) -> None:
        """Record each unchanged file with a settled answer (as ``previous_files`` found
        it) carried into this scan, if the scan is still running: no row per file, a
        range in ``carries`` per run of file ids. Retried, it records nothing twice."""
        settled = [p.file_id for p in unchanged if p.result_id is not None]
        if not settled:
            return
        async with self.transaction() as conn:
            await lock_running(conn, scan_id)
            await carries.record(self.dialect, conn, scan_id, settled)

    async def mark_removed(self, scan_id: int, file_ids: Sequence[int]) -> int:
        """Record these files removed by the scan: on the file (``removed_scan_id``, for
        what is present now) and in ``removals`` (kept when a file comes back, so that
        ``diff`` knows what was present after any earlier scan)."""
        async with self.transaction() as conn:
            for chunk in chunks(file_ids):
                await conn.execute(
                    update(model_files)
                    .where(model_files.c.id.in_(chunk))
                    .values(removed_scan_id=scan_id, removed_at=_now())
                )
                rows = [{"file_id": file_id, "scan_id": scan_id} for file_id in chunk]
                await conn.execute(self.dialect.insert(removals).on_conflict_do_nothing(), rows)
        return len(file_ids)

    # --- reads ------------------------------------------------------------------

    async def fetch(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """Rows of a SQL query as dicts (for the CLI and tests)."""
        async with self.transaction() as conn:
            result = await conn.execute(text(sql), params)
            return [dict(row._mapping) for row in result]

    # --- helpers ----------------------------------------------------------------

    async def repository_paths(self) -> list[str]:
        """Every repository the store knows, as paths on disk."""
        async with self.transaction() as conn:
            paths = await conn.scalars(select(repositories.c.path))
            return [disk_name(path) for path in paths]

    async def repository_ids(
        self, conn: AsyncConnection, roots: Sequence[str], scan_id: int
    ) -> dict[str, int]:
        """The ids of the repositories at ``roots`` (created if new), by root."""
        paths = {stored_name(root): root for root in roots}
        stmt = self.dialect.insert(repositories).on_conflict_do_nothing(index_elements=["path"])
        await conn.execute(stmt, [{"path": path, "first_scan_id": scan_id} for path in paths])
        rows = await conn.execute(
            select(repositories.c.path, repositories.c.id).where(repositories.c.path.in_(paths))
        )
        return {paths[row.path]: row.id for row in rows}


async def lock_running(conn: AsyncConnection, scan_id: int) -> None:
    """Fence a write: the scan must be running, and its row stays share-locked until the
    caller commits, so that no status change (completed, interrupted) slips in between
    the check and the write. ``ScanClosed`` otherwise."""
    status = await conn.scalar(
        select(scans.c.status).where(scans.c.id == scan_id).with_for_update(read=True)
    )
    if status != "running":
        raise ScanClosed(f"scan {scan_id} is {status or 'gone'}: nothing more is stored for it")


def _reason(exc: BaseException) -> str:
    """The driver's own words, on one line, without SQLAlchemy's boilerplate."""
    inner = getattr(exc, "orig", None) or exc
    if isinstance(inner, TimeoutError):
        return "no answer from the server in time (connection lost?)"
    message = str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__
    return message


@asynccontextmanager
async def open_store(
    url: str | None = None,
    *,
    migrate_schema: bool = True,
    statement_timeout: float | None = None,
    idle_transaction_timeout: float | None = None,
) -> AsyncIterator[Store]:
    """Open the store at ``url`` (default: $OMSCAN_DB or ./omscan.db), bringing its
    schema to this omscan's head first.

    PostgreSQL only: ``statement_timeout`` caps how long a connection or a statement may
    go unanswered (a holder of leases must notice a frozen link before they run out);
    ``idle_transaction_timeout`` has the server end a session left idle inside a
    transaction (its process paused) so that its row locks block nobody for longer."""
    given = resolve(url)
    parsed = async_url(given)
    dialect = dialect_for(parsed)
    file = dialect.database_file(parsed, mask(given))
    engine = dialect.engine(parsed, statement_timeout, idle_transaction_timeout)
    store = Store(engine, dialect, mask(given), file)
    try:
        if migrate_schema:
            await store.upgrade()
        if file is not None and os.path.exists(file):
            store.database_file()  # held from now on: see dbfile
        yield store
    finally:
        await engine.dispose()
        store._after_close.close()
