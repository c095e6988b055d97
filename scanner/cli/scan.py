"""`omscan scan ROOT...`: the nightly job."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import anyio
import click

from ..ask.metrics import MetricsError, write_scan_metrics
from ..backends.base import BackendError
from ..backends.select import open_backend
from ..objstore import ObjectStoreError, S3Settings
from ..scan.lifecycle import ScanSummary, until_signalled
from ..scan.local import ScanOptions, run_scan
from ..scan.pipeline import PipelineOptions, Progress
from ..sources.bucket import Buckets, ObjectFiles, ObjectSource
from ..sources.local import LocalFiles
from ..sources.mixed import AnyFiles
from ..sources.walk import WalkOptions, check_glob
from ..store import StoreError, open_store
from ..units import human_bytes
from .buckets import Root, bucket_options, object_roots, stop_when_lost
from .exits import EXIT_FAILED, EXIT_NOT_RUN, EXIT_OK
from .fleet import FleetError, FleetSource, load_fleet
from .leases import lease_option
from .options import ByteSize, backend_options, db_option, parse_devices, run_store_job
from .output import emit, output_options


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
@click.argument("roots", nargs=-1, type=Root())
@db_option
@backend_options
@bucket_options
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
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Scan the named sources of this TOML fleet file (each its own roots, globs and "
    "endpoint) instead of ROOT....",
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
    jobs: int,
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
    config: Path | None,
    s3: S3Settings,
) -> None:
    """Walk ROOT... for models, size each one, and store the results.

    A ROOT is a directory or a bucket, s3://BUCKET[/PREFIX], reached with the standard
    AWS_* variables (or a profile) and the options below.

    Exit 0 when every model succeeded, 1 when some failed, 2 on usage errors, 3 when the
    scan could not run or finish (database unreachable, interrupted).
    """
    walk = WalkOptions(include=include, exclude=exclude, follow_outside=follow_outside)
    # One set of query settings for every scan run here (each fleet source, or ROOT...).
    scan_here = partial(
        _scan_here,
        db=db,
        backend=backend,
        devices=parse_devices(devices),
        timeout=timeout,
        jobs=jobs,
        verify=verify,
        full=full,
        budget=max_inflight_bytes,
    )
    if config is not None:
        if roots or distributed or metrics_file:
            raise click.UsageError(
                "--config takes the roots from the file: no ROOT, no "
                "--distributed or --metrics-file with it"
            )
        _scan_fleet(config, db, s3, fmt, scan_here, walk)
    if not roots:
        raise click.UsageError("give ROOT... (directories or s3:// URLs), or --config")
    if distributed:
        if metrics_file:
            raise click.UsageError("--metrics-file is for local scans: workers do the querying")
        options = ScanOptions(
            roots=roots,
            walk=walk,
            pipeline=PipelineOptions(budget_bytes=max_inflight_bytes),
            full=full,
        )
        _queue_scan(db, options, lease_seconds, fmt, s3)
    try:
        summary = scan_here(roots, walk, s3, metrics_file=metrics_file)
    except ScanNotRun as exc:
        click.echo(f"omscan: {exc}", err=True)
        sys.exit(EXIT_NOT_RUN)
    _emit_summary(fmt, summary.to_dict(), render_summary(summary))
    sys.exit(_exit_code(summary))


class ScanNotRun(Exception):
    """The scan could not run or finish: one line for stderr."""


def _exit_code(summary: ScanSummary) -> int:
    if summary.status != "completed":
        return EXIT_NOT_RUN
    return EXIT_FAILED if summary.failed else EXIT_OK


def _scan_here(
    roots: Sequence[str],
    walk: WalkOptions,
    s3: S3Settings,
    *,
    db: str,
    backend: str,
    devices: list[int] | None,
    timeout: float,
    verify: bool,
    full: bool,
    budget: int,
    jobs: int,
    metrics_file: str | None = None,
) -> ScanSummary:
    """One scan of ``roots`` queried on this host; ScanNotRun if it cannot run."""
    options = ScanOptions(
        roots=roots, walk=walk, pipeline=PipelineOptions(budget_bytes=budget), full=full
    )
    progress = Progress()
    buckets = object_roots(roots)

    async def main() -> ScanSummary:
        async with (
            open_store(db) as store,
            Buckets(s3) as opened,
            open_backend(
                AnyFiles(LocalFiles(), ObjectFiles(opened)) if buckets else LocalFiles(),
                backend,
                devices,
                timeout,
                verify,
                in_flight=s3.max_in_flight if buckets else 1,
                jobs=1 if buckets else jobs,  # reader processes read local files
                inline=True,
            ) as (chosen, used_devices),
        ):
            objects = ObjectSource(buckets, opened, options.walk) if buckets else None
            beside = []
            if sys.stderr.isatty():
                from .progress import show_progress

                beside.append(partial(show_progress, progress))
            summary = await until_signalled(
                lambda stop: stop_when_lost(
                    opened,
                    stop,
                    lambda stop: run_scan(
                        store,
                        chosen,
                        options,
                        devices=used_devices,
                        progress=progress,
                        stop=stop,
                        objects=objects,
                    ),
                ),
                *beside,
            )
            if opened.lost.is_set():
                click.echo(
                    "omscan: the object-storage endpoint went away: the scan stopped "
                    "(run it again to finish)",
                    err=True,
                )
            if metrics_file:
                await write_scan_metrics(store, metrics_file, summary.to_dict())
            return summary

    try:
        return anyio.run(main)
    except (StoreError, BackendError, MetricsError) as exc:
        raise ScanNotRun(str(exc)) from None
    except ObjectStoreError as exc:
        raise ScanNotRun(exc.reason) from None


def _scan_fleet(
    config: Path,
    db: str,
    s3: S3Settings,
    fmt: str,
    scan_roots: Callable[[Sequence[str], WalkOptions, S3Settings], ScanSummary],
    walk: WalkOptions,
) -> NoReturn:
    """`scan --config`: each named source of the fleet file, one scan each, in file
    order; a source that cannot run is one line and the others still run. The exit
    code is the worst of theirs."""
    try:
        sources = load_fleet(config)
        for source in sources:
            _fleet_root(source)
    except FleetError as exc:
        raise click.BadParameter(str(exc), param_hint="--config") from None
    rows: list[dict[str, Any]] = []
    texts: list[str] = []
    worst = EXIT_OK
    for source in sources:
        settings = replace(
            s3,
            endpoint_url=source.endpoint_url or s3.endpoint_url,
            virtual_hosted=s3.virtual_hosted
            if source.virtual_hosted is None
            else source.virtual_hosted,
        )
        options = replace(
            walk,
            include=walk.include if source.include is None else tuple(source.include),
            exclude=walk.exclude if source.exclude is None else tuple(source.exclude),
            follow_outside=walk.follow_outside
            if source.follow_outside is None
            else source.follow_outside,
        )
        try:
            summary = scan_roots([source.root], options, settings)
        except ScanNotRun as exc:
            click.echo(f"omscan: {source.name}: {exc}", err=True)
            worst = max(worst, EXIT_NOT_RUN)
            continue
        rows.append({"source": source.name} | summary.to_dict())
        texts.append(f"{source.name} ({source.root}): {render_summary(summary)}")
        worst = max(worst, _exit_code(summary))
    if rows:
        emit(fmt, rows, list(rows[0]), sizes=SUMMARY_SIZES, people="\n".join(texts), document=rows)
    sys.exit(worst)


def _fleet_root(source: FleetSource) -> None:
    """FleetError for a root that cannot be scanned (before any scan runs)."""
    try:
        Root().convert(source.root, None, None)
        WalkOptions(include=source.include or ("*.om",), exclude=source.exclude or ())
    except (click.BadParameter, ValueError) as exc:
        message = exc.message if isinstance(exc, click.BadParameter) else str(exc)
        raise FleetError(f"source {source.name}: {message}") from None


def _emit_summary(fmt: str, data: dict[str, Any], people: str) -> None:
    """A scan's summary: lines for people, one row (or object) for programs."""
    emit(fmt, [data], list(data), sizes=SUMMARY_SIZES, people=people, document=data)


def _queue_scan(
    db: str, options: ScanOptions, lease_seconds: float, fmt: str, s3: S3Settings
) -> None:
    """`scan --distributed`: the walk (and the buckets' listing) here, the queries on
    the workers, which read the buckets themselves."""
    from ..scan.distributed import enqueue_scan, open_leased_store
    from ..store.queue import require_postgresql

    async def main() -> ScanSummary:
        require_postgresql(db)
        roots = object_roots(options.roots)
        async with open_leased_store(db, lease_seconds) as store, Buckets(s3) as buckets:
            objects = ObjectSource(roots, buckets, options.walk) if roots else None
            return await until_signalled(
                lambda stop: stop_when_lost(
                    buckets,
                    stop,
                    lambda stop: enqueue_scan(
                        store, options, lease_seconds=lease_seconds, stop=stop, objects=objects
                    ),
                )
            )

    try:
        summary = run_store_job(main)
    except ObjectStoreError as exc:
        click.echo(f"omscan: {exc.reason}", err=True)
        sys.exit(EXIT_NOT_RUN)
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
