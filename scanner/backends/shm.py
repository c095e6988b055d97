"""Model bytes in shared memory: read once from disk, seen by a device worker with no copy.

A file under /dev/shm, reserved with ``posix_fallocate`` (a full tmpfs is then an
error, not a SIGBUS), filled by the source's reader, and mapped by the worker. The main
process owns and removes it.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
import uuid

from ..core import ModelFile, Status
from ..core.source import ModelReader, ReadFailed

SHM_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


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


async def load_model(entry: ModelFile, reader: ModelReader) -> ModelBuffer:
    """Read the whole model into a new buffer; raise ReadFailed if it is not the one
    listed any more (shorter, longer, replaced) or cannot be read."""
    try:
        buffer = ModelBuffer(entry.size)
    except OSError as exc:
        raise ReadFailed(
            f"no shared memory for {entry.size} bytes: {exc.strerror}", Status.UNREADABLE
        ) from None
    try:
        await reader.read_into(entry, buffer.view)
    except BaseException:
        buffer.close()
        raise
    return buffer
