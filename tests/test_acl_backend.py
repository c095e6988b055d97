"""The acl backend across real worker processes, against the `acl` test double."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from scanner.backends.acl import AclBackend
from scanner.backends.base import Answer, BackendError
from scanner.backends.npu import detect_devices
from scanner.core import ModelFile
from scanner.om.writer import ModelParams, build_om, spec_for
from scanner.sources.local import LocalFiles
from scanner.sources.walk import WalkOptions, walk

from .acl_double import FAKE_ACL, install
from .corpus import expected_rows, require_corpus
from .helpers import worker_pids


def entry_for(path: Path) -> ModelFile:
    info = path.stat()
    return ModelFile(
        str(path.parent), path.name, info.st_size, info.st_mtime_ns, info.st_ino, info.st_dev
    )


async def ask(backend: AclBackend, entry: ModelFile) -> Answer:
    loaded = await backend.load(entry)
    assert not isinstance(loaded, Answer), loaded
    try:
        return await backend.query(entry, loaded)
    finally:
        loaded.close()


def omscan_shm_files() -> list[str]:
    return [name for name in os.listdir("/dev/shm") if name.startswith(f"omscan-{os.getpid()}-")]


@pytest.mark.asyncio
async def test_corpus_sizes_match_our_reader_on_two_devices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus = require_corpus()
    install(monkeypatch, devices=2)
    entries = list(walk([str(corpus)], WalkOptions()))
    answers: dict[str, Answer] = {}
    async with AclBackend(LocalFiles(), detect_devices(), timeout=30) as backend:

        async def one(entry: ModelFile) -> None:
            answers[entry.relpath] = await ask(backend, entry)

        async with anyio.create_task_group() as group:
            for entry in entries:
                group.start_soon(one, entry)
    expected = {row.file: row for row in expected_rows()}
    assert set(answers) == set(expected) and len(answers) >= 10
    for name, row in expected.items():
        theirs = answers[name].result
        assert (theirs.ret, theirs.work_size, theirs.weight_size) == (
            row.ret,
            row.work_size,
            row.weight_size,
        ), name
        assert theirs.inventory is not None
    assert {answer.device for answer in answers.values()} == {0, 1}
    assert omscan_shm_files() == []


@pytest.mark.asyncio
async def test_error_codes_pass_through(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    install(monkeypatch)
    good = build_om(spec_for(ModelParams(memory_size=4096, weight_size=64, dynamic=True)))
    (tmp_path / "dynamic.om").write_bytes(good)
    (tmp_path / "broken.om").write_bytes(good[:-1])
    async with AclBackend(LocalFiles(), [0], timeout=30) as backend:
        dynamic = await ask(backend, entry_for(tmp_path / "dynamic.om"))
        broken = await ask(backend, entry_for(tmp_path / "broken.om"))
    assert (dynamic.result.ret, dynamic.result.work_size, dynamic.result.weight_size) == (0, 0, 64)
    assert dynamic.result.dynamic  # the reason comes from our reader of the same bytes
    assert broken.result.ret == 145000 and broken.result.error is not None


@pytest.mark.asyncio
async def test_killed_worker_costs_one_model_and_is_replaced(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch)
    (tmp_path / "m.om").write_bytes(build_om(spec_for(ModelParams(memory_size=77))))
    entry = entry_for(tmp_path / "m.om")
    async with AclBackend(LocalFiles(), [0], timeout=30) as backend:
        assert (await ask(backend, entry)).result.work_size == 77
        (victim,) = worker_pids()
        os.kill(victim, signal.SIGKILL)
        lost = await ask(backend, entry)
        assert lost.result.ret is None and lost.result.status == "worker_crashed"
        again = await ask(backend, entry)
        assert again.result.work_size == 77
        assert worker_pids() != [victim]
    assert worker_pids() == []


@pytest.mark.asyncio
async def test_hung_worker_times_out_and_is_replaced(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch)
    (tmp_path / "m.om").write_bytes(build_om(spec_for(ModelParams(memory_size=5))))
    entry = entry_for(tmp_path / "m.om")
    async with AclBackend(LocalFiles(), [0], timeout=1.0) as backend:
        (victim,) = worker_pids()
        os.kill(victim, signal.SIGSTOP)
        hung = await ask(backend, entry)  # answered by the 1 s timeout, not a hang
        assert hung.result.status == "timeout" and "no answer in 1 s" in str(hung.result.error)
        assert (await ask(backend, entry)).result.work_size == 5
    assert worker_pids() == []


@pytest.mark.asyncio
async def test_missing_device_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, devices=1)
    with pytest.raises(BackendError, match=r"device 3: acl\.rt\.set_device failed"):
        async with AclBackend(LocalFiles(), [3], timeout=5):
            pass
    assert worker_pids() == []


def test_visible_devices_narrow_what_the_runtime_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, devices=4)
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "1,3")
    assert detect_devices() == [0, 1]


def test_double_refuses_queries_before_init(tmp_path: Path) -> None:
    """The double's contract, in a fresh process: 145001 before acl.init, then sizes."""
    model = tmp_path / "m.om"
    model.write_bytes(build_om(spec_for(ModelParams(memory_size=11, weight_size=3))))
    script = f"""
import acl
data = open({str(model)!r}, "rb").read()
ptr = acl.util.bytes_to_ptr(data)
print(acl.mdl.query_size_from_mem(ptr, len(data)))
print(acl.init(), acl.init())
print(acl.mdl.query_size_from_mem(ptr, len(data)))
print(acl.mdl.query_size_from_mem(0, len(data)))
print(acl.finalize(), acl.finalize())
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FAKE_ACL), *sys.path])}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split("\n")[:5] == [
        "(0, 0, 145001)",
        "0 100002",
        "(11, 3, 0)",
        "(0, 0, 100000)",
        "0 100037",
    ]
