"""The byte budget bounds the model bytes the acl path holds in memory at once."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from scanner.backends.acl import AclBackend
from scanner.om.writer import ModelParams, spec_for, write_om
from scanner.scan.budget import ByteBudget
from scanner.scan.local import ScanOptions, run_scan
from scanner.scan.pipeline import PipelineOptions
from scanner.sources.local import LocalFiles
from scanner.store import open_store

from .acl_double import install


@pytest.mark.asyncio
async def test_budget_waits_and_clips_oversized_requests() -> None:
    budget = ByteBudget(100)
    order: list[str] = []
    first = await budget.acquire(70)

    async def second() -> None:
        taken = await budget.acquire(50)
        order.append(f"second got {taken}")
        await budget.release(taken)

    async with anyio.create_task_group() as group:
        group.start_soon(second)
        await anyio.wait_all_tasks_blocked()  # second is waiting for room
        order.append("first releases")
        await budget.release(first)
    assert order == ["first releases", "second got 50"]
    assert await budget.acquire(10_000) == 100  # one huge model: alone, within the budget
    assert budget.peak == 100


@pytest.mark.parametrize("capacity", [0, -1])
def test_a_budget_must_be_positive(capacity: int) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        ByteBudget(capacity)


@pytest.mark.asyncio
async def test_acl_scan_never_holds_more_than_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, devices=2)
    root = tmp_path / "repo"
    root.mkdir()
    for index in range(12):
        write_om(root / f"m{index}.om", spec_for(ModelParams(weight_size=300_000)))
    write_om(root / "huge.om", spec_for(ModelParams(weight_size=3_000_000)))
    options = ScanOptions(roots=[str(root)], pipeline=PipelineOptions(budget_bytes=1_000_000))
    async with (
        open_store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store,
        AclBackend(LocalFiles(), [0, 1], timeout=30) as backend,
    ):
        summary = await run_scan(store, backend, options)
    assert summary.status == "completed" and summary.failed == 0
    assert 600_000 < summary.peak_budget_bytes <= 1_000_000
