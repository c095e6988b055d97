"""The work queue of a distributed scan, kept in PostgreSQL itself.

Workers on many hosts claim batches with ``FOR UPDATE SKIP LOCKED`` (no two claim the
same item, none waits for another), hold them under leases they renew, and mark them
done once the results are stored. Time is the database's clock (``now()``), so hosts
with skewed clocks agree on when a lease ran out. A lease that runs out returns its
items to the queue; an item whose leases ran out ``MAX_EXPIRED`` times is given up
rather than allowed to take down worker after worker.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from .errors import StoreError
from .names import disk_name, stored_name
from .schema import NOT_FAILURES, results, scans, work_items, work_misses, work_scans, workers
from .store import Store

MAX_EXPIRED = 3  # leases of one item that may run out before it is given up

# Leases that ran out (their worker died or hung) return their items to the queue.
_REQUEUE_EXPIRED = text(
    """
    UPDATE work_items SET state = 'queued', expired = expired + 1,
        lease_owner = NULL, lease_expires_at = NULL
    WHERE state = 'leased' AND lease_expires_at < now()
    """
)

# Oldest first (ids grow with scans), walking the (state, id) index: a claim costs the
# same on the first batch of a million-file scan as on the last.
_CLAIM = text(
    """
    WITH picked AS (
        SELECT w.id FROM work_items w
        WHERE w.state = 'queued'
          AND w.scan_id IN (SELECT id FROM scans WHERE status = 'running')
          AND NOT EXISTS (
              SELECT 1 FROM work_misses m WHERE m.item_id = w.id AND m.host = :host)
        ORDER BY w.id
        LIMIT :limit
        FOR UPDATE OF w SKIP LOCKED
    )
    UPDATE work_items w
    SET state = 'leased', attempts = w.attempts + 1, lease_owner = :worker,
        lease_expires_at = now() + make_interval(secs => :lease)
    FROM picked, repositories r
    WHERE w.id = picked.id AND r.id = w.repository_id
    RETURNING w.id, w.scan_id, r.path, w.relpath, w.expired
    """
)

# An item handed back: anyone may claim it again.
_BACK_IN_QUEUE = {"state": "queued", "lease_owner": None, "lease_expires_at": None}

# Another live worker, on a host that has not yet failed to see the item's file.
_OTHER_HOST_LIVE = text(
    """
    SELECT EXISTS (
        SELECT 1 FROM workers k
        WHERE k.stopped_at IS NULL
          AND k.heartbeat_at > now() - make_interval(secs => :stale)
          AND k.host NOT IN (SELECT m.host FROM work_misses m WHERE m.item_id = :item)
    )
    """
)


@dataclass(frozen=True)
class Claim:
    """One file handed to a worker."""

    item_id: int
    scan_id: int
    root: str
    relpath: str
    expired: int  # leases of this item that ran out before this claim


@dataclass(frozen=True)
class Miss:
    """A claimed file this host could not see (not there, not readable)."""

    claim: Claim
    error: str


class WorkQueue:
    """The queue in ``store``'s database; ``StoreError`` unless it is PostgreSQL."""

    def __init__(self, store: Store, lease_seconds: float = 30.0) -> None:
        if store.engine.dialect.name != "postgresql":
            raise StoreError(
                f"distributed scans need a PostgreSQL database, not {store.display_url}"
            )
        self.store = store
        self.lease_seconds = lease_seconds

    # --- the coordinator --------------------------------------------------------

    async def open_scan(self, scan_id: int) -> None:
        async with self.store.transaction() as conn:
            await conn.execute(
                insert(work_scans).values(scan_id=scan_id, enqueued=False, files=0, removed=0)
            )

    async def enqueue(self, scan_id: int, files: Sequence[tuple[str, str]]) -> None:
        """Add (root, relpath) files to the scan's queue; enqueued twice, added once."""
        if not files:
            return
        async with self.store.transaction() as conn:
            repo_ids = await self.store.repository_ids(conn, sorted({r for r, _ in files}), scan_id)
            rows = [
                {
                    "scan_id": scan_id,
                    "repository_id": repo_ids[root],
                    "relpath": stored_name(relpath),
                    "state": "queued",
                    "attempts": 0,
                    "expired": 0,
                }
                for root, relpath in files
            ]
            stmt = pg_insert(work_items).on_conflict_do_nothing()
            await conn.execute(stmt, rows)
            await conn.execute(
                update(work_scans)
                .where(work_scans.c.scan_id == scan_id)
                .values(files=work_scans.c.files + len(rows))
            )

    async def close_scan(self, scan_id: int, removed: int) -> None:
        """The walk is over: once the queue drains, the scan is complete."""
        async with self.store.transaction() as conn:
            await conn.execute(
                update(work_scans)
                .where(work_scans.c.scan_id == scan_id)
                .values(enqueued=True, removed=removed)
            )

    # --- workers ----------------------------------------------------------------

    async def register(self, host: str, backend: str, devices: Sequence[int]) -> int:
        async with self.store.transaction() as conn:
            worker_id = await conn.scalar(
                insert(workers)
                .values(
                    host=host,
                    pid=os.getpid(),
                    backend=backend,
                    devices=json.dumps(list(devices)),
                    started_at=func.now(),
                    heartbeat_at=func.now(),
                )
                .returning(workers.c.id)
            )
        assert worker_id is not None  # RETURNING of an INSERT always has its row
        return int(worker_id)

    async def heartbeat(self, worker_id: int) -> None:
        """Renew this worker's leases and say it is alive."""
        async with self.store.transaction() as conn:
            await conn.execute(
                update(work_items)
                .where(work_items.c.lease_owner == worker_id, work_items.c.state == "leased")
                .values(lease_expires_at=func.now() + self._lease())
            )
            await conn.execute(
                update(workers).where(workers.c.id == worker_id).values(heartbeat_at=func.now())
            )

    async def stop(self, worker_id: int) -> None:
        """Leave: leases still held go back to the queue at once."""
        async with self.store.transaction() as conn:
            await conn.execute(
                update(work_items)
                .where(work_items.c.lease_owner == worker_id, work_items.c.state == "leased")
                .values(**_BACK_IN_QUEUE)
            )
            await conn.execute(
                update(workers).where(workers.c.id == worker_id).values(stopped_at=func.now())
            )

    async def claim(self, worker_id: int, host: str, limit: int) -> list[Claim]:
        async with self.store.transaction() as conn:
            await conn.execute(_REQUEUE_EXPIRED)
            rows = await conn.execute(
                _CLAIM,
                {"worker": worker_id, "host": host, "limit": limit, "lease": self.lease_seconds},
            )
            return [
                Claim(row.id, row.scan_id, disk_name(row.path), disk_name(row.relpath), row.expired)
                for row in rows
            ]

    async def missed(self, host: str, misses: Sequence[Miss]) -> list[Miss]:
        """Record that ``host`` cannot see these files. Each goes back to the queue for
        hosts that have not tried it; those no other live host can try are returned,
        for the caller to record as unreadable."""
        final: list[Miss] = []
        if not misses:  # the usual case: no transaction for nothing on every claim
            return final
        async with self.store.transaction() as conn:
            for miss in misses:
                item = miss.claim.item_id
                stmt = pg_insert(work_misses).on_conflict_do_nothing()
                await conn.execute(stmt, {"item_id": item, "host": host, "error": miss.error})
                other = await conn.scalar(
                    _OTHER_HOST_LIVE, {"item": item, "stale": 2 * self.lease_seconds}
                )
                if other:
                    await conn.execute(
                        update(work_items).where(work_items.c.id == item).values(**_BACK_IN_QUEUE)
                    )
                else:
                    final.append(miss)
        return final

    async def misses_of(self, item_id: int) -> list[tuple[str, str]]:
        """(host, error) of every host that could not see the item's file."""
        async with self.store.transaction() as conn:
            rows = await conn.execute(
                select(work_misses.c.host, work_misses.c.error)
                .where(work_misses.c.item_id == item_id)
                .order_by(work_misses.c.host)
            )
            return [(row.host, row.error) for row in rows]

    async def done(self, worker_id: int, statuses: Sequence[tuple[int, str]]) -> None:
        """Mark items done, once their results are stored: (item id, result status)."""
        if not statuses:
            return
        async with self.store.transaction() as conn:
            await conn.execute(
                text(
                    "UPDATE work_items w SET state = 'done', done_by = :worker, done_at = now(),"
                    " status = d.status, lease_owner = NULL, lease_expires_at = NULL"
                    " FROM unnest(CAST(:items AS bigint[]), CAST(:statuses AS text[]))"
                    " AS d(id, status) WHERE w.id = d.id AND w.state <> 'done'"
                ),
                {
                    "worker": worker_id,
                    "items": [item for item, _ in statuses],
                    "statuses": [status for _, status in statuses],
                },
            )

    async def pending(self) -> bool:
        """Whether any running distributed scan still has items to do or to enqueue."""
        async with self.store.transaction() as conn:
            return bool(
                await conn.scalar(
                    text(
                        "SELECT EXISTS (SELECT 1 FROM work_scans q JOIN scans s"
                        " ON s.id = q.scan_id WHERE s.status = 'running' AND (NOT q.enqueued"
                        " OR EXISTS (SELECT 1 FROM work_items w WHERE w.scan_id = q.scan_id"
                        " AND w.state IN ('queued', 'leased'))))"
                    )
                )
            )

    async def complete_drained(self) -> list[int]:
        """Close every running distributed scan whose walk is over and whose items are
        all done. Any worker may do it; the row lock makes it happen once: a second
        worker waits for it, then finds the scan no longer running. (Not SKIP LOCKED:
        every transaction storing a result holds a key-share lock on its scan's row,
        and skipping those would leave a drained scan running.)"""
        completed = []
        async with self.store.transaction() as conn:
            drained = await conn.execute(
                text(
                    "SELECT q.scan_id, q.removed FROM work_scans q JOIN scans s"
                    " ON s.id = q.scan_id WHERE s.status = 'running' AND q.enqueued"
                    " AND NOT EXISTS (SELECT 1 FROM work_items w WHERE w.scan_id = q.scan_id"
                    " AND w.state IN ('queued', 'leased')) FOR UPDATE OF s"
                )
            )
            for scan_id, removed in drained.all():
                counts = await _counts(conn, scan_id, removed)
                await conn.execute(
                    update(scans)
                    .where(scans.c.id == scan_id)
                    .values(status="completed", finished_at=func.now(), counts=json.dumps(counts))
                )
                completed.append(scan_id)
        return completed

    def _lease(self) -> Any:
        return func.make_interval(0, 0, 0, 0, 0, 0, self.lease_seconds)


async def _counts(conn: Any, scan_id: int, removed: int) -> dict[str, Any]:
    """The scan's summary, as a local scan writes it, from its stored results."""
    rows = await conn.execute(
        select(
            results.c.status,
            results.c.carried,
            func.count(),
            func.coalesce(func.sum(results.c.bytes_read), 0),
        )
        .where(results.c.scan_id == scan_id)
        .group_by(results.c.status, results.c.carried)
    )
    statuses: dict[str, int] = {}
    seen = carried = bytes_read = 0
    for status, was_carried, count, read in rows:
        statuses[status] = statuses.get(status, 0) + count
        seen += count
        carried += count if was_carried else 0
        bytes_read += 0 if was_carried else int(read)
    return {
        "scan_id": scan_id,
        "status": "completed",
        "files_seen": seen,
        "files_queried": seen - carried,
        "files_unchanged": carried,
        "files_failed": sum(n for s, n in statuses.items() if s not in NOT_FAILURES),
        "files_removed": removed,
        "bytes_read": bytes_read,
        "statuses": statuses,
    }


_SCAN_TOTALS = text(
    """
    SELECT s.id, s.status, s.started_at, s.finished_at, q.enqueued, q.files, now() AS now,
        count(w.id) FILTER (WHERE w.state = 'queued') AS queued,
        count(w.id) FILTER (WHERE w.state = 'leased') AS leased,
        count(w.id) FILTER (WHERE w.state = 'done') AS done,
        count(w.id) FILTER (WHERE w.state = 'done' AND w.status NOT IN :fine) AS failed,
        coalesce(sum(w.expired), 0) AS expired
    FROM work_scans q JOIN scans s ON s.id = q.scan_id
    LEFT JOIN work_items w ON w.scan_id = q.scan_id
    WHERE q.scan_id = coalesce(:scan, (SELECT max(scan_id) FROM work_scans))
    GROUP BY s.id, q.scan_id
    """
).bindparams(bindparam("fine", expanding=True))

_SCAN_WORKERS = text(
    """
    SELECT k.id AS worker, k.host, k.pid, k.backend, k.started_at, k.stopped_at,
        extract(epoch FROM now() - k.heartbeat_at) AS silent_s,
        count(w.id) FILTER (WHERE w.state = 'leased' AND w.lease_owner = k.id) AS claimed,
        count(w.id) FILTER (WHERE w.done_by = k.id) AS done,
        count(w.id) FILTER (WHERE w.done_by = k.id AND w.status NOT IN :fine) AS failed,
        extract(epoch FROM max(w.done_at) FILTER (WHERE w.done_by = k.id)
            - greatest(k.started_at, s.started_at)) AS busy_s
    FROM workers k JOIN work_items w ON w.lease_owner = k.id OR w.done_by = k.id
    JOIN scans s ON s.id = w.scan_id
    WHERE w.scan_id = :scan
    GROUP BY k.id, s.started_at
    ORDER BY k.host, k.id
    """
).bindparams(bindparam("fine", expanding=True))


async def scan_progress(store: Store, scan_id: int | None = None) -> dict[str, Any] | None:
    """Where a distributed scan stands (default: the latest): totals, and per worker
    what it holds, has done and failed, and its rate. None: no such scan."""
    WorkQueue(store)  # refuses a database that cannot hold a distributed scan
    fine = list(NOT_FAILURES)
    async with store.transaction() as conn:
        totals = (await conn.execute(_SCAN_TOTALS, {"scan": scan_id, "fine": fine})).first()
        if totals is None:
            return None
        rows = await conn.execute(_SCAN_WORKERS, {"scan": totals.id, "fine": fine})
        workers_seen = [dict(row._mapping) for row in rows]
    elapsed = ((totals.finished_at or totals.now) - totals.started_at).total_seconds()
    for worker in workers_seen:
        busy = worker.pop("busy_s")
        worker["rate"] = round(worker["done"] / float(busy), 1) if busy else None
        silent = float(worker.pop("silent_s"))
        worker["state"] = (
            "stopped" if worker.pop("stopped_at") else "alive" if silent < 60 else "lost"
        )
        worker["started_at"] = worker["started_at"].isoformat()
    return {
        "scan_id": totals.id,
        "status": totals.status,
        "walk_done": totals.enqueued,
        "files": totals.files,
        "queued": totals.queued,
        "leased": totals.leased,
        "done": totals.done,
        "failed": totals.failed,
        "leases_expired": int(totals.expired),
        "seconds": round(elapsed, 1),
        "rate": round(totals.done / elapsed, 1) if elapsed > 0 else None,
        "workers": workers_seen,
    }
