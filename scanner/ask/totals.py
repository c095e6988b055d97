"""Fleet totals from the store, for the metrics file and the HTML report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from ..core import NOT_FAILURES, SETTLED_STATUSES
from ..store import Store
from ..store.schema import scans


async def repository_totals(store: Store) -> list[dict[str, Any]]:
    """Per repository, the models answered ``ok`` in the latest results and the work and
    weight memory they need."""
    rows = await store.fetch(
        "SELECT repository, COUNT(*) AS models, SUM(work_size) AS work_size,"
        " SUM(weight_size) AS weight_size FROM latest_results WHERE status = 'ok'"
        " GROUP BY repository ORDER BY repository"
    )
    return [
        row | {"work_size": int(row["work_size"]), "weight_size": int(row["weight_size"])}
        for row in rows
    ]


async def last_completed_at(store: Store) -> datetime | None:
    """When the last completed scan finished (UTC)."""
    async with store.transaction() as conn:
        finished = await conn.scalar(
            select(func.max(scans.c.finished_at)).where(scans.c.status == "completed")
        )
    if finished is None:
        return None
    # SQLite keeps no zone: the store writes UTC.
    assert isinstance(finished, datetime)
    return finished if finished.tzinfo else finished.replace(tzinfo=UTC)


# Per scan, what it looked at: its answers, and the settled answer each carried file
# repeats (a file's settled answer holds from its scan until its next settled one). The
# rows of the view ``results``, read from its tables in one pass instead of a look-up
# per carried row.
_LOOKED_AT = f"""
WITH settled AS (
    SELECT a.file_id, a.scan_id, a.status, a.work_size, a.weight_size,
           LEAD(a.scan_id) OVER (PARTITION BY a.file_id ORDER BY a.scan_id) AS until
    FROM answers a WHERE a.status IN ({", ".join(f"'{s}'" for s in SETTLED_STATUSES)})
)
SELECT a.scan_id, a.status, a.work_size, a.weight_size FROM answers a
UNION ALL
SELECT c.scan_id, s.status, s.work_size, s.weight_size
FROM carries c
JOIN settled s ON s.file_id BETWEEN c.first_file_id AND c.last_file_id
  AND s.scan_id < c.scan_id AND (s.until IS NULL OR s.until >= c.scan_id)
WHERE NOT EXISTS (
    SELECT 1 FROM answers a3 WHERE a3.scan_id = c.scan_id AND a3.file_id = s.file_id)
"""


async def scan_totals(store: Store) -> list[dict[str, Any]]:
    """Per completed scan, the fleet as it was: memory of the ok models and failures."""
    failures = ", ".join(f"'{status}'" for status in NOT_FAILURES)
    rows = await store.fetch(
        "SELECT s.id AS scan_id, s.started_at AS started_at,"
        " SUM(CASE WHEN r.status = 'ok' THEN r.work_size + r.weight_size ELSE 0 END)"
        " AS total_size,"
        f" SUM(CASE WHEN r.status NOT IN ({failures}) THEN 1 ELSE 0 END) AS failed"
        f" FROM scans s JOIN ({_LOOKED_AT}) r ON r.scan_id = s.id WHERE s.status = 'completed'"
        " GROUP BY s.id, s.started_at ORDER BY s.id"
    )
    return [
        row | {"total_size": int(row["total_size"]), "failed": int(row["failed"])} for row in rows
    ]
