"""Reader cost per query: bytes read and time, for classic models with 1 KiB and 4 GiB
(sparse) weights and OM2 archives with 1 KiB and 1 GiB of constants; then for each real
model of the shared corpus (``--corpus``, default ``../shared/om-corpus``, or
$OMSCAN_CORPUS), whose MODEL_DEF holds a real graph of hundreds of operators.

    python scripts/bench_reader.py [--repeat 200] [--corpus DIR]

Bytes read from a file must not grow with the weights; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
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
    shared = Path(__file__).resolve().parents[2] / "shared/om-corpus"
    corpus_dir = Path(os.environ.get("OMSCAN_CORPUS", shared))
    parser.add_argument("--corpus", type=Path, default=corpus_dir)
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
    figures.update(corpus(args.corpus, args.repeat))
    print(json.dumps(figures))


def corpus(folder: Path, repeat: int) -> dict[str, float]:
    """Each real model of ``folder``: its query alone and with the inventory (what a scan
    does), and the sum of the medians over the corpus."""
    models = sorted(folder.glob("*.om"))
    if not models:
        print(f"  corpus: no .om files in {folder}")
        return {}
    total = total_inventory = 0.0
    for path in models:
        seconds = timed(lambda p=path: query_path(p), repeat)
        inv_seconds = timed(lambda p=path: query_path(p, inventory=True), repeat)
        total += seconds
        total_inventory += inv_seconds
        print(
            f"  corpus: {path.name[:48]:<48} {path.stat().st_size:>10,} B"
            f"  query {seconds * 1e6:7.1f} µs  with inventory {inv_seconds * 1e6:7.1f} µs"
        )
    print(
        f"  corpus: {len(models)} models, sum of medians: query {total * 1e3:.2f} ms,"
        f" with inventory {total_inventory * 1e3:.2f} ms"
    )
    return {
        "corpus_models": len(models),
        "corpus_query_ms": round(total * 1e3, 3),
        "corpus_inventory_ms": round(total_inventory * 1e3, 3),
    }


if __name__ == "__main__":
    main()
