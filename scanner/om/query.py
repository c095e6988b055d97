"""`aclmdlQuerySizeFromMem` for classic `.om` bytes, step by step (om-format.md §1)."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError

from ..core.source import ByteSource
from .deadline import NO_DEADLINE, Deadline
from .errors import AclError, OmError
from .header import OmHeader
from .layout import TASK_INFO, OmLayout, read_layout
from .proto.task_pb2 import ModelTaskDef

ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Sizes:
    """What the API writes back, plus why a model's work size is 0 when it is dynamic."""

    work_size: int
    weight_size: int
    dynamic_reason: str | None = None

    @property
    def dynamic(self) -> bool:
        return self.dynamic_reason is not None


class Om2Unsupported(OmError):
    """A ZIP-based OM2 archive: the API answers it on another path (om-format.md §8)."""


def check_size(source: ByteSource) -> None:
    """Step 1: the checks ACL makes on the length alone."""
    if source.size == 0:
        raise OmError(AclError.ACL_ERROR_INVALID_PARAM, "model size is 0")
    if source.size < 4:
        raise OmError(
            AclError.ACL_ERROR_GE_EXEC_MODEL_DATA_SIZE_INVALID,
            f"model of {source.size} bytes is shorter than 4",
        )


def is_om2(source: ByteSource) -> bool:
    return source.read(0, 4) == ZIP_MAGIC


def query_om(source: ByteSource, deadline: Deadline = NO_DEADLINE) -> tuple[OmLayout, Sizes]:
    """Steps 3-10 for a classic `.om` (the caller has made the step-1 checks)."""
    layout = read_layout(source, deadline)
    header = layout.header
    # A dynamic header with model_num 0 walks no table at all (GE then answers 0 and 0).
    if not header.dynamic and layout.first is not None and len(layout.first.partitions) == 1:
        raise OmError(
            AclError.ACL_ERROR_GE_PARAM_INVALID,
            "not an executable om: a single partition (IR-only model)",
        )
    if header.dynamic:
        return layout, Sizes(0, layout.weight_size, _dynamic_reason(header))
    return layout, Sizes(_memory_size(source, layout), layout.weight_size)


def _dynamic_reason(header: OmHeader) -> str:
    if header.model_num > 1:
        return (
            f"dynamic model ({header.model_num} sub-models): work size is not fixed, GE reports 0"
        )
    return "dynamic model (is_unknow_model=1): input shapes not fixed, GE reports 0 work size"


def _memory_size(source: ByteSource, layout: OmLayout) -> int:
    """Step 9: ``ModelTaskDef.memory_size`` from the first sub-model's TASK_INFO."""
    task_info = layout.first.find(TASK_INFO) if layout.first else None
    if task_info is None or task_info.size == 0:
        return 0
    raw = source.read(task_info.offset, task_info.size)
    try:
        task_def = ModelTaskDef.FromString(raw)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise OmError(
            AclError.ACL_ERROR_GE_EXEC_LOAD_TASK_PARTITION_FAILED,
            f"TASK_INFO ({task_info.size} bytes at {task_info.offset}) is not a valid "
            f"ModelTaskDef: {exc}",
        ) from None
    return int(task_def.memory_size)
