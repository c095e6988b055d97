"""The acl path (read into shared memory + device worker) against a plain sequential
read of the same bytes. There is no NPU here: the workers load the `acl` test double,
which reads the model at the pointer it is given, as the real API does.

    python scripts/bench_acl.py [--models 4] [--size-gib 1]

Warm caches: every file is read once before timing. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio

from scanner.backends.acl import AclBackend
from scanner.backends.base import Answer
from scanner.core import ModelFile
from scanner.om.writer import ModelParams, spec_for, write_om
from scanner.sources.local import LocalFiles
from scanner.sources.walk import WalkOptions, walk

FAKE_ACL = Path(__file__).resolve().parents[1] / "tests" / "fake_acl"

CHUNK = 256 << 20


def plain_read(paths: list[str]) -> int:
    total = 0
    for path in paths:
        buffer = bytearray(os.path.getsize(path))
        view = memoryview(buffer)
        with open(path, "rb", buffering=0) as handle:
            done = 0
            while done < len(buffer):
                done += handle.readinto(view[done : done + CHUNK]) or 0
        total += done
    return total


@contextmanager
def fake_acl() -> Iterator[None]:
    """The `acl` test double importable by the device workers (spawned: they take this
    process's ``sys.path``) for this block only: an omscan command timed afterwards would
    otherwise find an `acl` module and choose that backend."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(FAKE_ACL), before]))
    sys.path.insert(0, str(FAKE_ACL))
    try:
        yield
    finally:
        sys.path.remove(str(FAKE_ACL))
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


async def acl_path(entries: list[ModelFile]) -> int:
    with fake_acl():
        return await _acl_path(entries)


async def _acl_path(entries: list[ModelFile]) -> int:
    total = 0
    async with AclBackend(LocalFiles(), [0], timeout=600) as backend:
        for entry in entries:
            loaded = await backend.load(entry)
            assert not isinstance(loaded, Answer), loaded
            try:
                answer = await backend.query(entry, loaded)
            finally:
                loaded.close()
            assert answer.result.ok, answer.result.error
            total += entry.size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--size-gib", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        for index in range(args.models):
            weights = int(args.size_gib * (1 << 30))
            write_om(Path(tmp) / f"m{index}.om", spec_for(ModelParams(weight_size=weights)))
        entries = list(walk([tmp], WalkOptions()))
        paths = [entry.path for entry in entries]
        plain_read(paths)  # warm the page cache
        start = time.perf_counter()
        plain_bytes = plain_read(paths)
        plain_s = time.perf_counter() - start
        start = time.perf_counter()
        acl_bytes = anyio.run(acl_path, entries)
        acl_s = time.perf_counter() - start
    plain_rate, acl_rate = plain_bytes / plain_s / 1e6, acl_bytes / acl_s / 1e6
    for label, count, seconds, rate in (
        ("plain sequential read", plain_bytes, plain_s, plain_rate),
        ("acl path (shm + worker)", acl_bytes, acl_s, acl_rate),
    ):
        print(f"{label}: {count / 1e9:.2f} GB in {seconds:.2f} s = {rate:,.0f} MB/s")
    print(f"ratio: {acl_rate / plain_rate:.0%} of plain read")
    print(
        json.dumps(
            {
                "plain_mb_s": round(plain_rate),
                "acl_mb_s": round(acl_rate),
                "ratio": round(acl_rate / plain_rate, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
