"""Rows out in the format asked for: table and Markdown for people (human sizes, control
characters escaped), JSON and CSV for programs (exact values).

Every value either database returns has one JSON form and one text form (CSV, and the
table cells), documented in the README under "Output formats": exact numbers (Decimal
included), NaN and infinities as the strings "NaN", "Infinity", "-Infinity", bytes as
``\\x`` + hex, dates and times in ISO 8601, arrays, JSON, ranges and records as JSON (in
CSV as JSON text).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, time
from decimal import Decimal
from typing import Any

import click
import simplejson
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from ..units import human_bytes
from .text import printable, writable

FORMATS = ["table", "json", "csv", "markdown"]
format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True
)


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


def emit(text: str) -> None:
    """Print rendered rows as they are: click would strip what looks like ANSI styling
    when stdout is not a terminal — data, in CSV."""
    click.echo(text, color=True)


def summary(line: str, fmt: str) -> None:
    """A command's summary line: above the table for people; on stderr for the other
    formats, whose stdout is the data alone."""
    click.echo(line, err=fmt != "table")


def render(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    fmt: str,
    sizes: Collection[str] = (),
) -> str:
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
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in cells]
        return "\n".join(lines)
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
