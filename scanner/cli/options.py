"""Options and error handling shared by the commands that use the store."""

from __future__ import annotations

import math
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import click

from ..store import DEFAULT_URL, StoreError
from ..store.urls import file_database, resolve
from ..units import parse_bytes
from .exits import EXIT_FAILED as EXIT_FAILED  # re-exported: worker.py takes them from here
from .exits import EXIT_NOT_RUN as EXIT_NOT_RUN
from .exits import EXIT_OK as EXIT_OK

T = TypeVar("T")


class Number(click.ParamType[float]):
    """A number comparisons can use — not nan or inf — and, for durations, above 0
    (not -5); ``most`` bounds it above (what a database interval can hold)."""

    def __init__(
        self, name: str, above_zero: bool, least: float = -math.inf, most: float = math.inf
    ) -> None:
        self.name = name
        self.above_zero = above_zero
        self.least = least
        self.most = most

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or (self.above_zero and number <= 0):
            wanted = "a number of seconds above 0" if self.above_zero else "a finite number"
            self.fail(f"{value!r} is not {wanted}", param, ctx)
        if not self.least <= number <= self.most:
            self.fail(f"{value!r} is not between {self.least:g} and {self.most:g}", param, ctx)
        return number


class ByteSize(click.ParamType[int]):
    """A byte count as people write it (8GiB, 512MB, 1000000), exact, at least ``minimum``
    and at most what the database stores."""

    name = "size"

    def __init__(self, minimum: int = 0) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):  # already a count (click converts Python values too)
            return value
        try:
            count = parse_bytes(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if count < self.minimum:
            self.fail(f"must be at least {self.minimum} bytes", param, ctx)
        return count


SECONDS = Number("seconds", above_zero=True)  # --timeout, and any other duration
FINITE = Number("number", above_zero=False)


def _database_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    """The URL the command will use (given, else $OMSCAN_DB, else the default), checked
    before anything runs: a malformed, empty or in-memory URL is a usage error."""
    try:
        url = resolve(value)
        file_database(url)
    except StoreError as exc:
        raise click.BadParameter(str(exc)) from None
    return url


db_option = click.option(
    "--db",
    envvar="OMSCAN_DB",
    default=None,
    metavar="URL",
    callback=_database_url,
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


def _default_jobs(_ctx: click.Context, _param: click.Parameter, jobs: int | None) -> int:
    from ..backends.select import default_jobs

    return default_jobs() if jobs is None else jobs


def backend_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--backend, --devices, --timeout, --jobs: how models are queried (scan and worker)."""
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
                type=SECONDS,
                default=120.0,
                show_default=True,
                help="Seconds one model may take (a device, or our reader); past it: timeout.",
            ),
            click.option(
                "--jobs",
                type=click.IntRange(min=1),
                callback=_default_jobs,
                help="Processes for our reader (om backend)  [default: the cores this "
                "process may use]",
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
