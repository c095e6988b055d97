"""OM2 query cost: bytes read and time per query, from a file, for archives holding
1 KiB and ~1 GiB of constants (stored, written as holes, so the run needs no disk).

    python scripts/bench_om2.py [--repeat 200] [--dir /var/tmp]

Bytes read must not grow with the constants: only the ZIP directory and the two small
JSON entries are read. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from scanner.om import query_path
from scanner.om.om2_writer import Om2Params, write_om2

CASES = {"1KiB": 1 << 10, "1GiB": 1 << 30}


def median_seconds(call: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--dir", default=None, help="where the archives are written")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for label, constants in CASES.items():
            path = Path(tmp) / f"om2_{label}.om"
            size = write_om2(path, Om2Params(constants_size=constants))
            result = query_path(path)
            assert result.ok, result.error
            seconds = median_seconds(partial(query_path, path), args.repeat)
            with_inventory = median_seconds(partial(query_path, path, inventory=True), args.repeat)
            print(
                f"om2 {label:>4} constants: file {size:>13,} B  bytes read {result.bytes_read:>5,}"
                f"  query {seconds * 1e6:7.1f} µs  with inventory {with_inventory * 1e6:7.1f} µs"
            )
            figures[f"om2_{label}_file_bytes"] = size
            figures[f"om2_{label}_bytes_read"] = result.bytes_read
            figures[f"om2_{label}_us"] = round(seconds * 1e6, 1)
            figures[f"om2_{label}_inventory_us"] = round(with_inventory * 1e6, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
