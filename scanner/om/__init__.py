"""Our own `.om` reader: `aclmdlQuerySizeFromMem`'s answer without an NPU."""

from .errors import AclError, FileAccessError, OmError, ReaderError, error_name
from .reader import query_bytes, query_path, query_source
from .result import Inventory, PartitionInfo, QueryResult, TensorInfo

__all__ = [
    "AclError",
    "FileAccessError",
    "Inventory",
    "OmError",
    "PartitionInfo",
    "QueryResult",
    "ReaderError",
    "TensorInfo",
    "error_name",
    "query_bytes",
    "query_path",
    "query_source",
]
