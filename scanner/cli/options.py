"""Options and error handling shared by the commands that use the store."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import click

from ..store import DEFAULT_URL, StoreError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_RUN = 0, 1, 2, 3
T = TypeVar("T")

db_option = click.option(
    "--db",
    envvar="OMSCAN_DB",
    default=None,
    metavar="URL",
    help=f"Results database: sqlite:///PATH or postgresql://USER@HOST/DB "
    f"(env OMSCAN_DB; default {DEFAULT_URL}).",
)


def run_store_job(job: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run an async job; a store failure is one line on stderr and exit 3."""
    try:
        return anyio.run(job, *args)
    except StoreError as exc:
        click.echo(f"omscan: {exc}", err=True)
        sys.exit(EXIT_NOT_RUN)


def backend_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--backend, --devices, --timeout: how models are queried (scan and worker)."""
    for option in reversed(
        [
            click.option(
                "--backend",
                type=click.Choice(["auto", "om", "acl"]),
                default="auto",
                show_default=True,
                help="acl: pyACL on Atlas NPUs; om: our reader; auto: acl when an NPU is present.",
            ),
            click.option(
                "--devices", help="NPU ids for the acl backend, e.g. 0,2 (default: all visible)."
            ),
            click.option(
                "--timeout",
                type=float,
                default=120.0,
                show_default=True,
                help="Seconds a device may take per model.",
            ),
        ]
    ):
        command = option(command)
    return command


def parse_devices(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected device ids like 0,2 — got {text!r}") from None
