"""A scan shared by many hosts through the PostgreSQL work queue.

The coordinator walks the roots exactly as a local scan does and stores what needs no
query (unchanged files carried, placeholders recorded); the files to query go to the
queue. Workers on every host run the same pipeline as a local scan, with the queue as
their source and the store as their sink. Only where items come from and go to differs.

Coordinator and workers hold what they do under leases they renew (the walk, the
claimed items); one that cannot renew in time gives up before its lease can run out,
and whatever it still sends afterwards is fenced off by the queue (see ``store.queue``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TypeVar

import anyio

from ..backends.base import Backend
from ..core import NOT_FAILURES, ModelFile, Status
from ..objstore import ObjectStoreError, is_object_url
from ..sources.bucket import ObjectFiles, ObjectSource
from ..sources.local import LocalFiles, Refused
from ..sources.mixed import AnyFiles
from ..store import ResultItem, Store, StoreError, open_store
from ..store.errors import ScanClosed
from ..store.queue import MAX_EXPIRED, Claim, FencedAnswer, WorkQueue
from .lifecycle import ScanSummary, scan_lifecycle, until_stopped
from .local import (
    Incremental,
    ScanOptions,
    describe,
    repository_name,
    result_item,
    store_sink,
)
from .pipeline import Outcome, PipelineOptions, Progress, WorkItem, run_pipeline, split_batch

ENQUEUE_BATCH = 2000
T = TypeVar("T")


class LeaseLost(StoreError):
    """The database did not confirm a lease in time: what it protected may be another's."""


async def keep_alive(renew: Callable[[], Awaitable[None]], lease: float, what: str) -> None:
    """Renew a lease every third of it, until cancelled. A renewal must be confirmed
    within two thirds of the lease after the previous one began (after a pause of this
    process, within a third of it): otherwise the lease may run out while we still act
    on it, and ``LeaseLost`` stops us first. Errors are retried until then."""
    renewed = time.monotonic()
    while True:
        await anyio.sleep(max(0.0, renewed + lease / 3 - time.monotonic()))
        began = time.monotonic()
        give_up = max(renewed + 2 * lease / 3, began + lease / 3)
        while True:
            try:
                with anyio.fail_after(max(0.0, give_up - time.monotonic())):
                    await renew()
                break
            except ScanClosed:
                raise
            except (StoreError, TimeoutError) as exc:
                if time.monotonic() >= give_up - lease / 30:
                    reason = str(exc) or "no answer from the database in time"
                    raise LeaseLost(
                        f"{what}: could not renew its lease in time ({reason}); giving up"
                    ) from None
                await anyio.sleep(lease / 30)
        renewed = began


def open_leased_store(url: str | None, lease_seconds: float) -> AbstractAsyncContextManager[Store]:
    """The store, as a holder of leases opens it: every statement is answered within a
    third of the lease (a frozen link is noticed while the lease still holds), and the
    server ends a transaction left idle (its process paused) after a whole lease."""
    return open_store(
        url, statement_timeout=lease_seconds / 3, idle_transaction_timeout=lease_seconds
    )


# --- the coordinator ------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedFile(ModelFile):
    """A file as the queue handed it out: which item, of which scan, and the path it
    resolved to when claimed (what the backend reads: no link left to follow)."""

    item_id: int = 0
    scan_id: int = 0
    repository_id: int = 0
    resolved: str = ""

    @property
    def path(self) -> str:
        return self.resolved or os.path.join(self.root, self.relpath)


async def enqueue_scan(
    store: Store,
    options: ScanOptions,
    *,
    lease_seconds: float = 30.0,
    stop: anyio.Event | None = None,
    objects: ObjectSource | None = None,
) -> ScanSummary:
    """Open a distributed scan of ``options.roots`` (the bucket roots among them listed
    by ``objects``): walk, carry what is unchanged, queue the rest for workers.
    The scan stays ``running`` until they drain it.
    The walk renews its lease on the scan; a walk silent for ``lease_seconds`` is taken
    for dead by the workers, who mark the scan interrupted."""
    queue = WorkQueue(store, lease_seconds)
    roots = [repository_name(root) for root in options.roots]
    async with scan_lifecycle(store) as run:
        await queue.close_finished()  # a drained scan no worker closed yet overlaps nothing
        await queue.refuse_overlap(roots)
        source = await Incremental.plan(store, options, objects, walk_in_thread=True)
        summary = await run.open(
            roots,
            backend="distributed",
            devices=[],
            options=describe(options),
            repositories=source.repositories,
        )
        scan_id = summary.scan_id
        await queue.open_scan(scan_id)
        heartbeat = partial(
            keep_alive,
            lambda: queue.coordinator_heartbeat(scan_id),
            lease_seconds,
            f"the walk of scan {scan_id}",
        )
        async with run.until_stopped(stop, heartbeat) as scope:
            await _enqueue(store, queue, source, summary)
        if not scope.cancelled_caught:  # else interrupted
            # The workers close it (a scan they closed meanwhile, taking this walk for
            # dead, stays so); here only if nothing needed a query.
            summary.status = "running"
            run.hand_over()
            if scan_id in await queue.close_finished():
                summary.status = "completed"
    return summary


async def _enqueue(
    store: Store, queue: WorkQueue, source: Incremental, summary: ScanSummary
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


# --- workers --------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerOptions:
    host: str = field(default_factory=socket.gethostname)
    lease_seconds: float = 30.0
    claim_size: int = 512  # files held at once, at most
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
    stored: dict[str, int] = field(default_factory=dict)  # answers stored, by status
    late: int = 0  # answers dropped: their claim had passed to another, or the scan ended
    handed_back: int = 0  # files this host could not read, passed to other hosts
    scans_completed: list[int] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.stored.items() if status not in NOT_FAILURES)

    def to_dict(self) -> dict[str, object]:
        return {
            "worker_id": self.worker_id,
            "host": self.host,
            "seconds": round(self.seconds, 3),
            "files_done": sum(self.stored.values()),
            "files_failed": self.failed,
            "files_late": self.late,
            "files_handed_back": self.handed_back,
            "files_queried": self.progress.queried,
            "bytes_read": self.progress.bytes_read,
            "statuses": self.stored,
            "scans_completed": self.scans_completed,
        }


class Holdings:
    """The items this worker has claimed and not yet stored or handed back, each with
    the token of its latest claim. ``--claim N`` bounds them: the source claims again
    only when half of them are done, and only as many as there is room for."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.refill = (limit + 1) // 2  # also the writer's batch: a batch frees a refill
        self.tokens: dict[int, int] = {}
        self._freed = anyio.Event()

    @property
    def room(self) -> int:
        return self.limit - len(self.tokens)

    async def wait_for_room(self) -> None:
        while self.room < self.refill:
            self._freed = anyio.Event()
            await self._freed.wait()

    def take(self, claims: Sequence[Claim]) -> list[Claim]:
        """Hold the claims; those of items already on their way through the pipeline
        (their lease ran out and this worker claimed them again) only get the newer
        token, so that their answer is stored under it instead of being done twice."""
        fresh = [c for c in claims if c.item_id not in self.tokens]
        self.tokens.update((c.item_id, c.token) for c in claims)
        return fresh

    def release(self, items: Sequence[int]) -> None:
        for item in items:
            self.tokens.pop(item, None)
        self._freed.set()


async def run_worker(
    store: Store,
    backend: Backend,
    options: WorkerOptions,
    *,
    devices: Sequence[int] = (),
    progress: Progress | None = None,
    stop: anyio.Event | None = None,
    objects: ObjectFiles | None = None,
) -> WorkerSummary:
    """Take work from the queue until ``stop`` is set (or, with ``exit_when_idle``, until
    no work is left), querying with ``backend`` and storing results as a local scan does;
    objects in buckets are found and read through ``objects``.
    Leases are renewed meanwhile; on the way out those still held go back to the queue."""
    queue = WorkQueue(store, options.lease_seconds)
    started = time.monotonic()
    worker_id = await queue.register(options.host, backend.name, devices)
    summary = WorkerSummary(worker_id, options.host, 0.0, progress or Progress())
    holdings = Holdings(options.claim_size)
    files = AnyFiles(LocalFiles(), objects)
    source = QueueSource(queue, worker_id, options, summary, holdings, files)
    pipeline = replace(options.pipeline, batch_size=holdings.refill)
    heartbeat = partial(
        keep_alive,
        lambda: queue.heartbeat(worker_id, list(holdings.tokens)),
        options.lease_seconds,
        f"worker {worker_id}",
    )
    try:
        async with until_stopped(stop, heartbeat):
            await run_pipeline(source.__aiter__(), backend, source.sink, pipeline, summary.progress)
    except BaseException:
        # Hand back what is held if the database answers in time; the error that
        # stopped the worker is the one to report.
        with (
            anyio.CancelScope(shield=True),
            anyio.move_on_after(options.lease_seconds / 3),
            contextlib.suppress(StoreError),
        ):
            await queue.stop(worker_id)
        raise
    else:
        with anyio.CancelScope(shield=True):
            await queue.stop(worker_id)
    finally:
        summary.seconds = time.monotonic() - started
    return summary


async def once_more(step: Callable[[], Awaitable[T]]) -> T:
    """A worker's database step, tried again once (on a fresh connection) if it failed:
    a session the server ended — the worker was paused inside a transaction for longer
    than its lease — must not end the worker. Every step may run twice: answers and
    hand-backs are fenced, a claim whose answer was lost is not renewed and runs out."""
    try:
        return await step()
    except ScanClosed:
        raise
    except StoreError:
        return await step()


class QueueSource:
    """Work items claimed from the queue as the pipeline has room for them, and the
    sink that stores their answers under the claims' tokens."""

    def __init__(
        self,
        queue: WorkQueue,
        worker_id: int,
        options: WorkerOptions,
        summary: WorkerSummary,
        holdings: Holdings,
        files: AnyFiles,
    ) -> None:
        self.queue = queue
        self.files = files  # where claimed files are found, by the walk's rules
        self.worker_id = worker_id
        self.options = options
        self.summary = summary
        self.holdings = holdings
        self.host = options.host

    async def __aiter__(self) -> AsyncIterator[list[WorkItem]]:
        while True:
            await self.holdings.wait_for_room()
            room = self.holdings.room
            claims = await once_more(partial(self.queue.claim, self.worker_id, self.host, room))
            if not claims:
                self.summary.scans_completed += await once_more(self.queue.close_finished)
                if self.options.exit_when_idle and not await once_more(self.queue.pending):
                    # Our last done marks may have landed after the check above.
                    self.summary.scans_completed += await once_more(self.queue.close_finished)
                    return
                await anyio.sleep(self.options.poll_seconds)
                continue
            fresh = self.holdings.take(claims)
            entries: list[ModelFile] = [
                await self._unreadable_everywhere(c) for c in fresh if c.missed_here
            ]
            here = [c for c in fresh if not c.missed_here]
            local = [c for c in here if not is_object_url(c.root)]
            found, misses = await anyio.to_thread.run_sync(_look_up, self.files.local, local)
            if len(local) < len(here):
                objects = [c for c in here if is_object_url(c.root)]
                in_buckets, missed = await _look_up_objects(self.files.objects, objects)
                found += in_buckets
                misses += missed
            await self._hand_back(misses)
            entries += found
            if entries:
                yield [WorkItem(entry) for entry in entries]

    async def sink(self, batch: Sequence[Outcome]) -> None:
        """Store the answers whose claims still hold; hand back the files this host
        could not read after all (open or read failed in the backend)."""
        answers: dict[int, tuple[QueuedFile, ResultItem]] = {}
        misses: list[tuple[int, str]] = []
        for outcome in batch:
            entry, answer = outcome.entry, outcome.answer
            assert isinstance(entry, QueuedFile) and answer is not None  # nothing is carried
            if answer.backend != "walk" and answer.result.status == Status.UNREADABLE:
                misses.append((entry.item_id, answer.result.error or "cannot read"))
            else:
                answers[entry.item_id] = (entry, result_item(entry, answer))
        await self._hand_back(misses)
        late = 0
        while answers:
            tokens = {item: self.holdings.tokens[item] for item in answers}
            fenced = [
                FencedAnswer(item, tokens[item], entry.scan_id, entry.repository_id, result)
                for item, (entry, result) in answers.items()
            ]
            kept = await once_more(partial(self.queue.store_answers, self.worker_id, fenced))
            for item in kept:
                status = answers.pop(item)[1].result.status
                self.summary.stored[status] = self.summary.stored.get(status, 0) + 1
            # Claimed again by this worker meanwhile: stored under the newer token.
            again = {i: a for i, a in answers.items() if self.holdings.tokens[i] != tokens[i]}
            late += len(answers) - len(again)
            self.holdings.release([i for i in answers if i not in again] + list(kept))
            answers = again
        if late:
            self.summary.late += late
            await once_more(partial(self.queue.note_late, self.worker_id, late))

    async def _hand_back(self, misses: Sequence[tuple[int, str]]) -> None:
        """(item, why) files this host cannot read go back for other hosts."""
        if not misses:
            return
        missed = [(item, self.holdings.tokens[item], error) for item, error in misses]
        await once_more(partial(self.queue.missed, self.host, missed))
        self.holdings.release([item for item, _ in misses])
        self.summary.handed_back += len(misses)

    async def _unreadable_everywhere(self, claim: Claim) -> QueuedFile:
        """A file no live host could read, recorded naming each host: ``changed`` when
        none found it at all (deleted since the walk), else ``unreadable``."""
        hosts = await once_more(partial(self.queue.misses_of, claim.item_id))
        seen = "; ".join(f"{host}: {error}" for host, error in hosts)
        if all(error.startswith("ENOENT") for _, error in hosts):
            return _queued(claim, status=Status.CHANGED, error=f"file gone since the walk ({seen})")
        return _queued(
            claim, status=Status.UNREADABLE, error=f"not readable from any host ({seen})"
        )


def _queued(
    claim: Claim,
    found: ModelFile | None = None,
    status: Status | None = None,
    error: str | None = None,
    resolved: str = "",
) -> QueuedFile:
    return QueuedFile(
        claim.root,
        claim.relpath,
        found.size if found else 0,
        found.mtime_ns if found else 0,
        found.inode if found else 0,
        found.device if found else 0,
        status=status,
        error=error,
        token=found.token if found else None,
        item_id=claim.item_id,
        scan_id=claim.scan_id,
        repository_id=claim.repository_id,
        resolved=resolved,
    )


async def _look_up_objects(
    files: ObjectFiles | None, claims: Sequence[Claim]
) -> tuple[list[ModelFile], list[tuple[int, str]]]:
    """Find each claimed object in its bucket (a HEAD request each, at once), as
    :func:`_look_up` finds files: one this host cannot reach is a miss for other hosts,
    one gone is ``ENOENT`` (``changed`` once no host finds it)."""
    entries: list[ModelFile] = []
    misses: list[tuple[int, str]] = []

    async def find(claim: Claim) -> None:
        if claim.expired >= MAX_EXPIRED:
            error = f"given up: {claim.expired} workers lost their lease on it (crashed or hung)"
            entries.append(_queued(claim, status=Status.ABANDONED, error=error))
            return
        if files is None:
            misses.append((claim.item_id, "no bucket is open on this host"))
            return
        try:
            found = await files.find(claim.root, claim.relpath)
        except ObjectStoreError as exc:
            code = "ENOENT" if exc.status == 404 else "error"
            misses.append((claim.item_id, f"{code}: {exc.reason}"))
            return
        entry = await anyio.to_thread.run_sync(files.classify, _queued(claim, found))
        if entry.status == Status.UNREADABLE:
            misses.append((claim.item_id, entry.error or "cannot read"))
        else:
            entries.append(entry)

    async with anyio.create_task_group() as group:
        for claim in claims:
            group.start_soon(find, claim)
    return entries, misses


def _look_up(
    files: LocalFiles, claims: Sequence[Claim]
) -> tuple[list[ModelFile], list[tuple[int, str]]]:
    """Find each claimed file on this host as the walk allows (in a thread: a shared
    mount may be slow). A file this host cannot reach or read is a miss, for other hosts
    to try (the backend's reads hand back the same way); one the walk's rules forbid is
    recorded as ``unreadable``, saying why."""
    entries: list[ModelFile] = []
    misses: list[tuple[int, str]] = []
    for claim in claims:
        if claim.expired >= MAX_EXPIRED:
            error = f"given up: {claim.expired} workers lost their lease on it (crashed or hung)"
            entries.append(_queued(claim, status=Status.ABANDONED, error=error))
            continue
        try:
            found, resolved = files.resolve(claim.root, claim.relpath, claim.follow_outside)
        except Refused as refused:
            entries.append(_queued(claim, status=Status.UNREADABLE, error=f"refused: {refused}"))
            continue
        except OSError as exc:
            error = f"{errno.errorcode.get(exc.errno or 0, 'error')}: {exc.strerror}"
            misses.append((claim.item_id, error))
            continue
        entry = files.classify(_queued(claim, found, resolved=resolved))
        if entry.status == Status.UNREADABLE:  # a small file that classify could not read here
            misses.append((claim.item_id, entry.error or "cannot read"))
        else:
            entries.append(entry)
    return entries, misses
