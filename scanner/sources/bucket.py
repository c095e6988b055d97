"""Models in buckets: a listing of ``s3://BUCKET[/PREFIX]`` roots, and their bytes.

A record's ``root`` is the repository URL, its ``relpath`` the key below the prefix and
its version token the listed ETag (and version id); nothing else of a file's stat
applies. ``Buckets`` opens each repository's bucket on first use, so a distributed
worker reads whichever bucket its claims name. Every read is pinned to the listed ETag
(``scanner.objstore``): an object replaced since it was listed is ``changed``.

A lost endpoint (no connection after the retries) is not a model's fault: ``Buckets``
sets ``lost`` and the scan stops as ``interrupted``, so the next scan reads the rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING

import anyio
import anyio.from_thread
import anyio.to_thread

from .. import objstore
from ..core import ModelFile, Status
from ..core.source import ReadFailed
from ..objstore import (
    ObjectChanged,
    ObjectInfo,
    ObjectRoot,
    ObjectStoreError,
    S3Settings,
    Unreachable,
)
from ..objstore.ranged import RangedSource
from ..om.errors import FileAccessError
from ..store import PreviousFile
from .walk import LFS_MAX_SIZE, LFS_PREFIX, Matcher, WalkOptions

if TYPE_CHECKING:
    from ..objstore import Bucket

CHUNK = 8 << 20  # bytes per GET when a whole object is read (the acl path)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def object_token(obj: ObjectInfo) -> str:
    """The version token of a listed object: its ETag, and its version id if any."""
    return f"{obj.etag} {obj.version_id}" if obj.version_id else obj.etag


def listed_object(record: ModelFile) -> ObjectInfo:
    """What a read of ``record`` pins to, from the record alone (a claim carries it)."""
    etag, _, version_id = record.version.partition(" ")
    key = ObjectRoot.parse(record.root).key(record.relpath)
    return ObjectInfo(key, record.size, etag, _EPOCH, version_id or None)


def read_failed(exc: ObjectStoreError) -> ReadFailed:
    status = Status.CHANGED if isinstance(exc, ObjectChanged) else Status.UNREADABLE
    return ReadFailed(exc.reason, status)


class Buckets:
    """The open buckets of a scan (or a worker), by repository URL; each is opened on
    first use with its own settings (``per_root``) or the default ones."""

    def __init__(self, settings: S3Settings, per_root: Mapping[str, S3Settings] | None = None):
        self.settings = settings
        self.per_root = dict(per_root or {})
        self.lost = anyio.Event()  # the endpoint went away mid-scan
        self._open: dict[str, Bucket] = {}
        self._stack = AsyncExitStack()
        self._lock = anyio.Lock()

    async def __aenter__(self) -> Buckets:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with anyio.CancelScope(shield=True):
            await self._stack.aclose()

    def secrets(self) -> tuple[str, ...]:
        every = [self.settings, *self.per_root.values()]
        return tuple(secret for settings in every for secret in settings.secrets())

    async def get(self, url: str) -> Bucket:
        async with self._lock:
            if url not in self._open:
                root = ObjectRoot.parse(url)
                settings = self.per_root.get(url, self.settings)
                self._open[url] = await self._stack.enter_async_context(
                    objstore.open_bucket(root, settings)
                )
            return self._open[url]

    def get_blocking(self, url: str) -> Bucket:
        """:meth:`get` from an anyio worker thread; a bucket already open (every one a
        scan lists) is taken without a hop to the event loop, which a stopping scan
        may no longer serve."""
        bucket = self._open.get(url)
        return bucket if bucket is not None else anyio.from_thread.run(self.get, url)

    def read(self, bucket: Bucket, obj: ObjectInfo, start: int, end: int) -> bytes:
        """A ranged read (blocking); a lost endpoint sets ``lost``."""
        try:
            return bucket.read(obj, start, end)
        except Unreachable:
            anyio.from_thread.run_sync(self.lost.set)
            raise


class ObjectModel(RangedSource):
    """An object open for the om reader's ranged reads. A failed read is a
    FileAccessError to the reader; closing tells a replaced object (``changed``)."""

    def __init__(self, buckets: Buckets, bucket: Bucket, obj: ObjectInfo) -> None:
        super().__init__(obj.size, self._fetch)
        self._buckets = buckets
        self._bucket = bucket
        self._obj = obj
        self.failure: ObjectStoreError | None = None

    def _fetch(self, start: int, end: int) -> bytes:
        try:
            return self._buckets.read(self._bucket, self._obj, start, end)
        except ObjectStoreError as exc:
            self.failure = exc
            raise FileAccessError(exc.reason) from None

    def close(self) -> str | None:
        return self.failure.reason if isinstance(self.failure, ObjectChanged) else None


class ObjectFiles:
    """Records that are objects in a bucket: their bytes, by ETag-pinned ranged reads."""

    def __init__(self, buckets: Buckets) -> None:
        self.buckets = buckets

    def open(self, record: ModelFile) -> ObjectModel:
        try:
            bucket = self.buckets.get_blocking(record.root)
        except ObjectStoreError as exc:
            raise read_failed(exc) from None
        return ObjectModel(self.buckets, bucket, listed_object(record))

    async def read_into(self, record: ModelFile, buffer: memoryview) -> None:
        """The whole object into ``buffer``, a GET of ``CHUNK`` bytes at a time, each
        pinned to the listed ETag: never a temporary file."""
        obj = listed_object(record)
        try:
            bucket = await self.buckets.get(record.root)
            for start in range(0, record.size, CHUNK):
                end = min(start + CHUNK, record.size)
                data = await anyio.to_thread.run_sync(
                    self.buckets.read, bucket, obj, start, end, limiter=bucket.limiter
                )
                buffer[start:end] = data
        except ObjectStoreError as exc:
            raise read_failed(exc) from None

    async def find(self, root: str, relpath: str) -> ModelFile:
        """The object ``relpath`` of ``root`` as it is now (a distributed worker's
        claim): its size and version token, by one HEAD request."""
        bucket = await self.buckets.get(root)
        obj = await bucket.head(ObjectRoot.parse(root).key(relpath))
        return ModelFile(root, relpath, obj.size, token=object_token(obj))

    def classify(self, record: ModelFile) -> ModelFile:
        """An empty object, or a Git LFS pointer by its first bytes (one small ranged
        read, only for objects smaller than a pointer can be)."""
        if record.status is not None or record.size >= LFS_MAX_SIZE:
            return record
        if record.size == 0:
            return _with(record, Status.EMPTY, "empty object (a placeholder, not a model)")
        if record.size < len(LFS_PREFIX):
            return record
        try:
            bucket = self.buckets.get_blocking(record.root)
            head = self.buckets.read(bucket, listed_object(record), 0, len(LFS_PREFIX))
        except ObjectStoreError as exc:
            failed = read_failed(exc)
            return _with(record, failed.status, str(failed))
        if head == LFS_PREFIX:
            return _with(
                record, Status.LFS_POINTER, "Git LFS pointer: the model itself was not uploaded"
            )
        return record


def _with(record: ModelFile, status: Status, error: str) -> ModelFile:
    return dataclasses.replace(record, status=status, error=error)


class ObjectSource(ObjectFiles):
    """The objects under ``roots`` whose key below the root the globs match."""

    def __init__(self, roots: Sequence[ObjectRoot], buckets: Buckets, options: WalkOptions):
        super().__init__(buckets)
        self.roots = roots
        self._matches = Matcher(options)
        self._listed: dict[str, set[str]] = {root.url: set() for root in roots}

    async def batches(self) -> AsyncIterator[list[ModelFile]]:
        for root in self.roots:
            listed = self._listed[root.url]
            bucket = await self.buckets.get(root.url)
            try:
                async for page in bucket.list():
                    batch = []
                    for obj in page:
                        relpath = root.relative(obj.key)
                        listed.add(relpath)
                        if relpath and not relpath.endswith("/") and self._matches(relpath):
                            token = object_token(obj)
                            batch.append(ModelFile(root.url, relpath, obj.size, token=token))
                    if batch:
                        yield batch
            except Unreachable:
                # Not the end of the listing: the scan must stop before it counts what
                # it has not seen as removed.
                self.buckets.lost.set()
                await anyio.sleep_forever()

    def unchanged(self, prior: PreviousFile, new: ModelFile) -> bool:
        """Same size and version token (ETag, version id): carried without a request."""
        return prior.settled and (prior.size, prior.version) == (new.size, new.version)

    def removed(self, root: str, relpath: str) -> bool:
        """Gone from the finished listing, or an object the globs match."""
        return self._matches(relpath) or relpath not in self._listed[root]
