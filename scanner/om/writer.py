"""Build valid `.om` files of every era, and deliberately broken ones.

For tests, the demo repository and benchmark trees. Partitions are laid out the way
GE's loader reads them (§1 step 5); weights can be left as holes so a file with
4 GiB of weights costs no disk.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

from .header import FLOW_MODEL, HEADER_SIZE, MAGIC, VERSION_2
from .inventory import DTYPES
from .layout import MODEL_DEF, TASK_INFO, WEIGHTS_DATA
from .proto.ge_ir_pb2 import ModelDef
from .proto.task_pb2 import ModelTaskDef

Era = Literal["2020", "2022", "2023"]
DTYPE_CODES = {name: code for code, name in DTYPES.items()}
TBE_KERNELS = 3


@dataclass
class Blob:
    """One partition: ``data`` then ``zeros`` zero bytes (a hole on disk).

    ``declared`` overrides the size written in the table, to build files whose
    tables lie about their partitions.
    """

    kind: int
    data: bytes = b""
    zeros: int = 0
    declared: int | None = None

    @property
    def size(self) -> int:
        return len(self.data) + self.zeros


@dataclass
class OmSpec:
    """Everything that ends up in a file; tests edit fields to make defects."""

    submodels: list[list[Blob]]
    era: Era = "2023"
    name: str = "model"
    modeltype: int = 1
    model_num: int | None = None  # default: number of submodels
    is_unknow_model: int = 0
    platform_version: str = "1.11.z.0"
    magic: int = MAGIC
    payload_length: int | None = None  # default: the real payload length
    trailing: bytes = b""
    trailing_zeros: int = 0  # after ``trailing`` (a hole on disk)

    @property
    def wide(self) -> bool:
        return self.modeltype == FLOW_MODEL or self.era == "2023"


@dataclass(frozen=True)
class Input:
    name: str
    dtype: str = "float32"
    shape: tuple[int, ...] = (1, 3, 224, 224)


@dataclass
class ModelParams:
    """A model as ATC would write it: sizes, inputs and the attributes it records."""

    memory_size: int = 1 << 20
    weight_size: int = 1024
    inputs: Sequence[Input] = field(default_factory=lambda: [Input("input")])
    name: str = "model"
    era: Era = "2023"
    soc_version: str = "Ascend310"
    atc_version: str = "7.0.0"
    dynamic: bool = False  # is_unknow_model = 1
    submodels: int = 1  # > 1: a dynamic multi-model file
    flow: bool = False
    kernels: int = 256  # size of a TBE_KERNELS partition


def model_def(params: ModelParams) -> bytes:
    """MODEL_DEF with graph[0]'s Data inputs and the size attributes ATC records
    (weight_size counts every sub-model's weights, as the query does)."""
    model = ModelDef(name=params.name.encode(), version=1)
    graph = model.graph.add(name=params.name.encode())
    for item in params.inputs:
        op = graph.op.add(name=item.name.encode(), type=b"Data")
        desc = op.output_desc.add(name=item.name.encode(), dtype=DTYPE_CODES[item.dtype])
        desc.shape.dim.extend(item.shape)
    model.attr["memory_size"].i = params.memory_size
    model.attr["weight_size"].i = params.weight_size * params.submodels
    model.attr["soc_version"].s = params.soc_version.encode()
    model.attr["atc_version"].s = params.atc_version.encode()
    return model.SerializeToString()


def task_info(memory_size: int, tasks: int = 2) -> bytes:
    task_def = ModelTaskDef(version="1.0", memory_size=memory_size, stream_num=1)
    for _ in range(tasks):
        task_def.task.add()
    return task_def.SerializeToString()


def spec_for(params: ModelParams) -> OmSpec:
    """The partitions ATC writes for a model: MODEL_DEF, WEIGHTS_DATA, TASK_INFO, kernels."""
    submodel = [
        Blob(MODEL_DEF, model_def(params)),
        Blob(WEIGHTS_DATA, zeros=params.weight_size),
        Blob(TASK_INFO, task_info(params.memory_size)),
        Blob(TBE_KERNELS, zeros=params.kernels),
    ]
    return OmSpec(
        submodels=[list(submodel) for _ in range(params.submodels)],
        era=params.era,
        name=params.name,
        modeltype=FLOW_MODEL if params.flow else 1,
        is_unknow_model=int(params.dynamic),
    )


def endless_flow_model(submodels: int = (1 << 32) - 1) -> OmSpec:
    """A dynamic flow model of ``submodels`` empty tables, all zeros: a flow table may hold
    no partition, so each sub-model is 8 bytes and the file one hole (32 GiB by default).
    GE walks every table; the walk takes hours, for the reader's deadline to cut short."""
    return OmSpec(
        submodels=[], modeltype=FLOW_MODEL, model_num=submodels, trailing_zeros=8 * submodels + 1
    )


def many_submodels(count: int) -> OmSpec:
    """``count`` sub-models of one 1-byte WEIGHTS_DATA partition each (17 bytes apiece
    with 32-bit tables): GE answers 0 work (dynamic) and ``count`` bytes of weights."""
    return OmSpec(submodels=[[Blob(WEIGHTS_DATA, b"\0")]] * count, era="2022")


def _header(spec: OmSpec, payload: int) -> bytes:
    raw = bytearray(HEADER_SIZE)
    version = 0x10000000 if spec.era == "2020" else VERSION_2
    length = spec.payload_length if spec.payload_length is not None else payload
    struct.pack_into("<III", raw, 0, spec.magic, HEADER_SIZE, version)
    raw[82] = spec.modeltype
    raw[84:116] = spec.name.encode()[:32].ljust(32, b"\0")
    platform = spec.platform_version.encode()[:19]
    if spec.era == "2020":
        raw[156 : 156 + len(platform)] = platform
    else:
        model_num = spec.model_num if spec.model_num is not None else len(spec.submodels)
        struct.pack_into("<I", raw, 156, model_num)
        raw[160 : 160 + len(platform)] = platform
        raw[193] = spec.is_unknow_model
    if spec.era == "2023":
        struct.pack_into("<Q", raw, 184, length)
    else:
        struct.pack_into("<I", raw, 76, length)
    return bytes(raw)


def _table(blobs: list[Blob], wide: bool) -> bytes:
    parts = [struct.pack("<II", len(blobs), 0) if wide else struct.pack("<I", len(blobs))]
    offset = 0
    for blob in blobs:
        size = blob.size if blob.declared is None else blob.declared
        if wide:
            parts.append(struct.pack("<I4xQQ", blob.kind, offset, size))
        else:
            if size >= 1 << 32:
                raise ValueError(f"{size} bytes do not fit a 32-bit table: use era 2023")
            parts.append(struct.pack("<III", blob.kind, offset, size))
        offset += blob.size
    return b"".join(parts)


def _pieces(spec: OmSpec) -> list[bytes | int]:
    """The payload as byte strings and hole sizes, in file order."""
    pieces: list[bytes | int] = []
    for blobs in spec.submodels:
        pieces.append(_table(blobs, spec.wide))
        for blob in blobs:
            pieces.append(blob.data)
            pieces.append(blob.zeros)
    pieces.append(spec.trailing)
    pieces.append(spec.trailing_zeros)
    return pieces


def _payload_size(pieces: list[bytes | int]) -> int:
    return sum(p if isinstance(p, int) else len(p) for p in pieces)


def build_om(spec: OmSpec) -> bytes:
    """The whole file in memory (holes become zero bytes)."""
    pieces = _pieces(spec)
    body = b"".join(p if isinstance(p, bytes) else bytes(p) for p in pieces)
    return _header(spec, len(body)) + body


def write_om(path: str | os.PathLike[str], spec: OmSpec) -> int:
    """Write ``spec`` to ``path`` with holes for zero runs; returns the file size."""
    pieces = _pieces(spec)
    size = HEADER_SIZE + _payload_size(pieces)
    with open(path, "wb") as handle:
        _write_sparse(handle, _header(spec, size - HEADER_SIZE), pieces, size)
    return size


def _write_sparse(handle: BinaryIO, header: bytes, pieces: list[bytes | int], size: int) -> None:
    handle.write(header)
    for piece in pieces:
        if isinstance(piece, int):
            handle.seek(piece, os.SEEK_CUR)
        else:
            handle.write(piece)
    handle.truncate(size)
