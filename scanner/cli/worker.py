"""`omscan worker` and `omscan status`: the hosts of a distributed scan."""

from __future__ import annotations

import socket
import sys
from typing import Any

import anyio
import click

from ..backends.base import BackendError
from ..backends.select import open_backend
from ..objstore import S3Settings
from ..scan.distributed import WorkerOptions, WorkerSummary, open_leased_store, run_worker
from ..scan.lifecycle import until_signalled
from ..sources.bucket import Buckets, ObjectFiles
from ..sources.local import LocalFiles
from ..sources.mixed import AnyFiles
from ..store import StoreError, open_store
from ..store.queue import require_postgresql, scan_progress
from .buckets import bucket_options
from .leases import lease_option, seconds_option
from .options import (
    EXIT_FAILED,
    EXIT_NOT_RUN,
    EXIT_OK,
    backend_options,
    db_option,
    parse_devices,
    run_store_job,
)
from .output import emit, output_options


@click.command()
@db_option
@backend_options
@bucket_options
@click.option("--host", help="Name this host reports (default: its hostname).")
@lease_option(
    "How long claimed work stays ours without renewal; a dead host's work returns to the "
    "queue after this. Database statements get a third of it to answer."
)
@click.option(
    "--claim",
    "claim_size",
    type=click.IntRange(1, 100_000),
    default=512,
    show_default=True,
    help="Files held at once, at most (claimed and not yet stored).",
)
@seconds_option("--poll-seconds", 2.0, 0.0, 3600.0, "Wait between empty claims.")
@click.option(
    "--exit-when-idle", is_flag=True, help="Leave once no distributed scan has work left."
)
@output_options(json_alias=True)
def worker(
    db: str | None,
    backend: str,
    devices: str | None,
    timeout: float,
    jobs: int,
    host: str | None,
    lease_seconds: float,
    claim_size: int,
    poll_seconds: float,
    exit_when_idle: bool,
    fmt: str,
    s3: S3Settings,
) -> None:
    """Take files of distributed scans from the PostgreSQL queue, query them on this
    host's devices, and store the results. Runs until stopped (SIGINT/SIGTERM), or
    with --exit-when-idle until the queue is empty.

    Objects of s3:// roots are read from their bucket by this host, with the standard
    AWS_* variables (or a profile) and the options below.

    Exit 0 when every file it did succeeded, 1 when some failed, 3 when it could not run.
    """
    options = WorkerOptions(
        lease_seconds=lease_seconds,
        claim_size=claim_size,
        poll_seconds=poll_seconds,
        exit_when_idle=exit_when_idle,
        host=host or socket.gethostname(),
    )

    async def main() -> WorkerSummary:
        require_postgresql(db)
        async with (
            open_leased_store(db, lease_seconds) as store,
            Buckets(s3) as buckets,
            open_backend(
                AnyFiles(LocalFiles(), ObjectFiles(buckets)),
                backend,
                parse_devices(devices),
                timeout,
                verify=False,
                in_flight=s3.max_in_flight,
                jobs=jobs,  # processes read only with one model in flight
            ) as (chosen, used),
        ):
            objects = ObjectFiles(buckets)
            return await until_signalled(
                lambda stop: run_worker(
                    store, chosen, options, devices=used, stop=stop, objects=objects
                )
            )

    try:
        summary = anyio.run(main)
    except (StoreError, BackendError) as exc:
        click.echo(f"omscan: {exc}", err=True)
        sys.exit(EXIT_NOT_RUN)
    data = summary.to_dict()
    emit(
        fmt,
        [data],
        list(data),
        sizes={"bytes_read"},
        people=f"worker {summary.worker_id} on {summary.host}: {data['files_done']:,} files "
        f"done, {data['files_failed']:,} failed, {data['files_handed_back']:,} handed back to "
        f"other hosts, {data['files_late']:,} late answers dropped in {summary.seconds:.1f} s",
        document=data,
    )
    sys.exit(EXIT_FAILED if summary.failed else EXIT_OK)


@click.command()
@db_option
@click.option("--scan", "scan_id", type=int, help="Scan id (default: the latest distributed one).")
@output_options()
def status(db: str | None, scan_id: int | None, fmt: str) -> None:
    """Progress of a distributed scan: totals, then per worker (every live one, and
    those that worked on it) what it holds (claimed), has done and failed, answers it
    had dropped as late, and its rate in files/s while it worked."""

    async def main() -> dict[str, Any] | None:
        require_postgresql(db)
        async with open_store(db) as store:
            return await scan_progress(store, scan_id)

    progress = run_store_job(main)
    if progress is None:
        named = "" if scan_id is None else f" {scan_id}"
        click.echo(f"omscan: no distributed scan{named}", err=True)
        sys.exit(EXIT_NOT_RUN)
    emit(
        fmt,
        progress["workers"],
        ["host", "worker", "pid", "state", "claimed", "done", "failed", "late", "rate"],
        prose=describe_progress(progress),
        document=progress,
    )


def describe_progress(progress: dict[str, Any]) -> str:
    """The totals line, and what the scan is waiting for when it waits."""
    walking = ""
    if progress["coordinator_alive"] is not None:
        walking = " (still walking)" if progress["coordinator_alive"] else " (walk stopped)"
    rate = f"{progress['rate']:,.1f} files/s" if progress["rate"] else "no rate yet"
    line = (
        f"scan {progress['scan_id']} {progress['status']}{walking}: "
        f"{progress['done']:,}/{progress['files']:,} done, {progress['failed']:,} failed, "
        f"{progress['queued']:,} queued, {progress['leased']:,} claimed, "
        f"{progress['leases_expired']:,} leases expired, {rate}"
    )
    if progress["status"] != "running":
        return line
    if progress["coordinator_alive"] is False:
        line += "\n  the walk's coordinator fell silent: the next worker marks it interrupted"
    if progress["handed_back"]:
        line += (
            f"\n  {progress['handed_back']:,} handed back by hosts that cannot read them, "
            "waiting for a live host that has not tried them (recorded once none is left)"
        )
    if not progress["live_workers"] and (progress["queued"] or progress["leased"]):
        line += "\n  no live worker: start `omscan worker` on the hosts"
    return line
