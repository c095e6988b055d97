"""The `om` backend: our own reader, in threads, reading only the ranges it needs."""

from __future__ import annotations

import os
import time
from functools import partial

import anyio

from ..om import QueryResult, query_path
from ..scan.walk import FileEntry
from .base import Answer, Loaded, changed_since_walk


class _NothingLoaded:
    """The reader reads its own byte ranges at query time: nothing is held between stages."""

    def close(self) -> None:
        pass


NOTHING = _NothingLoaded()


def answer_file(entry: FileEntry) -> QueryResult:
    """Query the file, then make sure it is still the file the walk saw: an answer for
    bytes that changed under us is recorded as ``changed``, never stored as a size."""
    result = query_path(entry.path, inventory=True)
    try:
        info = os.stat(entry.path)
    except OSError as exc:
        return QueryResult(
            ret=None, fault="changed", error=f"file gone while being read: {exc.strerror}"
        )
    reason = changed_since_walk(entry, info.st_size, info.st_mtime_ns, info.st_ino)
    if reason is not None:
        return QueryResult(ret=None, fault="changed", error=reason, bytes_read=result.bytes_read)
    return result


class OmBackend:
    name = "om"

    def __init__(self, threads: int = 4) -> None:
        self.query_slots = threads
        self._limiter = anyio.CapacityLimiter(threads)

    def memory_cost(self, entry: FileEntry) -> int:
        return 0

    async def load(self, entry: FileEntry) -> Loaded | Answer:
        return NOTHING

    async def query(self, entry: FileEntry, loaded: Loaded) -> Answer:
        start = time.perf_counter()
        result = await anyio.to_thread.run_sync(partial(answer_file, entry), limiter=self._limiter)
        return Answer(result, self.name, None, time.perf_counter() - start)
