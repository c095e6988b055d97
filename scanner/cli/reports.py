"""The report formats beyond rows: `report --format html|sarif` and `diff --format sarif`.

Each decorator gives a command the output options with these formats added, ``-o FILE``,
``--growth-threshold`` and the device options, and answers those formats itself; every
other format goes on to the command as before.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from ..ask.diff import Change
from ..ask.plan import Target
from ..ask.report import ReportFilter
from ..store import open_store
from .options import EXIT_FAILED, FINITE, run_store_job
from .output import echo_data, output_options
from .targets import device_options


def _options(formats: Sequence[str]) -> list[Callable[..., Any]]:
    return [
        output_options(*formats),
        click.option(
            "-o",
            "--output",
            type=click.Path(dir_okay=False, path_type=Path),
            help=f"Write the {' or '.join(formats)} output to this file (default: stdout).",
        ),
        click.option(
            "--growth-threshold",
            type=FINITE,
            default=10.0,
            show_default=True,
            metavar="PCT",
            help="SARIF: a model whose total memory grew by more than PCT percent is a warning.",
        ),
    ]


def _decorate(wrapper: Callable[..., Any], formats: Sequence[str]) -> Callable[..., Any]:
    wrapper = device_options(wrapper)
    for option in reversed(_options(formats)):
        wrapper = option(wrapper)
    return wrapper


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        echo_data(text)
        return
    try:
        output.write_text(text + "\n")
    except OSError as exc:
        raise click.FileError(str(output), exc.strerror) from None


def report_formats(command: Callable[..., Any]) -> Callable[..., Any]:
    """`report` also as a self-contained HTML page or as SARIF."""

    @functools.wraps(command)
    def report(
        *, fmt: str, output: Path | None, growth_threshold: float, target: Target, **given: Any
    ) -> Any:
        if fmt not in ("html", "sarif"):
            _only_with_formats(output)
            return command(fmt=fmt, **given)
        wanted = ReportFilter(
            given["min_total"], given["soc"], given["failed"], given["repo"], given["sort"]
        )

        async def job() -> str:
            async with open_store(given["db"]) as store:
                if fmt == "html":
                    from ..ask.html_report import html_report  # pygal: only when asked for

                    return await html_report(store, wanted)
                from ..ask.sarif import report_sarif

                return json.dumps(
                    await report_sarif(store, wanted, target, growth_threshold), indent=2
                )

        _emit(run_store_job(job), output)
        return None

    return _decorate(report, ["html", "sarif"])


def diff_formats(command: Callable[..., Any]) -> Callable[..., Any]:
    """`diff` also as SARIF (``--fail-on-growth`` gates the exit status as before)."""

    @functools.wraps(command)
    def diff(
        *, fmt: str, output: Path | None, growth_threshold: float, target: Target, **given: Any
    ) -> Any:
        if fmt != "sarif":
            _only_with_formats(output)
            return command(fmt=fmt, **given)
        scans: tuple[int, ...] = given["scans"]
        if len(scans) not in (0, 2):
            raise click.UsageError("give two scan ids, or none for the last two completed scans")
        first, second = (scans[0], scans[1]) if scans else (None, None)

        async def job() -> tuple[list[Change], dict[str, Any]]:
            from ..ask.sarif import diff_sarif

            async with open_store(given["db"]) as store:
                return await diff_sarif(store, first, second, target, growth_threshold)

        changes, log = run_store_job(job)
        _emit(json.dumps(log, indent=2), output)
        limit = given["fail_on_growth"]
        if limit is not None and any(c.growth_pct > limit for c in changes if c.before):
            sys.exit(EXIT_FAILED)
        return None

    return _decorate(diff, ["sarif"])


def _only_with_formats(output: Path | None) -> None:
    if output is not None:
        raise click.UsageError("-o/--output goes with --format html or sarif")
