"""Reader cost per query: bytes read and time, for classic models with 1 KiB and 4 GiB
(sparse) weights and OM2 archives with 1 KiB and 1 GiB of constants.

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
from scanner.om.om2_writer import Om2Params, write_om2
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
    cases = [
        ("om 1KiB", lambda p: write_om(p, spec_for(ModelParams(weight_size=1 << 10)))),
        ("om 4GiB", lambda p: write_om(p, spec_for(ModelParams(weight_size=4 << 30)))),
        ("om2 1KiB", lambda p: write_om2(p, Om2Params(constants_size=1 << 10))),
        ("om2 1GiB", lambda p: write_om2(p, Om2Params(constants_size=1 << 30))),
    ]
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        for label, make in cases:
            path = Path(tmp) / "model.om"
            size = make(path)
            result = query_path(path)
            assert result.ok, result.error
            seconds = timed(lambda p=path: query_path(p), args.repeat)
            inv_seconds = timed(lambda p=path: query_path(p, inventory=True), args.repeat)
            print(
                f"{label:>8}: file {size:>13,} B  bytes read {result.bytes_read:>5}"
                f"  query {seconds * 1e6:7.1f} µs  with inventory {inv_seconds * 1e6:7.1f} µs"
            )
            key = label.replace(" ", "_")
            figures[f"{key}_bytes_read"] = result.bytes_read
            figures[f"{key}_us"] = round(seconds * 1e6, 1)
            figures[f"{key}_inventory_us"] = round(inv_seconds * 1e6, 1)
            path.unlink()
    data = build_om(spec_for(ModelParams(weight_size=1 << 10)))
    seconds = timed(lambda: query_bytes(data), args.repeat)
    print(f"  memory: om 1KiB from bytes in memory: query {seconds * 1e6:7.1f} µs")
    figures["memory_om_1KiB_us"] = round(seconds * 1e6, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
