"""Model inventory from the header, the tables and MODEL_DEF (`ge.proto.ModelDef`).

Metadata only: a MODEL_DEF that does not decode becomes a warning, never a query error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from google.protobuf.message import DecodeError

from .layout import MODEL_DEF, OmLayout
from .proto.ge_ir_pb2 import AttrDef, ModelDef, TensorDescriptor
from .query import Sizes
from .result import Inventory, PartitionInfo, TensorInfo
from .source import ByteSource

# ge_ir.proto DataType
DTYPES = {
    0: "undefined",
    1: "float32",
    2: "float16",
    3: "int8",
    4: "uint8",
    5: "int16",
    6: "uint16",
    7: "int32",
    8: "int64",
    9: "uint32",
    10: "uint64",
    11: "bool",
    12: "float64",
    13: "dual",
    14: "dual_sub_int8",
    15: "dual_sub_uint8",
    16: "complex64",
    17: "complex128",
    18: "qint8",
    19: "qint16",
    20: "qint32",
    21: "quint8",
    22: "quint16",
    23: "resource",
    24: "string_ref",
    25: "string",
    26: "variant",
    27: "bfloat16",
    28: "int4",
}


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


def build_inventory(source: ByteSource, layout: OmLayout, sizes: Sizes | None) -> Inventory:
    """Header and table facts, plus MODEL_DEF attributes and graph[0]'s Data inputs.

    ``sizes`` (None when the query failed) is checked against ATC's own attributes.
    """
    header = layout.header
    partitions = tuple(
        PartitionInfo(index, p.type_name, p.size)
        for index, sub in enumerate(layout.submodels)
        for p in sub.partitions
    )
    inventory = Inventory(
        format="om",
        name=header.name,
        header_version=header.version,
        modeltype=header.modeltype_name,
        platform_version=header.platform_version,
        submodel_count=len(layout.submodels),
        table_width=64 if header.wide_tables else 32,
        partitions=partitions,
    )
    model_def = layout.submodels[0].find(MODEL_DEF)
    if model_def is None or model_def.size == 0:
        return inventory
    try:
        model = ModelDef.FromString(source.read(model_def.offset, model_def.size))
    except (DecodeError, RuntimeError, ValueError) as exc:
        return replace(inventory, warnings=(f"MODEL_DEF does not decode: {exc}",))
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
    return replace(
        inventory,
        soc_version=_attr_text(attrs, "soc_version"),
        atc_version=_attr_text(attrs, "atc_version"),
        inputs=inputs,
        attr_memory_size=memory_attr,
        attr_weight_size=weight_attr,
        warnings=tuple(warnings),
    )
