"""An answer as one flat record of plain values: the columns the store writes.

A ``QueryResult`` with its inventory is a tree of some ten objects. The parent of
``--jobs N`` reader processes rebuilt that tree from every answer only to flatten it
into a row again, and that was a fifth of its time, the one process every model passes
through. A reader process sends this record instead: one tuple of strings and numbers,
the inventory already reduced to what is stored (its JSON text).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from ..core import Status
from .result import Inventory, QueryResult


class FlatResult(NamedTuple):
    """What the store keeps of a ``QueryResult`` (``flatten``); the fields the scan asks
    of any answer (``status``, ``ret``, ``error``, ``bytes_read`` …) keep their names."""

    status: Status
    ret: int | None
    ret_name: str | None
    error: str | None
    work_size: int
    weight_size: int
    dynamic_reason: str | None
    format: str
    bytes_read: int
    name: str | None = None
    modeltype: str | None = None
    soc_version: str | None = None
    atc_version: str | None = None
    platform_version: str | None = None
    inputs_json: str | None = None
    partitions_json: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def dynamic(self) -> bool:
        return self.dynamic_reason is not None


def flatten(result: QueryResult | FlatResult) -> FlatResult:
    """``result`` as the store records it (a flat one as it is)."""
    if isinstance(result, FlatResult):
        return result
    inv = result.inventory
    return FlatResult(
        result.status,
        result.ret,
        result.ret_name,
        result.error,
        result.work_size,
        result.weight_size,
        result.dynamic_reason,
        result.format,
        result.bytes_read,
        *(_inventory_columns(inv) if inv else ()),
    )


def _inventory_columns(inv: Inventory) -> tuple[Any, ...]:
    """What is stored of the inventory, in ``FlatResult`` order from ``name``."""
    inputs = [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in inv.inputs]
    return (
        inv.name,
        inv.modeltype,
        inv.soc_version,
        inv.atc_version,
        inv.platform_version,
        json.dumps(inputs),
        _partitions_json(inv),
        inv.warnings,
    )


def _partitions_json(inv: Inventory) -> str:
    """Each partition, or for a model with more than the reader lists (a file can hold a
    million sub-models) the count and the totals per type: never megabytes per row."""
    if inv.partition_totals:
        by_type = {t.type_name: {"count": t.count, "size": t.size} for t in inv.partition_totals}
        return json.dumps({"count": inv.partition_count, "by_type": by_type})
    return json.dumps(
        [{"submodel": p.submodel, "type": p.type_name, "size": p.size} for p in inv.partitions]
    )
