"""A scan of local repositories into the store: walk, decide what changed, run the
pipeline, record what is gone, close the scan with its status and counts."""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio

from ..backends.base import Answer, Backend
from ..concurrency import first_error
from ..store import PreviousFile, ResultItem, Store
from ..store.lock import ScanLock, scan_lock
from .pipeline import Outcome, PipelineOptions, Progress, Sink, WorkItem, run_pipeline
from .walk import FileEntry, WalkOptions, classify, walk

WALK_BATCH = 512


@dataclass(frozen=True)
class ScanOptions:
    roots: Sequence[str]
    walk: WalkOptions = field(default_factory=WalkOptions)
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    full: bool = False  # re-read files even when unchanged


@dataclass
class ScanSummary:
    scan_id: int
    status: str  # completed, interrupted or failed
    seconds: float
    progress: Progress
    peak_budget_bytes: int = 0
    removed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return self.progress.failed

    def to_dict(self) -> dict[str, Any]:
        counts = asdict(self.progress)
        del counts["started"]
        return {
            "scan_id": self.scan_id,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "files_seen": counts["seen"],
            "files_queried": counts["queried"],
            "files_unchanged": counts["carried"],
            "files_failed": self.failed,
            "files_removed": self.removed,
            "bytes_read": counts["bytes_read"],
            "statuses": counts["statuses"],
            "peak_budget_bytes": self.peak_budget_bytes,
        }


def is_unchanged(entry: FileEntry, previous: PreviousFile) -> bool:
    return previous.settled and (previous.size, previous.mtime_ns, previous.inode) == (
        entry.size,
        entry.mtime_ns,
        entry.inode,
    )


class LocalSource:
    """Work from a walk of the roots, with the incremental decision made per file."""

    def __init__(
        self,
        roots: Sequence[str],
        options: ScanOptions,
        previous: dict[str, dict[str, PreviousFile]],
    ) -> None:
        self.roots = roots
        self.options = options
        self.previous = previous
        self.present: dict[str, set[str]] = {root: set() for root in roots}
        self.complete = False  # the walk reached its end

    def _item(self, entry: FileEntry) -> WorkItem:
        present = self.present[entry.root]
        previous = self.previous.get(entry.root, {})
        if entry.directory:
            # Files below an unreadable directory are unknown, not removed; the record
            # of the directory itself stays present too, so reports show the failure.
            prefix = "" if entry.relpath == "." else entry.relpath + os.sep
            present.update(p for p in previous if p.startswith(prefix))
            present.add(entry.relpath)
            return WorkItem(entry)
        present.add(entry.relpath)
        before = previous.get(entry.relpath)
        if before is not None and not self.options.full and is_unchanged(entry, before):
            return WorkItem(entry, carried=before)
        return WorkItem(classify(entry))

    async def __aiter__(self) -> AsyncIterator[list[WorkItem]]:
        entries = walk(self.roots, self.options.walk)

        def next_batch() -> list[WorkItem]:
            return [self._item(entry) for entry in itertools.islice(entries, WALK_BATCH)]

        while batch := await anyio.to_thread.run_sync(next_batch):
            yield batch
        self.complete = True


async def run_scan(
    store: Store,
    backend: Backend,
    options: ScanOptions,
    *,
    devices: Sequence[int] = (),
    progress: Progress | None = None,
    stop: anyio.Event | None = None,
) -> ScanSummary:
    """Scan ``options.roots`` into ``store``, one scan at a time per database.

    Setting ``stop`` (the CLI does on Ctrl-C / SIGTERM) stops reading, abandons the
    queries in flight, writes what was answered and closes the scan as
    ``interrupted``; the next scan carries those files instead of redoing them.
    """
    roots = [os.path.realpath(root) for root in options.roots]
    started = time.monotonic()
    async with scan_lock(store) as lock:
        await store.close_abandoned_scans()
        scan_id = await store.start_scan(
            roots,
            host=socket.gethostname(),
            backend=backend.name,
            devices=list(devices),
            options=describe(options),
        )
        summary = ScanSummary(scan_id, "failed", 0.0, progress or Progress())
        try:
            await _scan(store, backend, options, roots, summary, stop, lock)
        finally:
            summary.seconds = time.monotonic() - started
            with anyio.CancelScope(shield=True):
                await close_scan(store, summary)
    return summary


async def _scan(
    store: Store,
    backend: Backend,
    options: ScanOptions,
    roots: list[str],
    summary: ScanSummary,
    stop: anyio.Event | None,
    lock: ScanLock,
) -> None:
    """Walk, query and write into the open scan record; set its final status."""
    scan_id = summary.scan_id
    previous = {root: await store.previous_files(root) for root in roots}
    source = LocalSource(roots, options, previous)
    sink = store_sink(store, scan_id)
    with anyio.CancelScope() as scope, first_error():
        async with anyio.create_task_group() as group:
            if stop is not None:
                group.start_soon(cancel_when_set, stop, scope)
            group.start_soon(lock.watch)  # a lost lock stops the scan
            budget = await run_pipeline(
                source.__aiter__(), backend, sink, options.pipeline, summary.progress
            )
            summary.peak_budget_bytes = budget.peak
            group.cancel_scope.cancel()
    if scope.cancelled_caught:
        summary.status = "interrupted"
        return
    for root in roots:
        summary.removed += await store.mark_removed(scan_id, root, source.present[root])
    summary.status = "completed"


def store_sink(store: Store, scan_id: int) -> Sink:
    """Where a scan's outcomes go: answers stored, unchanged files' results carried."""

    async def sink(batch: Sequence[Outcome]) -> None:
        answered = [result_item(o.entry, o.answer) for o in batch if o.answer]
        if answered:
            await store.write_results(scan_id, answered)
        carried = [o.carried for o in batch if o.carried is not None]
        if carried:
            await store.carry_forward(scan_id, carried)

    return sink


def result_item(entry: FileEntry, answer: Answer) -> ResultItem:
    return ResultItem(
        root=entry.root,
        relpath=entry.relpath,
        size=entry.size,
        mtime_ns=entry.mtime_ns,
        inode=entry.inode,
        fs_device=entry.device,
        result=answer.result,
        backend=answer.backend,
        npu_device=answer.device,
        seconds=answer.seconds,
        warnings=(answer.disagreement,) if answer.disagreement else (),
    )


async def cancel_when_set(stop: anyio.Event, scope: anyio.CancelScope) -> None:
    await stop.wait()
    scope.cancel()


async def close_scan(store: Store, summary: ScanSummary) -> None:
    """Close the scan record. When the scan failed because the store did, closing it
    may fail too: the first error is the one worth reporting."""
    try:
        await store.finish_scan(summary.scan_id, summary.status, summary.to_dict())
    except Exception:
        if summary.status != "failed":
            raise


def describe(options: ScanOptions) -> dict[str, Any]:
    return {
        "include": list(options.walk.include),
        "exclude": list(options.walk.exclude),
        "follow_outside": options.walk.follow_outside,
        "full": options.full,
        "max_inflight_bytes": options.pipeline.budget_bytes,
    }
