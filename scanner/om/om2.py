"""OM2 models: the ZIP archives newer CANN toolchains emit (om-format.md §8).

The API answers them on a path of their own: workSize from ``model_meta.json``,
weightSize from the constants config. Only the ZIP directory and those small JSON
entries are read (through the byte source, so a file is read by ranges): never the
constants or kernels. Nothing from the archive is extracted, executed, or used as a path.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
import zlib
from typing import Any

from .errors import AclError, FileAccessError, OmError
from .query import Sizes
from .result import Inventory, TensorInfo
from .source import ByteSource

META_SUFFIX = "model_meta.json"
CONSTANTS_SUFFIX = "_constants_config.json"
MANIFEST = "manifest.json"
JSON_LIMIT = 16 << 20  # a metadata entry larger than this is refused, not inflated
GE_FAILURE = AclError.ACL_ERROR_GE_FAILURE
_KERNELS = re.compile(r"^data/kernels_([^/]+)/")

# zipfile and zlib report a damaged or hostile archive through all of these.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    ValueError,
    RuntimeError,
    NotImplementedError,
    OverflowError,
    KeyError,
    OSError,
)


class _SourceFile(io.RawIOBase):
    """A read-only, seekable file over a ByteSource, for zipfile: every read is a
    bounded range of the source, so bytes read are counted and never exceed it."""

    def __init__(self, source: ByteSource) -> None:
        self._source = source
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._source.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = max(0, min(len(view), self._source.size - self._pos))
        if count:
            view[:count] = self._source.read(self._pos, count)
            self._pos += count
        return count


def _read_json(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Any:
    """Decode one small JSON entry; raises OmError(GE_FAILURE) when it is not usable."""
    if info.file_size > JSON_LIMIT:
        raise OmError(GE_FAILURE, f"{info.filename}: {info.file_size} bytes, over the JSON limit")
    with archive.open(info) as entry:
        raw = entry.read(JSON_LIMIT + 1)
    if len(raw) > JSON_LIMIT:
        raise OmError(GE_FAILURE, f"{info.filename}: inflates past the JSON limit")
    if not raw:
        raise OmError(GE_FAILURE, f"{info.filename}: empty entry")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise OmError(GE_FAILURE, f"{info.filename}: not valid JSON ({exc})") from None


def _size_field(document: Any, key: str, name: str) -> int | None:
    value = document.get(key) if isinstance(document, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise OmError(GE_FAILURE, f"{name}: {key} is not a byte count: {value!r}")
    return value


def query_om2(source: ByteSource, *, inventory: bool = False) -> tuple[Sizes, Inventory | None]:
    """workSize and weightSize as the API's OM2 path gives them (§8).

    Where several entries match, each assigns in directory order, so the last one
    counts: §8 says "workSize = its work_size" for every matching entry.
    """
    try:
        with zipfile.ZipFile(_SourceFile(source)) as archive:
            return _query(archive, inventory)
    except OmError:
        raise
    except FileAccessError:
        raise
    except _ZIP_ERRORS as exc:
        raise OmError(
            GE_FAILURE, f"not a readable OM2 archive: {exc or type(exc).__name__}"
        ) from None


def _query(archive: zipfile.ZipFile, want_inventory: bool) -> tuple[Sizes, Inventory | None]:
    work_size = weight_size = 0
    metas: list[dict[str, Any]] = []
    for info in archive.infolist():
        if info.filename.endswith(META_SUFFIX):
            meta = _read_json(archive, info)
            work = _size_field(meta, "work_size", info.filename)
            if work is None:
                raise OmError(GE_FAILURE, f"{info.filename}: no work_size")
            work_size = work
            metas.append(meta)
        elif info.filename.endswith(CONSTANTS_SUFFIX):
            weights = _size_field(_read_json(archive, info), "internal_weight_size", info.filename)
            if weights is not None:
                weight_size = weights
    reason = _dynamic_reason(metas)
    sizes = Sizes(work_size, weight_size, reason)
    return sizes, _inventory(archive, metas) if want_inventory else None


def _tensors(items: Any) -> tuple[TensorInfo, ...]:
    if not isinstance(items, list):
        return ()
    tensors = []
    for item in items:
        if not isinstance(item, dict):
            continue
        shape = item.get("shape")
        dims = tuple(d for d in shape if isinstance(d, int)) if isinstance(shape, list) else ()
        tensors.append(TensorInfo(str(item.get("name", "")), str(item.get("data_type", "")), dims))
    return tuple(tensors)


def _dynamic_reason(metas: list[dict[str, Any]]) -> str | None:
    for meta in metas:
        kind = meta.get("dynamic_type")
        if kind or meta.get("dynamic_batch_info"):
            return f"dynamic model (dynamic_type={kind!r}): work_size is the archive's figure"
        inputs = _tensors(meta.get("inputs"))
        if any(t.dynamic for t in inputs):
            return "dynamic input shapes: work_size is the archive's figure"
    return None


def _inventory(archive: zipfile.ZipFile, metas: list[dict[str, Any]]) -> Inventory:
    """Manifest fields, the first model's metadata, and the SoC named by kernel folders."""
    manifest: Any = {}
    warnings: list[str] = []
    try:
        manifest = _read_json(archive, archive.getinfo(MANIFEST))
    except KeyError:
        warnings.append("no manifest.json")
    except OmError as exc:
        warnings.append(exc.reason)
    manifest = manifest if isinstance(manifest, dict) else {}
    socs = sorted({m.group(1) for name in archive.namelist() if (m := _KERNELS.match(name))})
    first = metas[0] if metas else {}
    return Inventory(
        format="om2",
        name=str(first.get("model_name", "")),
        modeltype="om2",
        submodel_count=len(metas),
        soc_version=",".join(socs) or None,
        inputs=_tensors(first.get("inputs")),
        outputs=_tensors(first.get("outputs")),
        extra={
            "om2_version": manifest.get("om2_version"),
            "model_num": manifest.get("model_num"),
            "atc_command": manifest.get("atc_command"),
            "root_graph": first.get("root_graph_name"),
            "dynamic_type": first.get("dynamic_type"),
            "dynamic_batch_info": first.get("dynamic_batch_info"),
            "shape_ranges": {
                str(i.get("name")): i.get("shape_range")
                for i in first.get("inputs", [])
                if isinstance(i, dict) and i.get("shape_range")
            }
            if isinstance(first.get("inputs"), list)
            else {},
        },
        warnings=tuple(warnings),
    )
