"""End to end: a tree of real and writer-made models scanned into both databases."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from scanner.backends.om import OmBackend
from scanner.scan.local import ScanOptions, ScanSummary, run_scan
from scanner.store import open_store

from .corpus import require_corpus
from .tree import Want, build_tree


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, dict[str, Want]]:
    require_corpus()
    root, outside = tmp_path / "repo", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    return root, build_tree(root, outside)


async def scan(
    db_url: str, root: Path, **options: Any
) -> tuple[ScanSummary, dict[str, dict[str, Any]]]:
    async with open_store(db_url) as store:
        summary = await run_scan(store, OmBackend(), ScanOptions(roots=[str(root)], **options))
        rows = await store.fetch("SELECT * FROM latest_results")
    return summary, {row["relpath"]: row for row in rows}


def check(rows: dict[str, dict[str, Any]], want: dict[str, Want]) -> None:
    assert set(rows) == set(want)
    for relpath, expected in want.items():
        row = rows[relpath]
        got = Want(row["status"], row["ret"], row["work_size"], row["weight_size"])
        assert got == expected, relpath


@pytest.mark.asyncio
async def test_every_stored_result_equals_the_expected_answer(
    db_url: str, tree: tuple[Path, dict[str, Want]]
) -> None:
    root, want = tree
    summary, rows = await scan(db_url, root)
    check(rows, want)
    assert summary.status == "completed"
    assert summary.progress.seen == len(want)
    assert summary.progress.carried == 0
    assert summary.failed == sum(
        w.status not in ("ok", "lfs_pointer", "empty") for w in want.values()
    )


@pytest.mark.asyncio
async def test_rescan_of_an_unchanged_tree_reads_no_model_bytes(
    db_url: str, tree: tuple[Path, dict[str, Want]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, want = tree
    await scan(db_url, root)
    opened: list[str] = []
    real_open = os.open

    def spy(path: Any, *args: Any, **kwargs: Any) -> int:
        if str(path).startswith(str(root)):
            opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    summary, rows = await scan(db_url, root)
    assert opened == []
    assert summary.progress.bytes_read == 0 and summary.progress.queried == 0
    settled = sum(w.status != "unreadable" for w in want.values())
    assert summary.progress.carried == settled
    check(rows, want)
    assert all(row["carried"] for row in rows.values() if row["status"] != "unreadable")


@pytest.mark.asyncio
async def test_changed_added_and_removed_files(
    db_url: str, tree: tuple[Path, dict[str, Want]]
) -> None:
    root, want = tree
    await scan(db_url, root)
    (root / "demo/broken/truncated.om").unlink()
    del want["demo/broken/truncated.om"]
    (root / "deep/a/b/c/tiny.om").write_bytes(b"")
    want["deep/a/b/c/tiny.om"] = Want("empty")
    summary, rows = await scan(db_url, root)
    check(rows, want)
    assert summary.removed == 1
    assert not rows["deep/a/b/c/tiny.om"]["carried"]


@pytest.mark.asyncio
async def test_full_rescan_reads_everything_again(
    db_url: str, tree: tuple[Path, dict[str, Want]]
) -> None:
    root, want = tree
    await scan(db_url, root)
    summary, rows = await scan(db_url, root, full=True)
    assert summary.progress.carried == 0
    assert summary.progress.queried == sum(
        w.status not in ("lfs_pointer", "empty", "unreadable") for w in want.values()
    )
    check(rows, want)
