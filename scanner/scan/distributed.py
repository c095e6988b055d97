"""A scan shared by many hosts through the PostgreSQL work queue.

The coordinator walks the roots exactly as a local scan does and stores what needs no
query (unchanged files carried, placeholders recorded); the files to query go to the
queue. Workers on every host run the same pipeline as a local scan, with the queue as
their source and the store as their sink. Only where items come from and go to differs.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import anyio

from ..backends.base import Backend
from ..concurrency import first_error
from ..store import ResultItem, Store
from ..store.lock import scan_lock
from ..store.queue import MAX_EXPIRED, Claim, Miss, WorkQueue
from .local import (
    LocalSource,
    ScanOptions,
    ScanSummary,
    cancel_when_set,
    close_scan,
    describe,
    result_item,
    store_sink,
)
from .pipeline import Outcome, PipelineOptions, Progress, WorkItem, run_pipeline, split_batch
from .walk import FileEntry, classify

ENQUEUE_BATCH = 2000


@dataclass(frozen=True)
class QueuedFile(FileEntry):
    """A file as the queue handed it out: which item, of which scan."""

    item_id: int = 0
    scan_id: int = 0


async def enqueue_scan(
    store: Store, options: ScanOptions, *, stop: anyio.Event | None = None
) -> ScanSummary:
    """Open a distributed scan of ``options.roots``: walk, carry what is unchanged,
    queue the rest for workers. The scan stays ``running`` until they drain it."""
    queue = WorkQueue(store)
    roots = [os.path.realpath(root) for root in options.roots]
    started = time.monotonic()
    async with scan_lock(store) as lock:
        await store.close_abandoned_scans()
        source = await LocalSource.plan(store, options)
        scan_id = await store.start_scan(
            roots,
            host=socket.gethostname(),
            backend="distributed",
            devices=[],
            options=describe(options),
            repositories=source.repositories,
        )
        summary = ScanSummary(scan_id, "failed", 0.0, Progress())
        try:
            await queue.open_scan(scan_id)
            with anyio.CancelScope() as scope, first_error():
                async with anyio.create_task_group() as group:
                    if stop is not None:
                        group.start_soon(cancel_when_set, stop, scope)
                    group.start_soon(lock.watch)  # a lost lock stops the walk
                    await _enqueue(store, queue, source, summary)
                    group.cancel_scope.cancel()
            summary.status = "interrupted" if scope.cancelled_caught else "running"
            if summary.status == "running" and scan_id in await queue.complete_drained():
                summary.status = "completed"  # nothing needed a query
        finally:
            summary.seconds = time.monotonic() - started
            if summary.status not in ("running", "completed"):
                with anyio.CancelScope(shield=True):
                    await close_scan(store, summary)
    return summary


async def _enqueue(
    store: Store, queue: WorkQueue, source: LocalSource, summary: ScanSummary
) -> None:
    scan_id, progress = summary.scan_id, summary.progress
    sink = store_sink(store, scan_id)
    settled: list[Outcome] = []
    to_query: list[tuple[str, str]] = []

    async def flush() -> None:
        for outcome in settled:
            progress.count(outcome)
        await sink(settled)
        await queue.enqueue(scan_id, to_query)
        summary.extra["queued"] = summary.extra.get("queued", 0) + len(to_query)
        settled.clear()
        to_query.clear()

    async for batch in source:
        progress.seen += len(batch)
        done, queued = split_batch(batch)
        settled.extend(done)
        to_query.extend((item.entry.root, item.entry.relpath) for item in queued)
        if len(settled) + len(to_query) >= ENQUEUE_BATCH:
            await flush()
    await flush()
    progress.walk_done = True
    summary.removed = await source.record_removals(store, scan_id)
    await queue.close_scan(scan_id, summary.removed)


@dataclass(frozen=True)
class WorkerOptions:
    host: str = field(default_factory=socket.gethostname)
    lease_seconds: float = 30.0
    claim_size: int = 256
    poll_seconds: float = 2.0
    exit_when_idle: bool = False  # leave once no running distributed scan has work left
    # Shallow streams: a worker should not hoard claimed items that others could take.
    pipeline: PipelineOptions = field(default_factory=lambda: PipelineOptions(stream_depth=2))


@dataclass
class WorkerSummary:
    worker_id: int
    host: str
    seconds: float
    progress: Progress
    scans_completed: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "worker_id": self.worker_id,
            "host": self.host,
            "seconds": round(self.seconds, 3),
            "files_done": self.progress.written,
            "files_failed": self.progress.failed,
            "bytes_read": self.progress.bytes_read,
            "statuses": self.progress.statuses,
            "scans_completed": self.scans_completed,
        }


async def run_worker(
    store: Store,
    backend: Backend,
    options: WorkerOptions,
    *,
    devices: Sequence[int] = (),
    progress: Progress | None = None,
    stop: anyio.Event | None = None,
) -> WorkerSummary:
    """Take work from the queue until ``stop`` is set (or, with ``exit_when_idle``, until
    no work is left), querying with ``backend`` and storing results as a local scan does.
    Leases are renewed meanwhile; on the way out those still held go back to the queue."""
    queue = WorkQueue(store, options.lease_seconds)
    started = time.monotonic()
    worker_id = await queue.register(options.host, backend.name, devices)
    summary = WorkerSummary(worker_id, options.host, 0.0, progress or Progress())
    source = QueueSource(queue, worker_id, options, summary)

    async def sink(batch: Sequence[Outcome]) -> None:
        by_scan: dict[int, list[ResultItem]] = {}
        done: list[tuple[int, str]] = []
        for outcome in batch:
            entry, answer = outcome.entry, outcome.answer
            assert isinstance(entry, QueuedFile) and answer is not None  # nothing is carried
            by_scan.setdefault(entry.scan_id, []).append(result_item(entry, answer))
            done.append((entry.item_id, answer.result.status))
        for scan_id, items in by_scan.items():
            await store.write_results(scan_id, items)
        await queue.done(worker_id, done)

    try:
        with anyio.CancelScope() as scope, first_error():
            async with anyio.create_task_group() as group:
                if stop is not None:
                    group.start_soon(cancel_when_set, stop, scope)
                group.start_soon(_renew_leases, queue, worker_id, options.lease_seconds / 3)
                await run_pipeline(
                    source.__aiter__(), backend, sink, options.pipeline, summary.progress
                )
                group.cancel_scope.cancel()
    finally:
        summary.seconds = time.monotonic() - started
        with anyio.CancelScope(shield=True):
            await queue.stop(worker_id)
    return summary


async def _renew_leases(queue: WorkQueue, worker_id: int, every: float) -> None:
    while True:
        await anyio.sleep(every)
        await queue.heartbeat(worker_id)


class QueueSource:
    """Work items claimed from the queue, a batch at a time, as the pipeline asks."""

    def __init__(
        self, queue: WorkQueue, worker_id: int, options: WorkerOptions, summary: WorkerSummary
    ) -> None:
        self.queue = queue
        self.worker_id = worker_id
        self.options = options
        self.summary = summary

    async def __aiter__(self) -> AsyncIterator[list[WorkItem]]:
        while True:
            claims = await self.queue.claim(
                self.worker_id, self.options.host, self.options.claim_size
            )
            if not claims:
                self.summary.scans_completed += await self.queue.complete_drained()
                if self.options.exit_when_idle and not await self.queue.pending():
                    # Our last done marks may have landed after the check above.
                    self.summary.scans_completed += await self.queue.complete_drained()
                    return
                await anyio.sleep(self.options.poll_seconds)
                continue
            entries, misses = await anyio.to_thread.run_sync(_look_up, claims)
            for miss in await self.queue.missed(self.options.host, misses):
                entries.append(await self._unseen(miss))
            if entries:
                yield [WorkItem(entry) for entry in entries]

    async def _unseen(self, miss: Miss) -> QueuedFile:
        """A file no live host could see: recorded as unreadable, naming each host."""
        hosts = await self.queue.misses_of(miss.claim.item_id)
        seen = "; ".join(f"{host}: {error}" for host, error in hosts)
        return _queued(miss.claim, status="unreadable", error=f"not visible from any host ({seen})")


def _queued(
    claim: Claim,
    info: os.stat_result | None = None,
    status: str | None = None,
    error: str | None = None,
) -> QueuedFile:
    sizes = (info.st_size, info.st_mtime_ns, info.st_ino, info.st_dev) if info else (0, 0, 0, 0)
    return QueuedFile(
        claim.root,
        claim.relpath,
        *sizes,
        status=status,
        error=error,
        item_id=claim.item_id,
        scan_id=claim.scan_id,
    )


def _look_up(claims: Sequence[Claim]) -> tuple[list[FileEntry], list[Miss]]:
    """Stat each claimed file on this host (in a thread: a shared mount may be slow).
    A file this host cannot see is a miss, for other hosts to try."""
    entries: list[FileEntry] = []
    misses: list[Miss] = []
    for claim in claims:
        if claim.expired >= MAX_EXPIRED:
            error = f"given up: {claim.expired} workers lost their lease on it (crashed or hung)"
            entries.append(_queued(claim, status="abandoned", error=error))
            continue
        try:
            info = os.stat(os.path.join(claim.root, claim.relpath))
        except OSError as exc:
            misses.append(
                Miss(claim, f"{errno.errorcode.get(exc.errno or 0, 'error')}: {exc.strerror}")
            )
            continue
        if not stat.S_ISREG(info.st_mode):
            misses.append(Miss(claim, "not a regular file"))
            continue
        entries.append(classify(_queued(claim, info)))
    return entries, misses
