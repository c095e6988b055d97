"""Our own `.om` reader: `aclmdlQuerySizeFromMem`'s answer without an NPU."""

from .deadline import Deadline
from .errors import AclError, FileAccessError, OmError, QueryTimeout, ReaderError, error_name
from .reader import query_bytes, query_path, query_source
from .result import Inventory, PartitionInfo, PartitionTotal, QueryResult, TensorInfo

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
