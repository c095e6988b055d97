"""Answer a model in a bucket by ranged reads: a few KiB whatever its weights weigh.

The om reader is synchronous and reads through a ``ByteSource``. Here it runs on the
bytes fetched so far; the first read it needs beyond them stops it (:class:`_Missing`),
that range is fetched (with what will surely follow), and the reader runs again from the
start on the larger cache. A run costs tens of microseconds against a network round
trip of a millisecond or more, so many objects are answered at once from one thread and
one event loop, with no thread per object in flight (scripts/bench_s3.py compares).

What is fetched: the first 4 KiB (header, partition tables, often MODEL_DEF; a ZIP's first
entry), then exactly the missing part of each range the reader asks for, joined to the
bytes already held. A small read (a table's count, a ZIP entry's local header) takes the
next 4 KiB with it; in a ZIP, a read in the last 8 KiB takes all of them, so an OM2 archive's end
record, central directory and last entries (``model_meta.json``) come in one suffix GET.
"""

from __future__ import annotations

from ..om.query import ZIP_MAGIC
from ..om.reader import query_source
from ..om.result import QueryResult
from .bucket import Bucket
from .errors import ObjectChanged, ObjectStoreError
from .listing import ObjectInfo

HEAD_BYTES = 4096
SMALL_READ = 64
READ_AHEAD = 4096
TAIL_BYTES = 8192


class _Missing(Exception):
    """The reader asked for bytes not fetched yet. Not a ReaderError, so the reader lets
    it through to :func:`answer_object`."""

    def __init__(self, offset: int, length: int) -> None:
        super().__init__(offset, length)
        self.offset = offset
        self.length = length


class FetchedSource:
    """A ``ByteSource`` over the ranges of one object fetched so far; ``bytes_read`` is
    what was transferred, not what the reader looked at."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.bytes_read = 0
        self.spans: list[tuple[int, bytes]] = []  # sorted; touching spans are joined

    def read(self, offset: int, length: int) -> bytes:
        if length == 0:
            return b""
        for start, data in self.spans:
            if start <= offset and offset + length <= start + len(data):
                return data[offset - start : offset - start + length]
        raise _Missing(offset, length)

    def add(self, offset: int, data: bytes) -> None:
        """Hold ``data`` at ``offset``, joined with the spans it touches."""
        self.bytes_read += len(data)
        joined: list[tuple[int, bytes]] = []
        for start, span in sorted([*self.spans, (offset, data)], key=lambda item: item[0]):
            if joined and start <= joined[-1][0] + len(joined[-1][1]):
                first, held = joined[-1]
                joined[-1] = (first, held + span[first + len(held) - start :])
            else:
                joined.append((start, span))
        self.spans = joined

    def missing(self, offset: int, end: int) -> tuple[int, int]:
        """``offset``-``end`` less what is held at either side of it."""
        for start, span in self.spans:
            if start <= offset < start + len(span):
                offset = start + len(span)
            if offset < start < end:
                end = start
        return offset, max(end, offset)


def _is_zip(source: FetchedSource) -> bool:
    head = source.spans[0] if source.spans else (0, b"")
    return head[0] == 0 and head[1].startswith(ZIP_MAGIC)


def plan(source: FetchedSource, miss: _Missing) -> tuple[int, int]:
    """The range to fetch for a read that missed: see the module's docstring."""
    size = source.size
    start, end = miss.offset, miss.offset + miss.length
    if not source.spans:
        end = max(end, HEAD_BYTES)
    elif miss.length < SMALL_READ:
        end = max(end, start + READ_AHEAD)
    if end > size - TAIL_BYTES and _is_zip(source):  # read backwards from its end record
        start, end = min(start, max(size - TAIL_BYTES, 0)), size
    start, end = source.missing(start, min(end, size))
    return start, end


async def answer_object(bucket: Bucket, obj: ObjectInfo, *, inventory: bool = True) -> QueryResult:
    """Answer as `aclmdlQuerySizeFromMem` would for the object's bytes, as
    :func:`scanner.om.query_path` does for a file. A replaced object is ``changed``; one
    that cannot be read is ``unreadable`` with the reason (403, 404, timeout)."""
    source = FetchedSource(obj.size)
    try:
        while True:
            try:
                return query_source(source, inventory=inventory)
            except _Missing as miss:
                start, end = plan(source, miss)
                source.add(start, await bucket.read(obj, start, end))
    except ObjectChanged as exc:
        return QueryResult(
            ret=None, fault="changed", error=exc.reason, bytes_read=source.bytes_read
        )
    except ObjectStoreError as exc:
        return QueryResult(ret=None, error=exc.reason, bytes_read=source.bytes_read)
