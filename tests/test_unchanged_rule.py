"""The incremental rule, one field at a time: a file is carried (not read again) only when
its size and version token (device, inode, mtime) equal those of its latest *settled*
result. Change any one alone, keeping the others, and the file is read again."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from scanner.backends.om import OmBackend
from scanner.core import SETTLED_STATUSES, ModelFile
from scanner.om import QueryResult
from scanner.scan.lifecycle import ScanSummary
from scanner.scan.local import ScanOptions, run_scan
from scanner.sources.local import LocalFiles, LocalSource
from scanner.sources.walk import WalkOptions
from scanner.store import PreviousFile, ResultItem, open_store

from .helpers import write_model

ENTRY = ModelFile("/repo", "m.om", size=1000, mtime_ns=5_000, inode=77, device=3)
SAME = PreviousFile(file_id=1, result_id=1, status="ok", size=1000, version="3:77:5000")


def is_unchanged(entry: ModelFile, previous: PreviousFile) -> bool:
    return LocalSource([], WalkOptions()).unchanged(previous, entry)


@pytest.mark.parametrize("status", SETTLED_STATUSES)
def test_a_file_equal_in_every_field_to_a_settled_result_is_unchanged(status: str) -> None:
    assert is_unchanged(ENTRY, replace(SAME, status=status))


@pytest.mark.parametrize(
    "field, value",
    [
        ("size", 1001),
        ("size", 999),
        ("mtime_ns", 5_001),
        ("mtime_ns", 4_999),
        ("inode", 78),
        ("device", 4),
    ],
)
def test_one_stat_field_different_is_changed(field: str, value: int) -> None:
    assert not is_unchanged(replace(ENTRY, **{field: value}), SAME)  # type: ignore[arg-type]


def test_a_file_never_settled_is_changed_whatever_its_stat() -> None:
    assert not is_unchanged(ENTRY, PreviousFile(1, None, None, None, None))
    assert not is_unchanged(ENTRY, replace(SAME, result_id=None, status=None))


# --- the same, end to end: two scans, one field changed in between ------------------


async def scan(url: str, root: Path) -> ScanSummary:
    async with open_store(url) as store:
        return await run_scan(store, OmBackend(LocalFiles()), ScanOptions(roots=[str(root)]))


def same_stat_as(path: Path, before: os.stat_result) -> None:
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def change_size(target: Path, before: os.stat_result) -> None:
    write_model(target, 1000, 11)  # same inode (rewritten in place), mtime put back
    same_stat_as(target, before)


def change_mtime(target: Path, before: os.stat_result) -> None:
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns + 1))  # bytes untouched


def change_inode(target: Path, before: os.stat_result) -> None:
    copy = target.with_name("copy.tmp")
    shutil.copyfile(target, copy)  # the same bytes, in a new file
    same_stat_as(copy, before)
    os.replace(copy, target)


@pytest.mark.asyncio
@pytest.mark.parametrize("change", [change_size, change_mtime, change_inode])
async def test_a_file_changed_in_one_field_only_is_read_again(
    tmp_path: Path, sqlite_url: str, change: Callable[[Path, os.stat_result], None]
) -> None:
    root = tmp_path / "repo"
    for name in ("a.om", "b.om", "c.om"):
        write_model(root / name, 1000, 10)
    target = root / "b.om"
    await scan(sqlite_url, root)
    before = target.stat()
    change(target, before)
    after = target.stat()
    changed = [
        f for f in ("st_size", "st_mtime_ns", "st_ino") if getattr(before, f) != getattr(after, f)
    ]
    assert len(changed) == 1, changed  # exactly one field differs
    summary = await scan(sqlite_url, root)
    assert (summary.progress.queried, summary.progress.carried) == (1, 2)


@pytest.mark.asyncio
async def test_a_file_whose_latest_result_is_not_settled_is_read_again(
    tmp_path: Path, sqlite_url: str
) -> None:
    root = tmp_path / "repo"
    for name in ("a.om", "b.om"):
        write_model(root / name, 1000, 10)
    info = (root / "b.om").stat()
    timed_out = QueryResult(ret=None, fault="timeout", error="no answer in 5 s")
    async with open_store(sqlite_url) as store:  # b.om's only result: a timeout, same stat
        scan_id = await store.start_scan([str(root)], "host", "om", [], {})
        item = ResultItem(
            str(root),
            "b.om",
            info.st_size,
            info.st_mtime_ns,
            info.st_ino,
            info.st_dev,
            f"{info.st_dev}:{info.st_ino}:{info.st_mtime_ns}",
            timed_out,
            "om",
        )
        await store.write_results(scan_id, [item])
        await store.finish_scan(scan_id, "completed", {})
    summary = await scan(sqlite_url, root)
    assert (summary.progress.queried, summary.progress.carried) == (2, 0)
    summary = await scan(sqlite_url, root)  # now both are settled
    assert (summary.progress.queried, summary.progress.carried) == (0, 2)
