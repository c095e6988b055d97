"""What the scan asks of a source of model files, whatever holds them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from ..core import ModelFile
from ..core.source import ModelReader
from ..store import PreviousFile


class Source(ModelReader, Protocol):
    def batches(self) -> AsyncIterator[list[ModelFile]]:
        """Every model under the source's roots, a batch at a time; a record with a
        ``status`` is one to record without a query (an unreadable directory)."""
        ...

    def unchanged(self, prior: PreviousFile, new: ModelFile) -> bool:
        """Whether ``new`` holds the same bytes as ``prior``, the file's last settled
        result: its answer is then carried instead of read again."""
        ...

    def classify(self, record: ModelFile) -> ModelFile:
        """The record as it will be answered: a placeholder (empty file, Git LFS
        pointer) gets its status. Blocking, and only for records about to be read."""
        ...

    def removed(self, root: str, relpath: str) -> bool:
        """Whether a known file the listing did not find where it looked is gone,
        rather than outside this listing's scope."""
        ...
