"""Walk the partition tables exactly as GE's loader does (om-format.md §1 steps 3-5).

Every length and offset is checked against the real size before it is used; the
largest read is one table (at most 8 + 4096 * 24 bytes), and what is kept of the walk
does not grow with the number of sub-models (see PartitionTally).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from ..core.source import ByteSource
from .deadline import NO_DEADLINE, Deadline
from .errors import AclError, OmError
from .header import FLOW_MODEL, HEADER_SIZE, MAGIC, OmHeader

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
LISTED_PARTITIONS = 64  # past this many, only the count and bytes per type are kept
EXACT_TABLES = 8  # tables read exactly before the walk reads ahead
READ_AHEAD = 4 << 10
MAX_READ_AHEAD = 1 << 20

_NARROW_ENTRY = struct.Struct("<III")  # type, mem_offset, mem_size
_WIDE_ENTRY = struct.Struct("<I4xQQ")  # type, pad, mem_offset, mem_size
_COUNT = struct.Struct("<I")

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


class PartitionTally:
    """Every partition the walk passes: each one while there are at most
    ``LISTED_PARTITIONS``, and always the count and bytes per type. A 16 MB file can hold
    a million sub-models; what is kept of them stays this small."""

    def __init__(self) -> None:
        self.count = 0
        self.totals: dict[int, list[int]] = {}  # kind -> [partitions, bytes]
        self._listed: list[tuple[int, Partition]] = []

    def add(self, submodel: int, kind: int, offset: int, size: int) -> None:
        self.count += 1
        total = self.totals.setdefault(kind, [0, 0])
        total[0] += 1
        total[1] += size
        if self.count <= LISTED_PARTITIONS:
            self._listed.append((submodel, Partition(kind, offset, size)))

    @property
    def listed(self) -> tuple[tuple[int, Partition], ...] | None:
        """``(sub-model index, partition)`` in file order, or None past the limit."""
        return tuple(self._listed) if self.count <= LISTED_PARTITIONS else None


@dataclass(frozen=True)
class OmLayout:
    header: OmHeader
    submodel_count: int
    first: SubModel | None  # TASK_INFO, MODEL_DEF and step 6 come from it; None: model_num 0
    weight_size: int  # step 7: each sub-model's first WEIGHTS_DATA, summed
    partitions: PartitionTally


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


def read_layout(source: ByteSource, deadline: Deadline = NO_DEADLINE) -> OmLayout:
    """Steps 3-5: header, then each sub-model's table and contiguous partitions.

    ``model_num`` is the file's to choose (up to 2**32 - 1): the walk keeps no object per
    sub-model past the first and checks ``deadline`` every 1,024 of them.
    """
    header = read_header(source)
    end = source.size
    count = header.model_num if header.dynamic else 1
    tables = _TableReader(source, header)
    tally = PartitionTally()
    first: SubModel | None = None
    weight_size = 0
    cursor = HEADER_SIZE
    for index in range(count):
        if not index & 0x3FF:
            deadline.check()
        offset, entries = tables.read(cursor, index)
        partitions = []
        weights: int | None = None
        for kind, _stored_offset, size in entries:
            if offset + size > end:
                raise OmError(
                    SIZE_INVALID,
                    f"sub-model {index} table at byte {cursor}: {partition_type_name(kind)} "
                    f"partition of {size} bytes at byte {offset} runs past the end ({end})",
                )
            tally.add(index, kind, offset, size)
            if index == 0:
                partitions.append(Partition(kind, offset, size))
            if weights is None and kind == WEIGHTS_DATA:
                weights = size
            offset += size
        if index == 0:
            first = SubModel(cursor, offset, tuple(partitions))
        weight_size += weights or 0
        cursor = offset
    if cursor != end:
        raise OmError(
            AclError.ACL_ERROR_GE_FAILURE,
            f"partitions end at byte {cursor} but the file has {end} "
            f"({end - cursor} trailing bytes)",
        )
    return OmLayout(header, count, first, weight_size, tally)


class _TableReader:
    """Reads the partition tables in file order, each byte at most once.

    The first ``EXACT_TABLES`` are read exactly (the count, then the entries), so a
    model's bytes read stay its header, its tables and the partitions the query needs.
    Past them the file is one of many sub-models and is read in blocks reaching ahead of
    the table; the reach doubles (up to ``MAX_READ_AHEAD``) while each next table starts
    within or right after the block, and drops to none when a partition jumps past it.
    Back-to-back small sub-models then cost one system call per block, and what is read
    ahead in vain is at most twice what was used.
    """

    def __init__(self, source: ByteSource, header: OmHeader) -> None:
        self._source = source
        self._end = source.size
        self._head = 8 if header.wide_tables else 4
        self._entry = _WIDE_ENTRY if header.wide_tables else _NARROW_ENTRY
        self._flow = header.modeltype == FLOW_MODEL
        self._table_bytes = self._head + MAX_PARTITIONS * self._entry.size
        self._tables = 0
        self._base = 0
        self._block = b""
        self._ahead = 0

    def read(self, start: int, index: int) -> tuple[int, Iterator[tuple[int, int, int]]]:
        """Where the table at ``start`` ends (its first partition starts), and its
        entries ``(type, stored offset, size)``; the table's own checks of step 5."""
        end = self._end
        if end - start < MIN_TABLE_BYTES:
            raise OmError(
                SIZE_INVALID,
                f"{_where(index, start)}: only {end - start} bytes left, need at least 9",
            )
        self._tables += 1
        head = self._head
        (num,) = _COUNT.unpack(self._bytes(start, 4))
        if self._flow and num > MAX_FLOW_PARTITIONS:
            raise OmError(
                PARAM_INVALID,
                f"{_where(index, start)}: {num} partitions, a flow model allows at most 4096",
            )
        if not self._flow and not 1 <= num <= MAX_PARTITIONS:
            raise OmError(
                PARAM_INVALID, f"{_where(index, start)}: {num} partitions, expected 1 to 8"
            )
        table_end = start + head + self._entry.size * num
        if table_end >= end:
            raise OmError(
                SIZE_INVALID,
                f"{_where(index, start)}: table of {num} entries ends at byte {table_end}, "
                f"nothing left of {end}",
            )
        raw = self._bytes(start + head, table_end - start - head)
        return table_end, self._entry.iter_unpack(raw)

    def _bytes(self, offset: int, length: int) -> bytes:
        base, block = self._base, self._block
        block_end = base + len(block)
        if base <= offset and offset + length <= block_end:
            return block[offset - base : offset + length - base]
        if self._tables <= EXACT_TABLES:
            return self._source.read(offset, length)
        if offset <= block_end:  # the walk used the whole block: reach further
            self._ahead = min(MAX_READ_AHEAD, max(READ_AHEAD, 2 * self._ahead))
            kept, read_from = block[offset - base :], block_end
        else:
            self._ahead = 0
            kept, read_from = b"", offset
        stop = min(self._end, offset + max(length, self._table_bytes) + self._ahead)
        self._block = kept + self._source.read(read_from, stop - read_from)
        self._base = offset
        return self._block[:length]


def _where(index: int, start: int) -> str:
    return f"sub-model {index} table at byte {start}"
