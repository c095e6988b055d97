"""Coverage-guided fuzzing of the reader (classic `.om` and OM2) with atheris.

    python scripts/fuzz.py [--runs 1000000] [--max-len 65536]

Seeds: the shared corpus files under 64 KiB and writer-made models of every era and
kind, OM2 archives included. Every input must give an API answer (``ret`` set: the
buffer was never read out of bounds) and nothing but the reader's own errors may be
raised inside it; libFuzzer stops on anything else, on an input over the per-input
time limit (-timeout) or over the memory limit (-rss_limit_mb). A crash found becomes
a regression test in tests/test_reader_fuzz.py. libFuzzer's last line gives the
count and the time ("Done N runs in S second(s)").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from scanner.om import query_bytes
    from scanner.om.om2_writer import Om2Params, build_om2
    from scanner.om.writer import ModelParams, build_om, spec_for

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "om-corpus"


def seeds() -> list[bytes]:
    made = [
        build_om(spec_for(ModelParams(era=era, weight_size=64, kernels=16, **extra)))  # type: ignore[arg-type]
        for era in ("2020", "2022", "2023")
        for extra in ({}, {"dynamic": True}, {"submodels": 2}, {"flow": True})
    ]
    made += [build_om2(Om2Params(constants_size=64)), build_om2(Om2Params(models=2))]
    real = [p.read_bytes() for p in sorted(CORPUS.glob("*.om")) if p.stat().st_size < 65536]
    return made + real


def test_one_input(data: bytes) -> None:
    result = query_bytes(data, inventory=True)
    if result.ret is None:
        raise AssertionError(f"no API answer: {result.error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--max-len", type=int, default=65536)
    args, extra = parser.parse_known_args()
    seed_dir = Path(tempfile.mkdtemp(prefix="omscan-fuzz-"))
    for index, seed in enumerate(seeds()):
        (seed_dir / f"seed{index}").write_bytes(seed)
    flags = [
        f"-runs={args.runs}",
        f"-max_len={args.max_len}",
        "-timeout=2",
        "-rss_limit_mb=2048",
        *extra,
        str(seed_dir),
    ]
    atheris.Setup([sys.argv[0], *flags], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
