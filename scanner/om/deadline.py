"""When a query must give up: the caller's time limit, and its way of saying "stop".

A query runs in one thread and a thread cannot be interrupted from outside, so the
reader checks its :class:`Deadline` in every loop that can run long (the partition-table
walk, the ZIP directory, the inflate loop, before each JSON parse). Between two checks
the reader does a bounded amount of work (1,024 tables, one 64 KiB chunk, one JSON entry
within the OM2 limits), so a check is never far off.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .errors import QueryTimeout


class Deadline:
    """``seconds`` from now (None: no time limit). ``stop``, when given, is called at
    each check and raises whatever tells the caller's thread to end (the scan passes
    anyio's ``from_thread.check_cancelled``); that exception passes through the reader."""

    def __init__(
        self, seconds: float | None = None, stop: Callable[[], None] | None = None
    ) -> None:
        self.seconds = seconds
        self._until = None if seconds is None else time.monotonic() + seconds
        self._stop = stop

    def check(self) -> None:
        """Call ``stop``; raise QueryTimeout once the time is up."""
        if self._stop is not None:
            self._stop()
        if self._until is not None and time.monotonic() > self._until:
            raise QueryTimeout(f"no answer within {self.seconds:g} s")


NO_DEADLINE = Deadline()
