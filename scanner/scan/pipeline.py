"""The scan pipeline: source → read → query → write, joined by bounded streams.

Where work comes from (a walk, or a shared queue) and where results go (the store)
are parameters, so a local scan and a distributed worker run this same code.
Backpressure: every stream is bounded and reads wait on the byte budget, so a slow
query or a slow database stalls the walk instead of filling memory.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from anyio.streams.memory import MemoryObjectReceiveStream

from ..backends.base import Answer, Backend, Loaded
from ..concurrency import first_error
from ..core import NOT_FAILURES, ModelFile, Status
from ..om import QueryResult
from ..store import PreviousFile
from .budget import ByteBudget


@dataclass(frozen=True)
class WorkItem:
    entry: ModelFile
    # Unchanged since its last settled result: no read, no query, that result is carried.
    carried: PreviousFile | None = None


@dataclass(frozen=True)
class Outcome:
    entry: ModelFile
    answer: Answer | None  # None when carried forward
    carried: PreviousFile | None = None

    @property
    def status(self) -> str:
        if self.answer is not None:
            return self.answer.result.status
        assert self.carried is not None and self.carried.status is not None
        return self.carried.status


_Loaded = tuple[ModelFile, Loaded, int]  # a file, its bytes in memory, budget taken


Sink = Callable[[Sequence[Outcome]], Awaitable[None]]


@dataclass
class Progress:
    """Live counters, read by whoever displays progress."""

    seen: int = 0
    carried: int = 0
    queried: int = 0
    written: int = 0
    bytes_read: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    walk_done: bool = False  # from then on ``seen`` is the total, and an ETA exists

    def count(self, outcome: Outcome) -> None:
        if outcome.answer is None:
            self.carried += 1
        else:
            self.bytes_read += outcome.answer.result.bytes_read
        self.statuses[outcome.status] = self.statuses.get(outcome.status, 0) + 1

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status not in NOT_FAILURES)


@dataclass(frozen=True)
class PipelineOptions:
    budget_bytes: int = 1 << 30
    readers: int = 2
    batch_size: int = 500
    batch_seconds: float = 1.0
    stream_depth: int = 64


def skipped_answer(entry: ModelFile) -> Answer:
    """A file recorded without a query (LFS pointer, empty, unreadable)."""
    result = QueryResult(ret=None, error=entry.error, fault=entry.status or Status.UNREADABLE)
    return Answer(result, backend="walk", device=None, seconds=0.0)


def split_batch(batch: Sequence[WorkItem]) -> tuple[list[Outcome], list[WorkItem]]:
    """The items settled without a read (carried, or recorded as skipped), and those
    that need a query."""
    settled: list[Outcome] = []
    to_query: list[WorkItem] = []
    for item in batch:
        if item.carried is not None:
            settled.append(Outcome(item.entry, None, item.carried))
        elif item.entry.status is not None:
            settled.append(Outcome(item.entry, skipped_answer(item.entry)))
        else:
            to_query.append(item)
    return settled, to_query


async def run_pipeline(
    source: AsyncIterator[Sequence[WorkItem]],
    backend: Backend,
    sink: Sink,
    options: PipelineOptions,
    progress: Progress,
) -> ByteBudget:
    """Run every item of ``source`` through ``backend`` and hand outcomes to ``sink`` in
    batches. The source yields batches (a walk's, a claim's): each is passed on whole,
    so a source that pauses (an empty queue) never strands a partial chunk.
    On cancellation, outcomes already produced are still written (shielded)."""
    budget = ByteBudget(options.budget_bytes)
    depth = options.stream_depth
    # Items travel in chunks of ``backend.chunk``: one stream hop per chunk, not per model.
    to_read_tx, to_read_rx = anyio.create_memory_object_stream[list[WorkItem]](depth)
    loaded_tx, loaded_rx = anyio.create_memory_object_stream[list[_Loaded]](depth)
    done_tx, done_rx = anyio.create_memory_object_stream[list[Outcome]](depth)

    async def feed(direct: ObjectSendStream[list[Outcome]]) -> None:
        async with to_read_tx, direct:
            async for batch in source:
                progress.seen += len(batch)
                settled, to_read = split_batch(batch)
                for start in range(0, len(to_read), backend.chunk):
                    await to_read_tx.send(to_read[start : start + backend.chunk])
                if settled:
                    await direct.send(settled)
            progress.walk_done = True

    async def read(
        inbox: ObjectReceiveStream[list[WorkItem]],
        outbox: ObjectSendStream[list[_Loaded]],
        results: ObjectSendStream[list[Outcome]],
    ) -> None:
        async with inbox, outbox, results:
            async for chunk in inbox:
                loaded_chunk: list[_Loaded] = []
                failed: list[Outcome] = []
                for item in chunk:
                    taken = await budget.acquire(backend.memory_cost(item.entry))
                    try:
                        loaded = await backend.load(item.entry)
                    except BaseException:
                        await budget.release(taken)
                        raise
                    if isinstance(loaded, Answer):  # the read itself failed: nothing to query
                        await budget.release(taken)
                        failed.append(Outcome(item.entry, loaded))
                    else:
                        loaded_chunk.append((item.entry, loaded, taken))
                if failed:
                    await results.send(failed)
                if loaded_chunk:
                    await outbox.send(loaded_chunk)

    async def query(
        inbox: ObjectReceiveStream[list[_Loaded]],
        results: ObjectSendStream[list[Outcome]],
    ) -> None:
        async with inbox, results:
            async for chunk in inbox:
                try:
                    answers = await backend.query_chunk([(entry, got) for entry, got, _ in chunk])
                finally:
                    for _, loaded, _ in chunk:
                        loaded.close()
                    for _, _, taken in chunk:
                        await budget.release(taken)
                progress.queried += len(chunk)
                await results.send(
                    [Outcome(item[0], answer) for item, answer in zip(chunk, answers, strict=True)]
                )

    with first_error():
        async with anyio.create_task_group() as group:
            group.start_soon(feed, done_tx.clone())
            for _ in range(options.readers):
                group.start_soon(read, to_read_rx.clone(), loaded_tx.clone(), done_tx.clone())
            for _ in range(backend.query_slots):
                group.start_soon(query, loaded_rx.clone(), done_tx.clone())
            for stream in (to_read_rx, loaded_tx, loaded_rx, done_tx):
                await stream.aclose()
            group.start_soon(_write, done_rx, sink, options, progress)
    return budget


async def _write(
    inbox: MemoryObjectReceiveStream[list[Outcome]],
    sink: Sink,
    options: PipelineOptions,
    progress: Progress,
) -> None:
    """Batch outcomes into the sink: one write per ``batch_size`` items or
    ``batch_seconds``, whichever comes first; flush what is left even when cancelled."""
    pending: list[Outcome] = []
    deadline = math.inf

    async def flush() -> None:
        nonlocal deadline
        if pending:
            batch = list(pending)
            # A batch write is never cancelled halfway: cancelling inside the database
            # driver could leave its connection wedged (seen with aiosqlite), and a
            # half-sent batch helps nobody. Ctrl-C waits for the commit in flight.
            with anyio.CancelScope(shield=True):
                await sink(batch)
            pending.clear()
            progress.written += len(batch)
        deadline = math.inf

    async with inbox:
        try:
            while True:
                timeout = max(0.0, deadline - time.monotonic())
                with anyio.move_on_after(timeout):
                    try:
                        received = await inbox.receive()
                    except anyio.EndOfStream:
                        break
                    for outcome in received:
                        progress.count(outcome)
                    pending.extend(received)
                    if deadline == math.inf:
                        deadline = time.monotonic() + options.batch_seconds
                    if len(pending) < options.batch_size:
                        continue
                await flush()
        finally:
            with anyio.CancelScope(shield=True):
                while True:  # outcomes already produced are not thrown away
                    try:
                        received = inbox.receive_nowait()
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                    for outcome in received:
                        progress.count(outcome)
                    pending.extend(received)
                await flush()
