"""One open descriptor per SQLite database file and process, for the scan lock.

The scan lock is an ``flock`` on the database file itself, so every name that leads to
the file (a hard link, a symlink) meets the same lock. Its descriptor cannot be opened
and closed per scan: on Linux, closing *any* descriptor of a file drops every POSIX lock
the process holds on it, SQLite's own included (an idle WAL connection holds one, which
tells other processes not to check-point and delete the WAL under it). So the descriptor
is opened once per file and process, shared by every store open on the file, and closed
only after the last of them has closed its connections.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class DatabaseFile:
    fd: int
    device: int
    inode: int
    users: int = 0
    scanning: bool = False  # a scan of this process holds the lock


_open: dict[tuple[int, int], DatabaseFile] = {}


@contextmanager
def database_file(path: str) -> Iterator[DatabaseFile]:
    """The process's descriptor of the database file at ``path``, while in use."""
    info = os.stat(path)
    key = (info.st_dev, info.st_ino)
    handle = _open.get(key)
    if handle is None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except PermissionError:  # a read-only database still answers questions
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        handle = _open[key] = DatabaseFile(fd, *key)
    handle.users += 1
    try:
        yield handle
    finally:
        handle.users -= 1
        if handle.users == 0:
            del _open[key]
            os.close(handle.fd)
