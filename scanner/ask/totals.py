"""Fleet totals from the store, for the metrics file and the HTML report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

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
