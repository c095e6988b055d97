"""The Source seam: the backends get model bytes only through the reader they are given.

A models-in-memory source, as small as a source can be, answers through the pipeline
and each backend exactly as the local tree does for the same bytes, with the tree gone
from disk meanwhile; a model replaced between its listing and its read is ``changed``
whichever source holds it, caught by the source's own check.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from pathlib import Path
from typing import Any

import pytest

from scanner.backends.acl import AclBackend
from scanner.backends.base import Backend
from scanner.backends.om import OmBackend
from scanner.core import ModelFile, Status
from scanner.core.source import ModelReader, ReadFailed
from scanner.om.source import BufferSource
from scanner.om.writer import ModelParams, build_om, spec_for
from scanner.scan.pipeline import Outcome, PipelineOptions, Progress, WorkItem, run_pipeline
from scanner.sources.local import LocalFiles, LocalSource
from scanner.sources.walk import Subtree, WalkOptions

from .acl_double import install


class MemoryModel(BufferSource):
    def __init__(self, files: MemoryFiles, record: ModelFile) -> None:
        super().__init__(files.held[record.relpath][1])
        self.files, self.record = files, record

    def close(self) -> str | None:
        return self.files.changed(self.record)


class MemoryFiles:
    """Models held in memory by relative path; each ``put`` is a new generation (its
    version), so a record listed before it is no longer the model held."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[int, bytes]] = {}

    def put(self, relpath: str, data: bytes) -> ModelFile:
        generation = len(self.held) + 1 + max((g for g, _ in self.held.values()), default=0)
        self.held[relpath] = (generation, data)
        return ModelFile("memory:", relpath, size=len(data), inode=generation)

    def changed(self, record: ModelFile) -> str | None:
        if record.relpath not in self.held:
            return "model gone since it was listed"
        generation, data = self.held[record.relpath]
        return None if (generation, len(data)) == (record.inode, record.size) else "replaced"

    def open(self, record: ModelFile) -> MemoryModel:
        if record.relpath not in self.held:
            raise ReadFailed("no such model", Status.UNREADABLE)
        return MemoryModel(self, record)

    async def read_into(self, record: ModelFile, buffer: memoryview) -> None:
        reason = self.changed(record)
        if reason is not None:
            raise ReadFailed(reason)
        buffer[:] = self.held[record.relpath][1]


def models(root: Path) -> None:
    root.mkdir()
    for name, memory in (("a.om", 100), ("b.om", 1 << 20), ("c.om", 12345)):
        (root / name).write_bytes(build_om(spec_for(ModelParams(memory_size=memory))))
    whole = build_om(spec_for(ModelParams()))
    (root / "truncated.om").write_bytes(whole[: len(whole) // 2])
    (root / "garbage.om").write_bytes(b"not a model at all " * 100)


async def listed(root: Path) -> list[ModelFile]:
    source = LocalSource([Subtree(str(root))], WalkOptions())
    return [record async for batch in source.batches() for record in batch]


Opener = Callable[[ModelReader], AbstractAsyncContextManager[Backend]]


@pytest.fixture(params=["om", "acl"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Opener:
    if request.param == "acl":
        install(monkeypatch, devices=1)
        return lambda reader: AclBackend(reader, [0], timeout=30)
    return lambda reader: nullcontext(OmBackend(reader))


async def answers(opener: Opener, reader: ModelReader, records: list[ModelFile]) -> dict[str, Any]:
    outcomes: list[Outcome] = []

    async def sink(batch: Any) -> None:
        outcomes.extend(batch)

    async def items() -> AsyncIterator[list[WorkItem]]:
        yield [WorkItem(record) for record in records]

    async with opener(reader) as chosen:
        await run_pipeline(items(), chosen, sink, PipelineOptions(), Progress())
    found = {}
    for outcome in outcomes:
        assert outcome.answer is not None
        result = outcome.answer.result
        found[outcome.entry.relpath] = (
            result.status,
            result.ret,
            result.work_size,
            result.weight_size,
            result.format,
            result.bytes_read,
            result.error,
        )
    return found


@pytest.mark.asyncio
async def test_a_source_in_memory_answers_as_the_local_tree_for_the_same_bytes(
    tmp_path: Path, backend: Opener
) -> None:
    root = tmp_path / "repo"
    models(root)
    records = await listed(root)
    local = await answers(backend, LocalFiles(), records)
    memory = MemoryFiles()
    held = [memory.put(r.relpath, Path(r.path).read_bytes()) for r in records]
    shutil.rmtree(root)  # the bytes now exist only in the memory source
    assert await answers(backend, memory, held) == local
    statuses = sorted(answer[0] for answer in local.values())
    assert statuses == ["failed", "failed", "ok", "ok", "ok"]


@pytest.mark.asyncio
@pytest.mark.parametrize("where", ["local", "memory"])
async def test_a_model_replaced_after_its_listing_is_changed_through_the_source(
    tmp_path: Path, backend: Opener, where: str
) -> None:
    root = tmp_path / "repo"
    models(root)
    records = await listed(root)
    replacement = build_om(spec_for(ModelParams(memory_size=777)))
    reader: ModelReader
    if where == "local":
        reader = LocalFiles()
        (root / "b.om").write_bytes(replacement)  # after the listing, before the read
    else:
        memory = MemoryFiles()
        records = [memory.put(r.relpath, Path(r.path).read_bytes()) for r in records]
        memory.put("b.om", replacement)
        reader = memory
    found = await answers(backend, reader, records)
    assert found.pop("b.om")[0] == Status.CHANGED
    assert sorted(answer[0] for answer in found.values()) == ["failed", "failed", "ok", "ok"]


@pytest.mark.asyncio
async def test_the_local_reader_checks_each_read_against_the_record(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    models(root)
    record = next(r for r in await listed(root) if r.relpath == "a.om")
    files = LocalFiles()
    model = files.open(record)
    assert model.read(0, 4) and model.close() is None
    (root / "a.om").write_bytes(build_om(spec_for(ModelParams(memory_size=5))))
    with pytest.raises(ReadFailed) as caught:
        await files.read_into(record, memoryview(bytearray(record.size)))
    assert caught.value.status == Status.CHANGED
    (root / "a.om").unlink()
    with pytest.raises(ReadFailed) as gone:
        files.open(record)
    assert gone.value.status == Status.CHANGED and "gone" in str(gone.value)
