"""The output option bundle: every command that prints data takes every format, and the
machine formats (JSON, CSV, Markdown) put the data alone on stdout."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from scanner.cli import cli

from .helpers import write_model

FORMATS = ["table", "json", "csv", "markdown"]
GiB = 1 << 30


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """Two scans of a small repository (one model grows, one is broken) in SQLite."""
    tmp = tmp_path_factory.mktemp("formats")
    root, db = tmp / "repo", f"sqlite:///{tmp / 'omscan.db'}"
    write_model(root / "a.om", 1000, 1000, soc="Ascend310P3")
    write_model(root / "b.om", GiB, GiB, soc="Ascend310P3")
    (root / "broken.om").write_bytes(b"IMOD" + bytes(300))
    assert invoke("scan", str(root), "--db", db).exit_code == 1
    write_model(root / "a.om", 2000, 1000, soc="Ascend310P3")
    assert invoke("scan", str(root), "--db", db).exit_code == 1
    return db, root


# command -> (its arguments, given the database and the repository; its CSV header)
COMMANDS: dict[str, tuple[Callable[[str, Path], list[str]], str]] = {
    "scan": (
        lambda db, root: ["scan", str(root), "--db", db],
        "scan_id,status,seconds,files_seen,files_queried,files_unchanged,files_failed,"
        "files_removed,bytes_read,statuses,peak_budget_bytes",
    ),
    "query": (
        lambda db, root: ["query", str(root / "a.om"), str(root / "broken.om")],
        "path,status,ret,ret_name,work_size,weight_size,dynamic,dynamic_reason,format,"
        "bytes_read,error",
    ),
    "report": (
        lambda db, root: ["report", "--db", db],
        "repository,relpath,status,ret,ret_name,work_size,weight_size,total_size",
    ),
    "scans": (
        lambda db, root: ["scans", "--db", db],
        "id,started_at,finished_at,status,host,backend,seen,failed",
    ),
    "history": (
        lambda db, root: ["history", "a.om", "--db", db],
        "scan_id,started_at,relpath,status,ret,work_size,weight_size,carried",
    ),
    "diff": (
        lambda db, root: ["diff", "1", "2", "--db", db],
        "change,repository,relpath,before,after,delta_total,growth",
    ),
    "sql": (
        lambda db, root: ["sql", "SELECT relpath, work_size FROM latest_results", "--db", db],
        "relpath,work_size",
    ),
    "plan": (
        lambda db, root: ["plan", "--db", db],
        "repository,relpath,status,work_size,weight_size,total_size,device,device_memory,"
        "fits,copies,note",
    ),
    "plan --pack": (
        lambda db, root: ["plan", "--db", db, "--pack", "1", "--device-memory", "8GiB"],
        "device,repository,relpath,copies,total_size,note",
    ),
}


def check_machine_output(fmt: str, stdout: str, header: str) -> None:
    """The data alone: JSON that parses; CSV of the header and rows as long as it;
    a Markdown pipe table."""
    if fmt == "json":
        json.loads(stdout)
        return
    assert stdout.endswith("\n") and stdout.strip(), stdout
    lines = stdout.removesuffix("\n").split("\n")
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(stdout)))
        assert ",".join(rows[0]).startswith(header), stdout
        assert all(len(row) == len(rows[0]) for row in rows), stdout
        return
    assert fmt == "markdown"
    columns = lines[0].count(" | ") + 1
    assert lines[0].startswith("| " + " | ".join(header.split(",")) + " |"), stdout
    assert lines[1] == "|" + "---|" * columns, stdout
    rows = [lines[0], *lines[2:]]
    assert all(line.startswith("| ") and line.endswith(" |") for line in rows), stdout
    assert all(line.count(" | ") == columns - 1 for line in rows), stdout


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_data_command_takes_every_format(
    scanned: tuple[str, Path], command: str, fmt: str
) -> None:
    db, root = scanned
    arguments, header = COMMANDS[command]
    result = invoke(*arguments(db, root), "--format", fmt)
    assert result.exit_code in (0, 1), result.output
    if fmt == "table":
        assert result.stdout.strip() and result.stderr == "", result.output
    else:
        check_machine_output(fmt, result.stdout, header)


def test_csv_rows_are_the_json_rows(scanned: tuple[str, Path]) -> None:
    db, root = scanned
    for command in ("query", "report", "scans", "history", "sql", "plan"):
        arguments = COMMANDS[command][0](db, root)
        as_json = json.loads(invoke(*arguments, "--format", "json").stdout)
        as_csv = list(csv.DictReader(io.StringIO(invoke(*arguments, "--format", "csv").stdout)))
        assert len(as_csv) == len(as_json) > 0, command
        assert [r["status"] for r in as_csv if "status" in r] == [
            r["status"] for r in as_json if "status" in r
        ]


PROSE = {
    # command -> what it says about the data: above the table, on stderr otherwise
    "diff": "scan 1 → scan 2: 1 change(s)",
    "plan": "3 model(s): 2 fit, 0 do not, 1 not planned",
    "plan --pack": "1 x 8GiB (8.0 GiB usable each)",
}


@pytest.mark.parametrize("command", sorted(PROSE))
def test_prose_goes_to_stderr_beside_csv_and_markdown(
    scanned: tuple[str, Path], command: str
) -> None:
    db, root = scanned
    arguments = COMMANDS[command][0](db, root)
    table = invoke(*arguments)
    assert table.stdout.startswith(PROSE[command]) and table.stderr == ""
    for fmt in ("csv", "markdown"):
        result = invoke(*arguments, "--format", fmt)
        assert result.stderr.startswith(PROSE[command]), result.stderr
        assert PROSE[command] not in result.stdout
    result = invoke(*arguments, "--format", "json")
    assert result.stderr == "" and PROSE[command] not in result.stdout


@pytest.mark.parametrize("command", ["scan", "query"])
def test_json_stays_an_alias_of_format_json(scanned: tuple[str, Path], command: str) -> None:
    db, root = scanned
    arguments = COMMANDS[command][0](db, root)

    def data(*extra: str) -> Any:
        payload = json.loads(invoke(*arguments, *extra).stdout)
        if isinstance(payload, dict):  # a scan: its own id and time
            payload.pop("scan_id"), payload.pop("seconds")
        return payload

    assert data("--json") == data("--format", "json") == data("--json", "--format", "json")
    result = invoke(*arguments, "--json", "--format", "csv")
    assert result.exit_code == 2 and "--json is --format json" in result.stderr


def test_one_scan_reads_as_lines_for_people_and_one_row_for_programs(
    scanned: tuple[str, Path],
) -> None:
    db, root = scanned
    table = invoke("scan", str(root), "--db", db)
    assert "  files seen       3" in table.stdout
    rows = list(
        csv.DictReader(io.StringIO(invoke("scan", str(root), "--db", db, "--format", "csv").stdout))
    )
    assert [(r["status"], r["files_seen"], r["files_failed"]) for r in rows] == [
        ("completed", "3", "1")
    ]
    assert json.loads(rows[0]["statuses"]) == {"ok": 2, "failed": 1}


@pytest.mark.parametrize("fmt", FORMATS)
def test_status_and_worker_take_every_format(tmp_path: Path, pg_url: str, fmt: str) -> None:
    write_model(tmp_path / "repo" / "a.om", 10, 10)
    queued = invoke(
        "scan", "--distributed", str(tmp_path / "repo"), "--db", pg_url, "--format", fmt
    )
    assert queued.exit_code == 0, queued.output
    status = invoke("status", "--db", pg_url, "--format", fmt)
    worker = invoke(
        "worker", "--db", pg_url, "--backend", "om", "--exit-when-idle", "--poll-seconds", "0.1",
        "--format", fmt,
    )  # fmt: skip
    assert status.exit_code == 0 and worker.exit_code == 0, (status.output, worker.output)
    if fmt == "table":
        assert "files queued for workers" in queued.stdout
        assert status.stdout.startswith("scan 1 running") and status.stderr == ""
        assert "1 files done" in worker.stdout
        return
    check_machine_output(fmt, queued.stdout, "scan_id,status,seconds,files_seen")
    check_machine_output(fmt, status.stdout, "host,worker,pid,state,claimed")
    check_machine_output(fmt, worker.stdout, "worker_id,host,seconds,files_done")
    if fmt == "json":
        assert json.loads(worker.stdout)["files_done"] == 1
        assert status.stderr == ""
    else:
        assert status.stderr.startswith("scan 1 running")
