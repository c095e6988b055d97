"""Options of the commands that hold leases on distributed work: `worker`, and
`scan --distributed` (its walk)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from .options import Number

F = TypeVar("F", bound=Callable[..., Any])


def seconds_option(
    name: str, default: float, least: float, most: float, help: str
) -> Callable[[F], F]:
    """A number of seconds above 0, in [least, most]: NaN, infinities and values a
    database interval cannot hold are usage errors, not tracebacks."""
    seconds = Number("seconds", above_zero=True, least=least, most=most)
    return click.option(name, type=seconds, default=default, show_default=True, help=help)


def lease_option(help: str) -> Callable[[F], F]:
    """--lease-seconds: at least 1 s (statements get a third of it), at most a day."""
    return seconds_option("--lease-seconds", 30.0, 1.0, 24 * 3600.0, help)
