"""`omscan plan`: which models fit which NPU, how many copies, how a set packs onto N."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import click

from ..ask.plan import (
    PLAN_COLUMNS,
    Packing,
    PlanError,
    Target,
    parse_models_file,
    plan_models,
    wanted_models,
)
from ..ask.plan import pack as pack_devices
from ..ask.report import ReportFilter, report
from ..store import open_store
from ..units import human_bytes
from .options import EXIT_FAILED, EXIT_OK, ByteSize, db_option, run_store_job
from .output import emit, output_options
from .targets import device_options

SIZES = {"work_size", "weight_size", "total_size", "device_memory"}
PACK_COLUMNS = ["device", "repository", "relpath", "copies", "total_size", "note"]


@click.command()
@db_option
@device_options
@click.option(
    "--share-work",
    is_flag=True,
    help="Models on one device run one at a time and share one work buffer.",
)
@click.option("--dynamic-weights", is_flag=True, help="Plan dynamic models by their weights alone.")
@click.option(
    "--pack", type=click.IntRange(min=1), metavar="N", help="Pack the models on N devices."
)
@click.option(
    "--models",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --pack: the models to place, `PATH [COPIES]` per line (default: one of each).",
)
@click.option("--min-total", type=ByteSize(), help="Only models needing at least this.")
@click.option("--soc", help="Only models built for this SoC (e.g. Ascend310P3).")
@click.option("--repo", help="Only repositories whose path contains this.")
@output_options()
def plan(
    db: str | None,
    target: Target,
    share_work: bool,
    dynamic_weights: bool,
    pack: int | None,
    models: Path | None,
    min_total: int | None,
    soc: str | None,
    repo: str | None,
    fmt: str,
) -> None:
    """For every model of the latest results: what it needs, whether it fits its device
    (the SoC it was built for, or --device/--device-memory) and how many copies fit on
    one. With --pack N: place the models on N devices, largest first.

    Exit 1 when something asked for does not fit, 0 otherwise.
    """
    target = dataclasses.replace(target, share_work=share_work, dynamic_weights=dynamic_weights)
    if models is not None and pack is None:
        raise click.UsageError("--models goes with --pack")
    if pack is not None and target.device is None:
        raise click.UsageError("--pack needs --device or --device-memory")

    async def job() -> list[dict[str, Any]]:
        async with open_store(db) as store:
            return await report(store, ReportFilter(min_total, soc, False, repo, "total"))

    rows = run_store_job(job)
    if pack is None:
        sys.exit(_show_plan(plan_models(rows, target), fmt))
    names = parse_models(models) if models else None
    try:
        wanted, not_planned = wanted_models(rows, names, target)
    except PlanError as exc:
        raise click.BadParameter(str(exc), param_hint="--models") from None
    assert target.device is not None
    packing = pack_devices(wanted, pack, target.device.usable, target.share_work)
    sys.exit(_show_packing(packing, target, not_planned, fmt))


def parse_models(path: Path) -> list[tuple[str, int]]:
    """The --models file, full paths resolved as the store records repositories."""
    try:
        names = parse_models_file(path.read_text())
    except (PlanError, OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--models") from None
    return [(os.path.realpath(n) if os.path.isabs(n) else n, c) for n, c in names]


def _show_plan(planned: list[dict[str, Any]], fmt: str) -> int:
    fit = sum(1 for p in planned if p["fits"])
    misfit = sum(1 for p in planned if p["fits"] is False)
    skipped = sum(1 for p in planned if p["fits"] is None)
    prose = f"{len(planned)} model(s): {fit} fit, {misfit} do not, {skipped} not planned"
    emit(fmt, planned, PLAN_COLUMNS, sizes=SIZES, prose=prose)
    return EXIT_FAILED if any(p["fits"] is False for p in planned) else EXIT_OK


def _show_packing(packing: Packing, target: Target, not_planned: list[Any], fmt: str) -> int:
    assert target.device is not None
    data = packing.to_dict()
    skipped = [
        {"repository": w.repository, "relpath": w.relpath, "reason": w.reason} for w in not_planned
    ]
    rows = [
        {**model, "device": device["device"], "note": ""}
        for device in data["devices"]
        for model in device["models"]
    ] + [{**left, "device": "left over", "note": left["reason"]} for left in data["left_over"]]
    emit(
        fmt,
        rows,
        PACK_COLUMNS,
        sizes=SIZES,
        prose=_packing_summary(data, target.device.name, len(skipped)),
        document={"device": target.device.name, **data, "not_planned": skipped},
    )
    return EXIT_FAILED if data["left_over"] else EXIT_OK


def _packing_summary(data: dict[str, Any], device: str, skipped: int) -> str:
    usable = data["device_memory"]
    share = ", sharing one work buffer per device" if data["share_work"] else ""
    lines = [f"{len(data['devices'])} x {device} ({human_bytes(usable)} usable each{share})"]
    for placed in data["devices"]:
        copies = sum(m["copies"] for m in placed["models"])
        lines.append(
            f"  device {placed['device']}: {copies} model(s), {human_bytes(placed['used'])} used, "
            f"{human_bytes(placed['free'])} free"
        )
    left = sum(m["copies"] for m in data["left_over"])
    lines.append(f"  left over: {left} model(s)" + (f"; {skipped} not planned" if skipped else ""))
    return "\n".join(lines)
