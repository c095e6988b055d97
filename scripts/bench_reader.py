"""Reader cost per query: bytes read and time, for 1 KiB and 4 GiB (sparse) weights.

    python scripts/bench_reader.py [--repeat 200]

Bytes read from a file must not grow with the weights; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from scanner.om import query_bytes, query_path
from scanner.om.writer import ModelParams, build_om, spec_for, write_om


def timed(fn: object, repeat: int) -> float:
    """Median seconds per call."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, weights in (("1KiB", 1 << 10), ("4GiB", 4 << 30)):
            path = Path(tmp) / f"{label}.om"
            size = write_om(path, spec_for(ModelParams(weight_size=weights)))
            result = query_path(path)
            assert result.ok and result.weight_size == weights
            seconds = timed(lambda p=path: query_path(p), args.repeat)
            inv_seconds = timed(lambda p=path: query_path(p, inventory=True), args.repeat)
            print(
                f"file {label:>5} weights: size {size:>13,} B  bytes read {result.bytes_read:>5}"
                f"  query {seconds * 1e6:7.1f} µs  with inventory {inv_seconds * 1e6:7.1f} µs"
            )
            figures[f"path_{label}_bytes_read"] = result.bytes_read
            figures[f"path_{label}_us"] = round(seconds * 1e6, 1)
            figures[f"path_{label}_inventory_us"] = round(inv_seconds * 1e6, 1)
    data = build_om(spec_for(ModelParams(weight_size=1 << 10)))
    seconds = timed(lambda: query_bytes(data), args.repeat)
    print(f"memory  1KiB weights: query {seconds * 1e6:7.1f} µs")
    figures["memory_1KiB_us"] = round(seconds * 1e6, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
