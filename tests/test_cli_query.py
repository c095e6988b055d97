"""`omscan query` and `omscan demo` through click, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

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
