"""`omscan query FILE...`: the API's answer and the inventory, per file."""

from __future__ import annotations

import sys

import click

from ..om import QueryResult, query_path
from ..om.result import Inventory
from ..units import human_bytes
from .output import emit, output_options
from .text import printable

# The flat fields, for CSV and Markdown; JSON adds the inventory.
COLUMNS = [
    "path",
    "status",
    "ret",
    "ret_name",
    "work_size",
    "weight_size",
    "dynamic",
    "dynamic_reason",
    "format",
    "bytes_read",
    "error",
]


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ",".join("?" if d == -1 else "*" if d == -2 else str(d) for d in shape) + "]"


def _size(count: int) -> str:
    return f"{count:,} B ({human_bytes(count)})" if count >= 1024 else f"{count} B"


def _inventory_lines(inv: Inventory) -> list[str]:
    lines = [
        f"  model        {inv.name or '(no name)'} · {inv.format} · {inv.modeltype or '-'}"
        + (f" · header 0x{inv.header_version:08X}" if inv.header_version else "")
        + (f" · {inv.table_width}-bit tables" if inv.table_width else "")
        + f" · {inv.submodel_count} sub-model(s)",
    ]
    facts = [
        f"platform {inv.platform_version}" if inv.platform_version else "",
        f"soc {inv.soc_version}" if inv.soc_version else "",
        f"atc {inv.atc_version}" if inv.atc_version else "",
    ]
    if any(facts):
        lines.append("  built        " + "   ".join(f for f in facts if f))
    for label, tensors in (("inputs", inv.inputs), ("outputs", inv.outputs)):
        for index, tensor in enumerate(tensors):
            flag = "  (dynamic)" if tensor.dynamic else ""
            lines.append(
                f"  {label if index == 0 else '':<12} {tensor.name} {tensor.dtype} "
                f"{_shape(tensor.shape)}{flag}"
            )
    if inv.partitions:
        parts = " · ".join(
            f"{p.type_name} {human_bytes(p.size)}" + (f" [{p.submodel}]" if p.submodel else "")
            for p in inv.partitions
        )
        lines.append(f"  partitions   {parts}")
    elif inv.partition_totals:
        parts = " · ".join(
            f"{t.type_name} x{t.count:,} {human_bytes(t.size)}" for t in inv.partition_totals
        )
        lines.append(f"  partitions   {inv.partition_count:,} in all: {parts}")
    lines += [f"  {key:<12} {value}" for key, value in inv.extra.items() if value]
    lines += [f"  warning      {warning}" for warning in inv.warnings]
    return lines


def render(path: str, result: QueryResult) -> str:
    """The human-readable block for one file; what the file or its name says (model and
    tensor names, a hostile file name) is shown escaped, never acted on by the terminal."""
    if result.ret is None:
        return f"{printable(path)}\n  error        {printable(f'{result.status}: {result.error}')}"
    lines = [path, f"  ret          {result.ret} ({result.ret_name})"]
    if result.ok:
        lines.append(f"  work size    {_size(result.work_size)}")
        lines.append(f"  weight size  {_size(result.weight_size)}")
        if result.dynamic_reason:
            lines.append(f"  dynamic      {result.dynamic_reason}")
    else:
        lines.append(f"  error        {result.error}")
    if result.inventory is not None:
        lines += _inventory_lines(result.inventory)
    lines.append(f"  bytes read   {result.bytes_read:,}")
    return "\n".join(printable(line) for line in lines)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True))
@output_options(json_alias=True)
def query(files: tuple[str, ...], fmt: str) -> None:
    """Answer as aclmdlQuerySizeFromMem would for each FILE, with the model's inventory.

    Exit 0 when every file succeeded, 1 when any failed or could not be read.
    """
    results = [(path, query_path(path, inventory=True)) for path in files]
    rows = [{"path": path, **result.to_dict()} for path, result in results]
    people = "\n\n".join(render(path, result) for path, result in results)
    emit(fmt, rows, COLUMNS, sizes={"work_size", "weight_size"}, people=people, document=rows)
    sys.exit(0 if all(result.ok for _, result in results) else 1)
