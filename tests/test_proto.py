"""The committed protobuf modules are what protoc makes of our .proto files today."""

from __future__ import annotations

from pathlib import Path

import pytest

PROTO_DIR = Path(__file__).resolve().parents[1] / "scanner" / "om" / "proto"


@pytest.mark.parametrize("name", ["task", "ge_ir"])
def test_generated_code_is_up_to_date(name: str, tmp_path: Path) -> None:
    from grpc_tools import protoc

    status = protoc.main(
        ["protoc", f"-I{PROTO_DIR}", f"--python_out={tmp_path}", f"{PROTO_DIR / name}.proto"]
    )
    assert status == 0
    fresh = (tmp_path / f"{name}_pb2.py").read_text()
    assert fresh == (PROTO_DIR / f"{name}_pb2.py").read_text(), "run scripts/gen_proto.sh"
