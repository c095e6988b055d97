"""Real faults injected into real scans (`python -m scanner scan` subprocesses):
the scanner killed, PostgreSQL going away, SQLite locked or out of disk, files
changing while read, directories that cannot be read. After each: nothing stored
is lost, duplicated, half-written or mis-sized, and the next run picks up.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing, nullcontext, suppress
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from scanner.backends import acl as acl_backend
from scanner.backends import answer as om_answer
from scanner.backends import shm
from scanner.backends.acl import AclBackend
from scanner.backends.om import OmBackend
from scanner.om import source as om_source
from scanner.om.writer import ModelParams, build_om, spec_for
from scanner.scan.local import ScanOptions, run_scan
from scanner.sources.local import LocalFiles
from scanner.store import open_store

from .acl_double import install
from .helpers import (
    MANY_WEIGHT,
    MANY_WORK,
    TIMEOUT,
    denying,
    many_models,
    omscan,
    omscan_command,
    one_line_error,
    query,
    scan_statuses,
    start_omscan,
    stored,
    unprivileged_python,
    wait_for,
    wait_for_results,
)
from .tcp_proxy import Proxy

COUNT = 8000  # enough that a scan is still running when the fault lands
WORK, WEIGHT = MANY_WORK, MANY_WEIGHT


# --- helpers ---------------------------------------------------------------------


def scan_command(root: Path, url: str, *extra: str) -> list[str]:
    return omscan_command("scan", str(root), "--db", url, *extra)


def start_scan(root: Path, url: str) -> subprocess.Popen[str]:
    """An `omscan scan` running in the background, its output captured."""
    return start_omscan("scan", str(root), "--db", url)


def assert_consistent(url: str) -> None:
    """No duplicate result, no half-written batch, no wrong answer.

    A file row and its result are written in one transaction: a file whose
    ``last_scan_id`` is S must have its result in scan S.
    """
    duplicates = query(
        url, "SELECT scan_id, file_id FROM results GROUP BY scan_id, file_id HAVING COUNT(*) > 1"
    )
    assert duplicates == []
    orphans = query(
        url,
        "SELECT f.id FROM model_files f WHERE NOT EXISTS (SELECT 1 FROM results r"
        " WHERE r.file_id = f.id AND r.scan_id = f.last_scan_id)",
    )
    assert orphans == []
    wrong = query(
        url,
        f"SELECT id FROM results WHERE NOT (status = 'ok' AND work_size = {WORK}"
        f" AND weight_size = {WEIGHT} AND bytes_read > 0)",
    )
    assert wrong == []


def snapshot(url: str) -> list[tuple[Any, ...]]:
    return query(url, "SELECT * FROM results ORDER BY id")


# --- 1. the scanner killed -------------------------------------------------------


def test_sigkill_mid_scan_loses_nothing_and_the_next_run_carries_it(
    tmp_path: Path, db_url: str
) -> None:
    """SIGKILL leaves no chance to clean up: what was committed stays, once."""
    root = tmp_path / "repo"
    many_models(root, COUNT)
    process = start_scan(root, db_url)
    wait_for_results(db_url, 1, process)
    process.kill()
    process.communicate(timeout=TIMEOUT)
    assert process.returncode == -signal.SIGKILL
    kept = stored(db_url, 1)
    assert 0 < kept < COUNT
    assert scan_statuses(db_url) == [(1, "running")]  # nobody was left to close it
    listed = omscan("scans", "--db", db_url, "--format", "json")
    assert [s["status"] for s in json.loads(listed.stdout)] == ["running"]
    assert_consistent(db_url)

    again = omscan("scan", str(root), "--db", db_url, "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["files_unchanged"] == kept  # finished files are not redone
    assert summary["files_queried"] == COUNT - kept
    ((per_model,),) = query(db_url, "SELECT DISTINCT bytes_read FROM results")
    assert summary["bytes_read"] == (COUNT - kept) * per_model
    # The lock proves the killed scan is dead: the next scan closes it as interrupted.
    assert scan_statuses(db_url) == [(1, "interrupted"), (2, "completed")]
    assert stored(db_url, 1) == kept and stored(db_url, 2) == COUNT
    (carried,) = query(db_url, "SELECT COUNT(*) FROM results WHERE scan_id = 2 AND carried")[0]
    assert carried == kept
    assert_consistent(db_url)
    listed = omscan("scans", "--db", db_url, "--format", "json")
    assert [s["status"] for s in json.loads(listed.stdout)] == ["interrupted", "completed"]


# --- 2. PostgreSQL going away ----------------------------------------------------


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    relay = Proxy()
    relay.start()
    yield relay
    relay.stop()


def _scan_before(tmp_path: Path, url: str) -> list[tuple[Any, ...]]:
    """A completed scan whose results must survive the fault untouched."""
    many_models(tmp_path / "before", 300)
    done = omscan("scan", str(tmp_path / "before"), "--db", url)
    assert done.returncode == 0, done.stderr
    return snapshot(url)


def _check_after_fault(
    process: subprocess.Popen[str], url: str, root: Path, before: list[tuple[Any, ...]]
) -> None:
    """Either a clear error and exit 3, or a finished scan; never a hang; the earlier
    scan intact; every batch whole; and the next run completes the work."""
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode in (0, 3), err
    if process.returncode == 3:
        one_line_error(err)  # the failed write, or the lock watch noticing first
        assert "omscan: database postgresql://" in err or "lost the scan lock" in err
    else:
        assert stored(url, 2) == COUNT
    assert [r for r in snapshot(url) if r[1] == 1] == before
    assert_consistent(url)
    again = omscan("scan", str(root), "--db", url, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["files_seen"] == COUNT
    (present,) = query(
        url, f"SELECT COUNT(*) FROM latest_results WHERE repository = '{root}' AND status = 'ok'"
    )[0]
    assert present == COUNT
    assert_consistent(url)


def test_postgres_backends_terminated_mid_scan(tmp_path: Path, pg_url: str) -> None:
    before = _scan_before(tmp_path, pg_url)
    root = tmp_path / "repo"
    many_models(root, COUNT)
    process = start_scan(root, pg_url)
    terminated = 0
    with psycopg.connect(pg_url, autocommit=True) as admin:
        for _ in range(3):  # a few times, each after more results: one lands in a batch
            progress = wait_for_results(pg_url, 2, process)  # also: still running
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
            terminated += sum(bool(ok) for (ok,) in rows)
            wait_for(lambda seen=progress: process.poll() is not None or stored(pg_url, 2) > seen)
            if process.poll() is not None:
                break
    assert terminated > 0  # the fault landed on the running scan
    _check_after_fault(process, pg_url, root, before)


def test_postgres_server_stopped_and_started_again_mid_scan(
    tmp_path: Path, pg_url: str, proxy: Proxy
) -> None:
    url = make_url(pg_url).set(port=proxy.port).render_as_string(hide_password=False)
    before = _scan_before(tmp_path, url)
    root = tmp_path / "repo"
    many_models(root, COUNT)
    process = start_scan(root, url)
    wait_for_results(pg_url, 2, process)
    assert proxy.crash() > 0  # the scan's connections were reset
    # Down until the scan has tried to reach it again (or given up).
    wait_for(lambda: proxy.refused > 0 or process.poll() is not None, what="a reconnection")
    proxy.restart()
    _check_after_fault(process, url, root, before)


def test_postgres_scan_that_loses_its_lock_stops_instead_of_running_unguarded(
    tmp_path: Path, pg_url: str
) -> None:
    """Only the session holding the scan lock dies (terminated, an idle-session timeout):
    the scan must not go on unguarded, alongside a second one."""
    root = tmp_path / "repo"
    many_models(root, COUNT)
    process = start_scan(root, pg_url)
    wait_for_results(pg_url, 1, process)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        (killed,) = admin.execute(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory'"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone() or (0,)
    assert killed == 1
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 3, err
    one_line_error(err)
    assert "lost the scan lock" in err
    assert scan_statuses(pg_url) == [(1, "failed")]
    assert_consistent(pg_url)
    again = omscan("scan", str(root), "--db", pg_url, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["files_unchanged"] == stored(pg_url, 1)
    assert_consistent(pg_url)


def test_postgres_connection_that_stops_answering_is_an_error_not_a_hang(
    tmp_path: Path, pg_url: str, proxy: Proxy
) -> None:
    url = make_url(pg_url).set(port=proxy.port, query={"command_timeout": "3"})
    root = tmp_path / "repo"
    many_models(root, COUNT)
    process = start_scan(root, url.render_as_string(hide_password=False))
    wait_for_results(pg_url, 1, process)
    assert proxy.freeze() > 0
    # A few 3 s command timeouts, not TCP's minutes: communicate() fails past TIMEOUT.
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 3, err
    one_line_error(err)
    assert "no answer from the server in time" in err or "lost the scan lock" in err
    assert_consistent(pg_url)
    again = omscan("scan", str(root), "--db", pg_url, "--json")
    assert again.returncode == 0, again.stderr
    assert_consistent(pg_url)


def test_unreachable_postgres_is_one_line_and_exit_3_at_once(tmp_path: Path) -> None:
    many_models(tmp_path / "repo", 3)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # At once: no retrying an address that refuses (omscan() fails past its timeout).
    result = omscan(
        "scan", str(tmp_path / "repo"), "--db", f"postgresql://u@127.0.0.1:{port}/x", timeout=30
    )
    assert result.returncode == 3
    one_line_error(result.stderr)
    assert result.stdout == ""


# --- 3. SQLite locked, disk full -------------------------------------------------


def busy_waiting(process: subprocess.Popen[str]) -> bool:
    """Whether a thread of ``process`` sleeps in SQLite's busy handler, i.e. waits for a
    lock (its only sleeping thread: the event loop waits in epoll, idle workers on a
    futex). Fails if the process has ended."""
    assert process.poll() is None, process.communicate()
    for task in Path(f"/proc/{process.pid}/task").iterdir():
        with suppress(FileNotFoundError):
            if (task / "wchan").read_text() == "hrtimer_nanosleep":
                return True
    return False


def integrity(db: Path) -> str:
    with closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def test_sqlite_write_lock_held_elsewhere_waits_then_fails_clearly(tmp_path: Path) -> None:
    root, db = tmp_path / "repo", tmp_path / "omscan.db"
    many_models(root, 50)
    assert omscan("scan", str(root), "--db", f"sqlite:///{db}").returncode == 0
    before = snapshot(f"sqlite:///{db}")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    process = start_scan(root, f"sqlite:///{db}?timeout=5")
    wait_for(lambda: busy_waiting(process), what="the scan to wait for the lock")
    _, err = process.communicate(timeout=TIMEOUT)  # it gives up while the lock is held
    holder.execute("ROLLBACK")
    holder.close()
    assert process.returncode == 3
    one_line_error(err)
    assert "database is locked" in err
    assert integrity(db) == "ok"
    assert snapshot(f"sqlite:///{db}") == before


def test_sqlite_write_lock_released_in_time_lets_the_scan_finish(tmp_path: Path) -> None:
    root, db = tmp_path / "repo", tmp_path / "omscan.db"
    many_models(root, 50)
    assert omscan("scan", str(root), "--db", f"sqlite:///{db}").returncode == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    process = start_scan(root, f"sqlite:///{db}")
    wait_for(lambda: busy_waiting(process), what="the scan to wait for the lock")
    holder.execute("ROLLBACK")
    holder.close()
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err
    assert scan_statuses(f"sqlite:///{db}") == [(1, "completed"), (2, "completed")]
    assert integrity(db) == "ok"


DISK_BYTES = 1 << 20


def _limit_file_size() -> None:
    """In the child: files may not grow past DISK_BYTES (EFBIG instead of SIGXFSZ)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (DISK_BYTES, DISK_BYTES))


@pytest.fixture(params=["tmpfs", "file_size_limit"])
def small_disk(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Path, Callable[[], None] | None]]:
    """A 1 MiB filesystem (tmpfs; where mounting is not allowed, the limit below), or a
    1 MiB file-size limit on the scan process: either way, writing runs out of room."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(folder)]
    mounted = (
        request.param == "tmpfs"
        and subprocess.run(mount, capture_output=True, check=False).returncode == 0
    )
    try:
        yield folder, None if mounted else _limit_file_size
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def test_disk_full_while_writing_is_a_clear_error_and_leaves_sqlite_intact(
    tmp_path: Path, small_disk: tuple[Path, Callable[[], None] | None]
) -> None:
    folder, limit = small_disk
    db = folder / "omscan.db"
    url = f"sqlite:///{db}"
    many_models(tmp_path / "small", 100)
    many_models(tmp_path / "big", COUNT)

    def scan(root: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            scan_command(root, url),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            preexec_fn=limit,
            check=False,
        )

    assert scan(tmp_path / "small").returncode == 0
    before = snapshot(url)
    full = scan(tmp_path / "big")
    assert full.returncode == 3, full.stdout
    # the scan is closed as failed (or, if even that write found no room, left
    # running for the next scan to close as interrupted)
    assert scan_statuses(url)[1][1] in ("failed", "running")
    one_line_error(full.stderr)
    assert "database sqlite:///" in full.stderr
    assert integrity(db) == "ok"
    assert [r for r in snapshot(url) if r[1] == 1] == before
    assert_consistent(url)
    assert omscan("scans", "--db", url).returncode == 0  # still readable


# --- 4. a file changing while it is read -------------------------------------------

NEW_WORK = 777_777
SAME_SIZE_WORK = 2000  # encodes to as many bytes as 1000
# What the new file answers, by how it came (the writer's parameters below).
NEW_ANSWER = {
    "rewritten": NEW_WORK,
    "replaced": NEW_WORK,
    "replaced_same_size_and_mtime": SAME_SIZE_WORK,
}


def _new_model(same_size: bool) -> bytes:
    memory = SAME_SIZE_WORK if same_size else NEW_WORK
    return build_om(spec_for(ModelParams(memory_size=memory, weight_size=WEIGHT, kernels=0)))


def _change(target: Path, how: str) -> None:
    """Change ``target`` the way repositories change under a scan."""
    old = target.stat()
    if how == "truncated":
        os.truncate(target, old.st_size // 2)
    elif how == "removed":
        target.unlink()
    elif how == "rewritten":  # same inode, new bytes, new length
        target.write_bytes(_new_model(same_size=False))
    else:  # replaced by a rename, as `git checkout` or rsync do
        fresh = target.with_suffix(".tmp")
        fresh.write_bytes(_new_model(same_size=how == "replaced_same_size_and_mtime"))
        if how == "replaced_same_size_and_mtime":  # only the inode tells
            os.utime(fresh, ns=(old.st_atime_ns, old.st_mtime_ns))
        os.replace(fresh, target)


def _fd_is(fd: int, target: Path) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == str(target)
    except OSError:
        return False


def _interpose(
    monkeypatch: pytest.MonkeyPatch, backend: str, when: str, target: Path, how: str
) -> list[bool]:
    """Change ``target`` once, at the chosen moment of its read; returns the flag."""
    changed: list[bool] = []

    def change_once() -> None:
        if not changed:
            changed.append(True)
            _change(target, how)

    if when == "after_walk":  # the walk has its stat; the read has not started
        module: Any = om_answer if backend == "om" else acl_backend
        name = "answer_model" if backend == "om" else "load_model"
        real = getattr(module, name)

        def wrapper(first: Any, *args: Any, **kwargs: Any) -> Any:
            if Path(getattr(first, "path", first)) == target:
                change_once()
            return real(first, *args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)
    elif backend == "om":  # the file is open and its first byte range read
        real_read = om_source.FileSource.read

        def read(self: om_source.FileSource, offset: int, length: int) -> bytes:
            data = real_read(self, offset, length)
            if _fd_is(self._fd, target):
                change_once()
            return data

        monkeypatch.setattr(om_source.FileSource, "read", read)
    else:  # acl: every byte read into shared memory, the file not yet checked
        real_fstat = os.fstat

        def fstat(fd: int) -> os.stat_result:
            if _fd_is(fd, target):
                change_once()
            return real_fstat(fd)

        monkeypatch.setattr(shm.os, "fstat", fstat)
    return changed


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["om", "acl"])
@pytest.mark.parametrize("when", ["after_walk", "while_reading"])
@pytest.mark.parametrize(
    "how", ["truncated", "removed", "rewritten", "replaced", "replaced_same_size_and_mtime"]
)
async def test_file_changed_while_read_is_recorded_never_mis_sized(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, when: str, backend: str
) -> None:
    """Stored: the new file's answer with the new file's stat, or the old file's answer
    with the old stat (the bytes the walk saw), or a recorded error (``changed``, or
    ``unreadable`` for a file gone before it was opened) — never a mix."""
    root = tmp_path / "repo"
    many_models(root, 3)
    target = root / "d1" / "m1.om"
    old = target.stat()
    if backend == "acl":
        install(monkeypatch, devices=1)
    changed = _interpose(monkeypatch, backend, when, target, how)

    def open_backend() -> Any:
        return (
            AclBackend(LocalFiles(), [0], timeout=30)
            if backend == "acl"
            else nullcontext(OmBackend(LocalFiles()))
        )

    url = f"sqlite:///{tmp_path / 'omscan.db'}"
    async with open_store(url) as store:
        async with open_backend() as chosen:
            summary = await run_scan(store, chosen, ScanOptions(roots=[str(root)]))
        rows = await store.fetch(
            "SELECT status, error, work_size, weight_size, file_size, file_inode"
            " FROM results WHERE scan_id = 1 AND file_id ="
            " (SELECT id FROM model_files WHERE relpath = 'd1/m1.om')"
        )
    assert changed and summary.status == "completed"
    (row,) = rows
    answer = (row["status"], row["work_size"], row["file_size"], row["file_inode"])
    allowed = {("ok", WORK, old.st_size, old.st_ino)}
    if how in NEW_ANSWER and (now := target.stat()).st_size:
        allowed.add(("ok", NEW_ANSWER[how], now.st_size, now.st_ino))
    if row["status"] != "ok":
        assert row["status"] in ("changed", "unreadable") and row["error"], row
        assert (row["work_size"], row["weight_size"]) == (0, 0)
    else:
        assert answer in allowed, (answer, allowed)

    async with open_store(url) as store:  # the next scan reads it again and gets it right
        async with open_backend() as chosen:
            await run_scan(store, chosen, ScanOptions(roots=[str(root)]))
        latest = await store.fetch("SELECT relpath, status, work_size FROM latest_results")
    answers = {r["relpath"]: (r["status"], r["work_size"]) for r in latest}
    if how == "removed":
        assert "d1/m1.om" not in answers
    elif how == "truncated":
        assert answers["d1/m1.om"][0] == "failed"
    else:
        assert answers["d1/m1.om"] == ("ok", NEW_ANSWER[how])
    assert answers["d0/m0.om"] == answers["d2/m2.om"] == ("ok", WORK)


# --- 5. a directory that cannot be read ------------------------------------------


def test_unreadable_directory_is_recorded_and_its_files_not_marked_removed(
    public_dir: Path,
) -> None:
    root, url = public_dir / "repo", f"sqlite:///{public_dir / 'omscan.db'}"
    runner = unprivileged_python() if os.geteuid() == 0 else ([sys.executable], dict(os.environ))
    # Root reads every directory: the scans run as nobody, or where this checkout is out
    # of nobody's reach, as root with the directory denied at the system call.
    command, env = runner or ([sys.executable], dict(os.environ))
    denied_env = env if runner else denying(root / "d7")
    many_models(root, 40)  # d0 … d19, two models each
    for path, dirs, files in os.walk(public_dir):
        for name in dirs:
            os.chmod(os.path.join(path, name), 0o755)
        for name in files:
            os.chmod(os.path.join(path, name), 0o644)

    def scan(env: dict[str, str] = env) -> subprocess.CompletedProcess[str]:
        # --jobs 1: nobody may not run root's interpreter again for a reader process.
        args = [*command, "-m", "scanner", "scan", str(root), "--db", url, "--json", "--jobs", "1"]
        return subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )

    first = scan()
    assert first.returncode == 0, first.stderr
    (root / "d7").chmod(0)  # the walk cannot list it any more
    second = scan(denied_env)
    assert second.returncode == 1, second.stderr  # completed, with a failure to report
    summary = json.loads(second.stdout)
    assert summary["status"] == "completed" and summary["files_removed"] == 0
    assert summary["statuses"] == {"unreadable": 1} | {"ok": 38}
    assert query(url, "SELECT COUNT(*) FROM model_files WHERE removed_scan_id IS NOT NULL") == [
        (0,)
    ]
    (row,) = query(
        url,
        "SELECT f.relpath, r.status, r.error FROM results r JOIN model_files f"
        " ON f.id = r.file_id WHERE r.scan_id = 2 AND r.status <> 'ok'",
    )
    assert row == ("d7", "unreadable", "cannot read directory: Permission denied")
    reported = query(url, "SELECT relpath FROM latest_results WHERE status = 'unreadable'")
    assert reported == [("d7",)]  # the failure shows in reports
    (root / "d7").chmod(0o755)  # readable again: its files come back as they were
    third = scan()
    assert third.returncode == 0, third.stderr
    summary = json.loads(third.stdout)
    assert (summary["files_unchanged"], summary["files_removed"]) == (40, 1)  # 1: "d7"


def test_directory_unreadable_mid_walk_is_recorded_and_nothing_is_lost(tmp_path: Path) -> None:
    root, url = tmp_path / "repo", f"sqlite:///{tmp_path / 'omscan.db'}"
    many_models(root, 40)  # d0 … d19: the walk lists d7 after ten others

    def scan(env: dict[str, str]) -> dict[str, Any]:
        done = subprocess.run(
            scan_command(root, url, "--json"),
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert done.returncode in (0, 1), done.stderr
        return dict(json.loads(done.stdout))

    assert scan(dict(os.environ))["statuses"] == {"ok": 40}
    summary = scan(denying(root / "d7", after=5))  # readable when the walk began
    assert summary["status"] == "completed" and summary["files_removed"] == 0
    assert summary["statuses"] == {"unreadable": 1, "ok": 38}
    assert query(url, "SELECT status, error FROM latest_results WHERE relpath = 'd7'") == [
        ("unreadable", "cannot read directory: Permission denied")
    ]
    assert query(url, "SELECT COUNT(*) FROM model_files WHERE removed_scan_id IS NOT NULL") == [
        (0,)
    ]
    again = scan(dict(os.environ))
    assert (again["files_unchanged"], again["statuses"].get("ok")) == (40, 40)


# --- 6. very many files ------------------------------------------------------------

MANY = 20_000  # scripts/bench_faults.py takes it to 100,000 (about a minute)


def test_peak_memory_of_a_scan_of_many_files_stays_small(tmp_path: Path) -> None:
    """Nothing is held per model but a path and a stat: memory does not follow the
    tree's bytes, and stays far from what tens of thousands of models would weigh."""
    root = tmp_path / "repo"
    many_models(root, MANY)
    command = scan_command(root, f"sqlite:///{tmp_path / 'omscan.db'}", "--json")
    # Started from a small intermediate Python: a child forked from this (large) pytest
    # process would count pytest's own pages in its peak until it execs.
    measure = (
        "import resource, subprocess, sys; "
        "done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True); "
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
        "print(done.stdout)"
    )
    output = subprocess.run(
        [sys.executable, "-c", measure, *command], capture_output=True, text=True, check=True
    ).stdout
    first, _, summary = output.partition("\n")
    returncode, max_rss_kib = (int(field) for field in first.split())
    assert returncode == 0
    assert json.loads(summary)["files_queried"] == MANY
    peak_mib = max_rss_kib / 1024
    assert peak_mib < 200, f"peak RSS {peak_mib:.0f} MiB"  # measured: 82 MiB at 10,000
