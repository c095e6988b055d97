"""The om backend on several processes (`--jobs N`): the same results as one, and a
process that hangs, dies or is cancelled costs its model at most, never the scan."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import pytest

from scanner.backends.base import BackendError
from scanner.backends.om import NOTHING
from scanner.backends.om_processes import OmProcessBackend
from scanner.core import ModelFile, Status
from scanner.core.source import ModelReader
from scanner.demo import LFS_POINTER
from scanner.om.writer import ModelParams, build_om, spec_for
from scanner.sources.local import LocalFiles

from .helpers import many_models, run, write_model
from .process_readers import CrashingReader, HangingReader, ImportsReader, UnstartableReader


def broken_tree(root: Path) -> None:
    """Good models of several sizes, and the ways a model file can be broken."""
    many_models(root / "many", 150)
    for index in range(12):
        write_model(root / "sizes" / f"s{index}.om", 1000 * (index + 1), 10 << index)
    good = build_om(spec_for(ModelParams(memory_size=5000, weight_size=77)))
    (root / "broken").mkdir()
    (root / "broken" / "truncated.om").write_bytes(good[: len(good) // 2])
    (root / "broken" / "garbage.om").write_bytes(bytes(range(256)) * 40)
    (root / "broken" / "empty.om").write_bytes(b"")
    (root / "broken" / "lfs.om").write_bytes(LFS_POINTER)
    (root / "broken" / "header_only.om").write_bytes(good[:256])


def results(db: Path) -> list[dict[str, Any]]:
    """Every stored result by path, without what differs between two runs: ids, the
    order of writes, time."""
    with closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT m.relpath AS path, r.* FROM results r JOIN model_files m ON m.id = r.file_id"
            " ORDER BY m.relpath"
        ).fetchall()
    varying = ("id", "file_id", "duration_ms")
    return [{k: v for k, v in dict(row).items() if k not in varying} for row in rows]


def test_results_are_identical_across_jobs(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    broken_tree(root)
    found = {}
    for jobs in (1, 2):
        db = tmp_path / f"jobs{jobs}.db"
        code, output = run(
            "scan", str(root), "--db", f"sqlite:///{db}", "--backend", "om", "--jobs", str(jobs)
        )
        assert code == 1, output  # the broken models fail
        found[jobs] = results(db)
    assert len(found[1]) == 150 + 12 + 5
    assert {row["status"] for row in found[1]} >= {"ok", "failed", "lfs_pointer", "empty"}
    assert found[1] == found[2]


def records(root: Path) -> list[ModelFile]:
    files = LocalFiles()
    return [
        files.resolve(str(root), str(path.relative_to(root)), False)[0]
        for path in sorted(root.rglob("*.om"))
    ]


async def answer(backend: OmProcessBackend, chunk: list[ModelFile]) -> list[str]:
    answers = await backend.query_chunk([(entry, NOTHING) for entry in chunk])
    return [f"{a.result.status}:{a.result.error or ''}" for a in answers]


def opened(reader: ModelReader, timeout: float | None, jobs: int = 1) -> OmProcessBackend:
    return OmProcessBackend(reader, timeout, jobs, grace=0.3)


@pytest.mark.asyncio
async def test_a_hung_process_is_killed_its_model_timeout_the_rest_answered(
    tmp_path: Path,
) -> None:
    many_models(tmp_path, 6)
    chunk = records(tmp_path)
    hung = [e.relpath for e in chunk].index("d2/m2.om")
    async with opened(HangingReader("m2.om"), timeout=0.5) as backend:
        start = time.monotonic()
        statuses = await answer(backend, chunk)
        assert time.monotonic() - start < 10
        assert await answer(backend, chunk[:1]) == ["ok:"]  # the replacement answers
    assert statuses[hung].startswith(f"{Status.TIMEOUT}:no answer within 0.5 s")
    assert statuses[:hung] + statuses[hung + 1 :] == ["ok:"] * 5


@pytest.mark.asyncio
async def test_a_crashed_process_costs_its_model_and_the_scan_goes_on(tmp_path: Path) -> None:
    many_models(tmp_path, 6)
    chunk = records(tmp_path)
    crashed = [e.relpath for e in chunk].index("d4/m4.om")
    async with opened(CrashingReader("m4.om"), timeout=None, jobs=2) as backend:
        statuses = await answer(backend, chunk)
        again = await answer(backend, chunk)
    expected = ["ok:"] * 6
    expected[crashed] = f"{Status.WORKER_CRASHED}:reader process died (exit code 7)"
    assert statuses == again == expected


@pytest.mark.asyncio
async def test_a_stuck_chunk_is_cancelled_and_its_process_ended(tmp_path: Path) -> None:
    many_models(tmp_path, 2)
    async with opened(HangingReader("m0.om"), timeout=None) as backend:
        start = time.monotonic()
        with anyio.move_on_after(0.5) as scope:
            await answer(backend, records(tmp_path))
        assert scope.cancelled_caught and time.monotonic() - start < 5
    assert not multiprocessing.active_children()


@pytest.mark.asyncio
async def test_reader_processes_that_cannot_start_stop_the_scan_saying_so(tmp_path: Path) -> None:
    """Not a model's fault: no model is recorded crashed for it."""
    many_models(tmp_path, 2)
    async with opened(UnstartableReader(), timeout=None) as backend:
        with pytest.raises(BackendError, match=r"could not start \(exit code 255\); --jobs 1"):
            await answer(backend, records(tmp_path))


@pytest.mark.asyncio
async def test_a_reader_process_imports_neither_anyio_nor_the_store(tmp_path: Path) -> None:
    """A process starts with the scan's first chunk, and the scan waits for its imports."""
    many_models(tmp_path, 1)
    async with opened(ImportsReader(), timeout=None) as backend:
        assert await answer(backend, records(tmp_path)) == ["unreadable:imported []"]
