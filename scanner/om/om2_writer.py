"""Build OM2 archives (om-format.md §8): valid ones and each defect the query meets.

For tests, benchmarks and demo trees. Entries follow GE's layout and order
(``om2_package_contants.h``, ``Om2ZipSaver::Save``): manifest, runtime, constants and
their config, kernels, model metadata. JSON is stored uncompressed as GE writes it unless
``compress_json``; the constants are zeros, stored, and written to a path as holes, so a
1 GiB archive costs no disk. ``hostile_om2`` builds, from raw ZIP records (``raw_archive``:
shared members, zip64 counts — what zipfile will not write), the archives that the
reader's bounds are for.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal, Protocol

from .om2 import JSON_LIMIT

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


# --- hostile archives: raw ZIP records, for what zipfile will not write -------------------

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")
_DOS_DATE = 0x21  # 1980-01-01


@dataclass(frozen=True)
class Payload:
    """An entry's bytes as the archive holds them, and what its records say of them."""

    data: bytes
    size: int  # uncompressed
    crc: int
    method: int

    @classmethod
    def deflate(cls, content: bytes) -> Payload:
        packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = packer.compress(content) + packer.flush()
        return cls(data, len(content), zlib.crc32(content), zipfile.ZIP_DEFLATED)

    @property
    def described(self) -> tuple[int, int, int, int, int, int]:
        """What a local header and a directory record both say of the data: method,
        time, date, CRC, stored and uncompressed sizes."""
        return (self.method, 0, _DOS_DATE, self.crc, len(self.data), self.size)

    @classmethod
    def store(cls, content: bytes) -> Payload:
        return cls(content, len(content), zlib.crc32(content), zipfile.ZIP_STORED)


def raw_archive(
    members: Sequence[tuple[str, Payload]], directory: Sequence[tuple[str, int]] | None = None
) -> bytes:
    """Local entries for ``members``, then a central directory of ``directory``: records
    ``(name, member index)``, one per member by default. Records may share a member (the
    overlapping entries of a hostile archive): give them names as long as the member's,
    as minizip compares the lengths. Zip64 end records when there are over 65,535."""
    out = io.BytesIO()
    offsets = []
    for name, payload in members:
        offsets.append(out.tell())
        raw = name.encode()
        out.write(_LOCAL.pack(0x04034B50, 20, 0, *payload.described, len(raw), 0))
        out.write(raw)
        out.write(payload.data)
    start = out.tell()
    records = directory if directory is not None else [(n, i) for i, (n, _) in enumerate(members)]
    for name, index in records:
        payload = members[index][1]
        raw = name.encode()
        record = (*payload.described, len(raw), 0, 0, 0, 0, 0, offsets[index])
        out.write(_CENTRAL.pack(0x02014B50, 20, 20, 0, *record))
        out.write(raw)
    end = out.tell()
    count = len(records)
    if count > 0xFFFF:
        out.write(_END64.pack(0x06064B50, 44, 45, 45, 0, 0, count, count, end - start, start))
        out.write(_LOCATOR64.pack(0x07064B50, 0, end, 1))
        count = 0xFFFF
    out.write(_END.pack(0x06054B50, 0, 0, count, count, end - start, start, 0))
    return out.getvalue()


Hostile = Literal[
    "shared_member",  # thousands of records pointing at one 16 MiB JSON member
    "object_bomb",  # ~20 KB deflated, millions of small objects once parsed
    "shared_object_bomb",  # both at once
    "deep_nesting",  # arrays nested millions deep
    "huge_string",  # one string of nearly 16 MiB
    "many_numbers",  # millions of numbers in one array
    "many_members",  # hundreds of distinct members, each just under the entry limit
    "many_entries",  # hundreds of thousands of tiny entries (zip64)
]
HOSTILE_SHAPES: tuple[Hostile, ...] = Hostile.__args__  # type: ignore[attr-defined]
JUST_UNDER = JSON_LIMIT - 1


def _filled(head: bytes, unit: bytes, tail: bytes, size: int) -> bytes:
    """``head``, ``unit`` repeated, ``tail``: valid JSON of about ``size`` bytes."""
    return head + unit * ((size - len(head) - len(tail)) // len(unit)) + tail


def hostile_json(shape: Hostile, size: int = JUST_UNDER) -> bytes:
    """A model_meta.json GE would read (it has a work_size), costly to parse."""
    head = b'{"work_size": 1, "x": '
    if shape in ("object_bomb", "shared_object_bomb"):
        return _filled(head + b"[", b"{},", b"{}]}", size)
    if shape == "deep_nesting":
        depth = (size - len(head) - 1) // 2
        return head + b"[" * depth + b"]" * depth + b"}"
    if shape == "huge_string":
        return _filled(head + b'"', b"a", b'"}', size)
    if shape == "many_numbers":
        return _filled(head + b"[", b"0,", b"0]}", size)
    return _filled(b'{"work_size": 1}', b" ", b"", size)  # whitespace: cheap to parse


def hostile_om2(shape: Hostile, count: int = 0) -> bytes:
    """An archive of ``shape`` a few MB long, every entry valid on its own, so that only
    the reader's bounds stop it. ``count`` overrides the number of records or members."""
    if shape in ("shared_member", "shared_object_bomb"):
        copies = count or 50_000
        meta = Payload.deflate(hostile_json(shape))
        names = [f"data/m{index:06d}/model_meta.json" for index in range(copies)]
        return raw_archive([(names[0], meta)], [(name, 0) for name in names])
    if shape == "many_members":
        meta = Payload.deflate(hostile_json(shape))
        return raw_archive([(f"data/m{i:06d}/model_meta.json", meta) for i in range(count or 256)])
    if shape == "many_entries":
        kernel = Payload.store(b"\0")
        entries = [(f"data/kernels_x/k{i:07d}.o", kernel) for i in range(count or 300_000)]
        return raw_archive(
            [("data/model_0/model_meta.json", Payload.store(b'{"work_size": 1}')), *entries]
        )
    return raw_archive([("data/model_0/model_meta.json", Payload.deflate(hostile_json(shape)))])
