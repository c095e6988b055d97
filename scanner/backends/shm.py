"""Model bytes in shared memory: read once from disk, seen by a device worker with no copy.

A file under /dev/shm, reserved with ``posix_fallocate`` (a full tmpfs is then an
error, not a SIGBUS), filled with a few large aiofiles reads, and mapped by the
worker. The main process owns and removes it.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
import uuid

import aiofiles

from ..core import ModelFile, Status
from .base import changed_since_walk

CHUNK = 256 << 20  # bytes per read call: aiofiles pays a thread hop per call
SHM_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


class ReadFailed(Exception):
    """The file could not be read whole (``unreadable``), or changed while it was read
    (``changed``): ``status`` says which."""

    def __init__(self, reason: str, status: Status = Status.CHANGED) -> None:
        super().__init__(reason)
        self.status = status


class ModelBuffer:
    """``size`` bytes of one model, in a shared file that workers map by ``path``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.path = os.path.join(SHM_DIR, f"omscan-{os.getpid()}-{uuid.uuid4().hex}")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.posix_fallocate(fd, 0, max(size, 1))
            self._map = mmap.mmap(fd, max(size, 1))
        except OSError:
            os.close(fd)
            os.unlink(self.path)
            raise
        os.close(fd)
        self.view = memoryview(self._map)[:size]
        self._closed = False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.view.release()
        # A slice lent to a read call may still be alive: the mapping then goes when
        # it is collected; the file goes now.
        with contextlib.suppress(BufferError):
            self._map.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


async def load_model(entry: ModelFile) -> ModelBuffer:
    """Read the whole file into a new buffer; raise ReadFailed if it is not the file
    the walk saw any more (shorter, longer, replaced) or cannot be read."""
    try:
        buffer = ModelBuffer(entry.size)
    except OSError as exc:
        raise ReadFailed(
            f"no shared memory for {entry.size} bytes: {exc.strerror}", Status.UNREADABLE
        ) from None
    try:
        async with aiofiles.open(entry.path, "rb", buffering=0) as handle:
            done = 0
            while done < entry.size:
                count = await handle.readinto(buffer.view[done : done + CHUNK])
                if not count:
                    raise ReadFailed(f"file shrank while being read: {done} of {entry.size} bytes")
                done += count
            if await handle.read(1):
                raise ReadFailed(f"file grew while being read: more than {entry.size} bytes")
            info = os.fstat(handle.fileno())
        reason = changed_since_walk(entry, info.st_size, info.st_mtime_ns, info.st_ino)
        if reason is not None:
            raise ReadFailed(reason)
        return buffer
    except OSError as exc:
        buffer.close()
        raise ReadFailed(f"cannot read file: {exc.strerror}", Status.UNREADABLE) from None
    except BaseException:
        buffer.close()
        raise
