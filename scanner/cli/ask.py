"""The question commands: `sql`, `report`, `diff`, `scans`, `history`."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..ask.diff import diff_scans
from ..ask.history import list_scans, model_history
from ..ask.report import COLUMNS, SORTS, ReportFilter, report
from ..ask.sql import DEFAULT_TIME_LIMIT, ReadOnlyViolation, SqlError, TimeLimitExceeded, run_sql
from ..store import open_store
from .exits import EXIT_FAILED, EXIT_NOT_RUN, EXIT_USAGE
from .options import FINITE, SECONDS, ByteSize, db_option, run_store_job
from .output import emit, output_options, unique_columns
from .reports import diff_formats, report_formats

SIZES = {"work_size", "weight_size", "total_size", "delta_total"}


@click.command()
@click.argument("statement")
@db_option
@click.option(
    "--timeout",
    type=SECONDS,
    default=DEFAULT_TIME_LIMIT,
    show_default=True,
    help="Stop the statement after this many seconds.",
)
@output_options()
def sql(statement: str, db: str, timeout: float, fmt: str) -> None:
    """Run one read-only SQL STATEMENT over the store (see the README for the schema).

    Anything that could change data or reach outside omscan's tables is refused: exit 2.
    A statement stopped by --timeout or Ctrl-C: exit 3.
    """
    try:
        result = run_store_job(run_sql, db, statement, timeout)
    except ReadOnlyViolation as exc:
        click.echo(f"omscan: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except SqlError as exc:
        click.echo(f"omscan: SQL error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except TimeLimitExceeded as exc:
        click.echo(f"omscan: {exc} (--timeout)", err=True)
        sys.exit(EXIT_NOT_RUN)
    columns = unique_columns(result.columns)
    rows = [dict(zip(columns, row, strict=True)) for row in result.rows]
    emit(fmt, rows, columns)


@click.command("report")
@db_option
@click.option("--min-total", type=ByteSize(), help="Only models needing at least this (e.g. 8GiB).")
@click.option("--soc", help="Only models built for this SoC (e.g. Ascend310P3).")
@click.option("--failed", is_flag=True, help="Only models that failed.")
@click.option("--repo", help="Only repositories whose path contains this text (no wildcards).")
@click.option("--sort", type=click.Choice(sorted(SORTS)), default="total", show_default=True)
@report_formats
def report_command(
    db: str,
    min_total: int | None,
    soc: str | None,
    failed: bool,
    repo: str | None,
    sort: str,
    fmt: str,
) -> None:
    """The latest result of every present model."""

    async def job() -> list[dict[str, Any]]:
        async with open_store(db) as store:
            return await report(store, ReportFilter(min_total, soc, failed, repo, sort))

    emit(fmt, run_store_job(job), COLUMNS, sizes=SIZES)


@click.command()
@click.argument("scans", nargs=-1, type=int)
@db_option
@click.option(
    "--fail-on-growth",
    type=FINITE,
    metavar="PCT",
    help="Exit 1 when any model's total memory grew by more than PCT percent.",
)
@diff_formats
def diff(scans: tuple[int, ...], db: str, fail_on_growth: float | None, fmt: str) -> None:
    """Models added, removed and changed between SCAN_A and SCAN_B (default: the last
    two completed scans)."""
    if len(scans) not in (0, 2):
        raise click.UsageError("give two scan ids, or none for the last two completed scans")
    first, second = (scans[0], scans[1]) if scans else (None, None)

    async def job() -> tuple[int, int, list[Any]]:
        async with open_store(db) as store:
            return await diff_scans(store, first, second)

    scan_a, scan_b, changes = run_store_job(job)
    emit(
        fmt,
        [_diff_row(change.to_dict()) for change in changes],
        ["change", "repository", "relpath", "before", "after", "delta_total", "growth"],
        sizes=SIZES,
        prose=f"scan {scan_a} → scan {scan_b}: {len(changes)} change(s)",
        document={"scan_a": scan_a, "scan_b": scan_b, "changes": [c.to_dict() for c in changes]},
    )
    if fail_on_growth is not None and any(
        c.growth_pct > fail_on_growth for c in changes if c.before is not None
    ):
        sys.exit(EXIT_FAILED)


def _diff_row(change: dict[str, Any]) -> dict[str, Any]:
    def side(answer: dict[str, Any] | None) -> str:
        if answer is None:
            return ""
        total = int(answer["work_size"]) + int(answer["weight_size"])
        return f"{answer['status']} {total:,} B"

    growth = change["growth_pct"]
    return {
        **change,
        "before": side(change["before"]),
        "after": side(change["after"]),
        "growth": "" if growth is None else f"{growth:+.1f}%",
    }


@click.command()
@db_option
@output_options()
def scans(db: str, fmt: str) -> None:
    """List the scans in the store."""

    async def job() -> list[dict[str, Any]]:
        async with open_store(db) as store:
            return await list_scans(store)

    rows = run_store_job(job)
    for row in rows:
        counts = json.loads(row.pop("counts") or "{}")
        row["seen"] = counts.get("files_seen")
        row["failed"] = counts.get("files_failed")
    columns = ["id", "started_at", "finished_at", "status", "host", "backend", "seen", "failed"]
    emit(fmt, rows, columns)


@click.command()
@click.argument("path")
@db_option
@output_options()
def history(path: str, db: str, fmt: str) -> None:
    """One model over time: PATH is the file, or its path inside its repository."""

    async def job() -> list[dict[str, Any]]:
        async with open_store(db) as store:
            return await model_history(store, path)

    rows = run_store_job(job)
    if not rows:
        click.echo(f"omscan: no results for {path}", err=True)
        sys.exit(EXIT_FAILED)
    columns = [
        "scan_id",
        "started_at",
        "relpath",
        "status",
        "ret",
        "work_size",
        "weight_size",
        "carried",
    ]
    emit(fmt, rows, columns, sizes=SIZES)
