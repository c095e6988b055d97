"""Distributed scans against the local PostgreSQL: real worker processes share the
queue, each file is done once, a killed worker's leases go to the others, a late one
joins in, and a file one host cannot see is passed on, not failed for everyone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import anyio
import psycopg
import pytest
from click.testing import CliRunner

from scanner.backends.acl import AclBackend
from scanner.backends.om import OmBackend
from scanner.cli import cli
from scanner.demo import make_demo
from scanner.scan.distributed import enqueue_scan
from scanner.scan.local import ScanOptions, run_scan
from scanner.sources.local import LocalFiles
from scanner.store import Store, open_store
from scanner.store.queue import MAX_EXPIRED, WorkQueue

from .acl_double import install
from .fleet import drain, enqueue, scan_status, start_worker
from .helpers import many_models, query, wait_for


def registered(url: str) -> int:
    """Workers registered so far (0 before the first one has created the schema)."""
    try:
        return int(query(url, "SELECT count(*) FROM workers")[0][0])
    except psycopg.Error:
        return 0


def test_every_file_done_exactly_once_and_a_late_worker_joins_in(
    tmp_path: Path, pg_url: str, workers: list[subprocess.Popen[str]]
) -> None:
    root = tmp_path / "repo"
    many_models(root, 4000)
    for host in ("h1", "h2"):
        start_worker(workers, pg_url, host, "--claim", "16")
    wait_for(lambda: registered(pg_url) == 2, what="both workers polling the empty queue")
    queued = enqueue(pg_url, root)
    assert queued["files_queued"] == 4000 and queued["status"] == "running"
    scan_id = queued["scan_id"]

    wait_for(
        lambda: query(pg_url, "SELECT count(*) FROM work_items WHERE state = 'done'")[0][0] > 0
    )
    for early in workers:  # paused, so that work is surely left when the late one comes
        early.send_signal(signal.SIGSTOP)
    start_worker(workers, pg_url, "h3", "--claim", "16")
    wait_for(
        lambda: (
            query(
                pg_url,
                "SELECT count(*) FROM work_items w JOIN workers k ON k.id = w.done_by"
                " WHERE k.host = 'h3'",
            )[0][0]
            > 0
        )
    )
    for early in workers[:2]:
        early.send_signal(signal.SIGCONT)
    wait_for(lambda: scan_status(pg_url, scan_id) == "completed")
    for process in workers:
        process.send_signal(signal.SIGTERM)
    summaries = []
    for process in workers:
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        summaries.append(json.loads(out))

    # Every file once: one claim each, no lease ran out, one result row per file.
    assert query(
        pg_url, "SELECT state, attempts, expired, count(*) FROM work_items GROUP BY 1, 2, 3"
    ) == [("done", 1, 0, 4000)]
    assert query(
        pg_url, f"SELECT count(*), count(DISTINCT file_id) FROM results WHERE scan_id = {scan_id}"
    ) == [(4000, 4000)]
    done = {s["host"]: s["files_done"] for s in summaries}
    assert sum(done.values()) == 4000 and all(done[h] > 0 for h in ("h1", "h2", "h3")), done

    status = CliRunner().invoke(cli, ["status", "--db", pg_url, "--format", "json"])
    assert status.exit_code == 0, status.output
    progress = json.loads(status.output)
    assert (progress["status"], progress["done"], progress["failed"]) == ("completed", 4000, 0)
    assert {w["host"]: w["done"] for w in progress["workers"]} == done
    assert all(w["state"] == "stopped" and w["claimed"] == 0 for w in progress["workers"])


def test_a_killed_worker_s_leased_work_is_finished_by_another(
    tmp_path: Path, pg_url: str, workers: list[subprocess.Popen[str]]
) -> None:
    root = tmp_path / "repo"
    many_models(root, 1500)
    scan_id = enqueue(pg_url, root)["scan_id"]
    doomed = start_worker(workers, pg_url, "doomed", "--lease-seconds", "2", "--claim", "50")

    def holding_leases_after_some_work() -> bool:
        ((done, held),) = query(
            pg_url,
            "SELECT count(*) FILTER (WHERE state = 'done'),"
            " count(*) FILTER (WHERE state = 'leased') FROM work_items",
        )
        return bool(done >= 100 and held > 0)

    def frozen_holding_leases() -> bool:
        """Stop the worker while it holds leases (it may be between two claims
        when first seen, so look again once it cannot move)."""
        wait_for(holding_leases_after_some_work)
        doomed.send_signal(signal.SIGSTOP)
        if holding_leases_after_some_work():
            return True
        doomed.send_signal(signal.SIGCONT)
        return False

    wait_for(frozen_holding_leases)
    doomed.kill()
    doomed.communicate()
    ((orphaned,),) = query(pg_url, "SELECT count(*) FROM work_items WHERE state = 'leased'")
    assert orphaned > 0

    survivor = start_worker(workers, pg_url, "survivor", "--lease-seconds", "2", "--exit-when-idle")
    out, err = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, err
    assert scan_status(pg_url, scan_id) == "completed"
    assert query(pg_url, "SELECT count(*) FROM work_items WHERE state <> 'done'") == [(0,)]
    ((taken_over,),) = query(
        pg_url,
        "SELECT count(*) FROM work_items w JOIN workers k ON k.id = w.done_by"
        " WHERE w.expired = 1 AND k.host = 'survivor'",
    )
    assert taken_over == orphaned  # each lease the dead worker held ran out, once
    assert query(
        pg_url, f"SELECT count(*), count(DISTINCT file_id) FROM results WHERE scan_id = {scan_id}"
    ) == [(1500, 1500)]
    assert (
        json.loads(out)["files_done"]
        == 1500
        - query(
            pg_url,
            "SELECT count(*) FROM work_items w JOIN workers k ON k.id = w.done_by"
            " WHERE k.host = 'doomed'",
        )[0][0]
    )


@pytest.mark.asyncio
async def test_a_file_one_host_cannot_see_is_passed_to_another_host(
    tmp_path: Path, pg_url: str
) -> None:
    root = tmp_path / "repo"
    many_models(root, 1)
    async with open_store(pg_url) as store:
        await enqueue_scan(store, ScanOptions(roots=[str(root)]))
        queue = WorkQueue(store)
        a = await queue.register("a", "om", [])
        b = await queue.register("b", "om", [])
        (claim,) = await queue.claim(a, "a", 10)
        assert not claim.missed_here
        await queue.missed("a", [(claim.item_id, claim.token, "ENOENT: No such file")])
        assert await queue.claim(a, "a", 10) == []  # not offered to the host that missed it
        (again,) = await queue.claim(b, "b", 10)
        assert (again.item_id, again.token, again.missed_here) == (claim.item_id, 2, False)
        await queue.missed("b", [(again.item_id, again.token, "EACCES: Permission denied")])
        # No live host is left that has not tried it: it goes to one that did, to record.
        (last,) = await queue.claim(a, "a", 10)
        assert (last.item_id, last.missed_here) == (claim.item_id, True)
        assert await queue.misses_of(claim.item_id) == [
            ("a", "ENOENT: No such file"),
            ("b", "EACCES: Permission denied"),
        ]


@pytest.mark.asyncio
async def test_a_file_deleted_after_the_walk_is_recorded_changed_naming_each_host(
    tmp_path: Path, pg_url: str
) -> None:
    root = tmp_path / "repo"
    many_models(root, 3)
    async with open_store(pg_url) as store:
        summary = await enqueue_scan(store, ScanOptions(roots=[str(root)]))
        (root / "d0" / "m0.om").unlink()
        worker = await drain(store, host="only")
        assert worker.stored == {"ok": 2, "changed": 1}
        (row,) = await store.fetch(
            "SELECT status, error FROM latest_results WHERE relpath = :p", p="d0/m0.om"
        )
        assert row["status"] == "changed"  # deleted since the walk, as a local scan says
        assert row["error"] == "file gone since the walk (only: ENOENT: No such file or directory)"
        (scan,) = await store.fetch("SELECT status FROM scans WHERE id = :s", s=summary.scan_id)
        assert scan["status"] == "completed"


async def lease_ran_out(store: Store) -> bool:
    """Whether every lease held has expired, by the database's clock."""
    (row,) = await store.fetch(
        "SELECT bool_and(lease_expires_at < now()) AS out FROM work_items WHERE state = 'leased'"
    )
    return bool(row["out"])


@pytest.mark.asyncio
async def test_a_file_whose_leases_keep_running_out_is_given_up(
    tmp_path: Path, pg_url: str
) -> None:
    root = tmp_path / "repo"
    many_models(root, 1)
    async with open_store(pg_url) as store:
        await enqueue_scan(store, ScanOptions(roots=[str(root)]))
        queue = WorkQueue(store, lease_seconds=0.05)
        for index in range(MAX_EXPIRED):  # claimed, then the lease runs out: a worker died
            lost = await queue.register(f"lost{index}", "om", [])
            for _ in range(2):  # one worker losing it twice counts once
                assert len(await queue.claim(lost, f"lost{index}", 10)) == 1
                with anyio.fail_after(30):
                    while not await lease_ran_out(store):
                        await anyio.sleep(0.02)
        worker = await drain(store, host="next")
        assert worker.stored == {"abandoned": 1}
        (row,) = await store.fetch("SELECT status, error FROM latest_results")
        assert row["error"].startswith(f"given up: {MAX_EXPIRED} workers lost their lease")
        (item,) = await store.fetch("SELECT attempts, expired FROM work_items")
        assert (item["attempts"], item["expired"]) == (2 * MAX_EXPIRED + 1, MAX_EXPIRED)


@pytest.mark.asyncio
async def test_distributed_and_local_scans_store_the_same_answers(
    tmp_path: Path, pg_url: str
) -> None:
    make_demo(tmp_path / "demo")
    columns = "relpath, status, ret, work_size, weight_size, model_name, error"
    async with open_store(pg_url) as store:
        await enqueue_scan(store, ScanOptions(roots=[str(tmp_path / "demo")]))
        await drain(store)
        distributed = await store.fetch(f"SELECT {columns} FROM latest_results ORDER BY relpath")
    async with open_store(f"sqlite:///{tmp_path / 'local.db'}") as store:
        await run_scan(store, OmBackend(LocalFiles()), ScanOptions(roots=[str(tmp_path / "demo")]))
        local = await store.fetch(f"SELECT {columns} FROM latest_results ORDER BY relpath")
    assert distributed == local and len(local) >= 10


@pytest.mark.asyncio
async def test_workers_store_each_file_s_version_and_the_next_walk_carries_the_unchanged(
    tmp_path: Path, pg_url: str
) -> None:
    """The version token a worker stores is the file's as it claimed it: the next
    distributed walk queues only the file touched since, carrying the others."""
    root = tmp_path / "repo"
    many_models(root, 3)
    async with open_store(pg_url) as store:
        await enqueue_scan(store, ScanOptions(roots=[str(root)]))
        assert (await drain(store)).stored == {"ok": 3}
        stored = await store.fetch(
            "SELECT f.relpath, f.version, r.file_version"
            " FROM results r JOIN model_files f ON f.id = r.file_id ORDER BY f.relpath"
        )
        tokens = []
        for row in stored:
            info = (root / row["relpath"]).stat()
            tokens.append(f"{info.st_dev}:{info.st_ino}:{info.st_mtime_ns}")
        touched = root / "d0" / "m0.om"
        os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 1))
        again = await enqueue_scan(store, ScanOptions(roots=[str(root)]))
    assert [row["version"] for row in stored] == tokens
    assert [row["file_version"] for row in stored] == tokens
    assert (again.progress.carried, again.extra["queued"]) == (2, 1)


def test_distributed_scans_need_postgresql(tmp_path: Path, sqlite_url: str) -> None:
    result = CliRunner().invoke(cli, ["scan", "--distributed", str(tmp_path), "--db", sqlite_url])
    assert result.exit_code == 3
    assert "distributed scans need a PostgreSQL database" in result.output
    worker = CliRunner().invoke(cli, ["worker", "--db", sqlite_url, "--backend", "om"])
    assert worker.exit_code == 3
    assert "distributed scans need a PostgreSQL database" in worker.output
    assert not os.path.exists(sqlite_url.removeprefix("sqlite:///"))  # refused, not created


@pytest.mark.asyncio
async def test_a_worker_queries_on_its_own_device_processes(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, devices=2)
    root = tmp_path / "repo"
    many_models(root, 40)
    async with open_store(pg_url) as store:
        await enqueue_scan(store, ScanOptions(roots=[str(root)]))
        async with AclBackend(LocalFiles(), [0, 1], timeout=30) as backend:
            worker = await drain(store, backend, devices=[0, 1])
        assert worker.stored == {"ok": 40}
        rows = await store.fetch(
            "SELECT backend, npu_device, count(*) AS n FROM latest_results"
            " GROUP BY backend, npu_device ORDER BY npu_device"
        )
        assert [(r["backend"], r["npu_device"]) for r in rows] == [("acl", 0), ("acl", 1)]
        assert sum(r["n"] for r in rows) == 40
        (registered,) = await store.fetch("SELECT backend, devices FROM workers")
        assert (registered["backend"], registered["devices"]) == ("acl", "[0, 1]")


@pytest.mark.asyncio
async def test_a_local_scan_leaves_a_draining_distributed_scan_running(
    tmp_path: Path, pg_url: str
) -> None:
    many_models(tmp_path / "shared", 5)
    many_models(tmp_path / "local", 5)
    async with open_store(pg_url) as store:
        queued = await enqueue_scan(store, ScanOptions(roots=[str(tmp_path / "shared")]))
        await run_scan(store, OmBackend(LocalFiles()), ScanOptions(roots=[str(tmp_path / "local")]))
        (scan,) = await store.fetch("SELECT status FROM scans WHERE id = :s", s=queued.scan_id)
        assert scan["status"] == "running"  # not taken for a killed scan
        assert (await drain(store)).progress.written == 5
        (scan,) = await store.fetch("SELECT status FROM scans WHERE id = :s", s=queued.scan_id)
        assert scan["status"] == "completed"
