"""The ``counts`` a closed scan carries: one shape, whoever closes the scan (a local
scan, an interrupted distributed walk, or the worker that finds the queue drained), so
`omscan scans`, the metrics file and `--json` read the same keys for every scan."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core import NOT_FAILURES


def scan_counts(
    scan_id: int,
    status: str,
    *,
    seen: int,
    queried: int,
    unchanged: int,
    removed: int,
    bytes_read: int,
    statuses: Mapping[str, int],
    seconds: float | None = None,
    peak_budget_bytes: int | None = None,
) -> dict[str, Any]:
    """The scan's summary. ``seconds`` and ``peak_budget_bytes`` are there only when the
    closer measured them (a scan closed from its stored results did not)."""
    counts: dict[str, Any] = {"scan_id": scan_id, "status": status}
    if seconds is not None:
        counts["seconds"] = round(seconds, 3)
    counts |= {
        "files_seen": seen,
        "files_queried": queried,
        "files_unchanged": unchanged,
        "files_failed": sum(n for s, n in statuses.items() if s not in NOT_FAILURES),
        "files_removed": removed,
        "bytes_read": bytes_read,
        "statuses": dict(statuses),
    }
    if peak_budget_bytes is not None:
        counts["peak_budget_bytes"] = peak_budget_bytes
    return counts
