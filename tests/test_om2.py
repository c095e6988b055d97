"""OM2 archives (om-format.md §8): every path, GE's reading of values and entries,
hostile archives, bytes read, and mixed scans.

Where §8 is silent the expectations follow GE's source (``GetOm2MemAndWeightSizeFromArchive``
over minizip and ``ge::JsonFile``, i.e. nlohmann::json); scanner/om/om2.py says which.
"""

from __future__ import annotations

import io
import json
import struct
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.backends.om import OmBackend
from scanner.om import AclError, FileAccessError, QueryResult, query_bytes, query_path
from scanner.om.deadline import Deadline
from scanner.om.om2 import JSON_LIMIT
from scanner.om.om2_writer import (
    HOSTILE_SHAPES,
    Defect,
    Hostile,
    Om2Params,
    Payload,
    build_om2,
    hostile_json,
    hostile_om2,
    raw_archive,
    write_om2,
)
from scanner.om.reader import query_source
from scanner.om.source import BufferSource
from scanner.om.writer import ModelParams, spec_for, write_om
from scanner.scan.local import ScanOptions, run_scan
from scanner.sources.local import LocalFiles
from scanner.store import open_store

GE_FAILURE = AclError.ACL_ERROR_GE_FAILURE
META = "data/model_0/model_meta.json"
CONFIG = "data/constants/model_0_constants_config.json"
U64 = 1 << 64


def triple(result: QueryResult) -> tuple[int | None, int, int]:
    return result.ret, result.work_size, result.weight_size


def answer(data: bytes) -> tuple[int | None, int, int]:
    return triple(query_bytes(data))


def archive(*entries: tuple[str, str | bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    """A ZIP holding ``entries`` in this order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as zf:
        for name, content in entries:
            zf.writestr(name, content)
    return buffer.getvalue()


def record_of(data: bytes, name: str) -> int:
    """Offset of ``name``'s central-directory record."""
    at = data.index(b"PK\x01\x02")
    while True:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + length] == name.encode():
            return at
        at = data.index(b"PK\x01\x02", at + 46)


def poke(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    patched = bytearray(data)
    struct.pack_into(fmt, patched, offset, value)
    return bytes(patched)


# --- §8, path by path -----------------------------------------------------------------


@pytest.mark.parametrize("root", ["", "resnet50/"])
@pytest.mark.parametrize("compress_json", [False, True])
def test_valid_archive(root: str, compress_json: bool) -> None:
    params = Om2Params(
        work_size=123_456, internal_weight_size=789, root=root, compress_json=compress_json
    )
    result = query_bytes(build_om2(params), inventory=True)
    assert (result.ret, result.work_size, result.weight_size) == (0, 123_456, 789)
    assert result.format == "om2" and not result.dynamic
    inv = result.inventory
    assert inv is not None and inv.format == "om2" and inv.name == "model"
    assert inv.inputs[0].shape == (1, 3, 224, 224) and inv.inputs[0].dtype == "float16"
    assert inv.outputs[0].name == "y" and inv.soc_version == "Ascend310P3"
    assert inv.extra["om2_version"] == "0" and inv.extra["model_num"] == 1
    assert "--soc_version=Ascend310P3" in inv.extra["atc_command"]
    assert inv.warnings == ()


@pytest.mark.parametrize(
    ("defect", "expected"),
    [
        ("not_a_zip", (GE_FAILURE, 0, 0)),
        ("truncated", (GE_FAILURE, 0, 0)),
        ("empty_meta", (GE_FAILURE, 0, 0)),
        ("invalid_meta", (GE_FAILURE, 0, 0)),
        ("meta_without_work_size", (GE_FAILURE, 0, 0)),
        ("no_meta", (0, 0, 4096)),
        ("no_constants_config", (0, 1 << 20, 0)),
        ("constants_without_weight_size", (0, 1 << 20, 0)),
        ("short", (AclError.ACL_ERROR_GE_EXEC_MODEL_DATA_SIZE_INVALID, 0, 0)),
    ],
)
def test_each_path_of_section_8(defect: Defect, expected: tuple[int, int, int]) -> None:
    assert answer(build_om2(Om2Params(defect=defect))) == expected


def test_empty_buffer_is_an_invalid_param() -> None:
    assert answer(b"")[0] == AclError.ACL_ERROR_INVALID_PARAM


@pytest.mark.parametrize("config", [b"", b"{", b"[1, 2"])
def test_unreadable_constants_config_fails(config: bytes) -> None:
    """§8 says only "if present"; GE asserts the config is non-empty, valid JSON."""
    data = archive((META, '{"work_size": 5}'), (CONFIG, config))
    assert answer(data) == (GE_FAILURE, 0, 0)


def test_each_match_assigns_so_the_last_in_directory_order_counts() -> None:
    """GE's loop assigns; it does not sum the models (§8 "workSize = its work_size")."""
    result = query_bytes(build_om2(Om2Params(models=3, work_sizes=[10, 30, 20])))
    assert result.work_size == 20
    first, second = ("data/model_0/model_meta.json", "data/model_1/model_meta.json")
    assert answer(archive((first, '{"work_size": 1}'), (second, '{"work_size": 2}')))[1] == 2
    assert answer(archive((second, '{"work_size": 2}'), (first, '{"work_size": 1}')))[1] == 1


def test_a_config_without_a_usable_weight_size_keeps_the_previous_one() -> None:
    data = archive(
        ("data/constants/model_0_constants_config.json", '{"internal_weight_size": 100}'),
        ("data/constants/model_1_constants_config.json", '{"consts": {}}'),
        ("data/constants/model_2_constants_config.json", '{"internal_weight_size": "12"}'),
        (META, '{"work_size": 7}'),
    )
    assert answer(data) == (0, 7, 100)


# --- values as GE's nlohmann::json get<size_t>() converts them ------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", (0, 0)),
        ("18446744073709551615", (0, U64 - 1)),
        ("-1", (0, U64 - 1)),  # static_cast wraps
        ("1.9", (0, 1)),  # truncates
        ("-0.5", (0, 0)),
        ("true", (0, 1)),
        ("false", (0, 0)),
        ("18446744073709551616", (0, U64 - 1)),  # beyond uint64: a double, saturated
        ("1e30", (0, U64 - 1)),
        ('"12"', (GE_FAILURE, 0)),
        ("null", (GE_FAILURE, 0)),
        ("[]", (GE_FAILURE, 0)),
        ("{}", (GE_FAILURE, 0)),
    ],
)
def test_work_size_is_converted_as_ge_does(value: str, expected: tuple[int, int]) -> None:
    ret, work, _ = answer(archive((META, f'{{"work_size": {value}}}')))
    assert (ret, work) == expected


@pytest.mark.parametrize(
    ("value", "weight"), [("true", 1), ("-2", U64 - 2), ("3.7", 3), ('"12"', 0), ("null", 0)]
)
def test_internal_weight_size_is_converted_as_ge_does(value: str, weight: int) -> None:
    data = archive((CONFIG, f'{{"internal_weight_size": {value}}}'))
    assert answer(data) == (0, 0, weight)


@pytest.mark.parametrize(
    ("document", "ok"),
    [
        (b'\xef\xbb\xbf{"work_size": 3}', True),  # nlohmann skips a UTF-8 BOM
        (b'{"work_size": 1, "work_size": 3}', True),  # duplicate keys: the last wins
        (b'{"name": "\\ud83d\\ude00", "work_size": 3}', True),  # a surrogate pair
        (b' \n{"work_size": 3}\t\r\n', True),
        ('{"work_size": 3}'.encode("utf-16"), False),  # UTF-8 only
        (b'{"name": "\\ud800", "work_size": 3}', False),  # a lone surrogate
        (b'{"name": "\xff", "work_size": 3}', False),  # not UTF-8
        (b'{"x": NaN, "work_size": 3}', False),
        (b'{"x": -Infinity, "work_size": 3}', False),
        (b'{"x": 1e400, "work_size": 3}', False),  # overflows a double
        (b'{"work_size": 3} x', False),
        (b'{"work_size": 3}\x00', False),
        (b'[{"work_size": 3}]', False),  # not an object: no work_size
        (b'{"work_size": 03}', False),
        (b"[" * 100_000, False),
    ],
)
def test_json_is_read_as_nlohmann_reads_it(document: bytes, ok: bool) -> None:
    assert answer(archive((META, document))) == ((0, 3, 0) if ok else (GE_FAILURE, 0, 0))


# --- entries as minizip reads them ----------------------------------------------------


def test_entry_crc_is_not_checked() -> None:
    """GE ignores unzCloseCurrentFile's CRC result (and reads stored entries raw)."""
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        data = archive((META, '{"work_size": 3}'), method=method)
        record = record_of(data, META)
        data = poke(data, record + 16, "<I", 0xDEADBEEF)  # central CRC
        data = poke(data, 14, "<I", 0xDEADBEEF)  # local CRC
        assert answer(data) == (0, 3, 0)


def test_encryption_flag_is_not_honoured() -> None:
    """GE opens entries without a password: minizip then reads the bytes as they are."""
    data = archive((META, '{"work_size": 3}'))
    data = poke(data, record_of(data, META) + 8, "<H", 1)
    assert answer(data) == (0, 3, 0)


@pytest.mark.parametrize(
    ("where", "fmt", "value"),
    [
        ("central", "<H", 99),  # a compression method minizip does not know
        ("central", "<H", 12),  # bzip2: not built into GE
        ("local", "<H", 0),  # local method disagrees with the directory
    ],
)
def test_unusable_compression_fails(where: str, fmt: str, value: int) -> None:
    data = archive((META, '{"work_size": 3}'), method=zipfile.ZIP_DEFLATED)
    offset = record_of(data, META) + 10 if where == "central" else 8
    assert answer(poke(data, offset, fmt, value))[0] == GE_FAILURE


def test_local_header_must_agree_with_the_directory() -> None:
    data = archive(("manifest.json", "{}"), (META, '{"work_size": 3}'), method=zipfile.ZIP_DEFLATED)
    record = record_of(data, META)
    local = struct.unpack_from("<I", data, record + 42)[0]
    assert answer(data) == (0, 3, 0)
    assert answer(poke(data, local, "<I", 0x12345678))[0] == GE_FAILURE  # no local header
    assert answer(poke(data, local + 22, "<I", 999))[0] == GE_FAILURE  # local size disagrees
    assert answer(poke(data, local + 26, "<H", 3))[0] == GE_FAILURE  # name length disagrees
    assert answer(poke(data, record + 42, "<I", len(data)))[0] == GE_FAILURE  # past the end


def test_duplicate_names_make_the_archive_unusable() -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = archive((META, '{"work_size": 1}'), (META, '{"work_size": 2}'))
    result = query_bytes(data)
    assert result.ret == GE_FAILURE and "duplicate" in (result.error or "")


def test_stored_entry_sizes_must_agree() -> None:
    data = archive(("data/kernels_x/k.o", b"k" * 64), (META, '{"work_size": 1}'))
    data = poke(data, record_of(data, "data/kernels_x/k.o") + 20, "<I", 10)
    assert answer(data)[0] == GE_FAILURE


def test_names_are_only_compared_never_used_as_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = archive(
        ("../../../tmp/evil_model_meta.json", '{"work_size": 4}'),
        ("/etc/x_constants_config.json", '{"internal_weight_size": 5}'),
        ("data/", b""),
    )
    assert answer(data) == (0, 4, 5)
    assert list(tmp_path.iterdir()) == []


def test_reasons_stay_on_one_line() -> None:
    result = query_bytes(archive(("evil\nname/" + "x" * 300 + "model_meta.json", b"")))
    assert result.ret == GE_FAILURE and result.error is not None
    assert "\n" not in result.error and len(result.error) < 200


# --- hostile archives -----------------------------------------------------------------


def test_zip_bomb_meta_is_refused_without_reading_it() -> None:
    bomb = archive((META, b" " * (JSON_LIMIT + 10)), method=zipfile.ZIP_DEFLATED)
    assert len(bomb) < 100_000
    result = query_bytes(bomb)
    assert result.ret == GE_FAILURE and "limit" in (result.error or "")
    assert result.bytes_read < 1024


def test_declared_size_lie_inflates_only_the_declared_bytes() -> None:
    body = b'{"work_size": 3}' + b" " * (JSON_LIMIT + 10)
    data = archive((META, body), method=zipfile.ZIP_DEFLATED)
    record = record_of(data, META)
    for size in (16, 10):  # minizip stops after the declared size, whatever follows
        lied = poke(poke(data, record + 24, "<I", size), 22, "<I", size)
        assert answer(lied) == ((0, 3, 0) if size == 16 else (GE_FAILURE, 0, 0))


def padded(blocks: int) -> bytes:
    """A deflated meta entry whose stream starts with ``blocks`` empty stored blocks."""
    data = archive((META, '{"work_size": 3}'), method=zipfile.ZIP_DEFLATED)
    start, size = 30 + len(META), struct.unpack_from("<I", data, 18)[0]
    empty = b"\x00\x00\x00\xff\xff" * blocks
    data = data[:start] + empty + data[start:]
    data = poke(data, 18, "<I", size + len(empty))
    data = poke(data, record_of(data, META) + 20, "<I", size + len(empty))
    end = data.rindex(b"PK\x05\x06")
    return poke(data, end + 16, "<I", struct.unpack_from("<I", data, end + 16)[0] + len(empty))


def test_a_stream_that_never_delivers_is_cut_off() -> None:
    """Input without output: fine in moderation, refused past 2 x JSON_LIMIT."""
    assert answer(padded(1000)) == (0, 3, 0)
    result = query_bytes(padded(2 * JSON_LIMIT // 5 + 20_000))
    assert result.ret == GE_FAILURE and "still short" in (result.error or "")
    assert result.bytes_read < 2 * JSON_LIMIT + (1 << 20)


def test_bytes_read_do_not_grow_with_constants(tmp_path: Path) -> None:
    small, big = tmp_path / "small.om", tmp_path / "big.om"
    write_om2(small, Om2Params(constants_size=1 << 10))
    write_om2(big, Om2Params(constants_size=256 << 20))
    a, b = query_path(small), query_path(big)
    assert a.ok and b.ok and big.stat().st_size > 256 << 20
    assert big.stat().st_blocks * 512 < 1 << 20  # the constants are a hole
    assert abs(b.bytes_read - a.bytes_read) < 16 and b.bytes_read < 4096


def test_file_and_buffer_agree(tmp_path: Path) -> None:
    defects: tuple[Defect, ...] = ("none", "truncated", "invalid_meta", "no_meta")
    for defect in defects:
        path = tmp_path / f"{defect}.om"
        write_om2(path, Om2Params(defect=defect))
        assert path.read_bytes() == build_om2(Om2Params(defect=defect))
        assert answer(path.read_bytes()) == triple(query_path(path))


class StrictSource(BufferSource):
    """A buffer that fails the test, rather than answering, on a read outside it."""

    def read(self, offset: int, length: int) -> bytes:
        assert offset >= 0 and length >= 0 and offset + length <= self.size, (offset, length)
        return super().read(offset, length)


SEEDS = [
    build_om2(Om2Params()),
    build_om2(Om2Params(compress_json=True, models=2, root="m/")),
    build_om2(Om2Params(defect="no_meta", compress_json=True)),
    build_om2(Om2Params(defect="constants_without_weight_size", models=2, root="m/")),
]
CODES = {int(code) for code in AclError}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS),
    st.lists(
        st.tuples(
            st.integers(0, 1 << 16), st.sampled_from([b"\x00", b"\xff", b"\xff\xff\xff\xff"])
        ),
        min_size=1,
        max_size=6,
    ),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6),
    st.integers(0, 1 << 16),
)
def test_mutated_archives_give_only_api_answers(
    data: bytes, stamps: list[tuple[int, bytes]], flips: list[tuple[int, int]], cut: int
) -> None:
    buf = bytearray(data)
    for where, stamp in stamps:
        at = where % len(buf)
        buf[at : at + len(stamp)] = stamp
    for where, byte in flips:
        buf[where % len(buf)] = byte
    mutated = bytes(buf[: max(4, len(buf) - cut % len(buf))])
    started = time.perf_counter()
    try:
        result = query_source(StrictSource(mutated), inventory=True)
    except FileAccessError as exc:  # pragma: no cover - the assertion says why
        pytest.fail(f"read outside the buffer: {exc}")
    assert time.perf_counter() - started < 0.5
    assert result.ret in CODES, result.error


# --- bounded work: where omscan stops and GE would read on (om2.py's deviations) ------


BOUNDED = {
    "shared_member": (GE_FAILURE, "overlaps another entry"),
    "object_bomb": (GE_FAILURE, "JSON values"),
    "shared_object_bomb": (GE_FAILURE, "JSON values"),
    "deep_nesting": (GE_FAILURE, "JSON values"),
    "huge_string": (0, ""),  # one entry within the limits: answered, as GE would
    "many_numbers": (GE_FAILURE, "JSON values"),
    "many_members": (GE_FAILURE, "bytes read and inflated"),
    "many_entries": (GE_FAILURE, "central directory"),
}


@pytest.mark.parametrize("shape", HOSTILE_SHAPES)
def test_hostile_archives_are_answered_within_the_bounds(shape: Hostile) -> None:
    """Each shape once cost hours or gigabytes; scripts/bench_hostile.py measures them."""
    result = query_bytes(hostile_om2(shape), inventory=True)
    code, reason = BOUNDED[shape]
    assert result.ret == code, result.error
    assert reason in (result.error or "")
    assert result.error is None or "\n" not in result.error


def test_entries_sharing_bytes_are_a_damaged_archive() -> None:
    meta = Payload.store(b'{"work_size": 3, "internal_weight_size": 4}')
    alone = raw_archive([(META, meta)])
    assert answer(alone) == (0, 3, 0)
    # a second record of the same kind, or of the other kind, on the same member
    twice = raw_archive([(META, meta)], [(META, 0), ("data/model_1/model_meta.json", 0)])
    other = "data/x_constants_config.json"  # as long as META: minizip compares lengths
    assert len(other) == len(META)
    both = raw_archive([(META, meta)], [(META, 0), (other, 0)])
    for data in (twice, both):
        result = query_bytes(data)
        assert result.ret == GE_FAILURE and "overlaps" in (result.error or "")


def test_the_json_budget_is_shared_by_every_entry_of_a_model() -> None:
    assert answer(hostile_om2("many_members", 3)) == (0, 1, 0)  # 3 x 16 MiB: within 64 MiB
    result = query_bytes(hostile_om2("many_members", 4))
    assert result.ret == GE_FAILURE and "m000003" in (result.error or "")


def test_json_values_are_counted_across_documents_before_parsing() -> None:
    bomb = Payload.deflate(hostile_json("object_bomb", 3 * 200_000))  # ~400,000 counted
    one = raw_archive([(META, bomb)])
    two = raw_archive([(META, bomb), ("data/model_1/model_meta.json", bomb)])
    three = raw_archive([(f"data/model_{i}/model_meta.json", bomb) for i in range(3)])
    assert answer(one) == (0, 1, 0) and answer(two) == (0, 1, 0)
    result = query_bytes(three)
    assert result.ret == GE_FAILURE and "model_2" in (result.error or "")


def test_the_bounds_leave_large_real_archives_alone() -> None:
    """Twenty thousand kernels and constants: well inside every bound."""
    consts = {
        f"constant_{i}": {"index": i, "type": "INTERNAL", "file_name": "constant_0", "size": 64}
        for i in range(20_000)
    }
    config = json.dumps({"internal_weight_size": 1_280_000, "consts": consts}).encode()
    kernel = Payload.store(bytes(16))
    data = raw_archive(
        [
            ("manifest.json", Payload.deflate(b'{"om2_version": "0", "model_num": 1}')),
            *((f"data/kernels_Ascend310P3/te_op_{i:05d}.o", kernel) for i in range(20_000)),
            (CONFIG, Payload.deflate(config)),
            (META, Payload.deflate(json.dumps({"name": "big", "work_size": 9}).encode())),
        ]
    )
    result = query_bytes(data, inventory=True)
    assert triple(result) == (0, 9, 1_280_000)
    assert result.inventory is not None and result.inventory.soc_version == "Ascend310P3"


def test_the_deadline_is_checked_inside_a_model() -> None:
    """A deadline passed shows as the ``timeout`` fault; what ``stop`` raises passes
    through (the scan's cancellation)."""
    data = build_om2(Om2Params())
    result = query_bytes(data, deadline=Deadline(-1.0))
    assert (result.ret, result.status, result.format) == (None, "timeout", "om2")

    class Stop(Exception):
        pass

    def stop() -> None:
        raise Stop

    with pytest.raises(Stop):
        query_bytes(data, deadline=Deadline(None, stop))


# --- inventory ------------------------------------------------------------------------


def test_dynamic_model_keeps_its_work_size_and_the_inventory_says_why() -> None:
    dynamic_input = {
        "name": "x",
        "index": 0,
        "shape": [-1, 3, 224, 224],
        "data_type": "DT_FLOAT",
        "format": "NCHW",
        "size": 0,
        "shape_range": [[1, 8], [3, 3], [224, 224], [224, 224]],
    }
    params = Om2Params(
        work_size=9_000,
        inputs=[dynamic_input],
        dynamic_type=1,
        dynamic_batch_info=[[1], [4], [8]],
    )
    result = query_bytes(build_om2(params), inventory=True)
    assert (result.ret, result.work_size, result.dynamic_reason) == (0, 9_000, None)
    inv = result.inventory
    assert inv is not None and inv.inputs[0].dynamic and inv.inputs[0].dtype == "float32"
    assert inv.extra["dynamic_type"] == 1
    assert inv.extra["dynamic_batch_info"] == [[1], [4], [8]]
    assert inv.extra["shape_ranges"] == {"x": [[1, 8], [3, 3], [224, 224], [224, 224]]}


def test_inventory_problems_are_warnings_not_answers() -> None:
    data = archive(
        ("manifest.json", "{broken"),
        (META, json.dumps({"name": "net", "work_size": 2, "inputs": "junk"})),
        ("data/model_1/model_meta.json", '{"work_size": 3}'),
    )
    result = query_bytes(data, inventory=True)
    assert (result.ret, result.work_size) == (0, 3)
    inv = result.inventory
    assert inv is not None and inv.name == "net" and inv.inputs == () and inv.submodel_count == 2
    assert any("not valid JSON" in w for w in inv.warnings)
    assert any("last model_meta.json" in w for w in inv.warnings)
    missing = query_bytes(archive((META, '{"work_size": 2}')), inventory=True).inventory
    assert missing is not None and missing.warnings == ("no manifest.json",)


def test_manifest_model_count_is_checked() -> None:
    data = archive(("m/manifest.json", '{"model_num": 2}'), ("m/" + META, '{"work_size": 2}'))
    inv = query_bytes(data, inventory=True).inventory
    assert inv is not None and inv.extra["model_num"] == 2
    assert inv.warnings == ("manifest model_num 2 but 1 model_meta.json",)


def test_inventory_reads_no_more_than_the_manifest_besides() -> None:
    data = build_om2(Om2Params())
    plain, full = query_bytes(data), query_bytes(data, inventory=True)
    assert plain.bytes_read < full.bytes_read < plain.bytes_read + 512


# --- end to end -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_mixed_tree_scanned_end_to_end(tmp_path: Path, db_url: str) -> None:
    root = tmp_path / "repo"
    (root / "classic").mkdir(parents=True)
    (root / "om2").mkdir()
    write_om(root / "classic/a.om", spec_for(ModelParams(memory_size=1000, weight_size=10)))
    write_om2(root / "om2/b.om", Om2Params(work_size=2000, internal_weight_size=20))
    write_om2(root / "om2/bad.om", Om2Params(defect="invalid_meta"))
    async with open_store(db_url) as store:
        summary = await run_scan(store, OmBackend(LocalFiles()), ScanOptions(roots=[str(root)]))
        rows = await store.fetch(
            "SELECT relpath, format, ret, work_size, weight_size FROM latest_results"
        )
    got = {r["relpath"]: (r["format"], r["ret"], r["work_size"], r["weight_size"]) for r in rows}
    assert got == {
        "classic/a.om": ("om", 0, 1000, 10),
        "om2/b.om": ("om2", 0, 2000, 20),
        "om2/bad.om": ("om2", GE_FAILURE, 0, 0),
    }
    assert summary.failed == 1


def test_results_are_plain_data() -> None:
    result = query_bytes(build_om2(Om2Params()), inventory=True)
    assert isinstance(result, QueryResult)
    json.dumps(result.to_dict())
