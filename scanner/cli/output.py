"""Rows out in the format asked for: table and Markdown for people (human sizes),
JSON and CSV for programs (exact bytes)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from ..units import human_bytes

FORMATS = ["table", "json", "csv", "markdown"]
format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True
)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _cell(value: Any, column: str, sizes: Collection[str]) -> str:
    if value is None:
        return ""
    if column in sizes and isinstance(value, int):
        return human_bytes(value)
    return str(_plain(value))


def render(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    fmt: str,
    sizes: Collection[str] = (),
) -> str:
    if fmt == "json":
        return json.dumps([{c: _plain(row.get(c)) for c in columns} for row in rows], indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_plain(row.get(c)) for c in columns] for row in rows])
        return buffer.getvalue().rstrip("\n")
    cells = [[_cell(row.get(c), c, sizes) for c in columns] for row in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in cells]
        return "\n".join(lines)
    table = Table(*columns, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="")
    for line in cells:
        table.add_row(*line)
    console = Console(width=200, record=True, file=io.StringIO(), color_system=None)
    console.print(table)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()).strip("\n")
