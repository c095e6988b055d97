"""When a query must give up: the caller's deadline and its abort flag.

A query runs in one thread and a thread cannot be interrupted from outside, so the
reader checks its :class:`Deadline` in every loop that can run long (the partition-table
walk, the ZIP directory, the inflate loop, before each JSON parse). A check costs a
clock read; between two checks the reader does a bounded amount of work (one table, one
64 KiB chunk, one JSON entry no larger than the OM2 limits).
"""

from __future__ import annotations

import threading
import time

from .errors import QueryAborted, QueryTimeout


class Deadline:
    """``seconds`` from now (None: no time limit), or as soon as ``abort`` is set."""

    def __init__(self, seconds: float | None = None, abort: threading.Event | None = None) -> None:
        self.seconds = seconds
        self._until = None if seconds is None else time.monotonic() + seconds
        self._abort = abort

    def check(self) -> None:
        """Raise QueryAborted once the abort flag is set, QueryTimeout once time is up."""
        if self._abort is not None and self._abort.is_set():
            raise QueryAborted("query stopped: the scan is ending")
        if self._until is not None and time.monotonic() > self._until:
            raise QueryTimeout(f"no answer within {self.seconds:g} s")


NO_DEADLINE = Deadline()
