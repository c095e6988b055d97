"""How the pipeline hands outcomes to the store: in batches of ``batch_size``, or after
``batch_seconds`` while more is still coming, and on cancellation whatever was produced.
Files recorded without a query (empty placeholders) need no disk and no backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import anyio
import pytest

from scanner.backends.om import OmBackend
from scanner.core import ModelFile
from scanner.scan.pipeline import Outcome, PipelineOptions, Progress, WorkItem, run_pipeline
from scanner.sources.local import LocalFiles


def placeholder(index: int) -> WorkItem:
    return WorkItem(ModelFile("/repo", f"m{index}.om", status="empty", error="empty file"))


class Sink:
    """Records each batch written; ``arrived`` is set at every write."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.arrived = anyio.Event()

    async def __call__(self, batch: Sequence[Outcome]) -> None:
        await anyio.sleep(0)  # a real write awaits the database: a point of cancellation
        self.batches.append([outcome.entry.relpath for outcome in batch])
        self.arrived.set()
        self.arrived = anyio.Event()


async def one_at_a_time(count: int) -> AsyncIterator[list[WorkItem]]:
    for index in range(count):
        yield [placeholder(index)]


@pytest.mark.asyncio
async def test_outcomes_are_written_in_batches_of_batch_size() -> None:
    sink, progress = Sink(), Progress()
    options = PipelineOptions(batch_size=3, batch_seconds=3600)
    await run_pipeline(one_at_a_time(7), OmBackend(LocalFiles()), sink, options, progress)
    assert [len(batch) for batch in sink.batches] == [3, 3, 1]
    assert [name for batch in sink.batches for name in batch] == [f"m{i}.om" for i in range(7)]
    assert (progress.seen, progress.written, progress.statuses) == (7, 7, {"empty": 7})
    assert progress.walk_done


@pytest.mark.asyncio
async def test_a_partial_batch_is_written_after_batch_seconds_while_more_is_coming() -> None:
    sink, progress = Sink(), Progress()
    options = PipelineOptions(batch_size=1000, batch_seconds=0.01)

    async def waits_for_each_write() -> AsyncIterator[list[WorkItem]]:
        for index in range(3):
            arrived = sink.arrived
            yield [placeholder(index)]
            assert not progress.walk_done  # no total yet: the source is still open
            with anyio.fail_after(30):  # only the deadline can write it: the source is open
                await arrived.wait()

    await run_pipeline(waits_for_each_write(), OmBackend(LocalFiles()), sink, options, progress)
    assert sink.batches == [["m0.om"], ["m1.om"], ["m2.om"]]


@pytest.mark.asyncio
async def test_outcomes_produced_before_a_cancellation_are_still_written() -> None:
    """Cancelled while the first write is under way and four more outcomes wait in the
    stream: the write finishes and the four are written too."""
    sink, progress = Sink(), Progress()
    options = PipelineOptions(batch_size=1, batch_seconds=3600)
    writing, may_finish, source_done = anyio.Event(), anyio.Event(), anyio.Event()

    async def slow_first_write(batch: Sequence[Outcome]) -> None:
        if not writing.is_set():
            writing.set()
            await may_finish.wait()  # the cancellation comes meanwhile
        await sink(batch)

    async def then_waits_forever() -> AsyncIterator[list[WorkItem]]:
        for index in range(5):
            yield [placeholder(index)]
        source_done.set()  # the pipeline asked for more: all five were passed on
        await anyio.sleep_forever()
        yield []  # never reached

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(
                run_pipeline,
                then_waits_forever(),
                OmBackend(LocalFiles()),
                slow_first_write,
                options,
                progress,
            )
            with anyio.fail_after(30):
                await writing.wait()
                await source_done.wait()
            scope.cancel()
            may_finish.set()
    # The write in flight finished as it was (never cancelled halfway), then the rest.
    assert sink.batches == [["m0.om"], [f"m{i}.om" for i in range(1, 5)]]
    assert (progress.written, progress.statuses) == (5, {"empty": 5})
