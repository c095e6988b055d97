"""Every real file of the shared corpus gives exactly the answer in EXPECTED.tsv."""

from __future__ import annotations

import hashlib

import pytest

from scanner.om import query_bytes, query_path

from .corpus import Expected, corpus_params, expected_rows, require_corpus

ROWS = corpus_params()


def test_corpus_is_present_and_complete() -> None:
    require_corpus()
    rows = expected_rows()
    assert len(rows) >= 10
    for row in rows:
        data = row.path.read_bytes()
        assert len(data) == row.size
        assert hashlib.sha256(data).hexdigest() == row.sha256


@pytest.mark.parametrize("row", ROWS)
def test_from_memory_matches_expected(row: Expected) -> None:
    require_corpus()
    result = query_bytes(row.path.read_bytes())
    assert (result.ret, result.work_size, result.weight_size) == (
        row.ret,
        row.work_size,
        row.weight_size,
    )


@pytest.mark.parametrize("row", ROWS)
def test_from_path_matches_and_reads_little(row: Expected) -> None:
    require_corpus()
    result = query_path(row.path)
    assert (result.ret, result.work_size, result.weight_size) == (
        row.ret,
        row.work_size,
        row.weight_size,
    )
    assert 0 < result.bytes_read <= row.size - result.weight_size


@pytest.mark.parametrize("row", ROWS)
def test_inventory_agrees_with_atc_attributes(row: Expected) -> None:
    require_corpus()
    result = query_path(row.path, inventory=True)
    assert result.inventory is not None
    assert result.inventory.warnings == ()
    if result.inventory.attr_memory_size is not None:
        assert result.inventory.attr_memory_size == row.work_size
    if result.inventory.attr_weight_size is not None:
        assert result.inventory.attr_weight_size == row.weight_size
    assert result.inventory.inputs, "graph[0] has Data inputs"
