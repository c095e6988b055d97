"""Peak memory of one scan of very many files: does it stay flat as the tree grows?

    python scripts/bench_faults.py [--files 100000] [--pg postgresql://postgres@127.0.0.1/test]

Builds trees of ``files / 10`` and ``files`` tiny models (distinct files: the walk counts
hard links once), runs `python -m scanner scan --json` on each into a fresh SQLite
database (and PostgreSQL with --pg) and reads the child's peak RSS from ``os.wait4``.
The last line is JSON with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scratch_db import scratch_database

from scanner.om.writer import ModelParams, build_om, spec_for

MODEL = build_om(spec_for(ModelParams(memory_size=1000, weight_size=10, kernels=0)))


def make_tree(root: Path, files: int) -> None:
    for index in range(files):
        folder = root / f"d{index // 1000}"
        if index % 1000 == 0:
            folder.mkdir(parents=True)
        (folder / f"m{index}.om").write_bytes(MODEL)


def scan(root: Path, url: str) -> dict[str, float]:
    """One scan as a child process: its wall time, peak RSS and summary."""
    command = [sys.executable, "-m", "scanner", "scan", str(root), "--db", url, "--json"]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    assert process.stdout is not None and process.stderr is not None
    out, err = process.stdout.read(), process.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"scan failed: {err.decode()}")
    summary = json.loads(out)
    return {
        "files": summary["files_seen"],
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--pg", help="admin URL of a PostgreSQL server to scan into as well")
    args = parser.parse_args()
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="omscan-bench-faults-") as tmp:
        for files in (args.files // 10, args.files):
            root = Path(tmp) / f"tree{files}"
            make_tree(root, files)
            figures[f"sqlite_{files}"] = scan(root, f"sqlite:///{tmp}/omscan{files}.db")
            print(f"sqlite     {files:>7,} files: {figures[f'sqlite_{files}']}", flush=True)
            if args.pg:
                with scratch_database(args.pg) as url:
                    figures[f"postgresql_{files}"] = scan(root, url)
                print(f"postgresql {files:>7,} files: {figures[f'postgresql_{files}']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
