"""The reader's two ways in: bytes in memory (the API's contract) or a file path.

Both return a :class:`QueryResult` whatever the model holds; a path that cannot be
read gives ``ret=None`` and the reason, a query past its deadline ``ret=None`` with
fault ``timeout``. Only :class:`ReaderError` subclasses are caught here, so a bug in the
reader still surfaces as a bug (and what a deadline's ``stop`` raises reaches its caller).
"""

from __future__ import annotations

import os

from ..core import Status
from ..core.source import ByteSource
from .deadline import NO_DEADLINE, Deadline
from .errors import FileAccessError, OmError, QueryTimeout
from .inventory import build_inventory
from .om2 import query_om2
from .query import check_size, is_om2, query_om
from .result import Inventory, QueryResult
from .source import BufferSource, FileSource


def query_source(
    source: ByteSource, *, inventory: bool = False, deadline: Deadline = NO_DEADLINE
) -> QueryResult:
    """Answer as `aclmdlQuerySizeFromMem` would for the bytes ``source`` holds."""
    fmt = "om"
    try:
        check_size(source)
        inv: Inventory | None = None
        if is_om2(source):
            fmt = "om2"
            sizes, inv = query_om2(source, deadline, inventory=inventory)
        else:
            layout, sizes = query_om(source, deadline)
            if inventory:
                inv = build_inventory(source, layout, sizes)
    except OmError as exc:
        return QueryResult(
            ret=int(exc.code), error=exc.reason, format=fmt, bytes_read=source.bytes_read
        )
    except FileAccessError as exc:
        return QueryResult(ret=None, error=str(exc), format=fmt, bytes_read=source.bytes_read)
    except QueryTimeout as exc:
        return QueryResult(
            ret=None, fault=Status.TIMEOUT, error=str(exc), format=fmt, bytes_read=source.bytes_read
        )
    return QueryResult(
        ret=0,
        work_size=sizes.work_size,
        weight_size=sizes.weight_size,
        dynamic_reason=sizes.dynamic_reason,
        format=fmt,
        bytes_read=source.bytes_read,
        inventory=inv,
    )


def query_bytes(
    data: bytes | bytearray | memoryview,
    *,
    inventory: bool = False,
    deadline: Deadline = NO_DEADLINE,
) -> QueryResult:
    return query_source(BufferSource(data), inventory=inventory, deadline=deadline)


def query_path(
    path: str | os.PathLike[str], *, inventory: bool = False, deadline: Deadline = NO_DEADLINE
) -> QueryResult:
    """Read only the byte ranges the answer needs; never the weights."""
    try:
        # O_NONBLOCK: opening a FIFO planted in a repository must not hang the scan.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        return QueryResult(ret=None, error=f"cannot open: {exc.strerror}")
    try:
        return query_source(FileSource(fd), inventory=inventory, deadline=deadline)
    except FileAccessError as exc:
        return QueryResult(ret=None, error=str(exc))
    finally:
        os.close(fd)
