"""Untrusted bytes: random and mutated models never escape the reader's own answers.

For a buffer every outcome is an API answer (``ret`` set): ``ret is None`` would mean
the reader asked for bytes outside the buffer. Reading the same bytes from a file
must give the same answer.
"""

from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import replace
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.om import QueryResult, query_bytes, query_path
from scanner.om.writer import (
    ModelParams,
    OmSpec,
    build_om,
    endless_flow_model,
    many_submodels,
    spec_for,
)

from .corpus import expected_rows

FAST = settings(max_examples=300, deadline=500, suppress_health_check=[HealthCheck.too_slow])


@cache
def seeds() -> list[bytes]:
    made = [
        build_om(spec_for(ModelParams(era=era, weight_size=64, kernels=16, **extra)))  # type: ignore[arg-type]
        for era in ("2020", "2022", "2023")
        for extra in ({}, {"dynamic": True}, {"submodels": 2}, {"flow": True})
    ]
    real = [row.path.read_bytes() for row in expected_rows() if row.size < 64 * 1024]
    return made + real + submodel_shapes()


def submodel_shapes() -> list[bytes]:
    """Table shapes the query accepts and the inventory must too: no sub-model at all, more
    sub-models than the walk reads exactly, more partitions than the inventory lists, and
    empty flow tables."""
    empty = OmSpec(submodels=[], is_unknow_model=1, model_num=0)
    return [
        build_om(empty),
        build_om(replace(empty, era="2020")),
        build_om(many_submodels(20)),
        build_om(many_submodels(70)),
        build_om(endless_flow_model(40)),
    ]


def answer(result: QueryResult) -> tuple[int | None, int, int]:
    return result.ret, result.work_size, result.weight_size


def check(data: bytes) -> None:
    """The scan always asks for the inventory: every accepted model gets one."""
    result = query_bytes(data, inventory=True)
    assert result.ret is not None, result.error
    assert (result.ret == 0) == (result.error is None)
    assert (result.ret == 0) == (result.inventory is not None)
    assert result.bytes_read <= len(data) + 4
    assert answer(query_bytes(data)) == answer(result)
    with tempfile.NamedTemporaryFile(delete=False) as handle:
        handle.write(data)
    try:
        assert query_path(handle.name, inventory=True) == result
    finally:
        os.unlink(handle.name)


@FAST
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    check(data)


@FAST
@given(st.binary(max_size=2048))
def test_random_payload_behind_a_valid_header(payload: bytes) -> None:
    for era_header in seeds()[:3]:
        header = bytearray(era_header[:256])
        struct.pack_into("<I", header, 76, len(payload))
        check(bytes(header) + payload)


mutation = st.tuples(
    st.sampled_from(["flip", "u32", "u64", "truncate", "insert", "delete"]),
    st.integers(min_value=0, max_value=1 << 20),
    st.sampled_from(
        [0, 1, 2, 3, 8, 9, 255, 4096, 4097, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 40, (1 << 64) - 1]
    ),
)


def mutate(data: bytes, steps: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for kind, where, value in steps:
        if not buf:
            break
        pos = where % len(buf)
        if kind == "flip":
            buf[pos] ^= 1 << (value % 8)
        elif kind == "u32" and pos + 4 <= len(buf):
            struct.pack_into("<I", buf, pos, value & 0xFFFFFFFF)
        elif kind == "u64" and pos + 8 <= len(buf):
            struct.pack_into("<Q", buf, pos, value)
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "insert":
            buf[pos:pos] = bytes([value & 0xFF]) * (1 + value % 7)
        elif kind == "delete":
            del buf[pos : pos + 1 + value % 7]
    return bytes(buf)


def fix_length(data: bytes) -> bytes:
    """Rewrite the header's payload length so mutations get past the length check."""
    if len(data) < 256:
        return data
    buf = bytearray(data)
    if struct.unpack_from("<Q", buf, 184)[0]:
        struct.pack_into("<Q", buf, 184, len(buf) - 256)
    else:
        struct.pack_into("<I", buf, 76, (len(buf) - 256) & 0xFFFFFFFF)
    return bytes(buf)


@FAST
@given(
    st.integers(min_value=0, max_value=1000),
    st.lists(mutation, min_size=1, max_size=4),
    st.booleans(),
)
def test_mutated_models(seed_index: int, steps: list[tuple[str, int, int]], fix: bool) -> None:
    pool = seeds()
    mutated = mutate(pool[seed_index % len(pool)], steps)
    check(fix_length(mutated) if fix else mutated)


@FAST
@given(st.integers(min_value=0, max_value=1000), st.lists(mutation, min_size=1, max_size=3))
def test_mutated_headers_and_tables(seed_index: int, steps: list[tuple[str, int, int]]) -> None:
    """Aim the mutations at the first 400 bytes, where lengths and counts live."""
    pool = seeds()
    aimed = [(kind, where % 400, value) for kind, where, value in steps]
    check(mutate(pool[seed_index % len(pool)], aimed))
