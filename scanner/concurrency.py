"""Structured-concurrency helpers shared by the scan, the backends and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio


@contextmanager
def first_error() -> Iterator[None]:
    """Task groups raise exception groups; callers want the error that stopped the
    work (a StoreError, say), not a wrapper. Cancellation passes through untouched."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = list(_leaves(group))
        errors = [e for e in leaves if not isinstance(e, anyio.get_cancelled_exc_class())]
        raise (errors or leaves)[0] from group


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc
