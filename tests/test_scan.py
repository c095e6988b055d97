"""End to end: a tree of writer-made models scanned into both databases, with both
backends; and the shared corpus of real models scanned where it lies."""

from __future__ import annotations

import builtins
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiofiles.threadpool
import pytest

from scanner.backends.acl import AclBackend
from scanner.backends.base import Backend
from scanner.backends.om import OmBackend
from scanner.scan.lifecycle import ScanSummary
from scanner.scan.local import ScanOptions, run_scan
from scanner.sources.local import LocalFiles
from scanner.store import open_store

from .acl_double import install
from .corpus import expected_rows, require_corpus
from .tree import Want, build_tree

OpenBackend = Callable[[], AbstractAsyncContextManager[Backend]]


@asynccontextmanager
async def om_backend() -> AsyncIterator[Backend]:
    yield OmBackend(LocalFiles())


@pytest.fixture(params=["om", "acl"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> OpenBackend:
    """Each scan test runs with our reader and with two (test double) NPUs."""
    if request.param == "om":
        return om_backend
    install(monkeypatch, devices=2)
    return lambda: AclBackend(LocalFiles(), [0, 1], timeout=30)


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, dict[str, Want]]:
    root, outside = tmp_path / "repo", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    return root, build_tree(root, outside)


async def scan(
    db_url: str, root: Path, backend: OpenBackend, **options: Any
) -> tuple[ScanSummary, dict[str, dict[str, Any]]]:
    async with open_store(db_url) as store, backend() as chosen:
        summary = await run_scan(store, chosen, ScanOptions(roots=[str(root)], **options))
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
    db_url: str, tree: tuple[Path, dict[str, Want]], backend: OpenBackend
) -> None:
    root, want = tree
    started = time.monotonic()
    summary, rows = await scan(db_url, root, backend)
    check(rows, want)
    assert 0 < summary.seconds <= time.monotonic() - started  # its own duration, measured
    assert summary.status == "completed"
    assert summary.progress.seen == len(want)
    assert summary.progress.carried == 0
    assert summary.failed == sum(
        w.status not in ("ok", "lfs_pointer", "empty") for w in want.values()
    )


@pytest.mark.asyncio
async def test_rescan_of_an_unchanged_tree_reads_no_model_bytes(
    db_url: str,
    tree: tuple[Path, dict[str, Want]],
    backend: OpenBackend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, want = tree
    await scan(db_url, root, backend)
    opened: list[str] = []

    def spy(real: Callable[..., Any]) -> Callable[..., Any]:
        def opener(path: Any, *args: Any, **kwargs: Any) -> Any:
            if str(path).startswith(str(root)):
                opened.append(str(path))
            return real(path, *args, **kwargs)

        return opener

    monkeypatch.setattr(os, "open", spy(os.open))
    monkeypatch.setattr(builtins, "open", spy(builtins.open))
    monkeypatch.setattr(aiofiles.threadpool, "sync_open", spy(aiofiles.threadpool.sync_open))
    summary, rows = await scan(db_url, root, backend)
    assert opened == []
    assert summary.progress.bytes_read == 0 and summary.progress.queried == 0
    settled = sum(w.status != "unreadable" for w in want.values())
    assert summary.progress.carried == settled
    check(rows, want)
    assert all(row["carried"] for row in rows.values() if row["status"] != "unreadable")


@pytest.mark.asyncio
async def test_changed_added_and_removed_files(
    db_url: str, tree: tuple[Path, dict[str, Want]], backend: OpenBackend
) -> None:
    root, want = tree
    await scan(db_url, root, backend)
    (root / "demo/broken/truncated.om").unlink()
    del want["demo/broken/truncated.om"]
    (root / "deep/a/b/c/tiny.om").write_bytes(b"")
    want["deep/a/b/c/tiny.om"] = Want("empty")
    summary, rows = await scan(db_url, root, backend)
    check(rows, want)
    assert summary.removed == 1
    assert not rows["deep/a/b/c/tiny.om"]["carried"]


@pytest.mark.asyncio
async def test_full_rescan_reads_everything_again(
    db_url: str, tree: tuple[Path, dict[str, Want]], backend: OpenBackend
) -> None:
    root, want = tree
    await scan(db_url, root, backend)
    summary, rows = await scan(db_url, root, backend, full=True)
    assert summary.progress.carried == 0
    assert summary.progress.queried == sum(
        w.status not in ("lfs_pointer", "empty", "unreadable") for w in want.values()
    )
    check(rows, want)


@pytest.mark.asyncio
async def test_the_real_corpus_scanned_in_place_gives_expected_tsv(
    db_url: str, backend: OpenBackend
) -> None:
    """Real models, read where they lie (never copied), answer as EXPECTED.tsv says."""
    corpus = require_corpus()
    want = {
        row.file: Want("ok" if row.ret == 0 else "failed", row.ret, row.work_size, row.weight_size)
        for row in expected_rows()
    }
    assert len(want) >= 10
    summary, rows = await scan(db_url, corpus, backend)
    check(rows, want)
    assert summary.status == "completed" and summary.progress.queried == len(want)
