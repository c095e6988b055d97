"""The scan under faults: interrupted by a signal, a device worker killed mid-scan."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import anyio
import pytest

from scanner.backends.acl import AclBackend
from scanner.scan.local import ScanOptions, run_scan
from scanner.scan.pipeline import Progress
from scanner.store import open_store
from scanner.store.lock import scan_lock

from .acl_double import install
from .helpers import (
    TIMEOUT,
    many_models,
    omscan_command,
    run,
    scan_statuses,
    start_omscan,
    stored,
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
        command = omscan_command("scan", str(root), "--db", db_url)
        result = await anyio.run_process(command, check=False)
        assert result.returncode == 3
        assert b"another scan is running" in result.stderr
        assert (await store.fetch("SELECT COUNT(*) AS n FROM scans"))[0]["n"] == 0
    again = await anyio.run_process(command, check=False)
    assert again.returncode == 0, again.stderr
