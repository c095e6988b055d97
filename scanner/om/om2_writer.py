"""Build OM2 archives (om-format.md §8), valid ones and each defect the query meets.

For tests and benchmark trees. Constants are stored uncompressed, as zeros.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Defect = Literal[
    "none",
    "not_a_zip",
    "empty_meta",
    "invalid_meta",
    "meta_without_work_size",
    "no_meta",
    "no_constants_config",
    "constants_without_weight_size",
    "truncated",
]
CHUNK = 1 << 20


@dataclass
class Om2Params:
    work_size: int = 1 << 20
    internal_weight_size: int = 4096
    constants_size: int = 4096  # bytes of data/constants/constant_0 (zeros)
    models: int = 1
    name: str = "model"
    soc: str = "Ascend310P3"
    inputs: Sequence[dict[str, Any]] = field(
        default_factory=lambda: [
            {
                "name": "x",
                "index": 0,
                "shape": [1, 3, 224, 224],
                "data_type": "DT_FLOAT16",
                "format": "NCHW",
                "size": 301056,
            }
        ]
    )
    dynamic_type: str = ""
    defect: Defect = "none"


def _meta(params: Om2Params, index: int) -> dict[str, Any]:
    return {
        "model_name": params.name if index == 0 else f"{params.name}_{index}",
        "root_graph_name": f"{params.name}_graph",
        "inputs": list(params.inputs),
        "outputs": [{"name": "y", "index": 0, "shape": [1, 1000], "data_type": "DT_FLOAT16"}],
        "dynamic_batch_info": [],
        "dynamic_type": params.dynamic_type,
        "work_size": params.work_size,
        "zero_copy_size": 0,
    }


def _write_archive(target: Any, params: Om2Params) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        manifest = {
            "om2_version": "1.0",
            "model_num": params.models,
            "atc_command": f"atc --model={params.name}.onnx --soc_version={params.soc}",
        }
        archive.writestr("manifest.json", json.dumps(manifest))
        for index in range(params.models):
            meta = _meta(params, index)
            name = f"data/model_{index}/model_meta.json"
            if params.defect == "empty_meta":
                archive.writestr(name, "")
            elif params.defect == "invalid_meta":
                archive.writestr(name, "{not json")
            elif params.defect == "meta_without_work_size":
                del meta["work_size"]
                archive.writestr(name, json.dumps(meta))
            elif params.defect != "no_meta":
                archive.writestr(name, json.dumps(meta))
            archive.writestr(f"data/model_{index}/runtime/libmodel.so", b"\x7fELF" + bytes(60))
            config: dict[str, Any] = {
                "internal_weight_size": params.internal_weight_size,
                "constants": [{"name": "constant_0", "size": params.constants_size}],
            }
            if params.defect == "constants_without_weight_size":
                del config["internal_weight_size"]
            if params.defect != "no_constants_config":
                archive.writestr(
                    f"data/constants/model_{index}_constants_config.json", json.dumps(config)
                )
        archive.writestr(f"data/kernels_{params.soc.lower()}/kernel_0.o", bytes(128))
        info = zipfile.ZipInfo("data/constants/constant_0")
        info.compress_type = zipfile.ZIP_STORED
        with archive.open(info, "w", force_zip64=params.constants_size >= 1 << 31) as entry:
            left = params.constants_size
            zeros = bytes(min(CHUNK, max(left, 1)))
            while left > 0:
                entry.write(zeros[: min(left, len(zeros))])
                left -= min(left, len(zeros))


def _defects(data: bytes, params: Om2Params) -> bytes:
    if params.defect == "not_a_zip":
        return b"PK\x03\x04" + b"\x00" * 60
    if params.defect == "truncated":
        return data[: len(data) // 2]
    return data


def build_om2(params: Om2Params) -> bytes:
    buffer = io.BytesIO()
    _write_archive(buffer, params)
    return _defects(buffer.getvalue(), params)


def write_om2(path: str | os.PathLike[str], params: Om2Params) -> int:
    """Write to ``path`` (streaming the constants, for big archives); returns the size."""
    if params.defect in ("not_a_zip", "truncated"):
        data = build_om2(params)
        with open(path, "wb") as handle:
            handle.write(data)
        return len(data)
    with open(path, "wb") as handle:
        _write_archive(handle, params)
    return os.path.getsize(path)
