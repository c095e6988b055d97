"""A live worker keeps its claim: its heartbeat renews the lease for as long as it works,
so no other worker gets the file however long the query takes (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path

import anyio
import pytest

from scanner.backends.base import Answer, Loaded
from scanner.backends.om import OmBackend
from scanner.core import ModelFile
from scanner.scan.distributed import WorkerOptions, enqueue_scan, run_worker
from scanner.scan.local import ScanOptions
from scanner.sources.local import LocalFiles
from scanner.store import Store, open_store
from scanner.store.queue import WorkQueue

from .helpers import many_models

LEASE = 2.0  # seconds; the worker renews every third of it


async def lease_of_the_item(store: Store) -> tuple[str, int | None, datetime | None]:
    (row,) = await store.fetch("SELECT state, lease_owner, lease_expires_at FROM work_items")
    return row["state"], row["lease_owner"], row["lease_expires_at"]


async def database_now(store: Store) -> datetime:
    (row,) = await store.fetch("SELECT now() AS now")
    return row["now"]  # type: ignore[no-any-return]


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 60) -> None:
    """Poll an async condition (here the database's clock) until it holds."""
    with anyio.fail_after(timeout):
        while not await check():
            await anyio.sleep(0.05)


@pytest.mark.asyncio
async def test_a_live_worker_keeps_its_claim_past_the_lease(tmp_path: Path, pg_url: str) -> None:
    many_models(tmp_path / "repo", 1)
    release = anyio.Event()
    querying = anyio.Event()

    class Slow(OmBackend):
        """A query that lasts until the test says so (a model taking minutes)."""

        async def query_chunk(self, items: Sequence[tuple[ModelFile, Loaded]]) -> list[Answer]:
            querying.set()
            await release.wait()
            return await super().query_chunk(items)

    async with open_store(pg_url) as store:
        await enqueue_scan(store, ScanOptions(roots=[str(tmp_path / "repo")]))
        options = WorkerOptions(
            host="live", lease_seconds=LEASE, poll_seconds=0.05, exit_when_idle=True
        )
        async with anyio.create_task_group() as group:
            group.start_soon(run_worker, store, Slow(LocalFiles()), options)
            with anyio.fail_after(60):
                await querying.wait()
            state, owner, first_expiry = await lease_of_the_item(store)
            assert state == "leased" and owner is not None and first_expiry is not None

            async def past_first_lease() -> bool:  # a whole lease beyond the first one
                return (await database_now(store) - first_expiry).total_seconds() > LEASE

            await wait_until(past_first_lease)
            other = WorkQueue(store, lease_seconds=LEASE)
            rival = await other.register("rival", "om", [])
            assert await other.claim(rival, "rival", 10) == []  # the claim is still held
            state, still_owner, expiry = await lease_of_the_item(store)
            assert (state, still_owner) == ("leased", owner)
            assert expiry is not None and expiry > await database_now(store)  # renewed
            (alive,) = await store.fetch(
                "SELECT now() - heartbeat_at < make_interval(secs => :lease) AS recent"
                " FROM workers WHERE id = :owner",
                lease=LEASE,
                owner=owner,
            )
            assert alive["recent"]  # it says it is alive, too
            release.set()
        (item,) = await store.fetch("SELECT state, attempts, expired, done_by FROM work_items")
    assert (item["state"], item["attempts"], item["expired"], item["done_by"]) == (
        "done",
        1,
        0,
        owner,
    )
