"""Where model bytes come from: a buffer in memory, or ranges of a file.

The reader asks a source for exact byte ranges it has already checked against
``size``; a file source reads just those ranges (``os.pread``) so the cost of a
query does not grow with the weights, and counts what it read.
"""

from __future__ import annotations

import os
import stat

from .errors import FileAccessError


class BufferSource:
    """Model bytes already in memory, as `aclmdlQuerySizeFromMem` receives them."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._view = memoryview(data).cast("B")
        self.size = len(self._view)
        self.bytes_read = 0

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise FileAccessError(f"range {offset}+{length} outside buffer of {self.size}")
        self.bytes_read += length
        return bytes(self._view[offset : offset + length])


# The first bytes of a file come in one read: the header and the tables of an ordinary
# model lie there, and six small reads would be six system calls (each a chance for
# another thread to take the GIL) for one page the kernel reads anyway.
HEAD = 4096


class FileSource:
    """Byte ranges of an open file; ``size`` is taken once, when opened.

    A file that shrinks under us yields short reads, reported as a FileAccessError
    rather than mis-sized as a truncated model. ``bytes_read`` counts the bytes the
    reader asked for.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        try:
            self.info = os.fstat(fd)
        except OSError as exc:
            raise FileAccessError(f"cannot stat: {exc.strerror}") from None
        if not stat.S_ISREG(self.info.st_mode):
            raise FileAccessError("not a regular file")
        self.size = self.info.st_size
        self.bytes_read = 0
        self._head: bytes | None = None

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise FileAccessError(f"range {offset}+{length} outside file of {self.size}")
        if offset + length <= HEAD:
            if self._head is None:
                self._head = self._pread(0, min(HEAD, self.size))
            self.bytes_read += length
            return self._head[offset : offset + length]
        data = self._pread(offset, length)
        self.bytes_read += length
        return data

    def _pread(self, offset: int, length: int) -> bytes:
        chunks = []
        done = 0
        while done < length:
            try:
                chunk = os.pread(self._fd, length - done, offset + done)
            except OSError as exc:
                raise FileAccessError(f"read failed: {exc.strerror}") from None
            if not chunk:
                raise FileAccessError(
                    f"file shrank while reading: expected {self.size} bytes, "
                    f"ended at {offset + done}"
                )
            chunks.append(chunk)
            done += len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
