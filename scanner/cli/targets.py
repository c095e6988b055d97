"""The device options shared by `plan`, `report --format sarif` and `diff --format sarif`:
--device, --device-memory, --reserve and --catalog, resolved into one planning Target."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..ask.catalog import CatalogError, Device, load_catalog
from ..ask.plan import Target
from ..units import parse_bytes
from .options import ByteSize


def resolve_target(
    device: str | None, device_memory: str | None, reserve: int | None, catalog: Path | None
) -> Target:
    if device and device_memory:
        raise click.UsageError("give --device or --device-memory, not both")
    try:
        loaded = load_catalog(catalog)
        chosen = loaded.get(device) if device else None
    except CatalogError as exc:
        raise click.BadParameter(str(exc), param_hint="--device/--catalog") from None
    if device_memory is not None:
        try:
            memory = parse_bytes(device_memory)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--device-memory") from None
        chosen = Device(device_memory, memory, 0 if reserve is None else reserve)
    return Target(loaded, chosen, reserve)


def device_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the device options to ``command``, which receives them as ``target``."""

    @functools.wraps(command)
    def with_target(
        *args: Any,
        device: str | None,
        device_memory: str | None,
        reserve: int | None,
        catalog: Path | None,
        **kwargs: Any,
    ) -> Any:
        return command(
            *args, target=resolve_target(device, device_memory, reserve, catalog), **kwargs
        )

    options = [
        click.option(
            "--device",
            metavar="SOC",
            help="Device of the catalogue to plan for or check against (e.g. Ascend310P3).",
        ),
        click.option(
            "--device-memory", metavar="SIZE", help="A device of this memory instead (e.g. 24GiB)."
        ),
        click.option(
            "--reserve",
            metavar="SIZE",
            type=ByteSize(),
            help="Memory the runtime takes before any model (default: the catalogue's; "
            "0 with --device-memory).",
        ),
        click.option(
            "--catalog",
            type=click.Path(dir_okay=False, path_type=Path),
            help="A TOML file of devices overriding or adding to the shipped catalogue.",
        ),
    ]
    for option in reversed(options):
        with_target = option(with_target)
    return with_target
