"""Structured-concurrency helpers shared by the scan, the backends and the CLI."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

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


class Interrupted(BaseException):
    """Raised inside code that holds the event loop when SIGINT or SIGTERM arrives: a
    BaseException, like a cancellation, so that no ``except Exception`` swallows it."""


class Interruption:
    """Whether SIGINT or SIGTERM arrived, as a Python-level signal handler sees it.

    The event loop hears of a signal only once it gets control back; a Python-level
    handler runs in the main thread between two bytecodes, even inside our reader
    answering models inline (``OmBackend(inline=True)``), whose ``check`` then raises
    ``Interrupted`` within one bounded step of the reader. ``watch`` keeps the event
    loop's own handling (the wake-up file descriptor it reads) in place beside it."""

    def __init__(self) -> None:
        self.seen = False

    def check(self) -> None:
        if self.seen:
            raise Interrupted

    @contextmanager
    def watch(self) -> Iterator[None]:
        """While inside, SIGINT and SIGTERM set ``seen`` (and still reach the event loop:
        the signal module writes them to its wake-up descriptor whatever the handler)."""
        self.seen = False
        signals = (signal.SIGINT, signal.SIGTERM)
        before = {signum: signal.getsignal(signum) for signum in signals}

        def seen(signum: int, frame: FrameType | None) -> None:
            self.seen = True

        for signum in signals:
            signal.signal(signum, seen)
        try:
            yield
        finally:
            for signum, handler in before.items():
                signal.signal(signum, handler)


INTERRUPTION = Interruption()
