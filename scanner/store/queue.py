"""The work queue of a distributed scan, kept in PostgreSQL itself.

Workers on many hosts claim batches with ``FOR UPDATE SKIP LOCKED`` (no two claim the
same item, none waits for another) and hold them under leases they renew. Time is the
database's clock (``now()``), so hosts with skewed clocks agree on when a lease ran out.

Fencing: every claim of an item raises its claim count (``attempts``), and that count is
the claim's token. An answer is stored, and its item marked done, only in a transaction
that finds the item not done, its token unchanged (nobody claimed it since) and its scan
running; otherwise the answer is late and dropped, never written over another. A worker
paused past its lease, or holding a scan that has since completed, cannot change it.

Liveness is re-evaluated on every claim: a worker or coordinator is alive while its own
deadline (last heartbeat plus its lease) is ahead of ``now()``. A lease that runs out
returns its item to the queue; an item on which ``MAX_EXPIRED`` different workers lost
their lease is given up rather than allowed to take down worker after worker.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core import NOT_FAILURES
from . import carries
from .counts import scan_counts
from .dialect import dialect_for
from .errors import StoreError
from .names import disk_name, stored_name
from .schema import scans, work_items, work_misses, work_scans, workers
from .store import ResultItem, Store, lock_running
from .urls import async_url, mask, resolve

MAX_EXPIRED = 3  # workers that may lose their lease on one item before it is given up

# A worker (or host) is alive while its own deadline is ahead.
_LIVE = "k.stopped_at IS NULL AND k.deadline_at > now()"

# Leases that ran out (their worker died, hung or was paused) return their items to the
# queue. Each worker that lost a lease on an item counts once, however often it did.
# The token (``attempts``) stays: until someone claims the item again, an answer from
# the last holder is still the latest claim's answer.
_REQUEUE_EXPIRED = text(
    """
    WITH lost AS (
        SELECT id, lease_owner FROM work_items
        WHERE state = 'leased' AND lease_expires_at < now()
        FOR UPDATE SKIP LOCKED
    ), noted AS (
        INSERT INTO work_expiries (item_id, worker_id, expired_at)
        SELECT id, lease_owner, now() FROM lost
        ON CONFLICT DO NOTHING
        RETURNING item_id
    )
    UPDATE work_items w
    SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL,
        expired = w.expired + CAST(noted.item_id IS NOT NULL AS integer)
    FROM lost LEFT JOIN noted ON noted.item_id = lost.id
    WHERE w.id = lost.id
    """
)

# Oldest first (ids grow with scans), walking the (state, id) index. An item this host
# could not read is taken only when no live host is left that has not tried it: then
# this worker records it (``missed_here``), naming every host.
_CLAIM = text(
    f"""
    WITH picked AS (
        SELECT w.id FROM work_items w
        WHERE w.state = 'queued'
          AND w.scan_id IN (SELECT id FROM scans WHERE status = 'running')
          AND (
              NOT EXISTS (
                  SELECT 1 FROM work_misses m WHERE m.item_id = w.id AND m.host = :host)
              OR NOT EXISTS (
                  SELECT 1 FROM workers k WHERE {_LIVE} AND NOT EXISTS (
                      SELECT 1 FROM work_misses m WHERE m.item_id = w.id AND m.host = k.host))
          )
        ORDER BY w.id
        LIMIT :limit
        FOR UPDATE OF w SKIP LOCKED
    )
    UPDATE work_items w
    SET state = 'leased', attempts = w.attempts + 1, lease_owner = :worker,
        claimed_at = now(), lease_expires_at = now() + make_interval(secs => :lease)
    FROM picked, repositories r, scans s
    WHERE w.id = picked.id AND r.id = w.repository_id AND s.id = w.scan_id
    RETURNING w.id, w.scan_id, w.repository_id, r.path, w.relpath, w.expired, w.attempts,
        coalesce(CAST(s.options AS json) ->> 'follow_outside', 'false') = 'true',
        EXISTS (SELECT 1 FROM work_misses m WHERE m.item_id = w.id AND m.host = :host)
    """
)

# The fence, with the done marks: of the given (item, token, status) answers, those whose
# claim is still the latest (the token unchanged: nobody claimed the item since), whose
# item is not done and whose scan runs are marked done; their ids come back, for their
# results to be stored in the same transaction. The scans' rows stay share-locked against
# a status change until then; a claim racing for an item waits for, then sees, this one.
_FENCE_AND_DONE = text(
    """
    WITH running AS (
        SELECT id FROM scans
        WHERE id = ANY(CAST(:scans AS integer[])) AND status = 'running'
        FOR SHARE
    )
    UPDATE work_items w SET state = 'done', done_by = :worker, done_at = now(),
        status = c.status, lease_owner = NULL, lease_expires_at = NULL
    FROM unnest(CAST(:items AS bigint[]), CAST(:tokens AS integer[]),
                CAST(:statuses AS text[])) AS c(id, token, status), running
    WHERE w.id = c.id AND w.attempts = c.token AND w.scan_id = running.id
      -- done already: by this very claim, when a first try committed but its answer was
      -- lost (a timeout on COMMIT): storing again is idempotent, and counts it stored
      AND (w.state <> 'done' OR w.done_by = :worker)
    RETURNING w.id
    """
)

# Handed back by a host that cannot read it, if that host's claim still holds it.
_HAND_BACK = text(
    """
    UPDATE work_items w SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL
    FROM unnest(CAST(:items AS bigint[]), CAST(:tokens AS integer[])) AS c(id, token)
    WHERE w.id = c.id AND w.attempts = c.token AND w.state = 'leased'
    """
)

# Skipping locked rows never leaves a scan open for good: the row locks that are skipped
# are those of answers being stored (``FOR SHARE`` in the fence), and an idle worker
# looks again at every poll. (Foreign-key checks take ``KEY SHARE``, which does not
# conflict with ``NO KEY UPDATE``.)
_DRAINED = text(
    """
    SELECT q.scan_id, q.removed FROM work_scans q JOIN scans s ON s.id = q.scan_id
    WHERE s.status = 'running' AND q.enqueued
      AND NOT EXISTS (SELECT 1 FROM work_items w WHERE w.scan_id = q.scan_id
                      AND w.state IN ('queued', 'leased'))
    FOR NO KEY UPDATE OF s SKIP LOCKED
    """
)

# Walks whose coordinator stopped renewing its deadline: it died (or hung) mid-walk.
_SILENT_WALKS = text(
    """
    SELECT q.scan_id FROM work_scans q JOIN scans s ON s.id = q.scan_id
    WHERE s.status = 'running' AND NOT q.enqueued
      AND (q.coordinator_deadline_at IS NULL OR q.coordinator_deadline_at < now())
    FOR NO KEY UPDATE OF s SKIP LOCKED
    """
)

_PENDING = text(
    """
    SELECT EXISTS (
        SELECT 1 FROM work_scans q JOIN scans s ON s.id = q.scan_id
        WHERE s.status = 'running' AND (
            (NOT q.enqueued AND q.coordinator_deadline_at > now())
            OR EXISTS (SELECT 1 FROM work_items w WHERE w.scan_id = q.scan_id
                       AND w.state IN ('queued', 'leased'))))
    """
)


@dataclass(frozen=True)
class Claim:
    """One file handed to a worker, under the token of this claim."""

    item_id: int
    scan_id: int
    repository_id: int
    root: str
    relpath: str
    expired: int  # workers whose lease on it ran out before this claim
    token: int
    follow_outside: bool  # the scan's walk followed links out of the roots
    missed_here: bool  # this host could not read it, and no live host is left to try


@dataclass(frozen=True)
class FencedAnswer:
    """An answer to store under the claim that produced it."""

    item_id: int
    token: int
    scan_id: int
    repository_id: int
    result: ResultItem


def require_postgresql(url: str | None) -> None:
    """Refuse a database that cannot hold the queue before opening (or creating) it."""
    given = resolve(url)
    if not dialect_for(async_url(given)).holds_queue:
        raise StoreError(f"distributed scans need a PostgreSQL database, not {mask(given)}")


class WorkQueue:
    """The queue in ``store``'s database; ``StoreError`` unless it is PostgreSQL.
    ``lease_seconds``: how long this process's claims (or walk) stay its own unheard."""

    def __init__(self, store: Store, lease_seconds: float = 30.0) -> None:
        if not store.dialect.holds_queue:
            raise StoreError(
                f"distributed scans need a PostgreSQL database, not {store.display_url}"
            )
        self.store = store
        self.lease_seconds = lease_seconds

    # --- the coordinator --------------------------------------------------------

    async def refuse_overlap(self, roots: Sequence[str]) -> None:
        """A scan of files that a running distributed scan still has in its queue would
        have workers do them twice: refused, naming that scan."""
        async with self.store.transaction() as conn:
            rows = await conn.execute(
                select(scans.c.id, scans.c.roots)
                .join(work_scans, work_scans.c.scan_id == scans.c.id)
                .where(scans.c.status == "running")
            )
            for scan_id, stored in rows:
                for root in roots:
                    for other in json.loads(stored):
                        if os.path.commonpath([root, other]) in (root, other):
                            raise StoreError(
                                f"scan {scan_id} of {other} is still running on the workers; "
                                f"wait for it to complete (omscan status --scan {scan_id})"
                            )

    async def open_scan(self, scan_id: int) -> None:
        async with self.store.transaction() as conn:
            await conn.execute(
                insert(work_scans).values(
                    scan_id=scan_id,
                    enqueued=False,
                    files=0,
                    removed=0,
                    coordinator_deadline_at=func.now() + self._lease(),
                )
            )

    async def coordinator_heartbeat(self, scan_id: int) -> None:
        """Say the walk is alive; ``ScanClosed`` if workers already took it for dead."""
        async with self.store.transaction() as conn:
            await lock_running(conn, scan_id)
            await conn.execute(
                update(work_scans)
                .where(work_scans.c.scan_id == scan_id)
                .values(coordinator_deadline_at=func.now() + self._lease())
            )

    async def enqueue(self, scan_id: int, files: Sequence[tuple[str, str]]) -> None:
        """Add (root, relpath) files to the running scan's queue; enqueued twice, added once."""
        if not files:
            return
        async with self.store.transaction() as conn:
            await lock_running(conn, scan_id)
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
            stmt = self.store.dialect.insert(work_items).on_conflict_do_nothing()
            await conn.execute(stmt, rows)
            await conn.execute(
                update(work_scans)
                .where(work_scans.c.scan_id == scan_id)
                .values(files=work_scans.c.files + len(rows))
            )

    async def close_scan(self, scan_id: int, removed: int) -> None:
        """The walk is over: once the queue drains, the scan is complete."""
        async with self.store.transaction() as conn:
            await lock_running(conn, scan_id)
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
                    deadline_at=func.now() + self._lease(),
                )
                .returning(workers.c.id)
            )
        assert worker_id is not None  # RETURNING of an INSERT always has its row
        return int(worker_id)

    async def heartbeat(self, worker_id: int, items: Sequence[int]) -> None:
        """Renew this worker's deadline and its leases on ``items`` (those it knows it
        holds: a claim whose answer never reached it is left to run out)."""
        async with self.store.transaction() as conn:
            if items:
                await conn.execute(
                    update(work_items)
                    .where(
                        work_items.c.state == "leased",
                        work_items.c.lease_owner == worker_id,
                        work_items.c.id.in_(items),
                    )
                    .values(lease_expires_at=func.now() + self._lease())
                )
            await conn.execute(
                update(workers)
                .where(workers.c.id == worker_id)
                .values(heartbeat_at=func.now(), deadline_at=func.now() + self._lease())
            )

    async def stop(self, worker_id: int) -> None:
        """Leave: leases still held go back to the queue at once."""
        async with self.store.transaction() as conn:
            await conn.execute(
                update(work_items)
                .where(work_items.c.state == "leased", work_items.c.lease_owner == worker_id)
                .values(state="queued", lease_owner=None, lease_expires_at=None)
            )
            await conn.execute(
                update(workers).where(workers.c.id == worker_id).values(stopped_at=func.now())
            )

    async def requeue_expired(self) -> None:
        async with self.store.transaction() as conn:
            await conn.execute(_REQUEUE_EXPIRED)

    async def claim(self, worker_id: int, host: str, limit: int) -> list[Claim]:
        async with self.store.transaction() as conn:
            await conn.execute(_REQUEUE_EXPIRED)
            rows = await conn.execute(
                _CLAIM,
                {"worker": worker_id, "host": host, "limit": limit, "lease": self.lease_seconds},
            )
            return [
                Claim(row[0], row[1], row[2], disk_name(row[3]), disk_name(row[4]), *row[5:])
                for row in rows
            ]

    async def missed(self, host: str, misses: Sequence[tuple[int, int, str]]) -> None:
        """Record that ``host`` cannot read these (item, token, why) files and hand them
        back, if its claims still hold them: they go to hosts that have not tried them,
        or, once no live host is left to try, to a worker of a host that did, which
        records them (``Claim.missed_here``)."""
        async with self.store.transaction() as conn:
            await conn.execute(
                self.store.dialect.insert(work_misses).on_conflict_do_nothing(),
                [{"item_id": item, "host": host, "error": error} for item, _, error in misses],
            )
            await conn.execute(
                _HAND_BACK,
                {"items": [item for item, _, _ in misses], "tokens": [t for _, t, _ in misses]},
            )

    async def misses_of(self, item_id: int) -> list[tuple[str, str]]:
        """(host, error) of every host that could not read the item's file."""
        async with self.store.transaction() as conn:
            rows = await conn.execute(
                select(work_misses.c.host, work_misses.c.error)
                .where(work_misses.c.item_id == item_id)
                .order_by(work_misses.c.host)
            )
            return [(row.host, row.error) for row in rows]

    async def store_answers(self, worker_id: int, answers: Sequence[FencedAnswer]) -> set[int]:
        """Store the answers whose claims still hold, and mark their items done, in one
        transaction; the ids of the items stored. The others are late: dropped."""
        if not answers:
            return set()
        async with self.store.transaction() as conn:
            held = set(
                await conn.scalars(
                    _FENCE_AND_DONE,
                    {
                        "worker": worker_id,
                        "scans": sorted({a.scan_id for a in answers}),
                        "items": [a.item_id for a in answers],
                        "tokens": [a.token for a in answers],
                        "statuses": [a.result.result.status for a in answers],
                    },
                )
            )
            by_scan: dict[int, list[ResultItem]] = {}
            for answer in answers:
                if answer.item_id in held:
                    by_scan.setdefault(answer.scan_id, []).append(answer.result)
            repo_ids = {a.result.root: a.repository_id for a in answers}
            for scan_id, items in by_scan.items():
                await self.store.insert_results(conn, scan_id, items, repo_ids)
        return held

    async def note_late(self, worker_id: int, count: int) -> None:
        """Count answers the fence dropped, for ``omscan status``."""
        async with self.store.transaction() as conn:
            await conn.execute(
                update(workers)
                .where(workers.c.id == worker_id)
                .values(late_answers=workers.c.late_answers + count)
            )

    async def pending(self) -> bool:
        """Whether any running distributed scan still has items to do, or a live
        coordinator still walking."""
        async with self.store.transaction() as conn:
            return bool(await conn.scalar(_PENDING))

    async def close_finished(self) -> list[int]:
        """Close running distributed scans that are over: interrupted when their
        coordinator fell silent before the walk ended, completed when the walk is over
        and every item is done (the ids of those). Any worker may do it, once."""
        completed = []
        async with self.store.transaction() as conn:
            for (scan_id,) in (await conn.execute(_SILENT_WALKS)).all():
                await _close(conn, scan_id, "interrupted", 0)
            for scan_id, removed in (await conn.execute(_DRAINED)).all():
                await _close(conn, scan_id, "completed", removed)
                completed.append(scan_id)
        return completed

    def _lease(self) -> Any:
        return func.make_interval(0, 0, 0, 0, 0, 0, self.lease_seconds)


async def _close(conn: AsyncConnection, scan_id: int, status: str, removed: int) -> None:
    counts = await _counts(conn, scan_id, status, removed)
    await conn.execute(
        update(scans)
        .where(scans.c.id == scan_id)
        .values(status=status, finished_at=func.now(), counts=json.dumps(counts))
    )
    await carries.compact(conn, scan_id)


# The scan's answers and carries together (the view ``results``), by status.
_SCAN_RESULTS = text(
    "SELECT status, carried, count(*), coalesce(sum(bytes_read), 0) FROM results"
    " WHERE scan_id = :scan GROUP BY status, carried"
)


async def _counts(conn: AsyncConnection, scan_id: int, status: str, removed: int) -> dict[str, Any]:
    """The scan's summary, as a local scan writes it, from its stored results."""
    rows = await conn.execute(_SCAN_RESULTS, {"scan": scan_id})
    statuses: dict[str, int] = {}
    seen = carried = bytes_read = 0
    for result_status, was_carried, count, read in rows:
        statuses[result_status] = statuses.get(result_status, 0) + count
        seen += count
        carried += count if was_carried else 0
        bytes_read += 0 if was_carried else int(read)
    return scan_counts(
        scan_id,
        status,
        seen=seen,
        queried=seen - carried,
        unchanged=carried,
        removed=removed,
        bytes_read=bytes_read,
        statuses=statuses,
    )


# --- progress, for `omscan status` ---------------------------------------------------

_SCAN_TOTALS = text(
    f"""
    SELECT s.id, s.status, q.enqueued, q.files,
        extract(epoch FROM coalesce(s.finished_at, now()) - s.started_at) AS seconds,
        coalesce(q.coordinator_deadline_at > now(), false) AS coordinator_alive,
        count(w.id) FILTER (WHERE w.state = 'queued') AS queued,
        count(w.id) FILTER (WHERE w.state = 'queued' AND EXISTS (
            SELECT 1 FROM work_misses m WHERE m.item_id = w.id)) AS handed_back,
        count(w.id) FILTER (WHERE w.state = 'leased') AS leased,
        count(w.id) FILTER (WHERE w.state = 'done') AS done,
        count(w.id) FILTER (WHERE w.state = 'done' AND w.status NOT IN :fine) AS failed,
        coalesce(sum(w.expired), 0) AS expired,
        extract(epoch FROM max(w.done_at) - min(w.claimed_at) FILTER (WHERE w.state = 'done'))
            AS busy_s,
        (SELECT count(*) FROM workers k WHERE {_LIVE}) AS live_workers
    FROM work_scans q JOIN scans s ON s.id = q.scan_id
    LEFT JOIN work_items w ON w.scan_id = q.scan_id
    WHERE q.scan_id = coalesce(:scan, (SELECT max(scan_id) FROM work_scans))
    GROUP BY s.id, q.scan_id
    """
).bindparams(bindparam("fine", expanding=True))

# The workers that held or did this scan's items, and every live one (idle ones too).
# A worker's rate counts from its first claim of an item it did to its last answer.
_SCAN_WORKERS = text(
    f"""
    SELECT k.id AS worker, k.host, k.pid, k.backend, k.started_at, k.stopped_at,
        {_LIVE} AS live, k.late_answers AS late,
        count(w.id) FILTER (WHERE w.state = 'leased' AND w.lease_owner = k.id) AS claimed,
        count(w.id) FILTER (WHERE w.done_by = k.id) AS done,
        count(w.id) FILTER (WHERE w.done_by = k.id AND w.status NOT IN :fine) AS failed,
        extract(epoch FROM max(w.done_at) FILTER (WHERE w.done_by = k.id)
            - min(w.claimed_at) FILTER (WHERE w.done_by = k.id)) AS busy_s
    FROM workers k
    LEFT JOIN work_items w ON (w.lease_owner = k.id OR w.done_by = k.id) AND w.scan_id = :scan
    GROUP BY k.id
    HAVING count(w.id) > 0 OR ({_LIVE})
    ORDER BY k.host, k.id
    """
).bindparams(bindparam("fine", expanding=True))


def _rate(done: int, busy: Any) -> float | None:
    return round(done / float(busy), 1) if busy else None


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
    for worker in workers_seen:
        worker["rate"] = _rate(worker["done"], worker.pop("busy_s"))
        live = worker.pop("live")
        worker["state"] = "stopped" if worker.pop("stopped_at") else "alive" if live else "lost"
        worker["started_at"] = worker["started_at"].isoformat()
    return {
        "scan_id": totals.id,
        "status": totals.status,
        "walk_done": totals.enqueued,
        "coordinator_alive": None if totals.enqueued else totals.coordinator_alive,
        "files": totals.files,
        "queued": totals.queued,
        "handed_back": totals.handed_back,
        "leased": totals.leased,
        "done": totals.done,
        "failed": totals.failed,
        "leases_expired": int(totals.expired),
        "seconds": round(float(totals.seconds), 1),
        "rate": _rate(totals.done, totals.busy_s),
        "live_workers": totals.live_workers,
        "workers": workers_seen,
    }
