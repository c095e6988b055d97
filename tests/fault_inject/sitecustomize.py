"""Loaded by the omscan processes some fault tests start (on their PYTHONPATH), never by
omscan itself: ``os.scandir`` of the directories named in ``OMSCAN_FAULT_DENY`` fails
with EACCES once ``OMSCAN_FAULT_AFTER`` directories have been listed. That is a
directory becoming unreadable mid-walk, at the system call's boundary, even for root
(whom a real ``chmod 0`` does not stop)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from typing import Any

_DENY = {p for p in os.environ.get("OMSCAN_FAULT_DENY", "").split(os.pathsep) if p}

if _DENY:
    _after = int(os.environ.get("OMSCAN_FAULT_AFTER", "0"))
    _listed = 0
    _scandir = os.scandir

    def _failing_scandir(path: Any = ".") -> Iterator[os.DirEntry[str]]:
        global _listed
        if os.path.realpath(path) in _DENY and _listed >= _after:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        _listed += 1
        return _scandir(path)  # type: ignore[return-value]

    os.scandir = _failing_scandir  # type: ignore[assignment]
