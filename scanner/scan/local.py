"""A scan of local repositories into the store: walk, decide what changed, run the
pipeline, record what is gone, close the scan with its status and counts."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import anyio

from ..backends.base import Answer, Backend
from ..core import ModelFile
from ..objstore import ObjectRoot, is_object_url
from ..sources.base import Source
from ..sources.bucket import ObjectSource
from ..sources.local import LocalSource
from ..sources.mixed import MixedSource
from ..sources.walk import Subtree, WalkOptions
from ..store import PreviousFile, ResultItem, Store
from .lifecycle import ScanRun, ScanSummary, scan_lifecycle
from .pipeline import Outcome, PipelineOptions, Progress, Sink, WorkItem, run_pipeline


@dataclass(frozen=True)
class ScanOptions:
    roots: Sequence[str]
    walk: WalkOptions = field(default_factory=WalkOptions)
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    full: bool = False  # re-read files even when unchanged


def repository_name(root: str) -> str:
    """A root as results name it: a real path, or a bucket's ``s3://BUCKET/PREFIX``."""
    return ObjectRoot.parse(root).url if is_object_url(root) else os.path.realpath(root)


def _within(path: str, folder: str) -> bool:
    """``path`` lies strictly below ``folder``."""
    return path.startswith(folder.rstrip(os.sep) + os.sep)


def plan_walk(roots: Sequence[str], known: Collection[str]) -> list[Subtree]:
    """Which repository each part of the walk belongs to. One rule for every scan, local
    or distributed: a file belongs to the innermost repository that holds it. So a root
    inside a known repository (or inside another root of the same scan) is walked as a
    part of it, creating no repository; a known repository inside a root is walked as
    itself, keeping its files. Reordering roots or scanning a sub-directory never moves
    files between repositories nor lists them twice."""
    given = sorted(set(roots))
    parts = []
    for root in given:
        if any(_within(root, other) for other in given):
            continue  # walked with the root that holds it
        owner = max((k for k in known if k == root or _within(root, k)), key=len, default=root)
        parts.append(Subtree(owner, os.path.relpath(root, owner) if owner != root else ""))
    walked = {part.repository for part in parts if not part.start}
    for repository in sorted(known):
        if repository not in walked and any(_within(repository, p.path) for p in parts):
            parts.append(Subtree(repository))
    # Inner repositories first: a file a link also reaches from outside stays theirs.
    paths = [part.path for part in parts]
    parts.sort(key=lambda part: -sum(_within(part.path, path) for path in paths))
    return [
        replace(
            part,
            prune=frozenset(
                os.path.relpath(k, part.repository) for k in known if _within(k, part.path)
            ),
        )
        for part in parts
    ]


class Incremental:
    """Work from a source's listing, with the incremental decision made per record (the
    source says what is unchanged), and the removals the finished listing shows."""

    def __init__(
        self,
        source: Source,
        parts: Sequence[Subtree],
        options: ScanOptions,
        previous: dict[str, dict[str, PreviousFile]],
        classify_in_thread: bool = False,
    ) -> None:
        self.source = source
        self.parts = parts
        self.options = options
        self.previous = previous
        # Classifying a record may read its first bytes: from a bucket, a blocking request.
        self.classify_in_thread = classify_in_thread
        # The known files the listing has yet to show, per repository: what is left at
        # the end may be gone. (The keys of ``previous``, not copies: a set of what was
        # seen would hold a new string per file, 27 MB at 300,000 files.)
        self.unseen: dict[str, set[str]] = {
            part.repository: set(previous.get(part.repository, ())) for part in parts
        }

    @classmethod
    async def plan(
        cls,
        store: Store,
        options: ScanOptions,
        objects: ObjectSource | None = None,
        *,
        walk_in_thread: bool = False,
    ) -> Incremental:
        """The walk of ``options.roots`` over the repositories ``store`` knows; the
        listing of ``objects`` (the bucket roots among them) after it.

        The walk runs in the event loop's thread: a walk thread beside the reader costs
        a full scan more than the walk itself (measured: a scan waited 1.9 s for a walk
        that takes 0.19 s alone, the threads' system calls waiting on each other for the
        GIL). ``walk_in_thread`` keeps the loop free during a slow directory instead,
        for a process that must keep renewing a lease while it walks."""
        roots = [os.path.realpath(root) for root in options.roots if not is_object_url(root)]
        known = [path for path in await store.repository_paths() if not is_object_url(path)]
        local = plan_walk(roots, known)
        parts = [*local, *(Subtree(root.url) for root in (objects.roots if objects else ()))]
        repositories = {part.repository for part in parts}
        previous = {repo: await store.previous_files(repo) for repo in sorted(repositories)}
        walker = LocalSource(local, options.walk, in_thread=walk_in_thread)
        in_thread = walk_in_thread or objects is not None
        return cls(MixedSource(walker, objects), parts, options, previous, in_thread)

    @property
    def repositories(self) -> list[str]:
        return sorted(self.unseen)

    def _item(self, entry: ModelFile) -> WorkItem:
        unseen = self.unseen[entry.root]
        if entry.directory:
            # Files below an unreadable directory are unknown, not removed; the record
            # of the directory itself stays present too, so reports show the failure.
            prefix = "" if entry.relpath == "." else entry.relpath + os.sep
            unseen.difference_update([p for p in unseen if p.startswith(prefix)])
            unseen.discard(entry.relpath)
            return WorkItem(entry)
        unseen.discard(entry.relpath)
        before = self.previous.get(entry.root, {}).get(entry.relpath)
        if before is not None and not self.options.full and self.source.unchanged(before, entry):
            return WorkItem(entry, carried=before)
        return WorkItem(self.source.classify(entry))

    def _items(self, batch: list[ModelFile]) -> list[WorkItem]:
        return [self._item(entry) for entry in batch]

    async def __aiter__(self) -> AsyncIterator[list[WorkItem]]:
        async for batch in self.source.batches():
            # A record about to be read is classified by its first bytes.
            if self.classify_in_thread:
                yield await anyio.to_thread.run_sync(self._items, batch)
            else:
                yield self._items(batch)

    async def record_removals(self, store: Store, scan_id: int) -> int:
        """Mark removed the known files the finished walk did not find where it looked.
        A file outside this scan's scope (another part of the repository, a glob this
        scan does not match) is unknown to it, not removed, unless it is gone from disk."""
        gone = await anyio.to_thread.run_sync(self._gone)
        return await store.mark_removed(scan_id, gone)

    def _gone(self) -> list[int]:
        gone = []
        for repository, known in self.previous.items():
            unseen = self.unseen[repository]
            starts = [p.start for p in self.parts if p.repository == repository]
            for relpath, before in known.items():
                if relpath not in unseen or not any(
                    not start or relpath == start or _within(relpath, start) for start in starts
                ):
                    continue
                if self.source.removed(repository, relpath):
                    gone.append(before.file_id)
        return gone


async def run_scan(
    store: Store,
    backend: Backend,
    options: ScanOptions,
    *,
    devices: Sequence[int] = (),
    progress: Progress | None = None,
    stop: anyio.Event | None = None,
    objects: ObjectSource | None = None,
) -> ScanSummary:
    """Scan ``options.roots`` into ``store``, one scan at a time per database; the bucket
    roots among them are listed and read by ``objects``.

    Setting ``stop`` (the CLI does on Ctrl-C / SIGTERM) stops reading, abandons the
    queries in flight, writes what was answered and closes the scan as
    ``interrupted``; the next scan carries those files instead of redoing them.
    """
    roots = [repository_name(root) for root in options.roots]
    async with scan_lifecycle(store) as run:
        source = await Incremental.plan(store, options, objects)
        summary = await run.open(
            roots,
            backend=backend.name,
            devices=devices,
            options=describe(options),
            repositories=source.repositories,
            progress=progress,
        )
        await _scan(run, backend, source, summary, stop)
    return summary


async def _scan(
    run: ScanRun,
    backend: Backend,
    source: Incremental,
    summary: ScanSummary,
    stop: anyio.Event | None,
) -> None:
    """Walk, query and write into the open scan record; set its final status."""
    sink = store_sink(run.store, summary.scan_id)
    async with run.until_stopped(stop) as scope:
        budget = await run_pipeline(
            source.__aiter__(), backend, sink, source.options.pipeline, summary.progress
        )
        summary.peak_budget_bytes = budget.peak
    if scope.cancelled_caught:
        return  # interrupted
    summary.removed = await source.record_removals(run.store, summary.scan_id)
    summary.status = "completed"


def store_sink(store: Store, scan_id: int) -> Sink:
    """Where a scan's outcomes go: answers stored, unchanged files' results carried."""

    async def sink(batch: Sequence[Outcome]) -> None:
        answered = [result_item(o.entry, o.answer) for o in batch if o.answer]
        if answered:
            await store.write_results(scan_id, answered)
        carried = [o.carried for o in batch if o.carried is not None]
        if carried:
            await store.carry_forward(scan_id, carried)

    return sink


def result_item(entry: ModelFile, answer: Answer) -> ResultItem:
    return ResultItem(
        root=entry.root,
        relpath=entry.relpath,
        size=entry.size,
        mtime_ns=entry.mtime_ns,
        inode=entry.inode,
        fs_device=entry.device,
        version=entry.version,
        result=answer.result,
        backend=answer.backend,
        npu_device=answer.device,
        seconds=answer.seconds,
        warnings=(answer.disagreement,) if answer.disagreement else (),
    )


def describe(options: ScanOptions) -> dict[str, Any]:
    return {
        "include": list(options.walk.include),
        "exclude": list(options.walk.exclude),
        "follow_outside": options.walk.follow_outside,
        "full": options.full,
        "max_inflight_bytes": options.pipeline.budget_bytes,
    }
