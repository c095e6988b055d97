"""The latest answer for every present model, filtered and sorted: `omscan report`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core import NOT_FAILURES
from ..store import Store

COLUMNS = [
    "repository",
    "relpath",
    "status",
    "ret",
    "ret_name",
    "work_size",
    "weight_size",
    "total_size",
    "dynamic",
    "soc_version",
    "format",
]
SORTS = {
    "total": "total_size DESC",
    "work": "work_size DESC",
    "weight": "weight_size DESC",
    "path": "repository, relpath",
}


@dataclass(frozen=True)
class ReportFilter:
    min_total: int | None = None
    soc: str | None = None
    failed: bool = False
    repo: str | None = None  # text the repository path contains (no wildcards)
    sort: str = "total"


async def report(
    store: Store, wanted: ReportFilter, columns: Sequence[str] = COLUMNS
) -> list[dict[str, Any]]:
    """Rows of ``latest_results`` (``columns``: any of the view's) matching ``wanted``."""
    clauses: list[str] = ["1 = 1"]
    params: dict[str, Any] = {}
    if wanted.min_total is not None:
        clauses.append("total_size >= :min_total")
        params["min_total"] = wanted.min_total
    if wanted.soc:
        clauses.append("soc_version = :soc")
        params["soc"] = wanted.soc
    if wanted.failed:
        clauses.append(f"status NOT IN ({', '.join(repr(s) for s in NOT_FAILURES)})")
    if wanted.repo:
        # A plain, case-sensitive substring on both databases: LIKE would take _ and %
        # for wildcards (and ignore case on SQLite).
        clauses.append(f"{store.dialect.position_function}(repository, :repo) > 0")
        params["repo"] = wanted.repo
    sql = (
        f"SELECT {', '.join(columns)} FROM latest_results WHERE {' AND '.join(clauses)}"
        f" ORDER BY {SORTS[wanted.sort]}, repository, relpath"
    )
    rows = await store.fetch(sql, **params)
    for row in rows:
        if "dynamic" in row:
            row["dynamic"] = bool(row["dynamic"])
    return rows
