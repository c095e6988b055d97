"""Model files in a local directory tree: the walk's records, and their bytes.

``LocalFiles`` reads any record whose ``path`` is a local file (the walk's, or the
claims a distributed worker resolved); ``LocalSource`` adds the listing of a tree by
the walk's rules (``walk``). Either checks the bytes it gives against the record by the
file's stat after reading: a file replaced, resized or modified since it was listed is
``changed``, never answered.
"""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from ..core import ModelFile, Status
from ..core.source import ReadFailed
from ..om.errors import FileAccessError
from ..om.source import FileSource
from .walk import Matcher, Subtree, WalkOptions, classify, file_record, walk

if TYPE_CHECKING:  # the store is not for reader processes to import
    from ..store import PreviousFile

CHUNK = 256 << 20  # bytes per read call: aiofiles pays a thread hop per call
WALK_BATCH = 512


def _changed_since_listing(record: ModelFile, info: os.stat_result) -> str | None:
    """Why the file on disk is no longer the one listed, or None."""
    if info.st_ino != record.inode:
        return "file replaced since it was listed"
    if info.st_size != record.size:
        return f"file changed size since it was listed ({record.size} -> {info.st_size} bytes)"
    if info.st_mtime_ns != record.mtime_ns:
        return "file modified since it was listed"
    return None


def _changed(record: ModelFile) -> str | None:
    """Why the file at the record's path is not the one listed any more, or None."""
    try:
        info = os.stat(record.path)
    except OSError as exc:
        return f"file gone while being read: {exc.strerror}"
    return _changed_since_listing(record, info)


class LocalModel(FileSource):
    """An open local file for ranged reads, checked against the record by the stat of
    the open file: when opened (it is the listed file) and when closed (it did not
    change while being read). A file renamed over it meanwhile leaves the bytes read
    those of the listed file; the next scan sees the new one."""

    def __init__(self, fd: int, record: ModelFile) -> None:
        super().__init__(fd)
        self.record = record
        self.replaced = _changed_since_listing(record, self.info)

    def close(self) -> str | None:
        try:
            info = os.fstat(self._fd)
        except OSError as exc:
            return f"cannot stat the file after reading: {exc.strerror}"
        finally:
            os.close(self._fd)
        return _changed_since_listing(self.record, info)


class Refused(Exception):
    """A path that the walk's rules forbid reading."""


class LocalFiles:
    """Records that are local files: found by path as the walk would take them, and
    their bytes."""

    def resolve(self, root: str, relpath: str, follow_outside: bool) -> tuple[ModelFile, str]:
        """The file at ``relpath`` of ``root`` as the walk would take it, and the path
        it resolves to (what is read: no link left to follow). Links are followed only
        where they stay inside the root (unless ``follow_outside``), and only regular
        files are taken: Refused says why not. The path is resolved by the kernel once
        (``O_PATH``: nothing is read, no device or FIFO is opened) and checked.
        OSError if it cannot be reached here."""
        fd = os.open(os.path.join(root, relpath), os.O_PATH)
        try:
            resolved = os.readlink(f"/proc/self/fd/{fd}")
            if not follow_outside and not _at_or_within(resolved, root):
                raise Refused(f"the path leads outside the repository, to {resolved}")
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise Refused("not a regular file any more")
        finally:
            os.close(fd)
        return file_record(root, relpath, info), resolved

    def classify(self, record: ModelFile) -> ModelFile:
        return classify(record)

    def open(self, record: ModelFile) -> LocalModel:
        try:
            # O_NONBLOCK: opening a FIFO planted in a repository must not hang the scan.
            fd = os.open(record.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise _failed(record, f"cannot open: {exc.strerror}") from None
        try:
            model = LocalModel(fd, record)
        except FileAccessError as exc:
            os.close(fd)
            raise _failed(record, str(exc)) from None
        if model.replaced is not None:
            os.close(fd)
            raise ReadFailed(model.replaced, Status.CHANGED)
        return model

    async def read_into(self, record: ModelFile, buffer: memoryview) -> None:
        import aiofiles  # the acl path's only: reader processes do without

        try:
            async with aiofiles.open(record.path, "rb", buffering=0) as handle:
                done = 0
                while done < record.size:
                    count = await handle.readinto(buffer[done : done + CHUNK])
                    if not count:
                        raise ReadFailed(
                            f"file shrank while being read: {done} of {record.size} bytes"
                        )
                    done += count
                if await handle.read(1):
                    raise ReadFailed(f"file grew while being read: more than {record.size} bytes")
                info = os.fstat(handle.fileno())
        except OSError as exc:
            raise ReadFailed(f"cannot read file: {exc.strerror}", Status.UNREADABLE) from None
        reason = _changed_since_listing(record, info)
        if reason is not None:
            raise ReadFailed(reason)


def _failed(record: ModelFile, reason: str) -> ReadFailed:
    """A model that could not be opened: ``changed`` if it is not the one listed any
    more (gone, replaced), else ``unreadable`` for ``reason``."""
    why = _changed(record)
    return ReadFailed(why, Status.CHANGED) if why else ReadFailed(reason, Status.UNREADABLE)


class LocalSource(LocalFiles):
    """The model files under ``parts`` of local repositories, by the walk's rules."""

    def __init__(
        self, parts: Sequence[Subtree], options: WalkOptions, in_thread: bool = False
    ) -> None:
        self.parts = parts
        self.options = options
        self.in_thread = in_thread  # else in the event loop's thread (see Incremental.plan)
        self._matches = Matcher(options)

    async def batches(self) -> AsyncIterator[list[ModelFile]]:
        # Imported here: reader processes import this module for ``LocalFiles`` alone.
        import anyio.lowlevel
        import anyio.to_thread

        entries = walk(self.parts, self.options)

        def next_batch() -> list[ModelFile]:
            return list(itertools.islice(entries, WALK_BATCH))

        while True:
            if self.in_thread:
                batch = await anyio.to_thread.run_sync(next_batch)
            else:
                batch = next_batch()
                await anyio.lowlevel.checkpoint()
            if not batch:
                return
            yield batch

    def unchanged(self, prior: PreviousFile, new: ModelFile) -> bool:
        """Same size and version token (device, inode, mtime) as the last settled result."""
        return prior.settled and (prior.size, prior.version) == (new.size, new.version)

    def removed(self, root: str, relpath: str) -> bool:
        """A file the globs match, or one no longer on disk as anything but a directory
        (a directory now stands where a file was: the file is gone)."""
        return self._matches(relpath) or not _still_a_file(os.path.join(root, relpath))


def _at_or_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _still_a_file(path: str) -> bool:
    """Whether something other than a directory is at ``path`` (or it cannot be told)."""
    try:
        return not stat.S_ISDIR(os.lstat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
