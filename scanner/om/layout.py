"""Walk the partition tables exactly as GE's loader does (om-format.md §1 steps 3-5).

Every length and offset is checked against the real size before it is used; the
largest read is one table (at most 8 + 4096 * 24 bytes).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import AclError, OmError
from .header import FLOW_MODEL, HEADER_SIZE, MAGIC, OmHeader
from .source import ByteSource

PARTITION_TYPES = {
    0: "MODEL_DEF",
    1: "WEIGHTS_DATA",
    2: "TASK_INFO",
    3: "TBE_KERNELS",
    4: "CUST_AICPU_KERNELS",
    5: "SO_BINS",
    6: "FLOW_MODEL",
    7: "FLOW_SUBMODEL",
    8: "MODEL_INOUT_INFO",
    9: "STATIC_TASK_DESC",
    10: "DYNAMIC_TASK_DESC",
    11: "TASK_PARAM",
    12: "TILING_DATA",
    20: "PRE_MODEL_DESC",
    21: "PRE_MODEL_SQE",
    22: "PRE_KERNEL_ARGS",
    23: "PRE_MODEL_DESC_EXTEND",
    24: "BUNDLE_MODEL_INFO",
    25: "BUNDLE_MODEL_VAR_INFO",
    26: "CUSTOM_OPS",
}
MODEL_DEF, WEIGHTS_DATA, TASK_INFO = 0, 1, 2

MIN_TABLE_BYTES = 9  # GE refuses a table with fewer bytes left than this
MAX_PARTITIONS = 8
MAX_FLOW_PARTITIONS = 4096

_NARROW_ENTRY = struct.Struct("<III")  # type, mem_offset, mem_size
_WIDE_ENTRY = struct.Struct("<I4xQQ")  # type, pad, mem_offset, mem_size

PARAM_INVALID = AclError.ACL_ERROR_GE_PARAM_INVALID
SIZE_INVALID = AclError.ACL_ERROR_GE_EXEC_MODEL_DATA_SIZE_INVALID


def partition_type_name(kind: int) -> str:
    return PARTITION_TYPES.get(kind, f"UNKNOWN_{kind}")


@dataclass(frozen=True)
class Partition:
    kind: int
    offset: int  # where the loader finds it: right after the previous one
    size: int

    @property
    def type_name(self) -> str:
        return partition_type_name(self.kind)


@dataclass(frozen=True)
class SubModel:
    table_offset: int
    end: int  # where the next sub-model's table starts
    partitions: tuple[Partition, ...]

    def find(self, kind: int) -> Partition | None:
        """The first partition of ``kind``, as GE's lookup returns it."""
        return next((p for p in self.partitions if p.kind == kind), None)


@dataclass(frozen=True)
class OmLayout:
    header: OmHeader
    submodels: tuple[SubModel, ...]


def read_header(source: ByteSource) -> OmHeader:
    """Step 3: the header checks, all reported as ACL_ERROR_GE_PARAM_INVALID."""
    n = source.size
    if n < HEADER_SIZE:
        raise OmError(PARAM_INVALID, f"file of {n} bytes is shorter than the 256-byte header")
    header = OmHeader.parse(source.read(0, HEADER_SIZE))
    if header.payload_length != n - HEADER_SIZE:
        field = "model_length" if header.model_length else "length"
        raise OmError(
            PARAM_INVALID,
            f"payload length {header.payload_length} ({field}) does not match "
            f"file size {n} - 256 = {n - HEADER_SIZE}",
        )
    if header.magic != MAGIC:
        raise OmError(
            PARAM_INVALID, f"bad magic 0x{header.magic:08X}, expected 0x{MAGIC:08X} (IMOD)"
        )
    return header


def read_layout(source: ByteSource) -> OmLayout:
    """Steps 3-5: header, then each sub-model's table and contiguous partitions."""
    header = read_header(source)
    end = source.size
    count = header.model_num if header.dynamic else 1
    cursor = HEADER_SIZE
    submodels = []
    for index in range(count):
        submodel = _read_submodel(source, header, cursor, index)
        submodels.append(submodel)
        cursor = submodel.end
    if cursor != end:
        raise OmError(
            AclError.ACL_ERROR_GE_FAILURE,
            f"partitions end at byte {cursor} but the file has {end} "
            f"({end - cursor} trailing bytes)",
        )
    return OmLayout(header, tuple(submodels))


def _read_submodel(source: ByteSource, header: OmHeader, start: int, index: int) -> SubModel:
    end = source.size
    where = f"sub-model {index} table at byte {start}"
    if end - start < MIN_TABLE_BYTES:
        raise OmError(SIZE_INVALID, f"{where}: only {end - start} bytes left, need at least 9")
    wide = header.wide_tables
    entry = _WIDE_ENTRY if wide else _NARROW_ENTRY
    head = 8 if wide else 4
    (num,) = struct.unpack("<I", source.read(start, 4))
    flow = header.modeltype == FLOW_MODEL
    if flow and num > MAX_FLOW_PARTITIONS:
        raise OmError(PARAM_INVALID, f"{where}: {num} partitions, a flow model allows at most 4096")
    if not flow and not 1 <= num <= MAX_PARTITIONS:
        raise OmError(PARAM_INVALID, f"{where}: {num} partitions, expected 1 to 8")
    table_end = start + head + entry.size * num
    if table_end >= end:
        raise OmError(
            SIZE_INVALID,
            f"{where}: table of {num} entries ends at byte {table_end}, nothing left of {end}",
        )
    raw = source.read(start + head, entry.size * num)
    partitions = []
    offset = table_end
    for kind, _stored_offset, size in entry.iter_unpack(raw):
        if offset + size > end:
            raise OmError(
                SIZE_INVALID,
                f"{where}: {partition_type_name(kind)} partition of {size} bytes at byte "
                f"{offset} runs past the end ({end})",
            )
        partitions.append(Partition(kind, offset, size))
        offset += size
    return SubModel(start, offset, tuple(partitions))
