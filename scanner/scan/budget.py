"""A byte budget: how many model bytes the scan may hold in memory at once."""

from __future__ import annotations

import anyio


class ByteBudget:
    """Counts bytes in flight; ``acquire`` waits until they fit.

    A request larger than the whole budget is clipped to it, so one huge model is
    still processed, alone.
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("the byte budget must be positive")
        self.capacity = capacity
        self.in_use = 0
        self.peak = 0
        self._changed = anyio.Condition()

    def clip(self, nbytes: int) -> int:
        return min(nbytes, self.capacity)

    async def acquire(self, nbytes: int) -> int:
        """Wait for ``nbytes`` (clipped); returns what was taken, to give back later."""
        taken = self.clip(nbytes)
        if taken == 0:  # nothing held (the om backend reads at query time): no lock round trip
            return 0
        async with self._changed:
            while self.in_use + taken > self.capacity:
                await self._changed.wait()
            self.in_use += taken
            self.peak = max(self.peak, self.in_use)
        return taken

    async def release(self, taken: int) -> None:
        if taken == 0:
            return
        async with self._changed:
            self.in_use -= taken
            self._changed.notify_all()
