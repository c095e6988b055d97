"""The question commands on both databases: sql (read-only), report, diff, scans, history."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .helpers import run


def test_sql_reads_in_every_format(two_scans: tuple[str, Path]) -> None:
    db, _ = two_scans
    query = "SELECT relpath, work_size FROM latest_results WHERE status = 'ok' ORDER BY relpath"
    code, out = run("sql", query, "--db", db, "--format", "json")
    assert code == 0
    assert json.loads(out) == [
        {"relpath": "a.om", "work_size": 2000},
        {"relpath": "b.om", "work_size": 5 << 30},
        {"relpath": "d.om", "work_size": 7},
    ]
    code, out = run("sql", query, "--db", db, "--format", "csv")
    assert list(csv.reader(io.StringIO(out)))[1] == ["a.om", "2000"]
    code, out = run("sql", query, "--db", db)
    assert code == 0 and "a.om" in out and "5368709120" in out


WRITES = [
    "DELETE FROM results",
    "UPDATE scans SET status = 'x'",
    "INSERT INTO repositories (path) VALUES ('/x')",
    "DROP TABLE results",
    "CREATE TABLE evil (x int)",
    "WITH gone AS (DELETE FROM results RETURNING id) SELECT COUNT(*) FROM gone",
    "SELECT 1; DELETE FROM results",
]
SQLITE_ONLY = ["ATTACH DATABASE '{evil}' AS evil", "PRAGMA query_only = 0", "VACUUM"]
POSTGRES_ONLY = [
    "SELECT * INTO evil FROM results",
    "SELECT nextval('results_id_seq')",
]


def test_sql_cannot_change_anything(two_scans: tuple[str, Path]) -> None:
    db, root = two_scans
    evil = root.parent / "evil.db"
    before = run("sql", "SELECT COUNT(*) AS n FROM results", "--db", db, "--format", "json")[1]
    extra = SQLITE_ONLY if db.startswith("sqlite") else POSTGRES_ONLY
    for statement in WRITES + extra:
        code, out = run("sql", statement.format(evil=evil), "--db", db)
        assert code == 2, (statement, out)
        assert out.startswith("omscan: "), out
    after = run("sql", "SELECT COUNT(*) AS n FROM results", "--db", db, "--format", "json")[1]
    assert before == after
    assert not evil.exists()


def test_sql_on_unreachable_database_exits_3(tmp_path: Path) -> None:
    assert run("sql", "SELECT 1", "--db", f"sqlite:///{tmp_path}/missing.db")[0] == 3
    assert run("sql", "SELECT 1", "--db", "postgresql://u:pw@127.0.0.1:1/x")[0] == 3


def test_report_filters_sorts_and_formats(two_scans: tuple[str, Path]) -> None:
    db, _ = two_scans
    code, out = run("report", "--db", db, "--format", "json")
    rows = json.loads(out)
    assert [r["relpath"] for r in rows] == ["b.om", "a.om", "d.om", "broken.om"]
    assert rows[0]["total_size"] == 9 << 30 and rows[0]["soc_version"] == "Ascend910B"
    code, out = run("report", "--db", db, "--format", "json", "--min-total", "8GiB")
    assert [r["relpath"] for r in json.loads(out)] == ["b.om"]
    code, out = run("report", "--db", db, "--format", "json", "--failed")
    assert [(r["relpath"], r["ret"]) for r in json.loads(out)] == [("broken.om", 145000)]
    code, out = run(
        "report", "--db", db, "--format", "json", "--soc", "Ascend310", "--sort", "path"
    )
    assert [r["relpath"] for r in json.loads(out)] == ["a.om", "d.om"]
    code, out = run("report", "--db", db, "--format", "csv", "--repo", "nothing-matches")
    assert out.strip().startswith("repository,relpath")
    code, out = run("report", "--db", db, "--format", "markdown", "--min-total", "8GiB")
    assert "| b.om | ok | 0 | SUCCESS | 5.0 GiB | 4.0 GiB | 9.0 GiB |" in out
    code, out = run("report", "--db", db)
    assert "9.0 GiB" in out and code == 0
    assert run("report", "--db", db, "--min-total", "lots")[0] == 2


def test_diff_reports_known_changes_and_gates_growth(two_scans: tuple[str, Path]) -> None:
    db, _ = two_scans
    code, out = run("diff", "--db", db, "--format", "json")
    assert code == 0
    payload = json.loads(out)
    assert (payload["scan_a"], payload["scan_b"]) == (1, 2)
    changes = {c["relpath"]: c for c in payload["changes"]}
    assert set(changes) == {"a.om", "c.om", "d.om"}
    assert changes["a.om"]["change"] == "changed" and changes["a.om"]["delta_total"] == 1000
    assert changes["a.om"]["growth_pct"] == 50.0
    assert changes["c.om"]["change"] == "removed" and changes["d.om"]["change"] == "added"
    assert run("diff", "1", "2", "--db", db, "--fail-on-growth", "49")[0] == 1
    assert run("diff", "1", "2", "--db", db, "--fail-on-growth", "50")[0] == 0
    code, out = run("diff", "--db", db)
    assert "scan 1 → scan 2: 3 change(s)" in out and "+50.0%" in out
    assert run("diff", "1", "--db", db)[0] == 2
    assert run("diff", "1", "99", "--db", db)[0] == 3


def test_scans_and_history(two_scans: tuple[str, Path]) -> None:
    db, root = two_scans
    code, out = run("scans", "--db", db, "--format", "json")
    listed = json.loads(out)
    assert [(s["id"], s["status"], s["seen"], s["failed"]) for s in listed] == [
        (1, "completed", 4, 1),
        (2, "completed", 4, 1),
    ]
    code, out = run("history", "a.om", "--db", db, "--format", "json")
    assert [(h["scan_id"], h["work_size"]) for h in json.loads(out)] == [(1, 1000), (2, 2000)]
    code, out = run("history", str(root / "b.om"), "--db", db, "--format", "json")
    assert code == 0
    assert [(h["scan_id"], bool(h["carried"])) for h in json.loads(out)] == [(1, False), (2, True)]
    assert run("history", "nope.om", "--db", db)[0] == 1
