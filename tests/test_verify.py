"""--verify records where the primary backend and our reader disagree."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from scanner.backends.base import Answer, Loaded
from scanner.backends.om import NOTHING, OmBackend
from scanner.backends.verify import VerifyingBackend
from scanner.core import ModelFile
from scanner.om.writer import ModelParams, build_om, spec_for
from scanner.scan.local import ScanOptions, run_scan
from scanner.sources.local import LocalFiles
from scanner.store import open_store


class OffByOne(OmBackend):
    """A primary backend that gets one model's work size wrong."""

    name = "liar"

    async def query(self, entry: ModelFile, loaded: Loaded) -> Answer:
        answer = await super().query(entry, loaded)
        if entry.relpath.endswith("b.om"):
            return replace(
                answer, result=replace(answer.result, work_size=answer.result.work_size + 1)
            )
        return answer


@pytest.mark.asyncio
async def test_disagreements_are_recorded_with_both_answers(tmp_path: Path) -> None:
    for name in ("a.om", "b.om"):
        (tmp_path / "repo").mkdir(exist_ok=True)
        (tmp_path / "repo" / name).write_bytes(build_om(spec_for(ModelParams(memory_size=100))))
    async with open_store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        backend = VerifyingBackend(OffByOne(LocalFiles()), LocalFiles())
        assert await backend.load(ModelFile(str(tmp_path), "x")) is NOTHING
        await run_scan(store, backend, ScanOptions(roots=[str(tmp_path / "repo")]))
        rows = await store.fetch(
            "SELECT relpath, work_size, warnings FROM latest_results ORDER BY relpath"
        )
    assert rows[0]["warnings"] is None
    assert rows[1]["work_size"] == 101
    assert "verify: liar says ret=0 work=101" in rows[1]["warnings"]
    assert "om says ret=0 work=100" in rows[1]["warnings"]
