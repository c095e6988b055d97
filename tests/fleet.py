"""A fleet of `omscan worker` processes against the local PostgreSQL, for the tests of
distributed scans: start them, read the database beside them, wait on conditions."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from scanner.backends.base import Backend
from scanner.backends.om import OmBackend
from scanner.cli import cli
from scanner.scan.distributed import WorkerOptions, WorkerSummary, run_worker
from scanner.sources.local import LocalFiles
from scanner.store import Store

from .helpers import query, wait_for


def start_worker(
    started: list[subprocess.Popen[str]],
    url: str,
    host: str,
    *extra: str,
    python: Sequence[str] = (sys.executable,),
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """``omscan worker`` on ``host``; ``python``/``env``: run it as another user."""
    command = [*python, "-m", "scanner", "worker", "--db", url, "--backend", "om"]
    process = subprocess.Popen(
        [*command, "--host", host, "--json", "--poll-seconds", "0.1", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    started.append(process)
    return process


def enqueue(url: str, root: Path) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["scan", "--distributed", str(root), "--db", url, "--json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


async def drain(
    store: Store, backend: Backend | None = None, devices: Sequence[int] = (), host: str = "test"
) -> WorkerSummary:
    """One worker, in this process, until the queue is empty."""
    options = WorkerOptions(host=host, poll_seconds=0.05, exit_when_idle=True)
    return await run_worker(store, backend or OmBackend(LocalFiles()), options, devices=devices)


def scan_status(url: str, scan_id: int) -> str:
    return str(query(url, f"SELECT status FROM scans WHERE id = {scan_id}")[0][0])


def value(url: str, sql: str) -> Any:
    """The single value ``sql`` selects."""
    ((found,),) = query(url, sql)
    return found


def held_by(url: str, host: str) -> list[int]:
    """Items the workers of ``host`` hold under a lease."""
    return [
        item
        for (item,) in query(
            url,
            "SELECT w.id FROM work_items w JOIN workers k ON k.id = w.lease_owner"
            f" WHERE w.state = 'leased' AND k.host = '{host}' ORDER BY w.id",
        )
    ]


def done_by(url: str, host: str) -> int:
    return int(
        value(
            url,
            "SELECT count(*) FROM work_items w JOIN workers k ON k.id = w.done_by"
            f" WHERE k.host = '{host}'",
        )
    )


def migrated(url: str) -> None:
    """The schema in place, for a test that reads tables before omscan has run."""
    result = CliRunner().invoke(cli, ["db", "upgrade", "--db", url])
    assert result.exit_code == 0, result.output


def pause_holding(process: subprocess.Popen[str], url: str, host: str) -> list[int]:
    """Pause (SIGSTOP) a worker at a moment it holds claims; the items it holds."""
    while True:
        wait_for(lambda: held_by(url, host))
        process.send_signal(signal.SIGSTOP)
        held = held_by(url, host)
        if held:
            return held
        process.send_signal(signal.SIGCONT)  # it stored them meanwhile: again
