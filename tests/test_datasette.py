"""The canned queries of the README's Datasette section (docs/datasette.json) give the
right rows — run through `omscan sql`, on both databases (they are plain SQL)."""

from __future__ import annotations

import json
from pathlib import Path

from .cli import run, write_model

METADATA = Path(__file__).parent.parent / "docs" / "datasette.json"


def canned(name: str) -> str:
    queries = json.loads(METADATA.read_text())["databases"]["omscan"]["queries"]
    return str(queries[name]["sql"])


def test_canned_queries(tmp_path: Path, db_url: str) -> None:
    root = tmp_path / "repo"
    write_model(root / "a.om", 1000, 1000)
    write_model(root / "b.om", 10, 10)
    (root / "broken.om").write_bytes(b"IMOD" + bytes(300))
    assert run("scan", str(root), "--db", db_url)[0] == 1
    code, out = run("sql", canned("growth_since_previous_scan"), "--db", db_url, "--format", "json")
    assert (code, json.loads(out)) == (0, [])  # one scan: nothing to compare
    write_model(root / "a.om", 3000, 1000)
    write_model(root / "b.om", 5, 5)
    assert run("scan", str(root), "--db", db_url)[0] == 1

    code, out = run("sql", canned("failures"), "--db", db_url, "--format", "json")
    assert code == 0
    [failure] = json.loads(out)
    assert failure["relpath"] == "broken.om" and failure["status"] == "failed"
    assert failure["ret"] != 0 and failure["error"] and failure["scan_id"] == 2

    code, out = run("sql", canned("growth_since_previous_scan"), "--db", db_url, "--format", "json")
    assert code == 0
    assert [
        (r["relpath"], r["total_before"], r["total_after"], r["delta"]) for r in json.loads(out)
    ] == [
        ("a.om", 2000, 4000, 2000),
        ("b.om", 20, 10, -10),
    ]


def test_the_readme_shows_the_shipped_canned_queries() -> None:
    readme = (METADATA.parent.parent / "README.md").read_text()
    section = readme.split("### Browsing the SQLite store in Datasette", 1)[1]
    shown = json.loads(section.split("```json\n", 1)[1].split("```", 1)[0])
    assert shown["databases"] == json.loads(METADATA.read_text())["databases"]
