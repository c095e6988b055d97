"""`--verify`: answer each model with the primary backend and with our reader, and
record where they disagree (the answer stored is the primary's)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import anyio

from ..core import ModelFile
from ..core.source import ModelReader
from .answer import answer_model
from .base import Answer, Backend, Loaded, query_each
from .om import reader_deadline


def _key(answer: Answer) -> tuple[int | None, int, int]:
    result = answer.result
    return result.ret, result.work_size, result.weight_size


class VerifyingBackend:
    def __init__(self, primary: Backend, reader: ModelReader, timeout: float | None = None) -> None:
        self.primary = primary
        self.reader = reader  # where our reader reads the model, as the primary does
        self.timeout = timeout  # for our reader's answer, as for the primary's
        self.name = f"{primary.name}+verify"
        self.query_slots = primary.query_slots
        self.chunk = primary.chunk

    def memory_cost(self, entry: ModelFile) -> int:
        return self.primary.memory_cost(entry)

    async def load(self, entry: ModelFile) -> Loaded | Answer:
        return await self.primary.load(entry)

    async def query_chunk(self, items: Sequence[tuple[ModelFile, Loaded]]) -> list[Answer]:
        return await query_each(self, items)

    async def query(self, entry: ModelFile, loaded: Loaded) -> Answer:
        answer = await self.primary.query(entry, loaded)
        start = time.perf_counter()
        reference = await anyio.to_thread.run_sync(
            answer_model, entry, self.reader, reader_deadline(self.timeout)
        )
        mine = Answer(reference, "om", None, time.perf_counter() - start)
        if answer.result.ret is None or reference.ret is None or _key(answer) == _key(mine):
            return answer
        disagreement = (
            f"verify: {answer.backend} says ret={answer.result.ret} work={answer.result.work_size}"
            f" weight={answer.result.weight_size}; om says ret={reference.ret}"
            f" work={reference.work_size} weight={reference.weight_size}"
        )
        return replace(answer, disagreement=disagreement)
