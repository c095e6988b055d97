"""How model bytes reach whoever answers for them, whatever holds the model.

A ``ByteSource`` is ranged reads of one model with the bytes counted: the om reader
asks only for the ranges it needs. A ``ModelReader`` turns a listed record into bytes:
``open`` for the reader's ranged reads, ``read_into`` for a whole model in a buffer
(the acl path). Both check the bytes against the record: bytes that are no longer
those listed are ``changed``, never answered. The backends read only through one, so
a new kind of source (a bucket) needs no change to them.
"""

from __future__ import annotations

from typing import Protocol

from .records import ModelFile
from .status import Status


class ByteSource(Protocol):
    size: int
    bytes_read: int

    def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``offset``; the caller has checked the bounds."""
        ...


class OpenModel(ByteSource, Protocol):
    def close(self) -> str | None:
        """Let go of the model; why its bytes are no longer those of the record listed
        (each read is then suspect), or None."""
        ...


class ReadFailed(Exception):
    """The model could not be read (``unreadable``), or is not the record listed any
    more (``changed``): ``status`` says which."""

    def __init__(self, reason: str, status: Status = Status.CHANGED) -> None:
        super().__init__(reason)
        self.status = status


class ModelReader(Protocol):
    def open(self, record: ModelFile) -> OpenModel:
        """The model for ranged reads (blocking: called in a worker thread); ReadFailed
        if it cannot be opened."""
        ...

    async def read_into(self, record: ModelFile, buffer: memoryview) -> None:
        """Fill ``buffer`` (``record.size`` bytes) with the whole model; ReadFailed if it
        cannot be read whole or is not the record listed any more."""
        ...
