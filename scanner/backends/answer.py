"""One model answered by our reader, wherever that runs: a worker thread, the event
loop's thread, a reader process. Nothing here imports anyio or the store, so that a
reader process (``om_worker``) starts on the reader alone."""

from __future__ import annotations

import time

from ..core import ModelFile, Status
from ..core.source import ModelReader, ReadFailed
from ..om import QueryResult
from ..om.deadline import NO_DEADLINE, Deadline


def answer_model(
    entry: ModelFile, reader: ModelReader, deadline: Deadline = NO_DEADLINE
) -> QueryResult:
    """Query the model through ``reader``, then make sure it is still the one listed: an
    answer for bytes that changed under us is recorded as ``changed``, never stored as
    a size."""
    from ..om.reader import query_source  # loaded with the first model (see scanner.om)

    try:
        model = reader.open(entry)
    except ReadFailed as exc:
        return QueryResult(ret=None, fault=exc.status, error=str(exc))
    try:
        result = query_source(model, inventory=True, deadline=deadline)
    finally:
        reason = model.close()
    if reason is not None:
        return QueryResult(
            ret=None, fault=Status.CHANGED, error=reason, bytes_read=result.bytes_read
        )
    return result


def answer_entry(
    entry: ModelFile, reader: ModelReader, deadline: Deadline
) -> tuple[QueryResult, float]:
    """One model's result and the seconds it took, in a thread or a worker process. A
    query that raises anything but the reader's own errors (a bug, MemoryError) costs
    its model (``worker_crashed``), never the scan."""
    start = time.perf_counter()
    try:
        result = answer_model(entry, reader, deadline)
    except Exception as exc:
        result = QueryResult(
            ret=None, fault=Status.WORKER_CRASHED, error=f"reader failed: {_describe(exc)}"
        )
    return result, time.perf_counter() - start


def _describe(exc: Exception) -> str:
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
