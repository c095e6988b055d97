"""What many test modules need, once: omscan run in this process or as a real one, the
database read with a plain driver (not omscan's own store), model trees, and waiting
for a condition instead of sleeping."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from scanner.cli import cli
from scanner.om import QueryResult
from scanner.om.writer import ModelParams, build_om, spec_for, write_om
from scanner.store import ResultItem

TIMEOUT = 90  # seconds: an omscan process that outlives this has hung

# A complete run (CI, `pytest --complete`, or this variable set) fails where a test's
# corpus or database is missing, instead of skipping it.
COMPLETE_ENV = "OMSCAN_TEST_COMPLETE"

# What every model of many_models() answers (from the writer's parameters).
MANY_WORK, MANY_WEIGHT = 1000, 10


def complete_run() -> bool:
    return any(os.environ.get(name, "") not in ("", "0", "false") for name in ("CI", COMPLETE_ENV))


def unavailable(message: str) -> NoReturn:
    """A test cannot run here (no corpus, no database server): skipped, saying why,
    unless the run must be complete."""
    if complete_run():
        pytest.fail(f"{message} (a complete run needs it)")
    pytest.skip(message)


def run(*args: str) -> tuple[int, str]:
    """`omscan ARGS` in this process (click's runner): exit code and output."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def omscan_command(*args: str) -> list[str]:
    """The command line of a real `omscan ARGS` process."""
    return [sys.executable, "-m", "scanner", *args]


def omscan(
    *args: str, env: dict[str, str] | None = None, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """`omscan ARGS` as a real process, run to its end; output captured."""
    return subprocess.run(
        omscan_command(*args), capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def start_omscan(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`omscan ARGS` as a real process, running in the background; output captured."""
    return subprocess.Popen(
        omscan_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read with a plain driver, outside omscan."""
    if url.startswith("sqlite"):
        with closing(sqlite3.connect(str(make_url(url).database), timeout=30)) as conn:
            return conn.execute(sql).fetchall()
    with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def stored(url: str, scan_id: int) -> int:
    """Results stored for a scan so far; 0 before omscan has created the schema."""
    try:
        return int(query(url, f"SELECT COUNT(*) FROM results WHERE scan_id = {scan_id}")[0][0])
    except (sqlite3.Error, psycopg.Error):
        return 0


def scan_statuses(url: str) -> list[tuple[int, str]]:
    return [(int(i), s) for i, s in query(url, "SELECT id, status FROM scans ORDER BY id")]


def wait_for(condition: Callable[[], Any], timeout: float = TIMEOUT, what: str = "") -> Any:
    """Poll ``condition`` until it is true (returned), failing after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.02)
    return value


def wait_for_results(url: str, scan_id: int, process: subprocess.Popen[str]) -> int:
    """Wait until a background scan has committed some results, while still running."""

    def some() -> int:
        assert process.poll() is None, process.communicate()
        return stored(url, scan_id)

    return int(wait_for(some, what=f"scan {scan_id} to store results"))


def many_models(root: Path, count: int) -> None:
    """``count`` identical small models in 20 folders (d0 … d19), each answering
    MANY_WORK and MANY_WEIGHT."""
    data = build_om(
        spec_for(ModelParams(memory_size=MANY_WORK, weight_size=MANY_WEIGHT, kernels=0))
    )
    for index in range(count):
        folder = root / f"d{index % 20}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"m{index}.om").write_bytes(data)


def write_model(path: Path, memory: int, weight: int, soc: str = "Ascend310") -> None:
    """A model answering ``memory`` and ``weight`` (its weights a hole on disk)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_om(path, spec_for(ModelParams(memory_size=memory, weight_size=weight, soc_version=soc)))


def denying(directory: Path, after: int = 0) -> dict[str, str]:
    """The environment for an omscan process that cannot list ``directory`` once it has
    listed ``after`` others (tests/fault_inject/sitecustomize.py)."""
    inject = str(Path(__file__).parent / "fault_inject")
    path = os.pathsep.join(filter(None, [inject, os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "PYTHONPATH": path,
        "OMSCAN_FAULT_DENY": os.path.realpath(directory),
        "OMSCAN_FAULT_AFTER": str(after),
    }


def worker_pids() -> list[int]:
    """Live children of this process that the acl backend spawned (one per device)."""
    tasks = Path(f"/proc/{os.getpid()}/task").iterdir()
    children = [pid for task in tasks for pid in (task / "children").read_text().split()]
    pids = []
    for pid in map(int, children):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in cmdline:
            pids.append(pid)
    return pids


def one_line_error(stderr: str) -> None:
    assert stderr.startswith("omscan: "), stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def unprivileged_python() -> tuple[list[str], dict[str, str]] | None:
    """A command running this omscan as nobody: root reads every directory, so the fault
    needs a process without privileges. This interpreter may live where nobody cannot
    reach (under /root): then the system's Python of the same version, given our paths."""
    import site

    paths = os.pathsep.join([*site.getsitepackages(), str(Path(__file__).parents[1])])
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for python in (sys.executable, f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if shutil.which("setpriv") is None or not os.path.exists(python):
            continue
        env = {**os.environ, "PYTHONPATH": paths}
        probe = [*NOBODY, python, "-c", "import scanner.cli"]
        if subprocess.run(probe, env=env, capture_output=True, check=False).returncode == 0:
            return [*NOBODY, python], env
    return None


# --- results as a scan hands them to the store ------------------------------------

ROOT = "/models/repo"


def item(relpath: str, result: QueryResult, size: int = 100, inode: int = 1) -> ResultItem:
    version = f"7:{inode}:1000"
    return ResultItem(ROOT, relpath, size, 1_000, inode, 7, version, result, "om", seconds=0.002)


def ok(work: int, weight: int, **extra: object) -> QueryResult:
    return QueryResult(ret=0, work_size=work, weight_size=weight, **extra)  # type: ignore[arg-type]
