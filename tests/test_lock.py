"""The scan lock belongs to the database, not to the name it was reached by: a symlinked
name of the same SQLite file meets it, a hard-linked one is refused outright (SQLite's
log goes by name), and a refused scan is told who holds the lock on both databases."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from scanner.store import StoreError, open_store
from scanner.store.lock import scan_lock

from .helpers import many_models

HOLDER = f"(pid {os.getpid()} on {socket.gethostname()})"


def scan(root: Path, url: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "scanner", "scan", str(root), "--db", url, "--backend", "om"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def symlinked(db: Path) -> Path:
    other = db.parent / "elsewhere" / "link.db"
    other.parent.mkdir(exist_ok=True)
    os.symlink(db, other)
    return other


def integrity(db: Path) -> str:
    with closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.mark.asyncio
async def test_a_scan_through_a_symlinked_name_of_the_file_is_refused_naming_the_holder(
    tmp_path: Path,
) -> None:
    many_models(tmp_path / "repo", 5)
    db = tmp_path / "omscan.db"
    async with open_store(f"sqlite:///{db}") as store:
        other = symlinked(db)
        async with scan_lock(store):
            refused = scan(tmp_path / "repo", f"sqlite:///{other}")
            _, err = refused.communicate(timeout=60)
            assert refused.returncode == 3
            assert err.count("\n") == 1 and "another scan is running" in err and HOLDER in err
            with pytest.raises(StoreError, match="another scan is running"):  # this process too
                async with scan_lock(store):
                    pass
    assert not os.path.exists(f"{db}.scan-lock") and not os.path.exists(f"{other}.scan-lock")
    done = scan(tmp_path / "repo", f"sqlite:///{other}")
    assert done.wait(timeout=60) == 0  # the lock went with its holder
    assert integrity(db) == "ok"


def test_a_scan_started_through_the_other_name_mid_scan_is_refused(tmp_path: Path) -> None:
    many_models(tmp_path / "repo", 3000)
    db = tmp_path / "omscan.db"
    first = scan(tmp_path / "repo", f"sqlite:///{db}")
    deadline = time.monotonic() + 60
    while not (db.exists() and running(db)):
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    first.send_signal(signal.SIGSTOP)  # held mid-scan, its lock with it
    try:
        assert first.poll() is None
        second = scan(tmp_path / "repo", f"sqlite:///{symlinked(db)}")
        _, err = second.communicate(timeout=60)
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=120) == 0, "the first scan went on"
    assert second.returncode == 3 and "another scan is running" in err
    assert integrity(db) == "ok"
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT id, status FROM scans").fetchall() == [(1, "completed")]
        assert conn.execute("SELECT COUNT(*) FROM results").fetchone() == (3000,)


def running(db: Path) -> bool:
    with closing(sqlite3.connect(db)) as conn:
        try:
            return (
                conn.execute("SELECT 1 FROM scans WHERE status = 'running'").fetchone() is not None
            )
        except sqlite3.OperationalError:  # no schema yet
            return False


def test_a_database_file_with_a_second_hard_link_is_refused_by_every_name(
    tmp_path: Path,
) -> None:
    many_models(tmp_path / "repo", 5)
    db = tmp_path / "omscan.db"
    assert scan(tmp_path / "repo", f"sqlite:///{db}").wait(timeout=60) == 0
    other = tmp_path / "elsewhere.db"
    os.link(db, other)
    before = sorted(os.listdir(tmp_path))
    for name in (db, other):
        refused = scan(tmp_path / "repo", f"sqlite:///{name}")
        _, err = refused.communicate(timeout=60)
        assert refused.returncode == 3
        assert err.count("\n") == 1 and "has 2 names (hard links)" in err
    assert sorted(os.listdir(tmp_path)) == before  # not even a log opened beside it
    os.unlink(other)
    assert integrity(db) == "ok"
    assert scan(tmp_path / "repo", f"sqlite:///{db}").wait(timeout=60) == 0


@pytest.mark.asyncio
async def test_a_refused_postgresql_scan_names_the_holder(tmp_path: Path, pg_url: str) -> None:
    many_models(tmp_path / "repo", 5)
    async with open_store(pg_url) as store, scan_lock(store):
        refused = scan(tmp_path / "repo", pg_url)
        _, err = refused.communicate(timeout=60)
        assert refused.returncode == 3
        assert err.count("\n") == 1 and "another scan is running" in err and HOLDER in err
    done = scan(tmp_path / "repo", pg_url)
    assert done.wait(timeout=60) == 0
