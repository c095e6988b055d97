"""The `om` backend: our own reader, reading only the byte ranges it needs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import anyio
import anyio.from_thread
import anyio.lowlevel

from ..concurrency import INTERRUPTION, Interrupted
from ..core import ModelFile
from ..core.source import ModelReader
from ..om.deadline import Deadline
from .answer import answer_entry
from .base import Answer, Loaded


class _NothingLoaded:
    """The reader reads its own byte ranges at query time: nothing is held between stages."""

    def close(self) -> None:
        pass


NOTHING = _NothingLoaded()
NETWORK_CHUNK = 4  # models per thread hop when reads wait on the network


def reader_deadline(timeout: float | None) -> Deadline:
    """For our reader in an anyio worker thread: ``timeout`` seconds for the model, and
    the scan's cancellation (Ctrl-C, SIGTERM) raised inside the reader's loops."""
    return Deadline(timeout, anyio.from_thread.check_cancelled)


def _inline(timeout: float | None) -> Deadline:
    """For our reader in the event loop's thread: ``timeout``, and a signal raised as
    ``Interrupted`` inside the reader's loops (see ``concurrency.Interruption``)."""
    return Deadline(timeout, INTERRUPTION.check)


class OmBackend:
    """Answers a chunk of models in one worker thread, so that the event loop stays free
    for signals, progress and the writes while a model takes long; one thread hop per
    chunk, not per model (a query costs ~60 µs, a hop about as much). The thread checks,
    through the reader's Deadline, both ``timeout`` per model (past it the model is
    recorded as ``timeout`` and the chunk goes on) and the scan's cancellation (the
    chunk stops within one bounded step of the reader). One slot: queries are
    CPU-bound Python, and more threads only add GIL contention — unless the models
    wait on the network (objects in a bucket): ``in_flight`` slots of small chunks then
    keep that many ranged reads going at once. A model whose query
    raises anything but the reader's own errors (a bug, MemoryError) is recorded as
    ``worker_crashed`` with the exception, as a crashed device worker would be.

    ``inline``: the chunk is answered in the event loop's own thread instead (a scan of
    local files, the reader on one core): a reader thread beside the loop's writes cost
    a full scan about a quarter of its time in GIL hand-offs. ``timeout`` still holds
    per model, and SIGINT/SIGTERM reach the reader through ``concurrency.INTERRUPTION``;
    for the chunk's few milliseconds nothing else runs, so a process that must keep
    renewing leases (a distributed worker) keeps the thread."""

    name = "om"
    query_slots = 1
    chunk = 64

    def __init__(
        self,
        reader: ModelReader,
        timeout: float | None = None,
        in_flight: int = 1,
        *,
        inline: bool = False,
    ) -> None:
        self.reader = reader
        self.timeout = timeout
        self.inline = inline and in_flight == 1
        if in_flight > 1:
            self.query_slots = in_flight
            self.chunk = NETWORK_CHUNK

    def memory_cost(self, entry: ModelFile) -> int:
        return 0

    async def load(self, entry: ModelFile) -> Loaded | Answer:
        return NOTHING

    async def query(self, entry: ModelFile, loaded: Loaded) -> Answer:
        (answer,) = await self.query_chunk([(entry, loaded)])
        return answer

    async def query_chunk(self, items: Sequence[tuple[ModelFile, Loaded]]) -> list[Answer]:
        entries = [entry for entry, _ in items]
        if not self.inline:
            return await anyio.to_thread.run_sync(self._answer_all, entries)
        try:
            answers = self._answer_each(entries, _inline)
        except Interrupted:
            # The loop has yet to hear of the signal; once it does, the scan's stop
            # cancels this task, and the chunk is abandoned as a thread's would be.
            await anyio.sleep_forever()
        await anyio.lowlevel.checkpoint()
        return answers

    def _answer_all(self, entries: list[ModelFile]) -> list[Answer]:
        """In an anyio worker thread."""
        return self._answer_each(entries, reader_deadline)

    def _answer_each(
        self, entries: list[ModelFile], deadline: Callable[[float | None], Deadline]
    ) -> list[Answer]:
        answers = []
        for entry in entries:
            result, seconds = answer_entry(entry, self.reader, deadline(self.timeout))
            answers.append(Answer(result, self.name, None, seconds))
        return answers
