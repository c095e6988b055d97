"""Model inventory from the header, the tables and MODEL_DEF (`ge.proto.ModelDef`).

Metadata only: a MODEL_DEF that does not decode, or is too large to decode, becomes a
warning, never a query error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.message import DecodeError

from ..core.source import ByteSource
from .layout import MODEL_DEF, OmLayout, PartitionTally, partition_type_name
from .proto.ge_ir_pb2 import AttrDef, ModelDef, TensorDescriptor
from .query import Sizes
from .result import Inventory, PartitionInfo, PartitionTotal, TensorInfo

MODEL_DEF_LIMIT = 256 << 20  # real graphs are KiB to tens of MiB; protobuf stops at 2 GiB

# ge_ir.proto DataType (graph_metadef/proto/ge_ir.proto), by number
DTYPES = dict(
    enumerate(
        [
            "undefined",
            "float32",
            "float16",
            "int8",
            "uint8",
            "int16",
            "uint16",
            "int32",
            "int64",
            "uint32",
            "uint64",
            "bool",
            "float64",
            "string",
            "dual_sub_int8",
            "dual_sub_uint8",
            "complex64",
            "complex128",
            "qint8",
            "qint16",
            "qint32",
            "quint8",
            "quint16",
            "resource",
            "string_ref",
            "dual",
            "variant",
            "bfloat16",
            "int4",
            "uint1",
            "int2",
            "uint2",
            "complex32",
            "hifloat8",
            "float8_e5m2",
            "float8_e4m3fn",
            "float8_e8m0",
            "float6_e3m2",
            "float6_e2m3",
            "float4_e2m1",
            "float4_e1m2",
            "hifloat4",
            "hifloat4_scale",
        ]
    )
)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _attr_text(attrs: dict[str, AttrDef], key: str) -> str | None:
    attr = attrs.get(key)
    return _text(attr.s) if attr is not None and attr.HasField("s") else None


def _attr_int(attrs: dict[str, AttrDef], key: str) -> int | None:
    attr = attrs.get(key)
    return int(attr.i) if attr is not None and attr.HasField("i") else None


def _first(descs: Sequence[TensorDescriptor]) -> TensorDescriptor | None:
    return descs[0] if descs else None


def _tensor(name: str, desc: TensorDescriptor | None) -> TensorInfo:
    if desc is None:
        return TensorInfo(name, "undefined", ())
    return TensorInfo(name, DTYPES.get(desc.dtype, f"dtype_{desc.dtype}"), tuple(desc.shape.dim))


def _partitions(
    tally: PartitionTally,
) -> tuple[tuple[PartitionInfo, ...], tuple[PartitionTotal, ...]]:
    """Each partition, or past the limit the totals per type."""
    listed = tally.listed
    if listed is not None:
        return tuple(PartitionInfo(i, p.type_name, p.size) for i, p in listed), ()
    totals = tuple(
        PartitionTotal(partition_type_name(kind), count, size)
        for kind, (count, size) in sorted(tally.totals.items())
    )
    return (), totals


def build_inventory(source: ByteSource, layout: OmLayout, sizes: Sizes | None) -> Inventory:
    """Header and table facts, plus MODEL_DEF attributes and graph[0]'s Data inputs.

    ``sizes`` (None when the query failed) is checked against ATC's own attributes. Any
    layout the query accepts gives an inventory, even one with no sub-model at all.
    """
    header = layout.header
    partitions, totals = _partitions(layout.partitions)

    def inventory(**decoded: Any) -> Inventory:
        """Built once (not built and then replaced: a dataclass copy costs 10 µs)."""
        return Inventory(
            format="om",
            name=header.name,
            header_version=header.version,
            modeltype=header.modeltype_name,
            platform_version=header.platform_version,
            submodel_count=layout.submodel_count,
            table_width=64 if header.wide_tables else 32,
            partitions=partitions,
            partition_count=layout.partitions.count,
            partition_totals=totals,
            **decoded,
        )

    model_def = layout.first.find(MODEL_DEF) if layout.first else None
    if model_def is None or model_def.size == 0:
        return inventory()
    if model_def.size > MODEL_DEF_LIMIT:
        return inventory(
            warnings=(
                f"MODEL_DEF of {model_def.size:,} bytes not decoded "
                f"(over omscan's {MODEL_DEF_LIMIT:,}-byte limit for metadata)",
            ),
        )
    try:
        model = ModelDef.FromString(source.read(model_def.offset, model_def.size))
    except (DecodeError, RuntimeError, ValueError) as exc:
        return inventory(warnings=(f"MODEL_DEF does not decode: {exc}",))
    attrs = dict(model.attr)
    inputs: tuple[TensorInfo, ...] = ()
    if model.graph:
        inputs = tuple(
            _tensor(_text(op.name), _first(op.output_desc) or _first(op.input_desc))
            for op in model.graph[0].op
            if op.type == b"Data"
        )
    memory_attr = _attr_int(attrs, "memory_size")
    weight_attr = _attr_int(attrs, "weight_size")
    warnings = []
    if (
        sizes is not None
        and not sizes.dynamic
        and memory_attr is not None
        and memory_attr != sizes.work_size
    ):
        warnings.append(
            f"ATC attribute memory_size={memory_attr} differs from work size {sizes.work_size}"
        )
    if sizes is not None and weight_attr is not None and weight_attr != sizes.weight_size:
        warnings.append(
            f"ATC attribute weight_size={weight_attr} differs from weight size {sizes.weight_size}"
        )
    return inventory(
        soc_version=_attr_text(attrs, "soc_version"),
        atc_version=_attr_text(attrs, "atc_version"),
        inputs=inputs,
        attr_memory_size=memory_attr,
        attr_weight_size=weight_attr,
        warnings=tuple(warnings),
    )
