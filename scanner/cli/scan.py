"""`omscan scan ROOT...`: the nightly job."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from functools import partial
from typing import Any

import anyio
import click
from rich.console import Console

from ..ask.metrics import MetricsError, write_scan_metrics
from ..backends.acl import BackendError
from ..backends.select import open_backend
from ..scan.lifecycle import ScanSummary, until_signalled
from ..scan.local import ScanOptions, run_scan
from ..scan.pipeline import PipelineOptions, Progress
from ..sources.local import LocalFiles
from ..sources.walk import WalkOptions, check_glob
from ..store import StoreError, open_store
from ..units import human_bytes
from .exits import EXIT_FAILED, EXIT_NOT_RUN, EXIT_OK
from .leases import lease_option
from .options import ByteSize, backend_options, db_option, parse_devices, run_store_job
from .output import emit, output_options
from .progress import show_progress


def _globs(_ctx: click.Context, _param: click.Parameter, globs: Sequence[str]) -> Sequence[str]:
    for glob in globs:
        try:
            check_glob(glob)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return globs


def _metrics_path(value: str | None) -> str | None:
    """node_exporter's textfile collector reads only ``*.prom`` files, from a directory
    that must exist before the scan spends its time."""
    if value is None:
        return None
    if not value.endswith(".prom"):
        raise click.BadParameter("must end in .prom (node_exporter reads only those)")
    if not os.path.isdir(os.path.dirname(os.path.abspath(value))):
        raise click.BadParameter(f"directory of {value} does not exist")
    return value


SUMMARY_SIZES = {"bytes_read", "peak_budget_bytes"}


def render_summary(summary: ScanSummary) -> str:
    data = summary.to_dict()
    statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(data["statuses"].items()))
    return "\n".join(
        [
            f"scan {summary.scan_id} {summary.status} in {summary.seconds:.2f} s",
            f"  files seen       {data['files_seen']:,}",
            f"  queried          {data['files_queried']:,}",
            f"  unchanged        {data['files_unchanged']:,}",
            f"  failed           {data['files_failed']:,}",
            f"  removed          {data['files_removed']:,}",
            f"  bytes read       {human_bytes(data['bytes_read'])}",
            f"  by status        {statuses or '-'}",
        ]
    )


@click.command()
@click.argument("roots", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@db_option
@backend_options
@click.option(
    "--verify", is_flag=True, help="Answer every model with both backends; record disagreements."
)
@click.option("--full", is_flag=True, help="Re-read every model, even unchanged ones.")
@click.option(
    "--include",
    multiple=True,
    default=["*.om"],
    show_default=True,
    help="Glob of files to scan (repeatable).",
    callback=_globs,
)
@click.option(
    "--exclude", multiple=True, help="Glob of files to skip (repeatable).", callback=_globs
)
@click.option("--follow-outside", is_flag=True, help="Follow symlinks that lead outside the roots.")
@click.option(
    "--max-inflight-bytes",
    type=ByteSize(minimum=1),
    default="1GiB",
    show_default=True,
    help="Model bytes held in memory at once (acl backend).",
)
@click.option(
    "--distributed",
    is_flag=True,
    help="Walk and queue the work in the (PostgreSQL) database for `omscan worker` on "
    "every host, instead of querying here.",
)
@lease_option(
    "With --distributed: how long the walk may go unheard before workers take it for dead "
    "and mark the scan interrupted."
)
@output_options(json_alias=True)
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False),
    callback=lambda ctx, param, value: _metrics_path(value),
    help="Write the scan's health here as Prometheus text (node_exporter textfile collector).",
)
def scan(
    roots: Sequence[str],
    db: str,
    backend: str,
    devices: str | None,
    timeout: float,
    verify: bool,
    full: bool,
    include: Sequence[str],
    exclude: Sequence[str],
    follow_outside: bool,
    max_inflight_bytes: int,
    distributed: bool,
    lease_seconds: float,
    fmt: str,
    metrics_file: str | None,
) -> None:
    """Walk ROOT... for models, size each one, and store the results.

    Exit 0 when every model succeeded, 1 when some failed, 2 on usage errors, 3 when the
    scan could not run or finish (database unreachable, interrupted).
    """
    options = ScanOptions(
        roots=roots,
        walk=WalkOptions(include=include, exclude=exclude, follow_outside=follow_outside),
        pipeline=PipelineOptions(budget_bytes=max_inflight_bytes),
        full=full,
    )
    if distributed:
        if metrics_file:
            raise click.UsageError("--metrics-file is for local scans: workers do the querying")
        _queue_scan(db, options, lease_seconds, fmt)
    device_ids = parse_devices(devices)
    console = Console(stderr=True)
    progress = Progress()

    async def main() -> ScanSummary:
        async with (
            open_store(db) as store,
            open_backend(LocalFiles(), backend, device_ids, timeout, verify) as (
                chosen,
                used_devices,
            ),
        ):
            beside = [partial(show_progress, progress, console)] if console.is_terminal else []
            summary = await until_signalled(
                lambda stop: run_scan(
                    store, chosen, options, devices=used_devices, progress=progress, stop=stop
                ),
                *beside,
            )
            if metrics_file:
                await write_scan_metrics(store, metrics_file, summary.to_dict())
            return summary

    try:
        summary = anyio.run(main)
    except (StoreError, BackendError, MetricsError) as exc:
        click.echo(f"omscan: {exc}", err=True)
        sys.exit(EXIT_NOT_RUN)
    _emit_summary(fmt, summary.to_dict(), render_summary(summary))
    if summary.status != "completed":
        sys.exit(EXIT_NOT_RUN)
    sys.exit(EXIT_FAILED if summary.failed else EXIT_OK)


def _emit_summary(fmt: str, data: dict[str, Any], people: str) -> None:
    """A scan's summary: lines for people, one row (or object) for programs."""
    emit(fmt, [data], list(data), sizes=SUMMARY_SIZES, people=people, document=data)


def _queue_scan(db: str, options: ScanOptions, lease_seconds: float, fmt: str) -> None:
    """`scan --distributed`: the walk here, the queries on the workers."""
    from ..scan.distributed import enqueue_scan, open_leased_store
    from ..store.queue import require_postgresql

    async def main() -> ScanSummary:
        require_postgresql(db)
        async with open_leased_store(db, lease_seconds) as store:
            return await until_signalled(
                lambda stop: enqueue_scan(store, options, lease_seconds=lease_seconds, stop=stop)
            )

    summary = run_store_job(main)
    data = summary.to_dict() | {"files_queued": summary.extra.get("queued", 0)}
    people = (
        f"scan {summary.scan_id} {summary.status}: {data['files_queued']:,} files queued "
        f"for workers, {data['files_unchanged']:,} unchanged, "
        f"{data['files_seen'] - data['files_queued'] - data['files_unchanged']:,} recorded "
        f"without a query, {data['files_removed']:,} removed ({summary.seconds:.2f} s)\n"
        "run `omscan worker --db URL` on each host; `omscan status --db URL` to follow"
    )
    _emit_summary(fmt, data, people)
    sys.exit(EXIT_OK if summary.status in ("running", "completed") else EXIT_NOT_RUN)
