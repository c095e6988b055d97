"""Build OM2 archives (om-format.md §8): valid ones and each defect the query meets.

For tests, benchmarks and demo trees. Entries follow GE's layout and order
(``om2_package_contants.h``, ``Om2ZipSaver::Save``): manifest, runtime, constants and
their config, kernels, model metadata. JSON is stored uncompressed as GE writes it unless
``compress_json``; the constants are zeros, stored, and written to a path as holes, so a
1 GiB archive costs no disk.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal, Protocol

Defect = Literal[
    "none",
    "not_a_zip",  # starts like a ZIP, is not one
    "short",  # fewer than 4 bytes
    "truncated",  # the first half of a valid archive
    "empty_meta",
    "invalid_meta",
    "meta_without_work_size",
    "no_meta",
    "no_constants_config",
    "constants_without_weight_size",
]
CHUNK = 1 << 20


def _default_inputs() -> list[dict[str, Any]]:
    return [_tensor("x", [1, 3, 224, 224], 301_056)]


def _default_outputs() -> list[dict[str, Any]]:
    return [_tensor("y", [1, 1000], 2000)]


def _tensor(name: str, shape: list[int], size: int) -> dict[str, Any]:
    return {
        "name": name,
        "index": 0,
        "shape": shape,
        "data_type": "DT_FLOAT16",
        "format": "NCHW",
        "size": size,
        "shape_range": [],
    }


@dataclass
class Om2Params:
    work_size: int = 1 << 20
    internal_weight_size: int = 4096
    constants_size: int = 4096  # bytes of data/constants/constant_0 (zeros)
    models: int = 1
    work_sizes: Sequence[int] = ()  # one per model, overriding work_size
    name: str = "model"
    soc: str = "Ascend310P3"
    inputs: Sequence[dict[str, Any]] = field(default_factory=_default_inputs)
    outputs: Sequence[dict[str, Any]] = field(default_factory=_default_outputs)
    dynamic_type: int = 0
    dynamic_batch_info: Sequence[Sequence[int]] = ()
    atc_command: str | None = None  # None: a plausible one for name and soc
    root: str = ""  # a folder all entries sit under, e.g. "model/"
    compress_json: bool = False
    defect: Defect = "none"


def _meta(params: Om2Params, index: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": params.name if index == 0 else f"{params.name}_{index}",
        "inputs": list(params.inputs),
        "outputs": list(params.outputs),
        "dynamic_batch_info": [list(gear) for gear in params.dynamic_batch_info],
        "dynamic_type": params.dynamic_type,
        "work_size": params.work_sizes[index] if params.work_sizes else params.work_size,
        "zero_copy_size": 0,
    }
    if params.defect == "meta_without_work_size":
        del meta["work_size"]
    return meta


def _meta_bytes(params: Om2Params, index: int) -> bytes:
    if params.defect == "empty_meta":
        return b""
    if params.defect == "invalid_meta":
        return b'{"work_size": 1,'
    return json.dumps(_meta(params, index), indent=4).encode()


def _constants_config(params: Om2Params, index: int) -> bytes:
    config: dict[str, Any] = {
        "internal_weight_size": params.internal_weight_size,
        "consts": {
            f"constant_{index}": {
                "index": 0,
                "type": "INTERNAL",
                "file_name": f"constant_{index}",
                "offset": 0,
                "size": params.constants_size,
            }
        },
    }
    if params.defect == "constants_without_weight_size":
        del config["internal_weight_size"]
    return json.dumps(config, indent=4).encode()


class _Writable(Protocol):
    """What the archive is written to: a BytesIO, or _Holes over a file."""

    def write(self, data: bytes, /) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


def _write_archive(target: _Writable, params: Om2Params) -> None:
    root = params.root
    json_type = zipfile.ZIP_DEFLATED if params.compress_json else zipfile.ZIP_STORED
    atc = params.atc_command
    if atc is None:
        atc = f"atc --model={params.name}.onnx --framework=5 --soc_version={params.soc}"
    with zipfile.ZipFile(target, "w") as archive:

        def put(name: str, data: bytes, compress_type: int = zipfile.ZIP_STORED) -> None:
            archive.writestr(root + name, data, compress_type)

        manifest = {"om2_version": "0", "model_num": params.models, "atc_command": atc}
        put("manifest.json", json.dumps(manifest, indent=4).encode(), json_type)
        for index in range(params.models):
            put(f"data/model_{index}/runtime/lib{params.name}_om2.so", b"\x7fELF" + bytes(60))
        _write_constants(archive, root + "data/constants/constant_0", params.constants_size)
        if params.defect != "no_constants_config":
            for index in range(params.models):
                config = _constants_config(params, index)
                put(f"data/constants/model_{index}_constants_config.json", config, json_type)
        put(f"data/kernels_{params.soc}/te_add_0.o", bytes(128), zipfile.ZIP_DEFLATED)
        if params.defect != "no_meta":
            for index in range(params.models):
                put(f"data/model_{index}/model_meta.json", _meta_bytes(params, index), json_type)


def _write_constants(archive: zipfile.ZipFile, name: str, size: int) -> None:
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_STORED
    zeros = bytes(min(CHUNK, size))
    with archive.open(info, "w", force_zip64=size >= 1 << 31) as entry:
        for offset in range(0, size, CHUNK):
            entry.write(zeros[: size - offset])


class _Holes:
    """A file whose zero-filled writes become holes (the constants), for zipfile."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def write(self, data: bytes, /) -> int:
        if data.count(0) == len(data):
            self._handle.seek(len(data), io.SEEK_CUR)
        else:
            self._handle.write(data)
        return len(data)

    def tell(self) -> int:
        return self._handle.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        return self._handle.seek(offset, whence)

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:
        """The caller owns the handle."""


def _defective(data: bytes, params: Om2Params) -> bytes:
    if params.defect == "not_a_zip":
        return b"PK\x03\x04" + bytes(range(60))
    if params.defect == "short":
        return b"PK\x03"
    if params.defect == "truncated":
        return data[: len(data) // 2]
    return data


def build_om2(params: Om2Params) -> bytes:
    """The archive in memory (keep ``constants_size`` small)."""
    buffer = io.BytesIO()
    _write_archive(buffer, params)
    return _defective(buffer.getvalue(), params)


def write_om2(path: str | os.PathLike[str], params: Om2Params) -> int:
    """Write to ``path``, the constants as holes; returns the file size."""
    with open(path, "wb") as handle:
        if params.defect in ("not_a_zip", "short", "truncated"):
            handle.write(build_om2(params))
        else:
            _write_archive(_Holes(handle), params)
    return os.path.getsize(path)
