"""`omscan query` and `omscan demo` through click, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from scanner.om.writer import (
    Input,
    ModelParams,
    OmSpec,
    build_om,
    many_submodels,
    spec_for,
    write_om,
)

from .corpus import expected_rows, require_corpus
from .helpers import run


def test_json_for_the_corpus_matches_expected() -> None:
    require_corpus()
    rows = expected_rows()
    code, out = run("query", "--json", *(str(row.path) for row in rows))
    assert code == 0
    payload = json.loads(out)
    assert [(o["path"], o["ret"], o["work_size"], o["weight_size"]) for o in payload] == [
        (str(r.path), r.ret, r.work_size, r.weight_size) for r in rows
    ]
    assert all(o["error"] is None and o["dynamic"] is False for o in payload)


def test_demo_repository_answers_and_failures(tmp_path: Path) -> None:
    code, out = run("demo", str(tmp_path))
    assert code == 0 and "wrote" in out
    code, out = run("query", "--json", str(tmp_path / "nlp/bert_dynamic.om"))
    assert code == 0
    (item,) = json.loads(out)
    assert (item["ret"], item["work_size"], item["dynamic"]) == (0, 0, True)
    assert "is_unknow_model" in item["dynamic_reason"]
    code, out = run(
        "query", str(tmp_path / "vision/resnet50.om"), str(tmp_path / "broken/truncated.om")
    )
    assert code == 1
    assert "ret          0 (SUCCESS)" in out
    assert "145000 (ACL_ERROR_GE_PARAM_INVALID)" in out
    assert "inputs       images float16 [8,3,224,224]" in out


def test_missing_path_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    code, out = run("query", "--json", str(tmp_path / "nope.om"), str(tmp_path))
    assert code == 1
    missing, directory = json.loads(out)
    assert missing["ret"] is None and missing["status"] == "unreadable"
    assert "No such file" in missing["error"]
    assert directory["error"] == "not a regular file"
    code, out = run("query", str(tmp_path / "nope.om"))
    assert code == 1 and "Traceback" not in out
    assert "cannot open: No such file or directory" in out


def test_usage_error_exits_2() -> None:
    assert run("query")[0] == 2
    assert run("query", "--bogus", "x")[0] == 2


def test_models_with_no_or_a_great_many_submodels_are_answered(tmp_path: Path) -> None:
    empty = OmSpec(submodels=[], is_unknow_model=1, model_num=0)
    (tmp_path / "empty.om").write_bytes(build_om(empty))
    (tmp_path / "many.om").write_bytes(build_om(many_submodels(5000)))
    code, out = run("query", str(tmp_path / "empty.om"), str(tmp_path / "many.om"))
    assert code == 0, out
    assert "0 sub-model(s)" in out
    assert "partitions   5,000 in all: WEIGHTS_DATA x5,000 4.9 KiB" in out
    code, out = run("query", "--json", str(tmp_path / "many.om"))
    (item,) = json.loads(out)
    assert item["inventory"]["partitions"] == []
    assert item["inventory"]["partition_totals"] == [
        {"type_name": "WEIGHTS_DATA", "count": 5000, "size": 5000}
    ]


def test_names_from_a_model_or_a_path_never_drive_the_terminal(tmp_path: Path) -> None:
    """A hostile model name, tensor name or file name is shown escaped."""
    hostile = "evil\x1b]0;pwned\x07\x1b[2J\u202e"
    params = ModelParams(name=hostile, inputs=[Input(f"in{hostile}", "float16", (1, 3))])
    path = tmp_path / f"m{hostile}.om"
    write_om(path, spec_for(params))
    code, out = run("query", str(path))
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert out.count("evil\\x1b]0;pwned\\x07\\x1b[2J\\u202e") == 3  # path, model, input
    code, out = run("query", "--json", str(path))
    assert json.loads(out)[0]["inventory"]["name"] == hostile  # JSON stays exact
