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

import anyio
import pytest
from click.testing import CliRunner

from scanner.backends.acl import AclBackend
from scanner.cli import cli
from scanner.om.writer import ModelParams, build_om, spec_for
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
