"""One test per step and failure path of om-format.md §1, on writer-made files."""

from __future__ import annotations

import struct
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.om import AclError, PartitionInfo, query_bytes, query_path
from scanner.om.deadline import Deadline
from scanner.om.inventory import MODEL_DEF_LIMIT
from scanner.om.layout import LISTED_PARTITIONS, MODEL_DEF, TASK_INFO, WEIGHTS_DATA
from scanner.om.proto.ge_ir_pb2 import ModelDef, OpDef
from scanner.om.result import PartitionTotal, TensorInfo
from scanner.om.writer import (
    Blob,
    ModelParams,
    OmSpec,
    build_om,
    endless_flow_model,
    many_submodels,
    spec_for,
    task_info,
    write_om,
)

INVALID_PARAM = AclError.ACL_ERROR_INVALID_PARAM
PARAM_INVALID = AclError.ACL_ERROR_GE_PARAM_INVALID
SIZE_INVALID = AclError.ACL_ERROR_GE_EXEC_MODEL_DATA_SIZE_INVALID
GE_FAILURE = AclError.ACL_ERROR_GE_FAILURE
TASK_FAILED = AclError.ACL_ERROR_GE_EXEC_LOAD_TASK_PARTITION_FAILED
ERAS = ["2020", "2022", "2023"]


def model(**changes: object) -> OmSpec:
    return spec_for(replace(ModelParams(memory_size=7_000_000, weight_size=5000), **changes))


def answer(data: bytes) -> tuple[int | None, int, int]:
    result = query_bytes(data)
    return result.ret, result.work_size, result.weight_size


def code(data: bytes) -> int | None:
    result = query_bytes(data)
    assert result.ret != 0 or result.error is None
    return result.ret


@pytest.mark.parametrize("era", ERAS)
def test_valid_model_of_each_era(era: str) -> None:
    assert answer(build_om(model(era=era))) == (0, 7_000_000, 5000)


def test_empty_model_is_invalid_param() -> None:
    assert code(b"") == INVALID_PARAM


@pytest.mark.parametrize("size", [1, 2, 3])
def test_under_four_bytes_is_size_invalid(size: int) -> None:
    assert code(b"IMOD"[:size]) == SIZE_INVALID


@pytest.mark.parametrize("size", [4, 100, 255])
def test_shorter_than_header_is_param_invalid(size: int) -> None:
    assert code(build_om(model())[:size]) == PARAM_INVALID


@pytest.mark.parametrize("era", ERAS)
def test_payload_length_mismatch(era: str) -> None:
    spec = model(era=era)
    real = len(build_om(spec)) - 256
    for wrong in (real - 1, real + 1, 0 if era == "2023" else real * 2):
        assert code(build_om(replace(spec, payload_length=wrong))) == PARAM_INVALID


def test_truncated_and_extended_files_fail_the_length_check() -> None:
    data = build_om(model())
    assert code(data[:-1]) == PARAM_INVALID
    assert code(data + b"\0") == PARAM_INVALID


def test_length_field_is_used_when_model_length_is_zero() -> None:
    data = bytearray(build_om(model(era="2022")))
    assert struct.unpack_from("<Q", data, 184)[0] == 0
    struct.pack_into("<I", data, 76, 0)  # both zero: model_len 0 != n - 256
    assert code(bytes(data)) == PARAM_INVALID


def test_bad_magic() -> None:
    assert code(build_om(replace(model(), magic=0x12345678))) == PARAM_INVALID


def test_unchecked_header_fields_do_not_matter() -> None:
    data = bytearray(build_om(model()))
    struct.pack_into("<I", data, 4, 9999)  # headsize
    data[12:76] = b"\xab" * 64  # checksum
    data[80] = 1  # is_encrypt
    data[81] = 1  # is_checksum
    data[160:180] = b"\xff" * 20  # platform_version
    data[180] = 7  # platform_type
    assert answer(bytes(data)) == (0, 7_000_000, 5000)


def test_is_unknow_model_makes_a_dynamic_model_with_zero_work() -> None:
    result = query_bytes(build_om(model(dynamic=True)))
    assert (result.ret, result.work_size, result.weight_size) == (0, 0, 5000)
    assert result.dynamic and "is_unknow_model" in (result.dynamic_reason or "")


def test_multi_model_file_sums_weights_of_every_submodel() -> None:
    result = query_bytes(build_om(model(submodels=3)))
    assert (result.ret, result.work_size, result.weight_size) == (0, 0, 15000)
    assert "3 sub-models" in (result.dynamic_reason or "")


def test_old_version_ignores_model_num_and_unknow_flag() -> None:
    data = bytearray(build_om(model(era="2020")))
    struct.pack_into("<I", data, 156, 5)
    data[193] = 1
    assert answer(bytes(data)) == (0, 7_000_000, 5000)


def test_only_model_num_submodels_are_walked() -> None:
    spec = model(submodels=2)
    spec.model_num = 1  # static: the second table becomes trailing bytes
    assert code(build_om(spec)) == GE_FAILURE


def test_fewer_than_nine_bytes_for_a_table() -> None:
    spec = model(dynamic=True)
    spec.model_num = 2
    spec.trailing = b"\x01\0\0\0\0\0\0\0"  # 8 bytes where the 2nd table should be
    assert code(build_om(spec)) == SIZE_INVALID
    spec.trailing += b"\0"  # 9 bytes: the table is read (num 1, 64-bit: runs past the end)
    assert code(build_om(spec)) == SIZE_INVALID


@pytest.mark.parametrize("num", [0, 9])
def test_partition_count_out_of_range(num: int) -> None:
    spec = OmSpec(submodels=[[Blob(WEIGHTS_DATA, b"w") for _ in range(num)]], trailing=b"x" * 16)
    assert code(build_om(spec)) == PARAM_INVALID


def test_eight_partitions_are_accepted() -> None:
    blobs = [Blob(MODEL_DEF, b"m")] + [Blob(20 + i, b"x") for i in range(7)]
    assert answer(build_om(OmSpec(submodels=[blobs]))) == (0, 0, 0)


def test_flow_model_allows_up_to_4096_partitions() -> None:
    def flow(num: int) -> bytes:
        return build_om(OmSpec(submodels=[[Blob(7, b"f") for _ in range(num)]], modeltype=3))

    assert answer(flow(9)) == (0, 0, 0)
    assert answer(flow(4096)) == (0, 0, 0)
    assert code(flow(4097)) == PARAM_INVALID


@pytest.mark.parametrize("era", ["2022", "2023"])
def test_nothing_left_after_the_table(era: str) -> None:
    spec = OmSpec(submodels=[[Blob(MODEL_DEF), Blob(WEIGHTS_DATA)]], era=era)  # type: ignore[arg-type]
    assert code(build_om(spec)) == SIZE_INVALID


def test_partition_running_past_the_end() -> None:
    spec = model()
    spec.submodels[0][1].declared = 5001
    assert code(build_om(spec)) == SIZE_INVALID


def test_trailing_bytes_are_a_ge_failure() -> None:
    assert code(build_om(replace(model(), trailing=b"\0"))) == GE_FAILURE


def test_partitions_shorter_than_the_file_leave_trailing_bytes() -> None:
    spec = model()
    spec.submodels[0][1].declared = 4999
    assert code(build_om(spec)) == GE_FAILURE


def test_single_partition_static_model_is_not_executable() -> None:
    spec = OmSpec(submodels=[[Blob(MODEL_DEF, b"\x0a\x01m")]])
    assert code(build_om(spec)) == PARAM_INVALID


def test_single_partition_dynamic_model_is_accepted() -> None:
    spec = OmSpec(submodels=[[Blob(WEIGHTS_DATA, b"w" * 10)]], is_unknow_model=1)
    assert answer(build_om(spec)) == (0, 0, 10)


def test_missing_weights_count_as_zero() -> None:
    spec = OmSpec(submodels=[[Blob(MODEL_DEF, b"m"), Blob(TASK_INFO, task_info(42))]])
    assert answer(build_om(spec)) == (0, 42, 0)


def test_first_weights_partition_counts_when_duplicated() -> None:
    blobs = [Blob(WEIGHTS_DATA, b"a" * 3), Blob(WEIGHTS_DATA, b"b" * 5)]
    assert answer(build_om(OmSpec(submodels=[blobs]))) == (0, 0, 3)


@pytest.mark.parametrize("content", [None, b""])
def test_missing_or_empty_task_info_gives_zero_work(content: bytes | None) -> None:
    blobs = [Blob(MODEL_DEF, b"m"), Blob(WEIGHTS_DATA, b"w")]
    if content is not None:
        blobs.append(Blob(TASK_INFO, content))
    assert answer(build_om(OmSpec(submodels=[blobs]))) == (0, 0, 1)


@pytest.mark.parametrize(
    "garbage",
    [b"\xff", b"\x0a\x05ab", b"\x0a\x01\xc3", b"\x07", b"\x52\x02\x08"],
    ids=["bad-varint", "short-string", "string-not-utf8", "bad-wire-type", "task-not-a-message"],
)
def test_invalid_task_info_is_task_partition_failed(garbage: bytes) -> None:
    spec = model()
    spec.submodels[0][2] = Blob(TASK_INFO, garbage)
    assert code(build_om(spec)) == TASK_FAILED


def test_task_info_is_not_parsed_for_dynamic_models() -> None:
    spec = model(dynamic=True)
    spec.submodels[0][2] = Blob(TASK_INFO, b"\xff")
    assert answer(build_om(spec)) == (0, 0, 5000)


def test_only_the_first_submodel_task_info_gives_work() -> None:
    spec = model()
    spec.submodels[0][2] = Blob(TASK_INFO, task_info(123))
    assert answer(build_om(spec))[1] == 123


def test_weight_size_in_task_info_is_ignored() -> None:
    from scanner.om.proto.task_pb2 import ModelTaskDef

    spec = model()
    spec.submodels[0][2] = Blob(
        TASK_INFO, ModelTaskDef(memory_size=9, weight_size=1).SerializeToString()
    )
    assert answer(build_om(spec)) == (0, 9, 5000)


@pytest.mark.parametrize(("era", "wide"), [("2020", False), ("2022", False), ("2023", True)])
def test_table_width_follows_model_length(era: str, wide: bool) -> None:
    result = query_bytes(build_om(model(era=era)), inventory=True)
    assert result.inventory is not None
    assert result.inventory.table_width == (64 if wide else 32)


def test_flow_model_uses_wide_tables_even_with_old_length_field() -> None:
    result = query_bytes(build_om(model(era="2022", flow=True)), inventory=True)
    assert result.ok and result.inventory is not None
    assert result.inventory.table_width == 64
    assert result.work_size == 7_000_000


def test_stored_partition_offsets_are_ignored() -> None:
    data = bytearray(build_om(model(era="2022")))
    for entry in range(4):
        struct.pack_into("<I", data, 256 + 4 + entry * 12 + 4, 0xDEADBEEF)
    assert answer(bytes(data)) == (0, 7_000_000, 5000)


def test_error_reason_names_the_numbers() -> None:
    data = build_om(model())
    result = query_bytes(data[:-3])
    assert result.error is not None
    assert str(len(data) - 3) in result.error and "256" in result.error
    assert result.ret_name == "ACL_ERROR_GE_PARAM_INVALID"


def test_dynamic_header_with_no_submodels() -> None:
    """model_num 0 with is_unknow_model: GE walks no table; 256 bytes answer 0 and 0."""
    spec = OmSpec(submodels=[], is_unknow_model=1)
    spec.model_num = 0
    assert answer(build_om(spec)) == (0, 0, 0)
    spec.trailing = b"\0"
    assert code(build_om(spec)) == GE_FAILURE


# --- many sub-models: GE's answer, a bounded inventory ----------------------------------


def test_dynamic_header_with_no_submodels_has_an_inventory() -> None:
    spec = OmSpec(submodels=[], is_unknow_model=1)
    spec.model_num = 0
    result = query_bytes(build_om(spec), inventory=True)
    assert (result.ret, result.inventory is not None) == (0, True)
    assert result.inventory is not None
    assert (result.inventory.submodel_count, result.inventory.partition_count) == (0, 0)
    assert result.inventory.partitions == () and result.inventory.warnings == ()


def test_a_hundred_thousand_submodels_answer_as_ge_and_inventory_totals_them() -> None:
    data = build_om(many_submodels(100_000))
    result = query_bytes(data, inventory=True)
    assert (result.ret, result.work_size, result.weight_size) == (0, 0, 100_000)
    assert result.dynamic and result.bytes_read <= len(data)
    inv = result.inventory
    assert inv is not None and inv.submodel_count == 100_000
    assert inv.partitions == () and inv.partition_count == 100_000
    assert inv.partition_totals == (PartitionTotal("WEIGHTS_DATA", 100_000, 100_000),)


def test_partitions_are_listed_up_to_the_limit_then_totalled() -> None:
    listed = query_bytes(build_om(many_submodels(LISTED_PARTITIONS)), inventory=True).inventory
    assert listed is not None and len(listed.partitions) == LISTED_PARTITIONS
    assert listed.partitions[-1] == PartitionInfo(LISTED_PARTITIONS - 1, "WEIGHTS_DATA", 1)
    assert listed.partition_totals == ()
    over = query_bytes(build_om(many_submodels(LISTED_PARTITIONS + 1)), inventory=True).inventory
    assert over is not None and over.partitions == ()
    assert over.partition_count == LISTED_PARTITIONS + 1


def test_an_endless_walk_stops_at_the_deadline(tmp_path: Path) -> None:
    """4 billion empty flow tables in a 32 GiB hole: GE walks them for hours."""
    path = tmp_path / "endless.om"
    write_om(path, endless_flow_model())
    result = query_path(path, inventory=True, deadline=Deadline(0.5))
    assert (result.ret, result.status) == (None, "timeout")
    assert result.error == "no answer within 0.5 s"


submodel_tables = st.lists(
    st.lists(
        st.tuples(st.sampled_from([MODEL_DEF, WEIGHTS_DATA, TASK_INFO, 3]), st.integers(0, 9000)),
        min_size=1,
        max_size=8,
    ),
    min_size=2,
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(submodel_tables, st.sampled_from(ERAS[1:]))
def test_the_walk_sums_each_submodels_first_weights(
    tables: list[list[tuple[int, int]]], era: str
) -> None:
    """Against the rule of §1 step 7, on files whose tables sit close together (read
    ahead in blocks) and far apart (large partitions skipped), read from a file too."""
    kind, size = tables[-1][-1]
    tables[-1][-1] = (kind, max(size, 1))  # GE wants a byte after the last table
    spec = OmSpec(
        submodels=[[Blob(kind, zeros=size) for kind, size in table] for table in tables],
        era=era,  # type: ignore[arg-type]
    )
    expected = sum(next((size for kind, size in t if kind == WEIGHTS_DATA), 0) for t in tables)
    data = build_om(spec)
    result = query_bytes(data, inventory=True)
    assert (result.ret, result.work_size, result.weight_size) == (0, 0, expected)
    assert result.bytes_read <= len(data) + 4
    inv = result.inventory
    assert inv is not None and inv.partition_count == sum(len(t) for t in tables)
    with tempfile.NamedTemporaryFile() as handle:
        handle.write(data)
        handle.flush()
        assert query_path(handle.name, inventory=True) == result


def test_a_model_def_too_large_to_decode_is_a_warning(tmp_path: Path) -> None:
    """Metadata only: the inventory does not read a MODEL_DEF past its limit (a hole here)."""
    spec = model()
    spec.submodels[0][0] = Blob(MODEL_DEF, zeros=MODEL_DEF_LIMIT + 1)
    write_om(tmp_path / "big.om", spec)
    result = query_path(tmp_path / "big.om", inventory=True)
    assert (result.ret, result.work_size, result.weight_size) == (0, 7_000_000, 5000)
    assert result.inventory is not None and result.bytes_read < 4096
    assert result.inventory.warnings == (
        f"MODEL_DEF of {MODEL_DEF_LIMIT + 1:,} bytes not decoded "
        f"(over omscan's {MODEL_DEF_LIMIT:,}-byte limit for metadata)",
    )


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out) + bytes([value])


def _delimited(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field, encoded by hand."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _model_def_with_op_fields(op_fields: bytes) -> bytes:
    """A MODEL_DEF of one Data op that also carries ``op_fields`` (raw, as ATC writes an
    op's inputs and attributes), and the attribute soc_version."""
    op = OpDef(name=b"image", type=b"Data")
    op.output_desc.add(dtype=2).shape.dim.extend([1, 3, 640, 640])
    graph = _delimited(6, op.SerializeToString() + op_fields)
    model_def = ModelDef(name=b"model")
    model_def.attr["soc_version"].s = b"Ascend310P3"
    return model_def.SerializeToString() + _delimited(7, graph)


def test_an_operators_attributes_are_skipped_undecoded(tmp_path: Path) -> None:
    """The inventory keeps graph[0]'s inputs, not its operators' attributes: those (most of
    a real graph's bytes) are skipped, so even ones that are not protobuf at all cost
    nothing, while the inputs and model attributes still decode."""
    garbage_attr = _delimited(10, b"\xff\xff\xff\xff")  # not a map entry
    spec = model()
    spec.submodels[0][0] = Blob(
        MODEL_DEF, _model_def_with_op_fields(_delimited(5, b"conv1") + garbage_attr)
    )
    write_om(tmp_path / "m.om", spec)
    result = query_path(tmp_path / "m.om", inventory=True)
    assert (result.ret, result.work_size, result.weight_size) == (0, 7_000_000, 5000)
    assert result.inventory is not None
    assert result.inventory.inputs == (TensorInfo("image", "float16", (1, 3, 640, 640)),)
    assert (result.inventory.soc_version, result.inventory.warnings) == ("Ascend310P3", ())


def test_a_model_def_that_does_not_decode_is_a_warning(tmp_path: Path) -> None:
    """Metadata only: a MODEL_DEF cut short inside its graph costs the inventory's
    MODEL_DEF facts (a warning says so), never the answer."""
    spec = model()
    spec.submodels[0][0] = Blob(MODEL_DEF, _model_def_with_op_fields(b"")[:-1])
    write_om(tmp_path / "m.om", spec)
    result = query_path(tmp_path / "m.om", inventory=True)
    assert (result.ret, result.work_size, result.weight_size) == (0, 7_000_000, 5000)
    assert result.inventory is not None
    assert (result.inventory.inputs, result.inventory.soc_version) == ((), None)
    (warning,) = result.inventory.warnings
    assert warning.startswith("MODEL_DEF does not decode: ")
