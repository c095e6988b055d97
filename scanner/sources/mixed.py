"""One scan over local trees and buckets at once: each record goes to the source its
root names (a path, or an ``s3://`` repository URL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..core import ModelFile, Status
from ..core.source import ModelReader, OpenModel, ReadFailed
from ..objstore import is_object_url
from ..store import PreviousFile
from .bucket import ObjectFiles, ObjectSource
from .local import LocalFiles, LocalSource


class AnyFiles:
    """Reads any record: a local file, or an object when ``objects`` is given (a
    distributed worker reads whatever its claims name)."""

    def __init__(self, local: LocalFiles, objects: ObjectFiles | None) -> None:
        self.local = local
        self.objects = objects

    def reader(self, record: ModelFile) -> ModelReader:
        if not is_object_url(record.root):
            return self.local
        if self.objects is None:
            raise ReadFailed("an object in a bucket, and no bucket is open", Status.UNREADABLE)
        return self.objects

    def open(self, record: ModelFile) -> OpenModel:
        return self.reader(record).open(record)

    async def read_into(self, record: ModelFile, buffer: memoryview) -> None:
        await self.reader(record).read_into(record, buffer)


class MixedSource(AnyFiles):
    """Local trees (``local``) and buckets (``objects``) listed in one scan."""

    def __init__(self, local: LocalSource, objects: ObjectSource | None) -> None:
        super().__init__(local, objects)
        self.local_source = local
        self.object_source = objects

    def _source(self, root: str) -> LocalSource | ObjectSource:
        if is_object_url(root) and self.object_source is not None:
            return self.object_source
        return self.local_source

    async def batches(self) -> AsyncIterator[list[ModelFile]]:
        async for batch in self.local_source.batches():
            yield batch
        if self.object_source is not None:
            async for batch in self.object_source.batches():
                yield batch

    def unchanged(self, prior: PreviousFile, new: ModelFile) -> bool:
        return self._source(new.root).unchanged(prior, new)

    def classify(self, record: ModelFile) -> ModelFile:
        return self._source(record.root).classify(record)

    def removed(self, root: str, relpath: str) -> bool:
        return self._source(root).removed(root, relpath)
