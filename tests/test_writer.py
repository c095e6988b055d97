"""The writer makes files the reader sizes as intended, and big weights cost no disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.om import query_bytes, query_path
from scanner.om.layout import TASK_INFO
from scanner.om.writer import Blob, Input, ModelParams, build_om, spec_for, task_info, write_om


def test_written_file_equals_built_bytes(tmp_path: Path) -> None:
    spec = spec_for(ModelParams(weight_size=10_000, era="2022"))
    path = tmp_path / "m.om"
    assert write_om(path, spec) == path.stat().st_size
    assert path.read_bytes() == build_om(spec)


def test_four_gib_of_weights_is_sparse_and_read_in_bytes(tmp_path: Path) -> None:
    path = tmp_path / "big.om"
    size = write_om(path, spec_for(ModelParams(weight_size=4 << 30, memory_size=77)))
    assert size > 4 << 30
    assert path.stat().st_blocks * 512 < 1 << 20
    result = query_path(path)
    assert (result.ret, result.work_size, result.weight_size) == (0, 77, 4 << 30)
    assert result.bytes_read < 4096


def test_32_bit_tables_refuse_sizes_they_cannot_hold() -> None:
    with pytest.raises(ValueError, match="32-bit"):
        build_om(spec_for(ModelParams(weight_size=4 << 30, era="2022")))


def test_inventory_round_trip() -> None:
    params = ModelParams(
        name="net",
        inputs=[Input("a", "float16", (1, -1, 8)), Input("b", "int64", (4,))],
        soc_version="Ascend310B4",
        atc_version="7.6.0",
    )
    result = query_bytes(build_om(spec_for(params)), inventory=True)
    inv = result.inventory
    assert inv is not None
    assert (inv.name, inv.soc_version, inv.atc_version) == ("net", "Ascend310B4", "7.6.0")
    assert [(t.name, t.dtype, t.shape, t.dynamic) for t in inv.inputs] == [
        ("a", "float16", (1, -1, 8), True),
        ("b", "int64", (4,), False),
    ]
    assert inv.warnings == ()


def test_disagreeing_atc_attributes_are_reported() -> None:
    spec = spec_for(ModelParams(memory_size=100, weight_size=10))
    spec.submodels[0][2] = Blob(TASK_INFO, task_info(200))
    result = query_bytes(build_om(spec), inventory=True)
    assert result.work_size == 200
    assert result.inventory is not None
    assert any("memory_size=100" in w for w in result.inventory.warnings)
