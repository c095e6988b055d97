"""What the scan asks of a query backend, whichever answers: our reader or pyACL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..core import ModelFile
from ..om import QueryResult
from ..om.flat import FlatResult


class BackendError(Exception):
    """The requested backend cannot run here (no pyACL, no device, device failed)."""


@dataclass(frozen=True)
class Answer:
    """A result and who gave it: backend name, device (None off-NPU), seconds taken,
    and with --verify, how our reader's answer differed. A reader process answers with
    the result already flat (``FlatResult``): the scan only stores it."""

    result: QueryResult | FlatResult
    backend: str
    device: int | None
    seconds: float
    disagreement: str | None = None


class Loaded(Protocol):
    """Model bytes held between the read and the query stages."""

    def close(self) -> None: ...


class Backend(Protocol):
    name: str
    query_slots: int  # queries that can run at once
    chunk: int  # models per hop between pipeline stages

    def memory_cost(self, entry: ModelFile) -> int:
        """Bytes ``load`` will hold in memory for this file (charged to the budget)."""
        ...

    async def load(self, entry: ModelFile) -> Loaded | Answer:
        """Bring what the query needs into memory, or the Answer when that failed."""
        ...

    async def query(self, entry: ModelFile, loaded: Loaded) -> Answer: ...

    async def query_chunk(self, items: Sequence[tuple[ModelFile, Loaded]]) -> list[Answer]:
        """The answers for a chunk of ``chunk`` models, in order (the om backend answers a
        chunk in one thread hop)."""
        ...


async def query_each(backend: Backend, items: Sequence[tuple[ModelFile, Loaded]]) -> list[Answer]:
    """``query_chunk`` for a backend that answers one model at a time."""
    return [await backend.query(entry, loaded) for entry, loaded in items]
