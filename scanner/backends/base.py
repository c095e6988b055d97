"""What the scan asks of a query backend, whichever answers: our reader or pyACL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..om import QueryResult
from ..scan.walk import FileEntry


@dataclass(frozen=True)
class Answer:
    """A result and who gave it: backend name, device (None off-NPU), seconds taken,
    and with --verify, how our reader's answer differed."""

    result: QueryResult
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

    def memory_cost(self, entry: FileEntry) -> int:
        """Bytes ``load`` will hold in memory for this file (charged to the budget)."""
        ...

    async def load(self, entry: FileEntry) -> Loaded | Answer:
        """Bring what the query needs into memory, or the Answer when that failed."""
        ...

    async def query(self, entry: FileEntry, loaded: Loaded) -> Answer: ...


def changed_since_walk(entry: FileEntry, size: int, mtime_ns: int, inode: int) -> str | None:
    """Why the file on disk is no longer the one the walk saw, or None."""
    if inode != entry.inode:
        return "file replaced while being read"
    if size != entry.size:
        return f"file changed size while being read ({entry.size} -> {size} bytes)"
    if mtime_ns != entry.mtime_ns:
        return "file modified while being read"
    return None
