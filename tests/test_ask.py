"""The question commands on both databases: sql (read-only), report, diff, scans, history."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from scanner.ask.sql import TimeLimitExceeded
from scanner.cli import cli

from .helpers import run, write_model


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
    "SELECT nextval('answers_id_seq')",
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


def scan_one_model(tmp_path: Path, db: str) -> None:
    """a.om: 1000 bytes of work, 1000 of weights."""
    write_model(tmp_path / "repo" / "a.om", 1000, 1000)
    assert run("scan", str(tmp_path / "repo"), "--db", db)[0] == 0


def sql_json(db: str, statement: str) -> list[dict[str, Any]]:
    code, out = run("sql", statement, "--db", db, "--format", "json")
    assert code == 0, (statement, out)
    return list(json.loads(out))


def test_sql_runs_ordinary_analytic_queries(two_scans: tuple[str, Path]) -> None:
    """The README's questions and what analysts write: aggregates, window functions, CTEs,
    JSON functions, date arithmetic — on both databases."""
    db, _ = two_scans
    postgres = not db.startswith("sqlite")
    rows = sql_json(
        db,
        "SELECT soc_version, COUNT(*) AS models, SUM(total_size) AS bytes FROM latest_results "
        "WHERE status = 'ok' GROUP BY soc_version ORDER BY bytes DESC",
    )
    assert rows == [
        {"soc_version": "Ascend910B", "models": 1, "bytes": 9 << 30},
        {"soc_version": "Ascend310", "models": 2, "bytes": 3000 + 14},
    ]
    ranked = sql_json(
        db,
        "WITH sized AS (SELECT relpath, total_size FROM latest_results WHERE status = 'ok') "
        "SELECT relpath, RANK() OVER (ORDER BY total_size DESC) AS place, "
        "SUM(total_size) OVER () AS everything FROM sized ORDER BY place",
    )
    assert [(r["relpath"], r["place"]) for r in ranked] == [("b.om", 1), ("a.om", 2), ("d.om", 3)]
    assert {r["everything"] for r in ranked} == {(9 << 30) + 3014}
    inputs = (
        "jsonb_array_length(inputs::jsonb)" if postgres else "json_array_length(inputs)"
    ) + " AS inputs"
    assert sql_json(db, f"SELECT {inputs} FROM latest_results WHERE relpath = 'a.om'") == [
        {"inputs": 1}
    ]
    took = (
        "EXTRACT(EPOCH FROM finished_at - started_at) >= 0 AS ordered, "
        "date_trunc('day', started_at) <= now() AS past"
        if postgres
        else "julianday(finished_at) - julianday(started_at) >= 0 AS ordered, "
        "date(started_at) <= date('now') AS past"
    )
    assert (
        sql_json(db, f"SELECT {took} FROM scans ORDER BY id")
        == [{"ordered": True, "past": True} if postgres else {"ordered": 1, "past": 1}] * 2
    )
    history = sql_json(
        db,
        "SELECT s.id, r.work_size FROM results r JOIN model_files f ON f.id = r.file_id "
        "JOIN scans s ON s.id = r.scan_id WHERE f.relpath = 'a.om' ORDER BY s.id",
    )
    assert history == [{"id": 1, "work_size": 1000}, {"id": 2, "work_size": 2000}]
    harmless = "random() < 2 AS r, clock_timestamp() > now() - interval '1 day' AS c"
    assert sql_json(db, f"SELECT {harmless}" if postgres else "SELECT typeof(random()) AS r") == [
        {"r": True, "c": True} if postgres else {"r": "integer"}
    ]


POSTGRES_VALUES = (
    "SELECT SUM(total_size) AS total, 1.50::numeric AS exact, 'NaN'::float8 AS nan,"
    " '-Infinity'::float8 AS ninf, 'Infinity'::numeric AS inf, 0.1::float8 AS float,"
    " true AS yes, 'x' AS text, '\\x00ff'::bytea AS bytes,"
    " DATE '2024-02-29' AS day, TIME '12:30:05.5' AS clock,"
    " TIMESTAMPTZ '2024-02-29 12:30:05+00' AS stamp, TIMESTAMP '2024-02-29 12:30:05' AS naive,"
    " INTERVAL '1 month 2 days 3 hours 4.5 seconds' AS span,"
    " '6ecd8c99-4036-403d-bf84-cf8400f67836'::uuid AS id, '10.1.2.3/8'::inet AS addr,"
    " '10.0.0.0/8'::cidr AS net, int8range(1, 5) AS range, ARRAY[[1, 2], [3, 4]] AS grid,"
    " '{\"a\": 1.10, \"b\": [true, null]}'::jsonb AS doc, ROW(1, 'x') AS pair,"
    " (SELECT s FROM scans s WHERE id = 1) IS NOT NULL AS whole, B'101' AS bits,"
    " point(1, 2) AS where_, NULL AS nothing, 1 AS a, 2 AS a"
    " FROM latest_results WHERE relpath = 'a.om'"
)


def test_sql_every_postgres_value_has_one_json_and_one_csv_form(
    pg_url: str, tmp_path: Path
) -> None:
    scan_one_model(tmp_path, pg_url)
    # JSON strings, and the same text in CSV
    as_text = {
        "nan": "NaN",
        "ninf": "-Infinity",
        "inf": "Infinity",
        "text": "x",
        "bytes": "\\x00ff",
        "day": "2024-02-29",
        "clock": "12:30:05.500000",
        "stamp": "2024-02-29T12:30:05+00:00",
        "naive": "2024-02-29T12:30:05",
        "span": "P1M2DT3H4.5S",  # months kept, as PostgreSQL writes ISO 8601
        "id": "6ecd8c99-4036-403d-bf84-cf8400f67836",
        "addr": "10.1.2.3/8",
        "net": "10.0.0.0/8",
        "bits": "101",
        "where_": "(1,2)",
    }
    (row,) = sql_json(pg_url, POSTGRES_VALUES)
    assert row == as_text | {
        "total": 2000,  # a Decimal from SUM(bigint), exact
        "exact": 1.5,
        "float": 0.1,
        "yes": True,
        "range": {"lower": 1, "upper": 5, "lower_inc": True, "upper_inc": False, "empty": False},
        "grid": [[1, 2], [3, 4]],
        "doc": {"a": 1.1, "b": [True, None]},
        "pair": [1, "x"],
        "whole": True,
        "nothing": None,
        "a": 1,
        "a_2": 2,  # a repeated name loses no column
    }
    _, out = run("sql", POSTGRES_VALUES, "--db", pg_url, "--format", "json")
    assert '"exact": 1.50' in out and '"doc": {\n' in out  # digits as stored, nested JSON
    _, out = run("sql", POSTGRES_VALUES, "--db", pg_url, "--format", "csv")
    header, values = list(csv.reader(io.StringIO(out)))
    assert dict(zip(header, values, strict=True)) == as_text | {
        "total": "2000",
        "exact": "1.50",
        "float": "0.1",
        "yes": "true",
        "range": '{"lower": 1, "upper": 5, "lower_inc": true, "upper_inc": false, "empty": false}',
        "grid": "[[1, 2], [3, 4]]",
        "doc": '{"a": 1.10, "b": [true, null]}',
        "pair": '[1, "x"]',
        "whole": "true",
        "nothing": "",
        "a": "1",
        "a_2": "2",
    }
    named = sql_json(pg_url, "SELECT s AS scan FROM scans s")
    assert named[0]["scan"]["id"] == 1 and named[0]["scan"]["status"] == "completed"


SQLITE_VALUES = (
    "SELECT SUM(total_size) AS total, 0.1 AS float, 1e999 AS inf, -1e999 AS ninf,"
    " x'00ff' AS bytes, 'x' AS text, NULL AS missing, json_object('a', 1) AS doc,"
    " started_at, 1 AS a, 2 AS a FROM latest_results JOIN scans ON scans.id = 1"
    " WHERE relpath = 'a.om'"
)


def test_sql_every_sqlite_value_has_one_json_and_one_csv_form(
    sqlite_url: str, tmp_path: Path
) -> None:
    scan_one_model(tmp_path, sqlite_url)
    (row,) = sql_json(sqlite_url, SQLITE_VALUES)
    started = row.pop("started_at")
    assert isinstance(started, str) and started.startswith("20")  # SQLite: text
    assert row == {
        "total": 2000,
        "float": 0.1,
        "inf": "Infinity",
        "ninf": "-Infinity",
        "bytes": "\\x00ff",
        "text": "x",
        "missing": None,
        "doc": '{"a":1}',  # SQLite has no JSON type: JSON text is text
        "a": 1,
        "a_2": 2,
    }
    _, out = run("sql", SQLITE_VALUES, "--db", sqlite_url, "--format", "csv")
    header, values = list(csv.reader(io.StringIO(out)))
    assert header[:8] == ["total", "float", "inf", "ninf", "bytes", "text", "missing", "doc"]
    assert header[8:] == ["started_at", "a", "a_2"]
    assert values[:8] == ["2000", "0.1", "Infinity", "-Infinity", "\\x00ff", "x", "", '{"a":1}']
    assert values[9:] == ["1", "2"]


def test_sql_time_limit_stops_a_statement_that_never_ends(db_url: str) -> None:
    assert run("db", "upgrade", "--db", db_url)[0] == 0
    endless = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT COUNT(*) FROM n"
    )
    sleeper = "SELECT pg_sleep(60) AS omscan_sleeper"
    for statement in [endless] if db_url.startswith("sqlite") else [endless, sleeper]:
        code, out = run("sql", statement, "--db", db_url, "--timeout", "0.5")
        assert code == 3, out
        assert out == f"omscan: {TimeLimitExceeded(0.5)} (--timeout)\n"
    if not db_url.startswith("sqlite"):
        still = sql_json(db_url, "SELECT 1 AS one")  # the server stopped it: nothing left
        assert still == [{"one": 1}]
    for bad in ("0", "-5", "nan", "inf", "soon"):
        assert run("sql", "SELECT 1", "--db", db_url, "--timeout", bad)[0] == 2


def test_report_repo_is_plain_text_not_a_pattern(tmp_path: Path, db_url: str) -> None:
    for name in ("team_a", "teamXa", "100%models", "Team_A"):
        write_model(tmp_path / name / "m.om", 10, 10)
        assert run("scan", str(tmp_path / name), "--db", db_url)[0] == 0

    def repos(part: str) -> list[str]:
        code, out = run("report", "--db", db_url, "--format", "json", "--repo", part)
        assert code == 0, out
        return sorted(Path(r["repository"]).name for r in json.loads(out))

    assert repos("team_a") == ["team_a"]  # _ is not "any character"
    assert repos("%") == ["100%models"]  # % is not "anything"
    assert repos("Team_") == ["Team_A"]  # case counts, on SQLite too
    assert repos("") == sorted(["team_a", "teamXa", "100%models", "Team_A"])


def test_diff_csv_and_markdown_are_the_table_alone(two_scans: tuple[str, Path]) -> None:
    db, _ = two_scans
    for fmt in ("csv", "markdown"):
        result = CliRunner().invoke(cli, ["diff", "--db", db, "--format", fmt])
        assert result.exit_code == 0
        assert result.stdout.startswith(("change,", "| change |")), result.stdout
        assert result.stderr == "scan 1 → scan 2: 3 change(s)\n"
    result = CliRunner().invoke(cli, ["diff", "1", "1", "--db", db, "--format", "csv"])
    assert result.stdout == "change,repository,relpath,before,after,delta_total,growth\n"
    result = CliRunner().invoke(cli, ["diff", "--db", db])
    assert result.stdout.startswith("scan 1 → scan 2: 3 change(s)\nchange ")


def test_tables_escape_terminal_characters_and_never_cut(tmp_path: Path, db_url: str) -> None:
    deep = "/".join(["a-rather-long-directory-name"] * 12)  # 347 characters
    hostile = "evil\x1b]0;pwned\x07\x1b[2J\u202egnp.om"
    write_model(tmp_path / "repo" / deep / "model.om", 10, 10)
    write_model(tmp_path / "repo" / hostile, 10, 10)
    assert run("scan", str(tmp_path / "repo"), "--db", db_url)[0] == 0
    for fmt in ("table", "markdown"):
        code, out = run("report", "--db", db_url, "--format", fmt)
        assert code == 0
        assert f"{deep}/model.om" in out  # whole, however wide
        assert "evil\\x1b]0;pwned\\x07\\x1b[2J\\u202egnp.om" in out
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    code, out = run("report", "--db", db_url, "--format", "csv")
    assert hostile in out  # CSV and JSON are exact
    code, out = run("sql", "SELECT relpath FROM model_files", "--db", db_url)
    assert "\x1b" not in out and "evil\\x1b" in out


def test_status_csv_and_markdown_are_the_table_alone(tmp_path: Path, pg_url: str) -> None:
    write_model(tmp_path / "repo" / "a.om", 10, 10)
    assert run("scan", "--distributed", str(tmp_path / "repo"), "--db", pg_url)[0] == 0
    header = {
        "csv": "host,worker,pid,state,claimed,done,failed,late,rate\n",
        "markdown": "| host |",
    }
    for fmt, start in header.items():
        result = CliRunner().invoke(cli, ["status", "--db", pg_url, "--format", fmt])
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(start), result.stdout
        assert result.stderr.startswith("scan 1 running")  # with what it waits for
        assert "no live worker" in result.stderr and "pid" not in result.stderr
    result = CliRunner().invoke(cli, ["status", "--db", pg_url, "--format", "json"])
    assert json.loads(result.stdout)["queued"] == 1
    result = CliRunner().invoke(cli, ["status", "--db", pg_url])
    assert result.stdout.startswith("scan 1 running") and result.stderr == ""
