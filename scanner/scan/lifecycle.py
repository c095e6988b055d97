"""The life of a scan, written once for every kind of scan: the lock, the scan row
opened and closed (the close shielded, so Ctrl-C or a failure still leaves the row with
its final status and counts), and the stop: SIGINT/SIGTERM set an event, the event
cancels the work, and the work's cancellation is told apart from its failure.

The local scan and the distributed walk use all of it; a worker, which holds no lock
and opens no scan row, runs its pipeline under the same stop (``until_stopped``)."""

from __future__ import annotations

import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import anyio

from ..concurrency import INTERRUPTION, first_error
from ..store import Store
from ..store.counts import scan_counts
from ..store.lock import ScanLock, scan_lock
from .pipeline import Progress

T = TypeVar("T")
Task = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class ScanSummary:
    """What a scan records as it goes (its handle while it runs), and its counts."""

    scan_id: int
    status: str  # completed, interrupted or failed (running: handed to the workers)
    seconds: float
    progress: Progress
    peak_budget_bytes: int = 0
    removed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return self.progress.failed

    def to_dict(self) -> dict[str, Any]:
        progress = self.progress
        return scan_counts(
            self.scan_id,
            self.status,
            seconds=self.seconds,
            seen=progress.seen,
            queried=progress.queried,
            unchanged=progress.carried,
            removed=self.removed,
            bytes_read=progress.bytes_read,
            statuses=progress.statuses,
            peak_budget_bytes=self.peak_budget_bytes,
        )


class ScanRun:
    """A scan inside its lifecycle: holds the lock, opens the row once, and says
    whether the lifecycle closes the row on the way out."""

    def __init__(self, store: Store, lock: ScanLock) -> None:
        self.store = store
        self.lock = lock
        self.summary: ScanSummary | None = None
        self.handed_over = False

    async def open(
        self,
        roots: Sequence[str],
        *,
        backend: str,
        devices: Sequence[int],
        options: dict[str, Any],
        repositories: Sequence[str],
        progress: Progress | None = None,
    ) -> ScanSummary:
        """Open the scan row. Until the body sets another status, the scan failed."""
        scan_id = await self.store.start_scan(
            roots,
            host=socket.gethostname(),
            backend=backend,
            devices=list(devices),
            options=options,
            repositories=repositories,
        )
        self.summary = ScanSummary(scan_id, "failed", 0.0, progress or Progress())
        return self.summary

    def hand_over(self) -> None:
        """The row is closed by others now (the workers draining a distributed scan)."""
        self.handed_over = True

    @asynccontextmanager
    async def until_stopped(
        self, stop: anyio.Event | None, *beside: Task
    ) -> AsyncIterator[anyio.CancelScope]:
        """``until_stopped``, with the lock watched too (a lost lock stops the scan as
        an error); a scan the stop ended is ``interrupted``."""
        async with until_stopped(stop, self.lock.watch, *beside) as scope:
            yield scope
        if scope.cancelled_caught and self.summary is not None:
            self.summary.status = "interrupted"


@asynccontextmanager
async def scan_lifecycle(store: Store) -> AsyncIterator[ScanRun]:
    """One scan at a time per database: take the scan lock, close the scans that died
    without closing (the lock proves them dead), let the body open the row and work,
    then close the row with the status the body set, shielded from cancellation.
    The time counted starts before the lock, as a user waits for it."""
    started = time.monotonic()
    async with scan_lock(store) as lock:
        await store.close_abandoned_scans()
        run = ScanRun(store, lock)
        try:
            yield run
        finally:
            if run.summary is not None:
                run.summary.seconds = time.monotonic() - started
                if not run.handed_over:
                    with anyio.CancelScope(shield=True):
                        await _close_scan(store, run.summary)


async def _close_scan(store: Store, summary: ScanSummary) -> None:
    """Close the scan row. When the scan failed because the store did, closing it may
    fail too: the first error is the one worth reporting."""
    try:
        await store.finish_scan(summary.scan_id, summary.status, summary.to_dict())
    except Exception:
        if summary.status != "failed":
            raise


@asynccontextmanager
async def until_stopped(
    stop: anyio.Event | None, *beside: Task
) -> AsyncIterator[anyio.CancelScope]:
    """Run the body with the ``beside`` tasks (watchers, heartbeats, a progress line)
    until it ends; setting ``stop`` cancels it. The scope yielded tells afterwards
    whether the body was stopped (``cancelled_caught``) rather than finished. A task
    beside that fails stops the body, and its error is the one raised."""
    with anyio.CancelScope() as scope, first_error():
        async with anyio.create_task_group() as group:
            if stop is not None:
                group.start_soon(_cancel_when_set, stop, scope)
            for task in beside:
                group.start_soon(task)
            yield scope
            group.cancel_scope.cancel()


async def _cancel_when_set(stop: anyio.Event, scope: anyio.CancelScope) -> None:
    await stop.wait()
    scope.cancel()


async def until_signalled(job: Callable[[anyio.Event], Awaitable[T]], *beside: Task) -> T:
    """``job(stop)``, with SIGINT and SIGTERM setting ``stop`` so that the job winds down
    and writes what it has; the ``beside`` tasks (a progress line) run until it returns."""
    stop = anyio.Event()
    async with until_stopped(None, partial(stop_on_signal, stop), *beside):
        result = await job(stop)
    return result


async def stop_on_signal(stop: anyio.Event) -> None:
    """Set ``stop`` on the first SIGINT or SIGTERM, saying so on stderr."""
    # Closing the receiver puts Python's default SIGINT handler back, whose
    # KeyboardInterrupt would stop the event loop mid-cleanup: restore the one before
    # (the event loop's, which cancels the job and lets it clean up).
    previous = signal.getsignal(signal.SIGINT)
    try:
        with (
            anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals,
            INTERRUPTION.watch(),  # for a reader that holds the loop (see concurrency)
        ):
            async for signum in signals:
                name = signal.Signals(signum).name
                print(f"omscan: {name}: finishing what is done", file=sys.stderr, flush=True)
                stop.set()
                return
    finally:
        signal.signal(signal.SIGINT, previous)
