"""OM2 archives (om-format.md §8): every path, hostile archives, bytes read, mixed scans."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.backends.om import OmBackend
from scanner.om import AclError, query_bytes, query_path
from scanner.om.om2 import JSON_LIMIT
from scanner.om.om2_writer import Om2Params, build_om2, write_om2
from scanner.om.writer import ModelParams, spec_for, write_om
from scanner.scan.local import ScanOptions, run_scan
from scanner.store import open_store

GE_FAILURE = AclError.ACL_ERROR_GE_FAILURE


def answer(data: bytes) -> tuple[int | None, int, int]:
    result = query_bytes(data)
    return result.ret, result.work_size, result.weight_size


def test_valid_archive() -> None:
    result = query_bytes(
        build_om2(Om2Params(work_size=123_456, internal_weight_size=789)), inventory=True
    )
    assert (result.ret, result.work_size, result.weight_size, result.format) == (
        0,
        123_456,
        789,
        "om2",
    )
    inv = result.inventory
    assert inv is not None and inv.format == "om2" and inv.name == "model"
    assert inv.inputs[0].shape == (1, 3, 224, 224) and inv.outputs[0].name == "y"
    assert inv.extra["om2_version"] == "1.0" and "atc --model" in inv.extra["atc_command"]
    assert inv.soc_version == "ascend310p3"
    assert not result.dynamic


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
    ],
)
def test_each_path_of_section_8(defect: str, expected: tuple[int, int, int]) -> None:
    assert answer(build_om2(Om2Params(defect=defect))) == expected  # type: ignore[arg-type]


def test_fewer_than_four_bytes() -> None:
    assert answer(b"PK\x03")[0] == AclError.ACL_ERROR_GE_EXEC_MODEL_DATA_SIZE_INVALID


def test_every_matching_entry_assigns_so_the_last_counts() -> None:
    result = query_bytes(build_om2(Om2Params(models=3, work_size=10, internal_weight_size=20)))
    assert (result.work_size, result.weight_size) == (10, 20)


@pytest.mark.parametrize("value", ["12", -1, 1.5, True, None])
def test_work_size_must_be_a_byte_count(value: object) -> None:
    data = archive({"data/model_0/model_meta.json": f'{{"work_size": {json_value(value)}}}'})
    assert answer(data)[0] == GE_FAILURE


def json_value(value: object) -> str:
    return json.dumps(value)


def archive(entries: dict[str, str | bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def test_zip_bomb_meta_is_refused_without_inflating_it() -> None:
    bomb = archive({"data/model_0/model_meta.json": b" " * (JSON_LIMIT + 10)})
    assert len(bomb) < 100_000
    result = query_bytes(bomb)
    assert result.ret == GE_FAILURE and "JSON limit" in (result.error or "")


def test_declared_size_lie_is_caught_by_the_read_limit() -> None:
    data = bytearray(archive({"data/model_0/model_meta.json": b" " * (JSON_LIMIT + 10)}))
    # rewrite the uncompressed size in the central directory to claim 10 bytes
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 10)
    assert query_bytes(bytes(data)).ret == GE_FAILURE


def test_encrypted_or_exotic_entries_are_ge_failures() -> None:
    data = bytearray(archive({"data/model_0/model_meta.json": '{"work_size": 1}'}))
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 8, 1)  # general purpose flag: encrypted
    assert query_bytes(bytes(data)).ret == GE_FAILURE
    data = bytearray(archive({"data/model_0/model_meta.json": '{"work_size": 1}'}))
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 10, 99)  # compression method nobody knows
    assert query_bytes(bytes(data)).ret == GE_FAILURE


def test_bytes_read_do_not_grow_with_constants(tmp_path: Path) -> None:
    small, big = tmp_path / "small.om", tmp_path / "big.om"
    write_om2(small, Om2Params(constants_size=1024))
    write_om2(big, Om2Params(constants_size=64 << 20))
    a, b = query_path(small), query_path(big)
    assert a.ok and b.ok and big.stat().st_size > 64 << 20
    assert b.bytes_read <= a.bytes_read + 64 < 8192


seeds = [
    build_om2(Om2Params(defect=d)) for d in ("none", "no_meta", "constants_without_weight_size")
]


@settings(max_examples=300, deadline=500, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(seeds),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=6),
    st.integers(0, 1 << 16),
)
def test_mutated_archives_give_only_api_answers(
    data: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    buf = bytearray(data)
    for where, value in flips:
        buf[where % len(buf)] = value
    mutated = bytes(buf[: max(4, len(buf) - cut % len(buf))])
    result = query_bytes(mutated)
    assert result.ret is not None, result.error  # never read outside the buffer
    assert result.ret in {int(code) for code in AclError}


@pytest.mark.asyncio
async def test_mixed_tree_scanned_end_to_end(tmp_path: Path, db_url: str) -> None:
    root = tmp_path / "repo"
    (root / "classic").mkdir(parents=True)
    (root / "om2").mkdir()
    write_om(root / "classic/a.om", spec_for(ModelParams(memory_size=1000, weight_size=10)))
    write_om2(root / "om2/b.om", Om2Params(work_size=2000, internal_weight_size=20))
    write_om2(root / "om2/bad.om", Om2Params(defect="invalid_meta"))
    async with open_store(db_url) as store:
        summary = await run_scan(store, OmBackend(), ScanOptions(roots=[str(root)]))
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
