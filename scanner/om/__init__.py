"""Our own `.om` reader: `aclmdlQuerySizeFromMem`'s answer without an NPU.

The reader's entry points (``query_bytes``, ``query_path``, ``query_source``) load with
their first use: the format's modules and protobuf cost a scan that reads nothing (an
unchanged night, an empty directory) some 30 to 50 ms, for the sake of its results' types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .deadline import Deadline
from .errors import AclError, FileAccessError, OmError, QueryTimeout, ReaderError, error_name
from .result import Inventory, PartitionInfo, PartitionTotal, QueryResult, TensorInfo

if TYPE_CHECKING:
    from .reader import query_bytes, query_path, query_source

_READER = ("query_bytes", "query_path", "query_source")


def __getattr__(name: str) -> Any:
    """A reader entry point, imported on first use and kept here from then on."""
    if name in _READER:
        from . import reader

        value = globals()[name] = getattr(reader, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AclError",
    "Deadline",
    "FileAccessError",
    "Inventory",
    "OmError",
    "PartitionInfo",
    "PartitionTotal",
    "QueryResult",
    "QueryTimeout",
    "ReaderError",
    "TensorInfo",
    "error_name",
    "query_bytes",
    "query_path",
    "query_source",
]
