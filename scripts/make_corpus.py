"""Build a synthetic model repository with the writer, reproducible from a seed.

    python scripts/make_corpus.py DIR [--models 10000] [--seed 1]

Models in nested folders, weights log-uniform from 1 KiB to 6 GiB (written as holes, so
the tree costs little disk), every header era, some OM2 archives, and a few corrupt
files and Git LFS pointers, as a real fleet has.
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

from scanner.demo import LFS_POINTER
from scanner.om.om2_writer import Om2Params, write_om2
from scanner.om.writer import Input, ModelParams, build_om, spec_for, write_om

MIN_WEIGHTS, MAX_WEIGHTS = 1 << 10, 6 << 30


def make_corpus(root: Path, models: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    counts = {"om": 0, "om2": 0, "corrupt": 0, "lfs_pointer": 0}
    for index in range(models):
        folder = root / f"team{index % 17}" / f"project{index % 113}" / f"v{index % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"model{index}.om"
        roll = rng.random()
        if roll < 0.005:
            path.write_bytes(LFS_POINTER)
            counts["lfs_pointer"] += 1
            continue
        weights = int(math.exp(rng.uniform(math.log(MIN_WEIGHTS), math.log(MAX_WEIGHTS))))
        if roll < 0.025:
            write_om2(
                path,
                Om2Params(
                    work_size=rng.randrange(1 << 30),
                    internal_weight_size=weights,
                    constants_size=min(weights, 1 << 16),
                ),
            )
            counts["om2"] += 1
            continue
        era = "2023" if weights >= 1 << 32 else rng.choice(["2020", "2022", "2023"])
        params = ModelParams(
            name=f"model{index}",
            memory_size=rng.randrange(1 << 31),
            weight_size=weights,
            era=era,  # type: ignore[arg-type]
            dynamic=rng.random() < 0.05,
            inputs=[Input("input", "float16", (rng.choice([1, 8, 32]), 3, 224, 224))],
        )
        if roll < 0.03:
            data = build_om(spec_for(ModelParams(name="corrupt", weight_size=64)))
            path.write_bytes(data[: rng.randrange(1, len(data))])
            counts["corrupt"] += 1
            continue
        write_om(path, spec_for(params))
        counts["om"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    counts = make_corpus(args.directory, args.models, args.seed)
    print(f"wrote {args.models:,} files under {args.directory}: {counts}")


if __name__ == "__main__":
    main()
