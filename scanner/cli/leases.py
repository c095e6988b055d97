"""Options of the commands that hold leases on distributed work: `worker`, and
`scan --distributed` (its walk)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _not_nan(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """click's FloatRange lets NaN through (no comparison with it is true)."""
    if math.isnan(value):
        raise click.BadParameter("nan is not a number of seconds")
    return value


def seconds_option(
    name: str, default: float, least: float, most: float, help: str
) -> Callable[[F], F]:
    """A number of seconds in [least, most] (above 0): NaN, infinities and values a
    database interval cannot hold are usage errors, not tracebacks."""
    return click.option(
        name,
        type=click.FloatRange(least, most, min_open=least == 0),
        default=default,
        show_default=True,
        callback=_not_nan,
        help=help,
    )


def lease_option(help: str) -> Callable[[F], F]:
    """--lease-seconds: at least 1 s (statements get a third of it), at most a day."""
    return seconds_option("--lease-seconds", 30.0, 1.0, 24 * 3600.0, help)
