"""`omscan worker` and `omscan status`: the hosts of a distributed scan."""

from __future__ import annotations

import json
import socket
import sys
from typing import Any

import anyio
import click

from ..backends.acl import BackendError
from ..backends.select import open_backend
from ..scan.distributed import WorkerOptions, WorkerSummary, run_worker
from ..store import StoreError, open_store
from ..store.queue import scan_progress
from .options import (
    EXIT_FAILED,
    EXIT_NOT_RUN,
    EXIT_OK,
    backend_options,
    db_option,
    parse_devices,
    run_store_job,
    until_signalled,
)
from .output import emit, json_value, render, summary, to_json


@click.command()
@db_option
@backend_options
@click.option("--host", help="Name this host reports (default: its hostname).")
@click.option(
    "--lease-seconds",
    type=float,
    default=30.0,
    show_default=True,
    help="How long claimed work stays ours without renewal; a dead host's work returns "
    "to the queue after this.",
)
@click.option(
    "--claim", "claim_size", type=int, default=256, show_default=True, help="Files per claim."
)
@click.option(
    "--poll-seconds", type=float, default=2.0, show_default=True, help="Wait between empty claims."
)
@click.option(
    "--exit-when-idle", is_flag=True, help="Leave once no distributed scan has work left."
)
@click.option("--json", "as_json", is_flag=True, help="Print the final summary as JSON.")
def worker(
    db: str | None,
    backend: str,
    devices: str | None,
    timeout: float,
    host: str | None,
    lease_seconds: float,
    claim_size: int,
    poll_seconds: float,
    exit_when_idle: bool,
    as_json: bool,
) -> None:
    """Take files of distributed scans from the PostgreSQL queue, query them on this
    host's devices, and store the results. Runs until stopped (SIGINT/SIGTERM), or
    with --exit-when-idle until the queue is empty.

    Exit 0 when every file it did succeeded, 1 when some failed, 3 when it could not run.
    """
    if lease_seconds <= 0 or claim_size <= 0 or poll_seconds <= 0:
        raise click.BadParameter("--lease-seconds, --claim and --poll-seconds must be positive")
    options = WorkerOptions(
        lease_seconds=lease_seconds,
        claim_size=claim_size,
        poll_seconds=poll_seconds,
        exit_when_idle=exit_when_idle,
        host=host or socket.gethostname(),
    )

    async def main() -> WorkerSummary:
        async with (
            open_store(db) as store,
            open_backend(backend, parse_devices(devices), timeout, verify=False) as (chosen, used),
        ):
            return await until_signalled(
                lambda stop: run_worker(store, chosen, options, devices=used, stop=stop)
            )

    try:
        summary = anyio.run(main)
    except (StoreError, BackendError) as exc:
        click.echo(f"omscan: {exc}", err=True)
        sys.exit(EXIT_NOT_RUN)
    data = summary.to_dict()
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(
            f"worker {summary.worker_id} on {summary.host}: {data['files_done']:,} files done, "
            f"{data['files_failed']:,} failed in {summary.seconds:.1f} s"
        )
    sys.exit(EXIT_FAILED if summary.progress.failed else EXIT_OK)


@click.command()
@db_option
@click.option("--scan", "scan_id", type=int, help="Scan id (default: the latest distributed one).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv", "markdown"]),
    default="table",
    show_default=True,
)
def status(db: str | None, scan_id: int | None, fmt: str) -> None:
    """Progress of a distributed scan: totals, then per worker what it holds (claimed),
    has done and failed, and its rate in files/s."""

    async def main() -> dict[str, Any] | None:
        async with open_store(db) as store:
            return await scan_progress(store, scan_id)

    progress = run_store_job(main)
    if progress is None:
        click.echo("omscan: no distributed scan" + (f" {scan_id}" if scan_id else ""), err=True)
        sys.exit(EXIT_NOT_RUN)
    if fmt == "json":
        emit(to_json(json_value(progress)))
        return
    summary(
        f"scan {progress['scan_id']} {progress['status']}"
        f"{'' if progress['walk_done'] else ' (still walking)'}: "
        f"{progress['done']:,}/{progress['files']:,} done, {progress['failed']:,} failed, "
        f"{progress['queued']:,} queued, {progress['leased']:,} claimed, "
        f"{progress['leases_expired']:,} leases expired, {progress['rate'] or 0:,.1f} files/s",
        fmt,
    )
    columns = ["host", "worker", "pid", "state", "claimed", "done", "failed", "rate"]
    emit(render(progress["workers"], columns, fmt))
