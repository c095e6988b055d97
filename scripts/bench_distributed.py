"""Distributed scan throughput: files/s with 1, 2 and 4 workers against a local scan,
all into the local PostgreSQL, on the same tree of small models.

    python scripts/bench_distributed.py [--files 10000] [--workers 1,2,4]
        [--pg postgresql://postgres@127.0.0.1:5432/test]

Each run gets a fresh database. Workers are started first and left polling, as on a
fleet where they run as services; the clock runs from `omscan scan --distributed`
(walk and enqueue included) until the scan is marked completed. The local scan is
timed as a whole command. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from scratch_db import scratch_database

from scanner.om.writer import ModelParams, build_om, spec_for


def make_tree(root: Path, count: int) -> None:
    data = build_om(spec_for(ModelParams(memory_size=1000, weight_size=10, kernels=0)))
    for index in range(count):
        folder = root / f"d{index % 50}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"m{index}.om").write_bytes(data)


@contextmanager
def database(admin: str) -> Iterator[str]:
    """A new database beside the admin one, at the schema's head; dropped on exit."""
    with scratch_database(admin) as url:
        subprocess.run(omscan("db", "upgrade", "--db", url), check=True, capture_output=True)
        yield url


def omscan(*args: str) -> list[str]:
    return [sys.executable, "-m", "scanner", *args]


def scan_done(url: str, scan_id: int) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT status FROM scans WHERE id = %s", (scan_id,)).fetchone()
    return row is not None and row[0] == "completed"


def registered(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM workers").fetchone()
    return int(row[0]) if row else 0


def local_scan(root: Path, admin: str) -> float:
    with database(admin) as url:
        started = time.perf_counter()
        command = omscan("scan", str(root), "--db", url, "--backend", "om")
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started


def distributed_scan(root: Path, admin: str, workers: int) -> float:
    with database(admin) as url:
        command = omscan("worker", "--db", url, "--backend", "om", "--poll-seconds", "0.05")
        processes = [
            subprocess.Popen(
                [*command, "--host", f"w{i}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for i in range(workers)
        ]
        try:
            while registered(url) < workers:
                time.sleep(0.05)
            started = time.perf_counter()
            queued = subprocess.run(
                omscan("scan", "--distributed", str(root), "--db", url, "--json"),
                check=True,
                capture_output=True,
                text=True,
            )
            scan_id = json.loads(queued.stdout)["scan_id"]
            while not scan_done(url, scan_id):
                time.sleep(0.02)
            return time.perf_counter() - started
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        make_tree(root, args.files)
        seconds = local_scan(root, args.pg)
        figures["local_files_per_s"] = round(args.files / seconds)
        print(f"local scan        {seconds:6.2f} s  {args.files / seconds:8,.0f} files/s")
        for count in (int(part) for part in args.workers.split(",")):
            seconds = distributed_scan(root, args.pg, count)
            figures[f"workers_{count}_files_per_s"] = round(args.files / seconds)
            print(f"{count} worker(s)       {seconds:6.2f} s  {args.files / seconds:8,.0f} files/s")
    print(json.dumps({"files": args.files, **figures}))


if __name__ == "__main__":
    main()
