"""Loaded by the `omscan scan --distributed` processes some tests start (on their
PYTHONPATH), never by omscan itself: ``os.scandir`` of the directory named in
``OMSCAN_STALL_DIR`` leaves a ``.waiting`` file beside it and waits until a ``.go`` file
appears. A walk held up midway (a slow mount) while the rest of the process — its
heartbeats — runs on: the test knows for certain the walk is under way."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_STALL = os.environ.get("OMSCAN_STALL_DIR", "")

if _STALL:
    _scandir = os.scandir

    def _stalling_scandir(path: Any = ".") -> Iterator[os.DirEntry[str]]:
        if os.path.realpath(path) == _STALL:
            Path(_STALL + ".waiting").touch()
            while not os.path.exists(_STALL + ".go"):
                time.sleep(0.05)
        return _scandir(path)  # type: ignore[return-value]

    os.scandir = _stalling_scandir  # type: ignore[assignment]
