"""Rows out in the format asked for: table and Markdown for people (human sizes, control
characters escaped), JSON and CSV for programs (exact values).

Every command that prints data takes the same options (`output_options`) and prints
through one path (`emit`): a new format is one branch of `render`. JSON, CSV and Markdown
put the data alone on stdout; what is said about it goes to stderr or to the table format.

Every value either database returns has one JSON form and one text form (CSV, and the
table cells), documented in the README under "Output formats": exact numbers (Decimal
included), NaN and infinities as the strings "NaN", "Infinity", "-Infinity", bytes as
``\\x`` + hex, dates and times in ISO 8601, arrays, JSON, ranges and records as JSON (in
CSV as JSON text).
"""

from __future__ import annotations

import csv
import functools
import io
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import date, time
from decimal import Decimal
from typing import Any, TypeVar

import click
import simplejson
from click.core import ParameterSource

from ..units import human_bytes
from .text import printable, writable

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("table", "json", "csv", "markdown")


def output_options(*extra: str, json_alias: bool = False) -> Callable[[F], F]:
    """``--format`` with the bundle's formats and a command's own ``extra`` ones (report's
    html and sarif), which the command receives as ``fmt``; with ``json_alias``, also
    ``--json``, kept on the commands that had it, the same as ``--format json``."""

    def decorate(command: F) -> F:
        if json_alias:
            command = _json_alias(command)
        return click.option(
            "--format",
            "fmt",
            type=click.Choice([*FORMATS, *extra]),
            default="table",
            show_default=True,
            help="table for people; json, csv and markdown print the data alone "
            "(anything said about it goes to stderr).",
        )(command)

    return decorate


def _json_alias(command: F) -> F:
    @functools.wraps(command)
    def with_alias(*args: Any, as_json: bool, fmt: str, **kwargs: Any) -> Any:
        if as_json:
            given = click.get_current_context().get_parameter_source("fmt")
            if given is not ParameterSource.DEFAULT and fmt != "json":
                raise click.UsageError(f"--json is --format json: not with --format {fmt}")
            fmt = "json"
        return command(*args, fmt=fmt, **kwargs)

    alias = click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
    return alias(with_alias)  # type: ignore[return-value]


def emit(
    fmt: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    sizes: Collection[str] = (),
    prose: str = "",
    document: Any = None,
    people: str | None = None,
) -> None:
    """Print a command's data in ``fmt`` (one of FORMATS).

    ``prose`` says something about the rows (totals, what a scan waits for): above the
    table, on stderr beside CSV and Markdown, and left out of JSON, whose ``document``
    (default: the rows) holds the same facts. An empty table under prose is left out.
    ``people``: the table format's text instead of a table, for data that reads better
    as lines (one scan's summary, a model's inventory)."""
    if fmt == "json":
        echo_data(render(rows, columns, fmt) if document is None else to_json(json_value(document)))
        return
    if fmt == "table" and people is not None:
        echo_data(people)
        return
    if prose:
        click.echo(prose, err=fmt != "table")
    if fmt != "table" or rows or not prose:
        echo_data(render(rows, columns, fmt, sizes))


def echo_data(text: str) -> None:
    """Print rendered data as it is: click would strip what looks like ANSI styling
    when stdout is not a terminal — data, in CSV."""
    click.echo(text, color=True)


def json_value(value: Any) -> Any:
    """The JSON form of a value either database driver returns."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | Decimal):
        return _number(value)
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    if _is_record(value):  # asyncpg's composite values: named fields
        return {str(key): json_value(item) for key, item in value.items()}
    if _is_range(value):
        return {
            "lower": json_value(value.lower),
            "upper": json_value(value.upper),
            "lower_inc": value.lower_inc,
            "upper_inc": value.upper_inc,
            "empty": value.isempty,
        }
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    return _scalar_text(value)


def text_value(value: Any) -> str:
    """The text form (CSV cells, table cells): empty for NULL, JSON text for nested values."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    shown = json_value(value)
    if isinstance(shown, dict | list):
        return to_json(shown, indent=None)
    return str(shown)


def to_json(payload: Any, indent: int | None = 2) -> str:
    """JSON text, with Decimals written exactly and never a bare NaN."""
    return simplejson.dumps(payload, indent=indent, use_decimal=True, allow_nan=False)


def unique_columns(columns: Iterable[str]) -> list[str]:
    """Column names made unique, so that no value is lost to a repeated name:
    ``a, a, a`` → ``a, a_2, a_3``."""
    taken: set[str] = set()
    unique = []
    for name in columns:
        candidate, count = name, 1
        while candidate in taken:
            count += 1
            candidate = f"{name}_{count}"
        taken.add(candidate)
        unique.append(candidate)
    return unique


def render(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    fmt: str,
    sizes: Collection[str] = (),
) -> str:
    """``rows`` as text in one of the row formats (``sizes``: columns of byte counts,
    shown human in the table and Markdown)."""
    if fmt == "json":
        return to_json([{c: json_value(row.get(c)) for c in columns} for row in rows])
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([writable(c) for c in columns])
        writer.writerows([[writable(text_value(row.get(c))) for c in columns] for row in rows])
        return buffer.getvalue().rstrip("\n")
    header = [printable(c) for c in columns]
    cells = [[_cell(row.get(c), c, sizes) for c in columns] for row in rows]
    if fmt == "markdown":
        lines = [header, *cells]
        table = ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in lines]
        return "\n".join([table[0], "|" + "---|" * len(columns), *table[1:]])
    return _table(header, cells)


def _table(header: list[str], cells: list[list[str]]) -> str:
    """An aligned plain-text table (rich: loaded only when a table is printed)."""
    from rich import box
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table

    table = Table(*header, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="")
    for line in cells:
        table.add_row(*line)
    # As wide as the longest line needs: values are never cut or wrapped.
    width = sum(max(map(cell_len, column)) + 3 for column in zip(header, *cells, strict=True))
    console = Console(width=max(width, 80), record=True, file=io.StringIO(), color_system=None)
    console.print(table, overflow="ignore", no_wrap=True, crop=False)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()).strip("\n")


def _cell(value: Any, column: str, sizes: Collection[str]) -> str:
    if column in sizes and isinstance(value, int) and not isinstance(value, bool):
        return human_bytes(value)
    return printable(text_value(value))


def _number(value: float | Decimal) -> float | Decimal | str:
    """Exact; NaN and the infinities, which JSON lacks, as PostgreSQL spells them."""
    if isinstance(value, Decimal) and value.is_finite():
        return Decimal(format(value, "f"))  # 1E+3 → 1000: the same digits everywhere
    if isinstance(value, float) and math.isfinite(value):
        return value
    if value != value:  # NaN is the one value unequal to itself
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _scalar_text(value: Any) -> str:
    """Bytes, dates and times as documented; UUIDs, network addresses and the rest as
    their own text (``str``), which is PostgreSQL's."""
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, date | time):  # datetime included
        return value.isoformat()
    return str(value)


def _is_record(value: Any) -> bool:
    return type(value).__name__ == "Record" and hasattr(value, "items")


def _is_range(value: Any) -> bool:
    return all(hasattr(value, a) for a in ("lower", "upper", "lower_inc", "upper_inc", "isempty"))
