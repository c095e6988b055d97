"""The scan lifecycle on its own: whatever ends the body (a stop, an error, a cancellation
from outside), the scan row is closed once, with the status the scan reached and its
counts, and the close is shielded, so the cancellation that ended the scan cannot skip it."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from scanner.scan.lifecycle import ScanRun, scan_lifecycle, until_stopped
from scanner.store import Store, StoreError, open_store
from scanner.store.counts import scan_counts

ROOT = "/models"


async def open_row(run: ScanRun) -> int:
    summary = await run.open([ROOT], backend="om", devices=[], options={}, repositories=[ROOT])
    summary.progress.seen = 3
    summary.progress.statuses = {"ok": 2, "failed": 1}
    return summary.scan_id


async def scan_rows(store: Store) -> list[tuple[str, dict[str, Any] | None]]:
    rows = await store.fetch("SELECT status, counts FROM scans ORDER BY id")
    return [(r["status"], r["counts"] and json.loads(r["counts"])) for r in rows]


@pytest.mark.asyncio
async def test_a_stopped_scan_is_closed_interrupted_with_its_counts(db_url: str) -> None:
    stop = anyio.Event()
    async with open_store(db_url) as store:
        async with scan_lifecycle(store) as run:
            await open_row(run)
            async with run.until_stopped(stop) as scope:
                stop.set()
                await anyio.sleep_forever()  # the stop cancels this
            assert scope.cancelled_caught
        ((status, counts),) = await scan_rows(store)
    assert status == "interrupted" and counts is not None
    assert (counts["status"], counts["files_seen"], counts["files_failed"]) == ("interrupted", 3, 1)
    assert counts["statuses"] == {"ok": 2, "failed": 1}
    assert run.summary is not None and run.summary.seconds > 0


@pytest.mark.asyncio
async def test_an_error_closes_the_scan_failed_and_is_raised_as_it_was(db_url: str) -> None:
    async with open_store(db_url) as store:
        with pytest.raises(ValueError, match="broken"):
            async with scan_lifecycle(store) as run:
                await open_row(run)
                async with run.until_stopped(None):
                    raise ValueError("broken")  # not wrapped in an exception group
        assert [status for status, _ in await scan_rows(store)] == ["failed"]


@pytest.mark.asyncio
async def test_a_cancellation_from_outside_still_closes_the_row_shielded(db_url: str) -> None:
    """The close awaits the database inside a cancelled scope: unshielded, it would be
    cancelled at once and leave the row ``running`` for the next scan to guess about."""
    opened = anyio.Event()
    async with open_store(db_url) as store:

        async def scan() -> None:
            async with scan_lifecycle(store) as run:
                await open_row(run)
                opened.set()
                await anyio.sleep_forever()

        async with anyio.create_task_group() as group:
            group.start_soon(scan)
            await opened.wait()
            group.cancel_scope.cancel()
        ((status, counts),) = await scan_rows(store)
        assert status == "failed" and counts is not None and counts["files_seen"] == 3
        async with scan_lifecycle(store):  # the lock was let go
            pass


@pytest.mark.asyncio
async def test_a_scan_handed_over_to_the_workers_stays_open(db_url: str) -> None:
    async with open_store(db_url) as store:
        async with scan_lifecycle(store) as run:
            await open_row(run)
            assert run.summary is not None
            run.summary.status = "running"
            run.hand_over()
        assert await scan_rows(store) == [("running", None)]


@pytest.mark.asyncio
async def test_a_failed_close_hides_neither_error(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan that failed reports its own error, not the close's; a scan that did not
    fail reports the close's (its row would otherwise say ``running``, unexplained)."""

    async def unreachable(*_: object) -> None:
        raise StoreError("database gone")

    async with open_store(db_url) as store:
        monkeypatch.setattr(store, "finish_scan", unreachable)
        with pytest.raises(ValueError, match="broken"):
            async with scan_lifecycle(store) as run:
                await open_row(run)
                raise ValueError("broken")
        with pytest.raises(StoreError, match="database gone"):
            async with scan_lifecycle(store) as run:
                await open_row(run)
                assert run.summary is not None
                run.summary.status = "interrupted"


@pytest.mark.asyncio
async def test_a_task_beside_that_fails_stops_the_body_with_its_error() -> None:
    async def heartbeat() -> None:
        raise StoreError("lease lost")

    with pytest.raises(StoreError, match="lease lost"):
        async with until_stopped(None, heartbeat):
            await anyio.sleep_forever()


@pytest.mark.asyncio
async def test_a_body_that_finishes_ends_the_tasks_beside_and_was_not_stopped() -> None:
    ended = anyio.Event()

    async def forever() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            ended.set()

    async with until_stopped(anyio.Event(), forever) as scope:
        pass
    assert ended.is_set() and not scope.cancelled_caught


def test_counts_have_one_shape_with_the_measured_figures_where_measured() -> None:
    common = {"seen": 3, "queried": 1, "unchanged": 2, "removed": 0, "bytes_read": 10}
    statuses = {"ok": 2, "timeout": 1}
    local = scan_counts(
        7, "completed", **common, statuses=statuses, seconds=1.23456, peak_budget_bytes=5
    )
    drained = scan_counts(7, "completed", **common, statuses=statuses)
    assert list(local) == [
        "scan_id", "status", "seconds", "files_seen", "files_queried", "files_unchanged",
        "files_failed", "files_removed", "bytes_read", "statuses", "peak_budget_bytes",
    ]  # fmt: skip
    assert {k: v for k, v in local.items() if k not in ("seconds", "peak_budget_bytes")} == drained
    assert (local["seconds"], local["files_failed"]) == (1.235, 1)
    statuses["ok"] = 3
    assert drained["statuses"] == {"ok": 2, "timeout": 1}  # a copy, not the live counters
