"""Job health for the nightly run: a Prometheus text file in node_exporter's textfile
collector convention (``*.prom``, replaced atomically so the collector never reads half of
it). Plain data in: the scan summary as ``--json`` prints it, and the store's totals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..store import Store
from .totals import last_completed_at, repository_totals


class MetricsError(Exception):
    """The metrics file could not be written."""


async def write_scan_metrics(store: Store, path: str, summary: dict[str, Any]) -> None:
    """The metrics of a finished scan (``summary`` as ``--json`` prints it) with the
    store's totals after it."""
    totals = await repository_totals(store)
    write_metrics(path, summary, totals, await last_completed_at(store))


def write_metrics(
    path: str,
    summary: dict[str, Any],
    repositories: Sequence[dict[str, Any]],
    last_completed: datetime | None,
) -> None:
    # Imported here: prometheus_client costs a nightly scan 60 ms even when not asked for.
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    registry = CollectorRegistry()

    def gauge(name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, doc, labels, registry=registry)

    gauge("omscan_scan_id", "Id of the last scan.").set(summary["scan_id"])
    gauge("omscan_scan_completed", "1 if the last scan completed, 0 if it did not.").set(
        summary["status"] == "completed"
    )
    gauge("omscan_scan_duration_seconds", "Wall time of the last scan.").set(summary["seconds"])
    gauge("omscan_scan_read_bytes", "Model bytes the last scan read.").set(summary["bytes_read"])
    files = gauge("omscan_scan_files", "Files of the last scan by result status.", ["status"])
    for status, count in sorted(summary["statuses"].items()):
        files.labels(status).set(count)
    gauge("omscan_scan_removed_files", "Files the last scan found gone.").set(
        summary["files_removed"]
    )
    models = gauge("omscan_repository_models", "Models answered ok.", ["repository"])
    work = gauge(
        "omscan_repository_work_memory_bytes", "Work memory of the ok models.", ["repository"]
    )
    weight = gauge(
        "omscan_repository_weight_memory_bytes", "Weight memory of the ok models.", ["repository"]
    )
    for repo in repositories:
        models.labels(repo["repository"]).set(repo["models"])
        work.labels(repo["repository"]).set(repo["work_size"])
        weight.labels(repo["repository"]).set(repo["weight_size"])
    if last_completed is not None:
        gauge(
            "omscan_last_completed_scan_timestamp_seconds",
            "When the last completed scan finished (Unix time).",
        ).set(last_completed.timestamp())
    try:
        write_to_textfile(path, registry)
    except OSError as exc:
        raise MetricsError(f"metrics file {path}: {exc.strerror or exc}") from None
