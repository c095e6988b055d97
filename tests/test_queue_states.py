"""The work queue's bookkeeping (PostgreSQL): a worker leaving hands back only its own
leases, a host stays live until its deadline (a lease after its heartbeat), a scan is complete
only once its walk is over, and a drained scan's summary counts what was done."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from scanner.backends.om import OmBackend
from scanner.om import QueryResult
from scanner.scan.distributed import WorkerOptions, enqueue_scan, run_worker
from scanner.scan.local import ScanOptions
from scanner.sources.local import LocalFiles
from scanner.store import ResultItem, Store, open_store
from scanner.store.queue import FencedAnswer, WorkQueue

from .helpers import many_models, write_model


async def items(store: Store) -> dict[str, tuple[str, int | None]]:
    rows = await store.fetch("SELECT relpath, state, lease_owner FROM work_items")
    return {row["relpath"]: (row["state"], row["lease_owner"]) for row in rows}


@pytest.mark.asyncio
async def test_a_worker_leaving_hands_back_its_own_leases_only(tmp_path: Path, pg_url: str) -> None:
    many_models(tmp_path / "repo", 2)
    async with open_store(pg_url) as store:
        await enqueue_scan(store, ScanOptions(roots=[str(tmp_path / "repo")]))
        queue = WorkQueue(store)
        mine = await queue.register("mine", "om", [])
        theirs = await queue.register("theirs", "om", [])
        (claimed,) = await queue.claim(mine, "mine", 1)
        (kept,) = await queue.claim(theirs, "theirs", 1)
        await queue.stop(mine)
        assert await items(store) == {
            claimed.relpath: ("queued", None),  # back for anyone, at once
            kept.relpath: ("leased", theirs),
        }
        rows = await store.fetch("SELECT host, stopped_at IS NOT NULL AS gone FROM workers")
        assert {row["host"]: bool(row["gone"]) for row in rows} == {"mine": True, "theirs": False}


@pytest.mark.asyncio
async def test_a_host_is_live_until_its_deadline_after_its_heartbeat(
    tmp_path: Path, pg_url: str
) -> None:
    many_models(tmp_path / "repo", 1)
    async with open_store(pg_url) as store:
        await enqueue_scan(store, ScanOptions(roots=[str(tmp_path / "repo")]))
        queue = WorkQueue(store, lease_seconds=30)
        a = await queue.register("a", "om", [])
        await queue.register("b", "om", [])

        async def b_silent_for_a_second() -> bool:
            (row,) = await store.fetch(
                "SELECT now() - heartbeat_at > interval '1 second' AS silent"
                " FROM workers WHERE host = 'b'"
            )
            return bool(row["silent"])

        with anyio.fail_after(30):
            while not await b_silent_for_a_second():
                await anyio.sleep(0.05)
        (claim,) = await queue.claim(a, "a", 1)
        # b's heartbeat is a second old, its deadline 29 s away: b may still see the file.
        await queue.missed("a", [(claim.item_id, claim.token, "ENOENT: gone")])
        assert (await items(store))[claim.relpath] == ("queued", None)


@pytest.mark.asyncio
async def test_a_scan_is_complete_only_once_its_walk_is_over(pg_url: str) -> None:
    async with open_store(pg_url) as store:
        queue = WorkQueue(store)
        scan_id = await store.start_scan(["/repo"], "host", "distributed", [], {})
        await queue.open_scan(scan_id)
        await queue.enqueue(scan_id, [("/repo", "a.om")])
        await queue.enqueue(scan_id, [("/repo", "b.om")])
        worker = await queue.register("w", "om", [])
        claims = await queue.claim(worker, "w", 10)
        answers = [
            FencedAnswer(
                c.item_id,
                c.token,
                scan_id,
                c.repository_id,
                ResultItem(c.root, c.relpath, 1, 1, 1, 1, "1:1:1", QueryResult(ret=0), "om"),
            )
            for c in claims
        ]
        assert await queue.store_answers(worker, answers) == {c.item_id for c in claims}
        assert await queue.close_finished() == []  # drained, but the walk goes on
        (row,) = await store.fetch("SELECT files, enqueued FROM work_scans")
        assert (row["files"], row["enqueued"]) == (2, False)
        await queue.close_scan(scan_id, removed=0)
        assert await queue.close_finished() == [scan_id]


@pytest.mark.asyncio
async def test_a_drained_scan_s_summary_counts_what_was_done(tmp_path: Path, pg_url: str) -> None:
    root = tmp_path / "repo"
    for name in ("a.om", "b.om", "c.om"):
        write_model(root / name, 1000, 10)
    options = WorkerOptions(host="w", poll_seconds=0.05, exit_when_idle=True)
    async with open_store(pg_url) as store:
        for _ in range(2):  # the second time, b.om changed: two files carried
            summary = await enqueue_scan(store, ScanOptions(roots=[str(root)]))
            await run_worker(store, OmBackend(LocalFiles()), options)
            write_model(root / "b.om", 2000, 10)
        (row,) = await store.fetch("SELECT counts FROM scans WHERE id = :s", s=summary.scan_id)
        (read,) = await store.fetch(
            "SELECT bytes_read FROM results WHERE scan_id = :s AND NOT carried",
            s=summary.scan_id,
        )
    counts = json.loads(row["counts"])
    assert {k: counts[k] for k in ("status", "files_seen", "files_queried", "files_unchanged")} == {
        "status": "completed",
        "files_seen": 3,
        "files_queried": 1,
        "files_unchanged": 2,
    }
    assert (counts["files_failed"], counts["statuses"]) == (0, {"ok": 3})
    assert counts["bytes_read"] == read["bytes_read"] > 0  # only the file read this time


@pytest.mark.asyncio
async def test_storing_an_answer_again_under_the_same_claim_counts_it_stored_once(
    pg_url: str,
) -> None:
    """A first try that committed but whose answer was lost (a timeout on COMMIT) is
    tried again: the same claim's answer is stored once and counted stored, not late;
    another worker's answer for the item stays late."""
    async with open_store(pg_url) as store:
        queue = WorkQueue(store)
        scan_id = await store.start_scan(["/repo"], "host", "distributed", [], {})
        await queue.open_scan(scan_id)
        await queue.enqueue(scan_id, [("/repo", "a.om")])
        worker = await queue.register("w", "om", [])
        other = await queue.register("o", "om", [])
        (claim,) = await queue.claim(worker, "w", 1)
        answer = FencedAnswer(
            claim.item_id,
            claim.token,
            scan_id,
            claim.repository_id,
            ResultItem(claim.root, claim.relpath, 1, 1, 1, 1, "1:1:1", QueryResult(ret=0), "om"),
        )
        assert await queue.store_answers(worker, [answer]) == {claim.item_id}
        assert await queue.store_answers(worker, [answer]) == {claim.item_id}  # the retry
        assert await queue.store_answers(other, [answer]) == set()  # not its claim
        rows = await store.fetch("SELECT count(*) AS n FROM results")
        assert rows[0]["n"] == 1
        (item,) = await store.fetch("SELECT state, done_by FROM work_items")
        assert (item["state"], item["done_by"]) == ("done", worker)
