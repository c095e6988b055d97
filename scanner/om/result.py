"""The answer for one model: what the API returns, and what we learned on the way.

This is the shape the store, the scan and the CLI share; it holds plain data only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..core import Status
from .errors import error_name


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def dynamic(self) -> bool:
        """-1 is an unknown dimension, -2 an unknown rank."""
        return any(d in (-1, -2) for d in self.shape)


@dataclass(frozen=True)
class PartitionInfo:
    submodel: int
    type_name: str
    size: int


@dataclass(frozen=True)
class PartitionTotal:
    """All partitions of one type, for a model with too many to list one by one."""

    type_name: str
    count: int
    size: int


@dataclass(frozen=True)
class Inventory:
    """Facts about a model beyond the API's three numbers."""

    format: str  # "om" or "om2"
    name: str = ""
    header_version: int = 0
    modeltype: str = ""
    platform_version: str = ""
    submodel_count: int = 0
    table_width: int = 0  # 32 or 64 (classic .om only)
    # Each partition, or past LISTED_PARTITIONS (layout.py) none: their totals per type.
    partitions: tuple[PartitionInfo, ...] = ()
    partition_count: int = 0
    partition_totals: tuple[PartitionTotal, ...] = ()
    soc_version: str | None = None
    atc_version: str | None = None
    inputs: tuple[TensorInfo, ...] = ()
    outputs: tuple[TensorInfo, ...] = ()
    attr_memory_size: int | None = None
    attr_weight_size: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # e.g. ATC's own sizes disagree with the computed ones


@dataclass(frozen=True)
class QueryResult:
    """One model's answer. ``ret`` is None when the bytes never reached the query
    (missing or unreadable file); otherwise it is exactly the API's return code."""

    ret: int | None
    error: str | None = None
    fault: Status = Status.UNREADABLE  # why ret is None: unreadable, timeout, worker_crashed
    work_size: int = 0
    weight_size: int = 0
    dynamic_reason: str | None = None
    format: str = "om"
    bytes_read: int = 0
    inventory: Inventory | None = None

    @property
    def ok(self) -> bool:
        return self.ret == 0

    @property
    def dynamic(self) -> bool:
        return self.dynamic_reason is not None

    @property
    def ret_name(self) -> str | None:
        return None if self.ret is None else error_name(self.ret)

    @property
    def status(self) -> Status:
        """``ok``, ``failed`` (the API returned an error), or the ``fault`` that kept
        the bytes from an answer."""
        if self.ret is None:
            return self.fault
        return Status.OK if self.ret == 0 else Status.FAILED

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["fault"]  # folded into status
        data.update(ret_name=self.ret_name, dynamic=self.dynamic, status=self.status)
        return data
