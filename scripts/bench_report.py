"""Size and time of the reports for a synthetic fleet: is the HTML page small enough to mail?

    python scripts/bench_report.py [--models 10000] [--seed 1]

Builds the fleet with make_corpus.py, scans it, rebuilds it with the next seed (every
model changes size: the growth chart has something to show) and scans again, then writes
`report --format html` and `report --format sarif` and prints their sizes (raw and
gzipped, as a mail client or a CI artifact store would pack them) and how long each took.
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from make_corpus import make_corpus

OMSCAN = [sys.executable, "-m", "scanner"]


def omscan(*args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([*OMSCAN, *args], capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"omscan {' '.join(args)}: exit {done.returncode}: {done.stderr}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        root, db = Path(tmp, "fleet"), f"sqlite:///{tmp}/bench.db"
        for seed in (args.seed, args.seed + 1):
            make_corpus(root, args.models, seed)
            omscan("scan", str(root), "--backend", "om", "--db", db)
        print(f"{args.models:,} models, 2 scans")
        for fmt in ("html", "sarif"):
            out = Path(tmp, f"report.{fmt}")
            seconds = omscan("report", "--db", db, "--format", fmt, "-o", str(out))
            raw = out.read_bytes()
            print(
                f"report --format {fmt:5}  {len(raw) / 1e6:6.2f} MB"
                f"  ({len(gzip.compress(raw)) / 1e6:.2f} MB gzipped)  {seconds:.2f} s"
            )


if __name__ == "__main__":
    main()
