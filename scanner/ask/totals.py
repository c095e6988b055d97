"""Fleet totals from the store, for the metrics file and the HTML report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from ..core import NOT_FAILURES
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


async def scan_totals(store: Store) -> list[dict[str, Any]]:
    """Per completed scan, the fleet as it was: memory of the ok models and failures."""
    failures = ", ".join(f"'{status}'" for status in NOT_FAILURES)
    rows = await store.fetch(
        "SELECT s.id AS scan_id, s.started_at AS started_at,"
        " SUM(CASE WHEN r.status = 'ok' THEN r.work_size + r.weight_size ELSE 0 END)"
        " AS total_size,"
        f" SUM(CASE WHEN r.status NOT IN ({failures}) THEN 1 ELSE 0 END) AS failed"
        " FROM scans s JOIN results r ON r.scan_id = s.id WHERE s.status = 'completed'"
        " GROUP BY s.id, s.started_at ORDER BY s.id"
    )
    return [
        row | {"total_size": int(row["total_size"]), "failed": int(row["failed"])} for row in rows
    ]
