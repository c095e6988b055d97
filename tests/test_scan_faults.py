"""The scan under faults: interrupted by a signal, a device worker killed mid-scan."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from scanner.backends import answer as om_answer
from scanner.backends.acl import AclBackend
from scanner.backends.om import OmBackend
from scanner.core import ModelFile
from scanner.om import QueryResult
from scanner.om.om2_writer import hostile_om2
from scanner.om.writer import OmSpec, build_om, endless_flow_model, many_submodels, write_om
from scanner.scan.local import ScanOptions, run_scan
from scanner.scan.pipeline import Progress
from scanner.sources.local import LocalFiles
from scanner.store import open_store
from scanner.store.lock import scan_lock

from .acl_double import install
from .helpers import (
    TIMEOUT,
    many_models,
    omscan,
    omscan_command,
    query,
    run,
    scan_statuses,
    start_omscan,
    stored,
    wait_for,
    wait_for_results,
    worker_pids,
)


def test_sigint_commits_what_is_done_and_the_next_run_picks_up(tmp_path: Path) -> None:
    root, url = tmp_path / "repo", f"sqlite:///{tmp_path / 'omscan.db'}"
    many_models(root, 6000)
    process = start_omscan("scan", str(root), "--db", url, "--json")
    before_signal = wait_for_results(url, 1, process)  # stored, and still running
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 3, err
    summary = json.loads(out)
    assert summary["status"] == "interrupted"
    assert scan_statuses(url) == [(1, "interrupted")]
    kept = stored(url, 1)
    assert 0 < before_signal <= kept < 6000  # the signal landed mid-scan
    assert kept == sum(summary["statuses"].values())  # every answer counted was written

    code, output = run("scan", str(root), "--db", url, "--json")
    assert code == 0, output
    second = json.loads(output)
    assert second["status"] == "completed"
    assert second["files_unchanged"] == kept
    assert second["files_queried"] == 6000 - kept
    assert scan_statuses(url) == [(1, "interrupted"), (2, "completed")]
    assert stored(url, 2) == 6000


@pytest.mark.asyncio
async def test_worker_killed_mid_scan_costs_one_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, devices=2)
    root = tmp_path / "repo"
    many_models(root, 400)
    progress = Progress()
    async with open_store(f"sqlite:///{tmp_path / 'omscan.db'}") as store:
        async with AclBackend(LocalFiles(), [0, 1], timeout=30) as backend:

            async def kill_one_worker() -> None:
                while progress.queried < 50:
                    await anyio.sleep(0.001)
                os.kill(worker_pids()[0], signal.SIGKILL)

            async with anyio.create_task_group() as group:
                group.start_soon(kill_one_worker)
                summary = await run_scan(
                    store, backend, ScanOptions(roots=[str(root)]), progress=progress
                )
        rows = await store.fetch("SELECT status, COUNT(*) AS n FROM latest_results GROUP BY status")
        assert {row["status"]: row["n"] for row in rows} == {"ok": 399, "worker_crashed": 1}
        assert summary.status == "completed" and summary.failed == 1

        async with AclBackend(LocalFiles(), [0, 1], timeout=30) as backend:
            retry = await run_scan(store, backend, ScanOptions(roots=[str(root)]))
        assert (retry.progress.queried, retry.progress.carried, retry.failed) == (1, 399, 0)


@pytest.mark.asyncio
async def test_a_second_scan_on_the_same_database_is_refused(tmp_path: Path, db_url: str) -> None:
    root = tmp_path / "repo"
    many_models(root, 5)
    async with open_store(db_url) as store, scan_lock(store):
        command = omscan_command("scan", str(root), "--db", db_url)
        result = await anyio.run_process(command, check=False)
        assert result.returncode == 3
        assert b"another scan is running" in result.stderr
        assert (await store.fetch("SELECT COUNT(*) AS n FROM scans"))[0]["n"] == 0
    again = await anyio.run_process(command, check=False)
    assert again.returncode == 0, again.stderr


# --- one pathological model ------------------------------------------------------------


def hostile_tree(root: Path, small: int) -> None:
    """``small`` ordinary models first (the walk takes a directory's files, then its
    folders in order), then the shapes that once hung, exhausted or crashed a scan: an
    endless table walk last (z/endless.om, ~70 minutes of work)."""
    many_models(root / "a", small)
    (root / "b").mkdir()
    empty = OmSpec(submodels=[], is_unknow_model=1, model_num=0)
    (root / "b" / "empty_dynamic.om").write_bytes(build_om(empty))
    write_om(root / "b" / "many_submodels.om", many_submodels(1000))
    (root / "b" / "archive_bomb.om").write_bytes(hostile_om2("shared_object_bomb", 5000))
    (root / "z").mkdir()
    write_om(root / "z" / "endless.om", endless_flow_model())


def reading(process: subprocess.Popen[str], name: str) -> bool:
    """Whether the process, or one of its reader processes (--jobs), holds the file
    ``name`` open (the reader is inside it)."""
    try:
        return any(
            os.readlink(fd).endswith(name)
            for pid in [process.pid, *_children(process.pid)]
            for fd in Path(f"/proc/{pid}/fd").iterdir()
        )
    except FileNotFoundError:  # a descriptor closed, or a process ended, while we looked
        return False


def _children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


@pytest.mark.parametrize("jobs", ["1", "2"])  # the reader in the scan's own thread, or not
def test_timeout_inside_one_model_records_it_and_the_scan_goes_on(
    tmp_path: Path, jobs: str
) -> None:
    root, db = tmp_path / "repo", tmp_path / "omscan.db"
    hostile_tree(root, 3)
    result = omscan(
        "scan",
        str(root),
        "--db",
        f"sqlite:///{db}",
        "--backend",
        "om",
        "--json",
        "--timeout",
        "1",
        "--jobs",
        jobs,
    )
    assert result.returncode == 1, result.stderr  # some models failed; the scan did not
    assert "Traceback" not in result.stderr
    assert json.loads(result.stdout)["status"] == "completed"
    url = f"sqlite:///{db}"
    rows = dict(
        query(
            url,
            "SELECT relpath, status || ' ' || COALESCE(ret, '-') || ' ' || COALESCE(error, '')"
            " FROM latest_results",
        )
    )
    ((partitions,),) = query(
        url,
        "SELECT partitions FROM results JOIN model_files f ON f.id = file_id"
        " WHERE relpath = 'b/many_submodels.om'",
    )
    assert rows["z/endless.om"] == "timeout - no answer within 1 s"
    assert rows["b/empty_dynamic.om"] == "ok 0 "
    assert rows["b/many_submodels.om"] == "ok 0 "
    assert rows["b/archive_bomb.om"].startswith("failed 500002 ")
    assert json.loads(partitions)["count"] == 1000
    assert sum(status.startswith("ok") for status in rows.values()) == 5


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigint_inside_one_model_ends_the_scan_with_what_is_done(tmp_path: Path, jobs: str) -> None:
    """The reader's loops see the signal, whether it runs in the scan's own thread
    (--jobs 1) or in reader processes: endless.om alone would run for an hour (or
    --timeout's default 120 s)."""
    root, url = tmp_path / "repo", f"sqlite:///{tmp_path / 'omscan.db'}"
    hostile_tree(root, 130)  # two chunks of 64 answered before the third reaches endless.om
    process = start_omscan(
        "scan", str(root), "--db", url, "--backend", "om", "--json", "--jobs", jobs
    )
    try:
        wait_for(lambda: reading(process, "z/endless.om"), what="the reader inside endless.om")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 3, err
    assert "Traceback" not in err
    summary = json.loads(out)
    assert summary["status"] == "interrupted"
    assert scan_statuses(url) == [(1, "interrupted")]
    kept = stored(url, 1)
    assert 128 <= kept < 134
    assert kept == sum(summary["statuses"].values())


@pytest.mark.asyncio
async def test_a_reader_bug_costs_its_model_not_the_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    many_models(root, 10)
    real = om_answer.answer_model

    def answer_model(entry: ModelFile, *args: Any) -> QueryResult:
        if entry.path.endswith("m3.om"):
            raise MemoryError("simulated")
        return real(entry, *args)

    monkeypatch.setattr(om_answer, "answer_model", answer_model)
    async with open_store(f"sqlite:///{tmp_path / 'omscan.db'}") as store:
        summary = await run_scan(store, OmBackend(LocalFiles()), ScanOptions(roots=[str(root)]))
        rows = await store.fetch("SELECT relpath, status, error FROM latest_results")
    assert summary.status == "completed" and summary.failed == 1
    crashed = [(r["relpath"], r["status"], r["error"]) for r in rows if r["status"] != "ok"]
    assert crashed == [("d3/m3.om", "worker_crashed", "reader failed: MemoryError: simulated")]
