"""What became of one model file in one scan: one word, stored as text.

A ``StrEnum``, so a status is also the plain string the store and the documented SQL
use (``status = 'ok'``). Two questions are asked of it everywhere: is it *settled*
(final for unchanged bytes, so an unchanged file carries it forward instead of being
read again) and is it a *failure* (counted in ``files_failed``, reported, exit 1)?
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    OK = "ok"  # the API answered 0
    FAILED = "failed"  # the API answered an error code
    LFS_POINTER = "lfs_pointer"  # a Git LFS pointer: the model itself was not fetched
    EMPTY = "empty"  # an empty placeholder file
    UNREADABLE = "unreadable"  # the bytes could not be read
    TIMEOUT = "timeout"  # no answer in the time allowed
    WORKER_CRASHED = "worker_crashed"  # the process answering died
    CHANGED = "changed"  # the file changed while being read
    ABANDONED = "abandoned"  # a distributed item every attempt failed to finish

    @property
    def settled(self) -> bool:
        """Final for unchanged bytes; anything else is tried again next scan."""
        return self in _SETTLED

    @property
    def failure(self) -> bool:
        """A failure of the model (placeholders are recorded, not failed)."""
        return self not in _NOT_FAILURES


_SETTLED = frozenset({Status.OK, Status.FAILED, Status.LFS_POINTER, Status.EMPTY})
_NOT_FAILURES = frozenset({Status.OK, Status.LFS_POINTER, Status.EMPTY})

# The same sets as plain strings, for SQL (``status IN (…)``) and stored rows.
SETTLED_STATUSES: tuple[str, ...] = tuple(s.value for s in Status if s.settled)
NOT_FAILURES: tuple[str, ...] = tuple(s.value for s in Status if not s.failure)
FAILURE_STATUSES: tuple[str, ...] = tuple(s.value for s in Status if s.failure)
