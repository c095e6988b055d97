"""The byte budget bounds the model bytes really held in memory, not just its own counter.

The acl backend holds each model in a shared-memory file from its read until its query
has answered. Here the queries wait until the readers can go no further, and the bytes
held are measured where they live (the process's files under /dev/shm), never taken
from the budget's own count.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from scanner.backends import shm
from scanner.backends.acl import AclBackend
from scanner.backends.base import Answer, Loaded
from scanner.core import ModelFile
from scanner.om.writer import ModelParams, spec_for, write_om
from scanner.scan.budget import ByteBudget
from scanner.scan.local import ScanOptions, run_scan
from scanner.scan.pipeline import PipelineOptions
from scanner.sources.local import LocalFiles
from scanner.store import open_store

from .acl_double import install

BUDGET = 1_000_000
MODELS = 12


def held_bytes() -> int:
    """Bytes of model buffers this process holds: its shared-memory files' pages."""
    prefix = f"omscan-{os.getpid()}-"
    total = 0
    for name in os.listdir(shm.SHM_DIR):
        if name.startswith(prefix):
            try:
                total += os.stat(os.path.join(shm.SHM_DIR, name)).st_blocks * 512
            except FileNotFoundError:  # released meanwhile
                continue
    return total


@pytest.mark.asyncio
async def test_models_waiting_for_their_query_never_hold_more_than_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, devices=2)
    root = tmp_path / "repo"
    root.mkdir()
    for index in range(MODELS):
        write_om(root / f"m{index}.om", spec_for(ModelParams(weight_size=300_000)))
    model_bytes = (root / "m0.om").stat().st_size
    fit = BUDGET // model_bytes  # models the budget lets wait at once: 3
    assert fit == 3

    samples: list[int] = []
    loads = 0
    readers_stuck = anyio.Event()  # the queries wait for this

    real_acquire = ByteBudget.acquire

    async def acquire(self: ByteBudget, nbytes: int) -> int:
        # Only to know when to let the queries go: a reader that must wait here cannot
        # load more. (Readers that never wait, because the budget was handed back too
        # early, are caught by the number of loads instead.)
        if self.in_use + self.clip(nbytes) > self.capacity:
            readers_stuck.set()
        return await real_acquire(self, nbytes)

    class Watched(AclBackend):
        async def load(self, entry: ModelFile) -> Loaded | Answer:
            nonlocal loads
            loaded = await super().load(entry)
            loads += 1
            samples.append(held_bytes())
            if loads > fit + 1:  # more than the budget holds, plus one in flight
                readers_stuck.set()
            return loaded

        async def query(self, entry: ModelFile, loaded: Loaded) -> Answer:
            await readers_stuck.wait()
            samples.append(held_bytes())
            return await super().query(entry, loaded)

    monkeypatch.setattr(ByteBudget, "acquire", acquire)
    options = ScanOptions(roots=[str(root)], pipeline=PipelineOptions(budget_bytes=BUDGET))
    async with (
        open_store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store,
        Watched(LocalFiles(), [0, 1], timeout=30) as backend,
    ):
        summary = await run_scan(store, backend, options)
    assert summary.status == "completed" and summary.progress.statuses == {"ok": MODELS}
    assert held_bytes() == 0  # every buffer was given back
    assert max(samples) <= BUDGET, f"held {max(samples)} bytes with a budget of {BUDGET}"
    # The measurement saw the budget filled: the readers really were held back by it.
    assert max(samples) >= fit * model_bytes
