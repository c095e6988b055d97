"""Readers that misbehave inside a reader process (tests/test_om_processes.py): defined
in a module of their own, light to import, so that spawned processes can unpickle them."""

from __future__ import annotations

import os
import sys
import time

from scanner.core import ModelFile, Status
from scanner.core.source import ReadFailed
from scanner.sources.local import LocalFiles, LocalModel


class HangingReader(LocalFiles):
    """Hangs, never checking its deadline, when opening a file named ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def open(self, record: ModelFile) -> LocalModel:
        if os.path.basename(record.relpath) == self.name:
            time.sleep(3600)
        return super().open(record)


class CrashingReader(LocalFiles):
    """Ends its process (as a segfault in a C extension would) on a file named ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def open(self, record: ModelFile) -> LocalModel:
        if os.path.basename(record.relpath) == self.name:
            os._exit(7)
        return super().open(record)


class UnstartableReader(LocalFiles):
    """A process given this reader dies while it starts (as one whose interpreter cannot
    be run would), before its first model."""

    def __init__(self) -> None:
        self.armed = True

    def __setstate__(self, state: dict[str, bool]) -> None:
        os._exit(255)


class ImportsReader(LocalFiles):
    """Answers every model unreadable, naming which of anyio and SQLAlchemy its process
    has imported."""

    def open(self, record: ModelFile) -> LocalModel:
        loaded = sorted({name.split(".")[0] for name in sys.modules} & {"anyio", "sqlalchemy"})
        raise ReadFailed(f"imported {loaded}", Status.UNREADABLE)
