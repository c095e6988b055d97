"""Store write throughput: 100,000 results in batches, as a scan writes them.

    python scripts/bench_store.py [--rows 100000] [--batch 500] [--pg postgresql://postgres@127.0.0.1/test]

SQLite goes to a temporary file; PostgreSQL to a temporary database created next to
the one named by --pg (and dropped afterwards). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import anyio
from scratch_db import scratch_database

from scanner.om import QueryResult
from scanner.om.result import Inventory, TensorInfo
from scanner.store import ResultItem, open_store

ROOT = "/bench/repo"
INVENTORY = Inventory(
    format="om",
    name="bench",
    soc_version="Ascend310P3",
    atc_version="7.0.0",
    inputs=(TensorInfo("images", "float16", (8, 3, 224, 224)),),
)


def items(count: int, seconds: float = 0.0) -> list[ResultItem]:
    """``count`` answers of one ordinary model, as a scan stores them (bench_growth too)."""
    result = QueryResult(ret=0, work_size=89_653_248, weight_size=51_380_224, inventory=INVENTORY)
    return [
        ResultItem(
            ROOT,
            f"d{i % 100}/m{i}.om",
            51_381_017,
            i,
            i,
            1,
            f"1:{i}:{i}",
            result,
            "om",
            seconds=seconds,
        )
        for i in range(count)
    ]


async def write_all(url: str, rows: list[ResultItem], batch: int) -> float:
    async with open_store(url) as store:
        scan = await store.start_scan([ROOT], "bench", "om", [], {})
        start = time.perf_counter()
        for offset in range(0, len(rows), batch):
            await store.write_results(scan, rows[offset : offset + batch])
        seconds = time.perf_counter() - start
        stored = (await store.fetch("SELECT COUNT(*) AS n FROM results"))[0]["n"]
        assert stored == len(rows), stored
    return seconds


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    rows = items(args.rows, seconds=0.001)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        seconds = await write_all(f"sqlite:///{tmp}/bench.db", rows, args.batch)
    figures["sqlite_rows_per_s"] = round(args.rows / seconds)
    print(f"sqlite     {args.rows:,} results in {seconds:.2f} s: {args.rows / seconds:,.0f} rows/s")

    with scratch_database(args.pg) as url:
        seconds = await write_all(url, rows, args.batch)
    figures["postgresql_rows_per_s"] = round(args.rows / seconds)
    print(f"postgresql {args.rows:,} results in {seconds:.2f} s: {args.rows / seconds:,.0f} rows/s")
    print(json.dumps(figures))


if __name__ == "__main__":
    anyio.run(main)
