"""What changed between two scans: models added, removed, and whose answer changed.

Each side is the report as it stood right after that scan: every file's latest answer up
to it, unless a removal recorded by then came after that answer. A file the later scan
did not look at (another repository or sub-directory, a glob it does not match, a
directory it could not read) keeps its answer on both sides and is no change, exactly
as ``report`` keeps listing it; only a recorded removal makes a file "removed".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..core import SETTLED_STATUSES
from ..store import Store, StoreError

_SETTLED = ", ".join(f"'{status}'" for status in SETTLED_STATUSES)

# Each file's latest answer up to the scan, unless a removal recorded since then came
# after it: the rows of the view ``results``, read from its tables (one indexed look-up
# per file, not the whole view). The scan that last looked at the file read it, or
# carried it (the later wins: a scan that did both answered it), repeating its latest
# settled answer before that scan.
_AS_AFTER_SCAN = f"""
SELECT repo.path AS repository, f.relpath AS relpath, r.status AS status, r.ret AS ret,
       r.work_size AS work_size, r.weight_size AS weight_size
FROM (
    SELECT seen.*,
           CASE WHEN seen.carried THEN seen.carried_at ELSE seen.read_at END AS looked
    FROM (
        SELECT times.*,
               COALESCE(times.carried_at > COALESCE(times.read_at, 0), FALSE) AS carried
        FROM (
            SELECT m.id, m.relpath, m.repository_id,
                (SELECT MAX(a.scan_id) FROM answers a
                 WHERE a.file_id = m.id AND a.scan_id <= :scan) AS read_at,
                (SELECT c.scan_id FROM carries c
                 WHERE c.scan_id <= :scan AND c.first_file_id <= m.id AND c.last_file_id >= m.id
                 ORDER BY c.scan_id DESC LIMIT 1) AS carried_at
            FROM model_files m
        ) times
    ) seen
) f
JOIN repositories repo ON repo.id = f.repository_id
JOIN answers r ON r.id = (
    SELECT a.id FROM answers a
    WHERE a.file_id = f.id AND a.scan_id <= f.looked
      AND (NOT f.carried OR (a.scan_id < f.looked AND a.status IN ({_SETTLED})))
    ORDER BY a.scan_id DESC LIMIT 1)
WHERE NOT EXISTS (
    SELECT 1 FROM removals d
    WHERE d.file_id = f.id AND d.scan_id > f.looked AND d.scan_id <= :scan)
"""


@dataclass(frozen=True)
class Change:
    repository: str
    relpath: str
    kind: str  # added, removed, changed
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @staticmethod
    def _total(side: dict[str, Any] | None) -> int:
        return int(side["work_size"]) + int(side["weight_size"]) if side else 0

    @property
    def delta_total(self) -> int:
        return self._total(self.after) - self._total(self.before)

    @property
    def growth_pct(self) -> float:
        """Growth of total memory in percent (inf from nothing to something)."""
        before, after = self._total(self.before), self._total(self.after)
        if before == 0:
            return math.inf if after > 0 else 0.0
        return (after - before) * 100.0 / before

    def to_dict(self) -> dict[str, Any]:
        growth = self.growth_pct
        return {
            "repository": self.repository,
            "relpath": self.relpath,
            "change": self.kind,
            "before": self.before,
            "after": self.after,
            "delta_total": self.delta_total,
            "growth_pct": None
            if self.kind != "changed" or math.isinf(growth)
            else round(growth, 3),
        }


async def last_completed_scans(store: Store, count: int = 2) -> list[int]:
    rows = await store.fetch(
        "SELECT id FROM scans WHERE status = 'completed' ORDER BY id DESC LIMIT :n", n=count
    )
    return sorted(row["id"] for row in rows)


async def diff_scans(
    store: Store, scan_a: int | None, scan_b: int | None
) -> tuple[int, int, list[Change]]:
    """Changes from ``scan_a`` to ``scan_b`` (default: the last two completed scans)."""
    if scan_a is None or scan_b is None:
        last = await last_completed_scans(store)
        if len(last) < 2:
            raise StoreError("diff needs two completed scans; this database has fewer")
        scan_a, scan_b = last
    known = {row["id"] for row in await store.fetch("SELECT id FROM scans")}
    for scan in (scan_a, scan_b):
        if scan not in known:
            raise StoreError(f"no scan {scan} in this database")
    before = await _as_after(store, scan_a)
    after = await _as_after(store, scan_b)
    changes = []
    for key in sorted(before.keys() | after.keys()):
        old, new = _answer(before.get(key)), _answer(after.get(key))
        if old == new:
            continue
        kind = "added" if old is None else "removed" if new is None else "changed"
        changes.append(Change(key[0], key[1], kind, old, new))
    return scan_a, scan_b, changes


async def _as_after(store: Store, scan: int) -> dict[tuple[str, str], dict[str, Any]]:
    rows = await store.fetch(_AS_AFTER_SCAN, scan=scan)
    return {(row["repository"], row["relpath"]): row for row in rows}


def _answer(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {k: row[k] for k in ("status", "ret", "work_size", "weight_size")}
