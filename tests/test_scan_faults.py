"""The scan under faults: interrupted by a signal, a device worker killed mid-scan."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner

from scanner.backends import om as om_backend
from scanner.backends.acl import AclBackend
from scanner.backends.om import OmBackend
from scanner.cli import cli
from scanner.om import QueryResult
from scanner.om.om2_writer import hostile_om2
from scanner.om.writer import (
    ModelParams,
    OmSpec,
    build_om,
    endless_flow_model,
    many_submodels,
    spec_for,
    write_om,
)
from scanner.scan.local import ScanOptions, run_scan
from scanner.scan.pipeline import Progress
from scanner.store import open_store
from scanner.store.lock import scan_lock

from .acl_double import install
from .test_acl_backend import worker_pids


def many_models(root: Path, count: int) -> None:
    data = build_om(spec_for(ModelParams(memory_size=1000, weight_size=10, kernels=0)))
    for index in range(count):
        folder = root / f"d{index % 20}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"m{index}.om").write_bytes(data)


def counts(db: Path) -> tuple[list[tuple[int, str]], int]:
    with sqlite3.connect(db) as conn:
        scans = conn.execute("SELECT id, status FROM scans ORDER BY id").fetchall()
        (results,) = conn.execute("SELECT COUNT(*) FROM results").fetchone()
    return scans, results


def test_sigint_commits_what_is_done_and_the_next_run_picks_up(tmp_path: Path) -> None:
    root, db = tmp_path / "repo", tmp_path / "omscan.db"
    many_models(root, 6000)
    command = [
        sys.executable,
        "-m",
        "scanner",
        "scan",
        str(root),
        "--db",
        f"sqlite:///{db}",
        "--json",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            if counts(db)[1] > 0:
                break
        except sqlite3.Error:
            continue
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 3, err
    summary = json.loads(out)
    assert summary["status"] == "interrupted"
    scans, stored = counts(db)
    assert scans == [(1, "interrupted")]
    assert 0 < stored < 6000
    assert stored == sum(summary["statuses"].values())  # every answer counted was written

    again = CliRunner().invoke(cli, ["scan", str(root), "--db", f"sqlite:///{db}", "--json"])
    assert again.exit_code == 0, again.output
    second = json.loads(again.output)
    assert second["status"] == "completed"
    assert second["files_unchanged"] == stored
    assert second["files_queried"] == 6000 - stored
    scans, total = counts(db)
    assert scans == [(1, "interrupted"), (2, "completed")]
    assert total == stored + 6000


@pytest.mark.asyncio
async def test_worker_killed_mid_scan_costs_one_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, devices=2)
    root = tmp_path / "repo"
    many_models(root, 400)
    progress = Progress()
    async with open_store(f"sqlite:///{tmp_path / 'omscan.db'}") as store:
        async with AclBackend([0, 1], timeout=30) as backend:

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

        async with AclBackend([0, 1], timeout=30) as backend:
            retry = await run_scan(store, backend, ScanOptions(roots=[str(root)]))
        assert (retry.progress.queried, retry.progress.carried, retry.failed) == (1, 399, 0)


@pytest.mark.asyncio
async def test_a_second_scan_on_the_same_database_is_refused(tmp_path: Path, db_url: str) -> None:
    root = tmp_path / "repo"
    many_models(root, 5)
    async with open_store(db_url) as store, scan_lock(store):
        command = [sys.executable, "-m", "scanner", "scan", str(root), "--db", db_url]
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


def stored_so_far(db: Path) -> int:
    try:
        return counts(db)[1]
    except sqlite3.Error:  # not created yet
        return 0


def scan_process(root: Path, db: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "scanner", "scan", str(root), "--db", f"sqlite:///{db}"]
    return subprocess.Popen(
        [*command, "--backend", "om", "--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_timeout_inside_one_model_records_it_and_the_scan_goes_on(tmp_path: Path) -> None:
    root, db = tmp_path / "repo", tmp_path / "omscan.db"
    hostile_tree(root, 3)
    process = scan_process(root, db, "--timeout", "1")
    try:
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1, err  # some models failed; the scan did not
    assert "Traceback" not in err
    summary = json.loads(out)
    assert summary["status"] == "completed"
    with sqlite3.connect(db) as conn:
        rows = dict(
            conn.execute(
                "SELECT relpath, status || ' ' || COALESCE(ret, '-') || ' ' || COALESCE(error, '')"
                " FROM latest_results"
            ).fetchall()
        )
        (partitions,) = conn.execute(
            "SELECT partitions FROM results JOIN model_files f ON f.id = file_id"
            " WHERE relpath = 'b/many_submodels.om'"
        ).fetchone()
    assert rows["z/endless.om"] == "timeout - no answer within 1 s"
    assert rows["b/empty_dynamic.om"] == "ok 0 "
    assert rows["b/many_submodels.om"] == "ok 0 "
    assert rows["b/archive_bomb.om"].startswith("failed 500002 ")
    assert json.loads(partitions)["count"] == 1000
    assert sum(status.startswith("ok") for status in rows.values()) == 5


def test_sigint_inside_one_model_ends_the_scan_with_what_is_done(tmp_path: Path) -> None:
    """The event loop stays free while a model is read, and the reader's loops see the
    cancellation: endless.om alone would run for an hour (or --timeout's default 120 s)."""
    root, db = tmp_path / "repo", tmp_path / "omscan.db"
    hostile_tree(root, 130)  # two chunks of 64 answered before the third reaches endless.om
    process = scan_process(root, db)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and stored_so_far(db) < 128:
        time.sleep(0.1)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 3, err
    assert "Traceback" not in err
    summary = json.loads(out)
    assert summary["status"] == "interrupted"
    scans, stored = counts(db)
    assert scans == [(1, "interrupted")]
    assert 128 <= stored < 134
    assert stored == sum(summary["statuses"].values())


@pytest.mark.asyncio
async def test_a_reader_bug_costs_its_model_not_the_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    many_models(root, 10)
    real = om_backend.query_path

    def query_path(path: str, **options: Any) -> QueryResult:
        if path.endswith("m3.om"):
            raise MemoryError("simulated")
        return real(path, **options)

    monkeypatch.setattr(om_backend, "query_path", query_path)
    async with open_store(f"sqlite:///{tmp_path / 'omscan.db'}") as store:
        summary = await run_scan(store, OmBackend(), ScanOptions(roots=[str(root)]))
        rows = await store.fetch("SELECT relpath, status, error FROM latest_results")
    assert summary.status == "completed" and summary.failed == 1
    crashed = [(r["relpath"], r["status"], r["error"]) for r in rows if r["status"] != "ok"]
    assert crashed == [("d3/m3.om", "worker_crashed", "reader failed: MemoryError: simulated")]
