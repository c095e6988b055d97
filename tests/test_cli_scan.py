"""`omscan scan` as a user runs it: output, exit codes, backend choice, bad input."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from scanner.demo import make_demo

from .acl_double import install
from .helpers import run


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    make_demo(tmp_path / "models")
    return tmp_path / "models"


def test_scan_demo_into_both_databases(demo: Path, db_url: str) -> None:
    code, out = run("scan", str(demo), "--db", db_url, "--json")
    assert code == 1  # the demo holds broken models on purpose
    summary = json.loads(out)
    assert summary["status"] == "completed"
    assert summary["files_seen"] == 10
    assert summary["statuses"] == {"ok": 7, "failed": 2, "lfs_pointer": 1}
    code, out = run("scan", str(demo), "--db", db_url)
    assert code == 1
    assert "completed" in out and "unchanged        10" in out


def test_scan_without_failures_exits_0(tmp_path: Path, sqlite_url: str) -> None:
    make_demo(tmp_path / "models")
    for broken in (tmp_path / "models/broken").iterdir():
        broken.unlink()
    code, out = run("scan", str(tmp_path / "models"), "--db", sqlite_url)
    assert code == 0, out


def test_default_database_is_omscan_db_in_the_working_directory(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OMSCAN_DB", raising=False)
    run("scan", str(demo))
    assert (tmp_path / "omscan.db").is_file()


def test_unreachable_database_exits_3_with_one_line(demo: Path) -> None:
    code, out = run("scan", str(demo), "--db", "postgresql://me:secret@127.0.0.1:1/db")
    assert code == 3
    assert out.startswith("omscan: database postgresql://me:***@127.0.0.1:1/db")
    assert out.count("\n") == 1 and "secret" not in out


@pytest.mark.parametrize(
    "args",
    [
        ["scan", "/no/such/dir"],
        ["scan"],
        ["scan", ".", "--backend", "gpu"],
        ["scan", ".", "--max-inflight-bytes", "lots"],
        ["scan", ".", "--devices", "a,b"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert run(*args)[0] == 2


def test_acl_backend_without_pyacl_is_a_clear_error(demo: Path, sqlite_url: str) -> None:
    code, out = run("scan", str(demo), "--db", sqlite_url, "--backend", "acl")
    assert code == 3
    assert "needs pyACL" in out


def test_auto_picks_acl_when_devices_exist_and_verify_agrees(
    demo: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, devices=2)
    code, out = run("scan", str(demo), "--db", sqlite_url, "--json", "--verify")
    assert code == 1
    summary = json.loads(out)
    assert summary["statuses"] == {"ok": 7, "failed": 2, "lfs_pointer": 1}
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        backends = {
            row[0] for row in conn.execute("SELECT backend FROM results WHERE ret IS NOT NULL")
        }
        devices = {
            row[0] for row in conn.execute("SELECT npu_device FROM results WHERE ret IS NOT NULL")
        }
        warnings = [row[0] for row in conn.execute("SELECT warnings FROM results") if row[0]]
        (scan_backend,) = conn.execute("SELECT backend FROM scans").fetchone()
    assert backends == {"acl"} and devices <= {0, 1}
    assert scan_backend == "acl+verify"
    assert not any("verify:" in w for w in warnings)
