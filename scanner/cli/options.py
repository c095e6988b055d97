"""Options and error handling shared by the commands that use the store."""

from __future__ import annotations

import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import anyio
import click

from ..concurrency import first_error
from ..store import DEFAULT_URL, StoreError
from ..units import parse_bytes

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


async def until_signalled(
    job: Callable[[anyio.Event], Awaitable[T]], *beside: Callable[[], Coroutine[Any, Any, None]]
) -> T:
    """``job(stop)``, with SIGINT and SIGTERM setting ``stop`` so that the job winds down
    and writes what it has; the ``beside`` tasks (a progress line) run until it returns."""
    stop = anyio.Event()
    with first_error():
        async with anyio.create_task_group() as group:
            group.start_soon(_stop_on_signal, stop)
            for task in beside:
                group.start_soon(task)
            result = await job(stop)
            group.cancel_scope.cancel()
    return result


async def _stop_on_signal(stop: anyio.Event) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            click.echo(f"omscan: {signal.Signals(signum).name}: finishing what is done", err=True)
            stop.set()
            return


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


def size_param(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """A size option as people type it: ``24GiB``, ``64 GB``, ``512MiB``."""
    if value is None:
        return None
    try:
        return parse_bytes(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
