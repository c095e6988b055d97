"""OM2 models: the ZIP archives newer CANN toolchains emit (om-format.md §8).

The API answers them on a path of its own (GE's ``GetOm2MemAndWeightSizeFromArchive``
over minizip): the entries are walked in central-directory order; every name ending in
``model_meta.json`` sets workSize to its ``work_size``, every name ending in
``_constants_config.json`` sets weightSize to its ``internal_weight_size`` if that
converts. Each match *assigns*, so with several models the last entry counts: GE does not
sum (§1 says "sum" where GE sums; §8 does not, and GE's loop assigns).

Python's ``zipfile`` reads the central directory, through a read-only view of the byte
source, so a file is read by ranges. The two kinds of JSON entry are then read the way
minizip reads them (no CRC check, no password: GE never asks for either), from their
byte ranges; the constants and kernels are never touched. Nothing from the archive is
extracted, executed or used as a path.

GE bounds nothing on this path, so a few MB can cost it hours (thousands of directory
records sharing one 16 MiB member) or gigabytes (a small deflated JSON that parses into
millions of objects). omscan bounds the work per model and answers 500002
(ACL_ERROR_GE_FAILURE, "damaged archive") past these bounds, where GE would read on —
the deviations, each named in the reason:

- a central directory over ``DIRECTORY_LIMIT`` bytes or ``ENTRY_LIMIT`` entries;
- a JSON entry over ``JSON_LIMIT`` bytes;
- more than ``JSON_TOTAL_LIMIT`` bytes inflated and read for the JSON entries of one
  model, all entries together (a deflate stream is also cut off after twice
  ``JSON_LIMIT`` of input without its output);
- more than ``JSON_VALUE_LIMIT`` JSON values for one model, all documents together
  (counted before a document is parsed), or a document nested deeper than Python's
  recursion limit;
- two entries the query reads whose byte ranges (local header to end of data) overlap:
  a damaged archive, whose only use is to make one member count many times.

Time is the caller's: ``deadline`` is checked every 1,024 directory entries, per
inflated chunk and before each parse.
"""

from __future__ import annotations

import bisect
import errno
import json
import re
import struct
import zipfile
import zlib
from typing import Any

from ..core.source import ByteSource
from .deadline import Deadline
from .errors import AclError, OmError
from .query import Sizes
from .result import Inventory, TensorInfo

META_SUFFIX = "model_meta.json"
CONSTANTS_SUFFIX = "_constants_config.json"
MANIFEST_SUFFIX = "manifest.json"
# Real archives: JSON entries of KiB, a few thousand entries. Past these, 500002.
JSON_LIMIT = 16 << 20  # one JSON entry, inflated
JSON_TOTAL_LIMIT = 64 << 20  # every JSON entry of one model: bytes inflated plus bytes read
JSON_VALUE_LIMIT = 1_000_000  # JSON values parsed for one model, all documents together
DIRECTORY_LIMIT = 8 << 20  # bytes of central directory
ENTRY_LIMIT = 100_000  # entries in it
_TAIL_READS = 1 << 17  # what zipfile reads besides the directory: end records, comment
GE_FAILURE = AclError.ACL_ERROR_GE_FAILURE

_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # 30 bytes before a name, extra and data
_LOCAL_MAGIC = 0x04034B50
_SIZE_UNKNOWN = 0xFFFFFFFF  # a 32-bit size deferred to the zip64 extra field
_HAS_DESCRIPTOR = 0x08  # flag bit 3: sizes and CRC follow the data instead
_UTF8_NAME = 0x800
_CHUNK = 1 << 16
_U64 = 1 << 64
_KERNELS = re.compile(r"(?:^|/)data/kernels_([^/]+)/")

# How Python's zipfile reports a directory it cannot read: NotImplementedError for a
# "version needed" above 6.3, ValueError (UnicodeDecodeError) for a UTF-8-flagged name
# that is not UTF-8. minizip reads both; omscan answers 500002 (a documented deviation).
_DIRECTORY_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    EOFError,
    OSError,
    ValueError,
    OverflowError,
    struct.error,
)


class _SourceView:
    """The read-only, seekable file zipfile asks for, over a ByteSource: every read is
    clamped to the source, so it is counted and never leaves the model's bytes; in all,
    zipfile may read the end records and a directory of at most DIRECTORY_LIMIT bytes."""

    def __init__(self, source: ByteSource) -> None:
        self._source = source
        self._pos = 0
        self._allowance = DIRECTORY_LIMIT + _TAIL_READS

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0, /) -> int:
        base = {0: 0, 1: self._pos, 2: self._source.size}.get(whence)
        if base is None:
            raise ValueError(f"invalid whence {whence}")
        if base + offset < 0:
            raise OSError(errno.EINVAL, "seek before the start of the archive")
        self._pos = base + offset
        return self._pos

    def read(self, n: int = -1, /) -> bytes:
        left = max(0, self._source.size - self._pos)
        count = left if n < 0 else min(n, left)
        if not count:
            return b""
        if count > self._allowance:
            raise OmError(
                GE_FAILURE,
                f"ZIP central directory of {count:,} bytes or more, over omscan's "
                f"{DIRECTORY_LIMIT:,}-byte limit",
            )
        self._allowance -= count
        data = self._source.read(self._pos, count)
        self._pos += count
        return data


def query_om2(
    source: ByteSource, deadline: Deadline, *, inventory: bool = False
) -> tuple[Sizes, Inventory | None]:
    """workSize and weightSize as the API's OM2 path gives them (§8).

    ``dynamic_reason`` stays None: GE answers an OM2 model's own ``work_size`` whatever
    its dynamic batch, type or shapes (the classic path's "dynamic gives 0" rule is not
    on this path); the inventory records the dynamic information instead.
    """
    archive = _Archive(source, deadline)
    work_size = weight_size = 0
    first_meta: Any = None
    metas = 0
    for index, info in enumerate(archive.entries):
        if not index & 0x3FF:
            deadline.check()
        if info.filename.endswith(META_SUFFIX):
            meta = archive.read_json(info)
            work = _size_t(_field(meta, "work_size"))
            if work is None:
                raise OmError(GE_FAILURE, f"{_shown(info.filename)}: no work_size GE can read")
            work_size = work
            if metas == 0:
                first_meta = meta  # the inventory's; the others are dropped once read
            metas += 1
        elif info.filename.endswith(CONSTANTS_SUFFIX):
            # GE ignores a missing or unconvertible value: the previous one stands.
            weights = _size_t(_field(archive.read_json(info), "internal_weight_size"))
            if weights is not None:
                weight_size = weights
    sizes = Sizes(work_size, weight_size)
    return sizes, _inventory(archive, first_meta, metas) if inventory else None


class _Archive:
    """One archive being queried: its directory, and what reading its JSON entries has
    cost so far (bytes, and the byte ranges read, which must not overlap)."""

    def __init__(self, source: ByteSource, deadline: Deadline) -> None:
        self.source = source
        self.deadline = deadline
        self.entries = _directory(source, deadline)
        self._spent = 0  # bytes inflated and read for JSON entries
        self._values = 0  # JSON values parsed, at most
        self._starts: list[int] = []  # of the ranges read, sorted
        self._ends: list[int] = []

    def read_json(self, info: zipfile.ZipInfo) -> Any:
        name = _shown(info.filename)
        raw = self._read_entry(info)
        # Every value but the first follows a ",", "[" or "{" (those inside strings only
        # make this an overestimate): counted before anything is built.
        self._values += 1 + raw.count(b",") + raw.count(b"[") + raw.count(b"{")
        if self._values > JSON_VALUE_LIMIT:
            raise OmError(
                GE_FAILURE,
                f"{name}: over omscan's limit of {JSON_VALUE_LIMIT:,} JSON values parsed for "
                "one model (not parsed)",
            )
        self.deadline.check()
        return _parse_json(name, raw)

    def _charge(self, count: int, name: str) -> None:
        self._spent += count
        if self._spent > JSON_TOTAL_LIMIT:
            raise OmError(
                GE_FAILURE,
                f"{name}: over omscan's limit of {JSON_TOTAL_LIMIT:,} bytes read and inflated "
                "for the JSON entries of one model",
            )

    def _claim(self, start: int, end: int, name: str) -> None:
        """Record that [start, end) is read; refuse it if an entry read before overlaps."""
        at = bisect.bisect_right(self._starts, start)
        if (at and self._ends[at - 1] > start) or (
            at < len(self._starts) and self._starts[at] < end
        ):
            raise OmError(GE_FAILURE, f"{name}: overlaps another entry's bytes (damaged archive)")
        self._starts.insert(at, start)
        self._ends.insert(at, end)

    def _read_entry(self, info: zipfile.ZipInfo) -> bytes | bytearray:
        """The entry's content as minizip gives it to GE, or OmError(500002)."""
        source = self.source
        name = _shown(info.filename)
        if info.file_size == 0:
            raise OmError(GE_FAILURE, f"{name}: empty entry")
        if info.file_size > JSON_LIMIT:
            raise OmError(
                GE_FAILURE,
                f"{name}: {info.file_size:,} bytes, over omscan's {JSON_LIMIT:,}-byte limit "
                "for a JSON entry (not read)",
            )
        self._charge(info.file_size, name)
        magic, _, flags, method, _, _, crc, csize, usize, name_len, extra_len = (
            _LOCAL_HEADER.unpack(_range(source, info.header_offset, _LOCAL_HEADER.size, name))
        )
        if magic != _LOCAL_MAGIC:
            raise OmError(GE_FAILURE, f"{name}: no local file header at {info.header_offset}")
        start = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
        if info.compress_type == zipfile.ZIP_STORED:  # GE maps these straight from the buffer
            self._claim(info.header_offset, start + info.file_size, name)
            return _range(source, start, info.file_size, name)
        if info.compress_type != zipfile.ZIP_DEFLATED:
            raise OmError(
                GE_FAILURE, f"{name}: compression method {info.compress_type} unsupported"
            )
        encoded_name = info.orig_filename.encode(
            "utf-8" if info.flag_bits & _UTF8_NAME else "cp437"
        )
        checked = not flags & _HAS_DESCRIPTOR
        if (
            method != info.compress_type
            or name_len != len(encoded_name)
            or (checked and crc != info.CRC)
            or (checked and csize not in (_SIZE_UNKNOWN, info.compress_size))
            or (checked and usize not in (_SIZE_UNKNOWN, info.file_size))
        ):
            raise OmError(GE_FAILURE, f"{name}: local file header disagrees with the directory")
        if start + info.compress_size > source.size:
            raise OmError(GE_FAILURE, f"{name}: data outside the archive")
        self._claim(info.header_offset, start + info.compress_size, name)
        return self._inflate(start, info)

    def _inflate(self, start: int, info: zipfile.ZipInfo) -> bytearray:
        """Exactly ``file_size`` bytes of raw deflate, reading compressed data in chunks
        only until they are out; what follows them in the stream is ignored, as minizip
        does."""
        name = _shown(info.filename)
        end = start + info.compress_size
        # A stream that needs more input than this for at most JSON_LIMIT bytes is hostile.
        stop = min(end, start + 2 * JSON_LIMIT + _CHUNK)
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        out = bytearray()
        pos = start
        try:
            while len(out) < info.file_size and not inflater.eof:
                self.deadline.check()
                pending = inflater.unconsumed_tail
                if not pending:
                    if pos >= stop:
                        break
                    pending = self.source.read(pos, min(_CHUNK, stop - pos))
                    pos += len(pending)
                    self._charge(len(pending), name)
                out += inflater.decompress(pending, info.file_size - len(out))
        except zlib.error as exc:
            raise OmError(GE_FAILURE, f"{name}: bad deflate data ({exc})") from None
        if len(out) == info.file_size:
            return out
        if pos >= stop and stop < end:
            raise OmError(
                GE_FAILURE, f"{name}: deflate stream still short after {stop - start:,} bytes"
            )
        raise OmError(GE_FAILURE, f"{name}: inflates to {len(out):,} bytes, not {info.file_size:,}")


def _directory(source: ByteSource, deadline: Deadline) -> list[zipfile.ZipInfo]:
    """The archive's files in central-directory order, as GE's archive index lists them:
    directories left out; duplicate names, or a stored entry whose two sizes differ,
    make the archive unusable."""
    try:
        with zipfile.ZipFile(_SourceView(source)) as archive:
            infos = archive.infolist()
    except _DIRECTORY_ERRORS as exc:
        raise OmError(GE_FAILURE, f"not a readable ZIP archive: {_describe(exc)}") from None
    if len(infos) > ENTRY_LIMIT:
        raise OmError(
            GE_FAILURE,
            f"{len(infos):,} ZIP entries, over omscan's limit of {ENTRY_LIMIT:,} per archive",
        )
    entries = [info for info in infos if info.filename and not info.filename.endswith("/")]
    seen: set[str] = set()
    for index, info in enumerate(entries):
        if not index & 0x3FF:
            deadline.check()
        if info.filename in seen:
            raise OmError(GE_FAILURE, f"duplicate ZIP entry {_shown(info.filename)}")
        seen.add(info.filename)
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise OmError(
                GE_FAILURE,
                f"{_shown(info.filename)}: stored entry of {info.compress_size} bytes declares "
                f"{info.file_size} uncompressed",
            )
    return entries


def _describe(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _shown(name: str) -> str:
    """An entry name fit for a one-line reason (names are the archive's to choose)."""
    text = name if name.isprintable() else ascii(name)
    return text if len(text) <= 120 else text[:117] + "..."


def _range(source: ByteSource, offset: int, length: int, name: str) -> bytes:
    if offset < 0 or offset + length > source.size:
        raise OmError(GE_FAILURE, f"{name}: data outside the archive")
    return source.read(offset, length)


def _parse_json(name: str, raw: bytes | bytearray) -> Any:
    """The document as ``nlohmann::json::parse`` reads it (GE's JsonFile): RFC 8259 in
    UTF-8 with an optional BOM, no NaN or Infinity, integers outside 64 bits kept as
    doubles, a number too large for a double or a lone surrogate an error."""
    try:
        text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
        document = json.loads(
            text, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant
        )
    except (ValueError, RecursionError) as exc:
        raise OmError(GE_FAILURE, f"{name}: not valid JSON ({_describe(exc)})") from None
    if "\\u" in text and _has_lone_surrogate(document):
        raise OmError(GE_FAILURE, f"{name}: not valid JSON (lone UTF-16 surrogate)")
    return document


def _json_int(text: str) -> int | float:
    value = int(text) if len(text) <= 21 else None
    if value is not None and -(1 << 63) <= value < _U64:
        return value
    return _json_float(text)


def _json_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number overflow: {text[:32]}")
    return value


def _json_constant(text: str) -> float:
    raise ValueError(f"{text} is not JSON")


def _has_lone_surrogate(document: Any) -> bool:
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _field(document: Any, key: str) -> Any:
    return document.get(key) if isinstance(document, dict) else None


def _size_t(value: Any) -> int | None:
    """What nlohmann's ``get<size_t>()`` makes of a JSON value, None where it throws.

    Integers wrap modulo 2**64 (static_cast), booleans are 0 or 1, doubles truncate.
    A double outside [0, 2**64) is undefined behaviour in C++; omscan saturates, as an
    aarch64 host does.
    """
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value % _U64
    if isinstance(value, float):
        return min(max(int(value), 0), _U64 - 1)
    return None


def _inventory(archive: _Archive, first_meta: Any, metas: int) -> Inventory:
    """Manifest fields, the first model's metadata (GE loads the first), and the SoC
    named by kernel folders. Metadata only: a bad manifest is a warning, not an error."""
    warnings: list[str] = []
    manifest: Any = {}
    entries = archive.entries
    found = [i for i in entries if i.filename.rpartition("/")[2] == MANIFEST_SUFFIX]
    if not found:
        warnings.append("no manifest.json")
    else:
        try:
            manifest = archive.read_json(min(found, key=lambda i: i.filename.count("/")))
        except OmError as exc:
            warnings.append(exc.reason)
    manifest = manifest if isinstance(manifest, dict) else {}
    model_num = manifest.get("model_num")
    if isinstance(model_num, int) and model_num != metas:
        warnings.append(f"manifest model_num {model_num} but {metas} model_meta.json")
    if metas > 1:
        warnings.append(f"{metas} models: workSize is the last model_meta.json's")
    socs = sorted({m.group(1) for info in entries if (m := _KERNELS.search(info.filename))})
    first = first_meta if isinstance(first_meta, dict) else {}
    inputs, outputs = first.get("inputs"), first.get("outputs")
    extra = {
        "om2_version": manifest.get("om2_version"),
        "model_num": model_num,
        "atc_command": manifest.get("atc_command"),
        "zero_copy_size": first.get("zero_copy_size"),
        "dynamic_type": first.get("dynamic_type"),
        "dynamic_batch_info": first.get("dynamic_batch_info"),
        "dynamic_dims": first.get("dynamic_dims"),
        "shape_ranges": _shape_ranges(inputs) | _shape_ranges(outputs),
    }
    return Inventory(
        format="om2",
        name=str(first.get("name", "")),
        modeltype="om2",
        submodel_count=metas,
        soc_version=",".join(socs) or None,
        inputs=_tensors(inputs),
        outputs=_tensors(outputs),
        extra={key: value for key, value in extra.items() if value not in (None, "", [], {})},
        warnings=tuple(warnings),
    )


# GE's serial data-type names, in the classic inventory's vocabulary.
_DTYPES = {"DT_FLOAT": "float32", "DT_DOUBLE": "float64", "DT_BF16": "bfloat16"}


def _dtype(value: Any) -> str:
    text = str(value)
    return _DTYPES.get(text, text.removeprefix("DT_").lower())


def _tensors(items: Any) -> tuple[TensorInfo, ...]:
    if not isinstance(items, list):
        return ()
    tensors = []
    for item in items:
        if isinstance(item, dict):
            shape = item.get("shape")
            dims = shape if isinstance(shape, list) else []
            tensors.append(
                TensorInfo(
                    str(item.get("name", "")),
                    _dtype(item.get("data_type", "")),
                    tuple(d for d in dims if isinstance(d, int) and not isinstance(d, bool)),
                )
            )
    return tuple(tensors)


def _shape_ranges(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        return {}
    return {
        str(item.get("name", "")): item["shape_range"]
        for item in items
        if isinstance(item, dict) and item.get("shape_range")
    }
