"""The record of one model file, whatever holds it.

A source (a directory tree today) lists these; the pipeline, the backends and the store
pass them on. ``version`` is the token that says whether the bytes can have changed
since a prior record: for a POSIX file ``device:inode:mtime_ns`` (with the size, the
"unchanged" rule); an object store would give its ETag and version id.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .status import Status


@dataclass(frozen=True, slots=True)  # one per file of a repository: no __dict__ each
class ModelFile:
    """A file a source found. ``status`` is None for a model to query; otherwise it
    says why the file is recorded without a query (``lfs_pointer``, ``empty``,
    ``unreadable``) and ``error`` gives the detail."""

    root: str
    relpath: str
    size: int = 0
    mtime_ns: int = 0
    inode: int = 0
    device: int = 0
    status: Status | None = None
    error: str | None = None
    directory: bool = False  # an unreadable directory, recorded in place of its files
    token: str | None = None  # a source's own version token (an object's ETag, version id)

    @property
    def path(self) -> str:
        return os.path.join(self.root, self.relpath)

    @property
    def version(self) -> str:
        """The source's token, or the version token of a POSIX file."""
        if self.token is not None:
            return self.token
        return f"{self.device}:{self.inode}:{self.mtime_ns}"
