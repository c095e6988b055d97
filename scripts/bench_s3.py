"""Models in a bucket on a local S3 server (SeaweedFS): `omscan scan s3://…` and the om
reader over ranged reads against the floor, a bare loop of one 4 KiB ranged GET per object.

    python scripts/bench_s3.py [--objects 10000] [--big 3] [--big-mib 300] [--concurrency 32]

Most objects are small writer-made models (1 in 10 an OM2 archive); ``--big`` are
``--big-mib`` MiB (uploaded in parts from sparse files). Printed: objects/s for the floor
and the reader with the same client and concurrency, bytes transferred per model (body
bytes for all, wire bytes with headers through a counting relay for a sample) by object
size, `omscan scan` of the whole bucket (a real process, a fresh SQLite store each round:
every object queried; its own count of seconds and bytes read), and the alternatives
measured for the choices made: aiobotocore instead of obstore
for the floor, listing through each client, and the reader re-run in the event loop after
each awaited GET instead of run in worker threads with blocking GETs. The server and its
data are removed at the end. The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import obstore
from aiobotocore.session import AioSession
from obstore.store import S3Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scanner.objstore import ObjectInfo, ObjectRoot, S3Settings, answer_object, open_bucket
from scanner.objstore.ranged import RangedSource
from scanner.om.om2_writer import Om2Params, build_om2, write_om2
from scanner.om.reader import query_source
from scanner.om.result import QueryResult
from scanner.om.writer import ModelParams, build_om, spec_for, write_om
from tests.s3server import REGION, Admin, SeaweedServer, start_server
from tests.tcp_proxy import HttpProxy

FLOOR_BYTES = 4096
SAMPLE = 200  # small objects answered through the counting relay


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def small_model(rng: random.Random, index: int) -> bytes:
    if index % 10 == 9:
        return build_om2(Om2Params(work_size=rng.randrange(1 << 20, 1 << 28), constants_size=4096))
    params = ModelParams(
        memory_size=rng.randrange(1 << 20, 1 << 30),
        weight_size=rng.randrange(1 << 10, 64 << 10),
        kernels=rng.randrange(256, 8192),
    )
    return build_om(spec_for(params))


async def upload(store: S3Store, args: argparse.Namespace, tmp: Path) -> None:
    rng = random.Random(15)
    limit = anyio.Semaphore(32)

    async def put(index: int) -> None:
        async with limit:
            await obstore.put_async(store, f"small/{index:06d}.om", small_model(rng, index))

    async with anyio.create_task_group() as group:
        for index in range(args.objects - args.big):
            group.start_soon(put, index)
    for index in range(args.big):
        path = tmp / "big.om"
        size = args.big_mib << 20
        if index % 2:
            write_om2(path, Om2Params(constants_size=size, internal_weight_size=size))
        else:
            write_om(path, spec_for(ModelParams(weight_size=size)))
        with path.open("rb") as handle:
            await obstore.put_async(store, f"big/{index:03d}.om", handle, chunk_size=8 << 20)
        path.unlink()


async def timed(
    objects: list[ObjectInfo], concurrency: int, one: Callable[[ObjectInfo], Awaitable[Any]]
) -> tuple[float, float, list[Any]]:
    """objects/s and CPU µs per object for ``one`` over every object, ``concurrency`` at once."""
    limit = anyio.Semaphore(concurrency)
    results: list[Any] = [None] * len(objects)

    async def run(index: int, obj: ObjectInfo) -> None:
        async with limit:
            results[index] = await one(obj)

    cpu, start = cpu_seconds(), time.perf_counter()
    async with anyio.create_task_group() as group:
        for index, obj in enumerate(objects):
            group.start_soon(run, index, obj)
    elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return len(objects) / elapsed, cpu / len(objects) * 1e6, results


class _Missing(Exception):
    def __init__(self, offset: int, length: int) -> None:
        super().__init__(offset, length)
        self.offset, self.length = offset, length


class ReplaySource(RangedSource):
    """For the alternative design: a read not held stops the reader instead of fetching."""

    def read(self, offset: int, length: int) -> bytes:
        data = self.held(offset, length)
        if data is None:
            raise _Missing(offset, length)
        return data


def rerun_reader(store: S3Store) -> Callable[[ObjectInfo], Awaitable[QueryResult]]:
    """The alternative to worker threads: the reader re-run in the event loop from the
    start after each awaited GET of what it missed."""

    async def answer(obj: ObjectInfo) -> QueryResult:
        source = ReplaySource(obj.size, fetch=lambda start, end: b"")
        while True:
            try:
                return query_source(source, inventory=True)
            except _Missing as miss:
                start, end = source.plan(miss.offset, miss.length)
                options: Any = {"range": (start, end), "if_match": obj.etag}
                got = await obstore.get_async(store, obj.key, options=options)
                source.add(start, bytes(await got.bytes_async()))

    return answer


async def async_floor_read(store: S3Store, obj: ObjectInfo) -> bytes:
    options: Any = {"range": (0, min(FLOOR_BYTES, obj.size)), "if_match": obj.etag}
    return bytes(await (await obstore.get_async(store, obj.key, options=options)).bytes_async())


async def botocore_floor(
    settings: S3Settings, bucket: str, objects: list[ObjectInfo], n: int
) -> float:
    session = AioSession()
    async with session.create_client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=REGION,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
    ) as client:

        async def one(obj: ObjectInfo) -> int:
            answer = await client.get_object(Bucket=bucket, Key=obj.key, Range="bytes=0-4095")
            async with answer["Body"] as body:
                return len(await body.read())

        rate, _, _ = await timed(objects, n, one)
    return rate


def per_size(objects: list[ObjectInfo], values: list[int]) -> dict[str, float]:
    """Mean of ``values`` for small objects and for big ones."""
    groups: dict[str, list[int]] = {"small": [], "big": []}
    for obj, value in zip(objects, values, strict=True):
        groups["big" if obj.key.startswith("big/") else "small"].append(value)
    return {name: sum(v) / len(v) for name, v in groups.items() if v}


async def bench(server: SeaweedServer, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    admin = Admin(server)
    bucket = admin.new_bucket()
    store = admin.store(bucket)
    start = time.perf_counter()
    await upload(store, args, tmp)
    print(f"uploaded {args.objects:,} objects in {time.perf_counter() - start:.1f} s")
    settings = S3Settings(
        endpoint_url=server.endpoint,
        region=REGION,
        access_key_id=server.access_key,
        secret_access_key=server.secret_key,
        max_in_flight=args.concurrency,
    )
    figures: dict[str, Any] = {"objects": args.objects, "concurrency": args.concurrency}
    async with open_bucket(ObjectRoot.parse(f"s3://{bucket}"), settings) as b:
        start = time.perf_counter()
        objects = [obj async for page in b.list() for obj in page]
        figures["list_keys_per_s"] = len(objects) / (time.perf_counter() - start)
        start = time.perf_counter()
        count = sum([len(chunk) async for chunk in obstore.list(store, chunk_size=1000)])
        figures["list_obstore_keys_per_s"] = count / (time.perf_counter() - start)
        n = args.concurrency

        variants: dict[str, Callable[[ObjectInfo], Awaitable[Any]]] = {
            "floor": lambda obj: async_floor_read(store, obj),
            "floor_thread": lambda obj: anyio.to_thread.run_sync(
                b.read, obj, 0, min(FLOOR_BYTES, obj.size), limiter=b.limiter
            ),
            "reader": lambda obj: answer_object(b, obj),
            "reader_no_inventory": lambda obj: answer_object(b, obj, inventory=False),
            "reruns": rerun_reader(store),
        }
        await timed(objects[:500], n, variants["floor"])  # warm connections
        best: dict[str, tuple[float, float]] = {}
        answers: dict[str, list[Any]] = {}
        for _ in range(args.rounds):  # alternated, best of each: the machine is shared
            for name, one in variants.items():
                rate, cpu, answers[name] = await timed(objects, n, one)
                if rate > best.get(name, (0.0, 0.0))[0]:
                    best[name] = (rate, cpu)
        for name, (rate, cpu) in best.items():
            figures[f"{name}_obj_per_s"], figures[f"{name}_cpu_us"] = rate, cpu
        figures["reader_vs_floor"] = figures["reader_obj_per_s"] / figures["floor_obj_per_s"]
        results, plain = answers["reader"], answers["reader_no_inventory"]
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
        figures["body_bytes_per_model"] = per_size(objects, [r.bytes_read for r in results])
        figures["body_bytes_per_model_no_inventory"] = per_size(
            objects, [r.bytes_read for r in plain]
        )
    scans = [omscan_scan(server, bucket, n, tmp / f"scan{i}.db") for i in range(args.rounds)]
    rate, per_model = max(scans)
    figures["omscan_scan_obj_per_s"], figures["omscan_scan_bytes_per_model"] = rate, per_model
    figures["omscan_scan_vs_floor"] = rate / figures["floor_obj_per_s"]
    figures["botocore_floor_obj_per_s"] = await botocore_floor(settings, bucket, objects, n)
    figures["wire_bytes_per_model"] = await wire_bytes(server, settings, bucket, objects)
    return figures


def omscan_scan(server: SeaweedServer, bucket: str, n: int, db: Path) -> tuple[float, float]:
    """`omscan scan s3://BUCKET` in its own process: objects/s by its own clock (the
    listing included, the process start not), and bytes read per model."""
    env = os.environ | {
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_REGION": REGION,
    }
    command = [sys.executable, "-m", "scanner", "scan", f"s3://{bucket}", "--db", f"sqlite:///{db}"]
    command += ["--backend", "om", "--json", "--endpoint-url", server.endpoint]
    command += ["--max-in-flight", str(n)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    files = summary["files_queried"]
    return files / summary["seconds"], summary["bytes_read"] / files


async def wire_bytes(
    server: SeaweedServer, settings: S3Settings, bucket: str, objects: list[ObjectInfo]
) -> dict[str, float]:
    """Bytes on the wire (headers included) per model, counted by a relay, for the big
    objects and a sample of small ones."""
    relay = HttpProxy(("127.0.0.1", int(server.endpoint.rsplit(":", 1)[1])))
    relay.start()
    through = replace(settings, endpoint_url=f"http://127.0.0.1:{relay.port}")
    sample = [o for o in objects if o.key.startswith("big/")] + objects[:SAMPLE]
    counted: list[int] = []
    try:
        async with open_bucket(ObjectRoot.parse(f"s3://{bucket}"), through) as b:
            for obj in sample:
                before = relay.bytes_down
                result = await answer_object(b, obj)
                assert result.ok, result.error
                counted.append(relay.bytes_down - before)
    finally:
        relay.stop()
    return per_size(sample, counted)


LINES = {
    "floor": "floor: one 4 KiB GET, awaited",
    "floor_thread": "the same GET, blocking, in a thread",
    "reader": "reader: threads, blocking GETs",
    "reader_no_inventory": "the same, without the inventory",
    "reruns": "reader: re-runs after awaited GETs",
}


def report(figures: dict[str, Any]) -> None:
    print(f"{'listing through aiobotocore (used)':36} {figures['list_keys_per_s']:8,.0f} keys/s")
    print(f"{'listing through obstore':36} {figures['list_obstore_keys_per_s']:8,.0f} keys/s")
    for name, label in LINES.items():
        print(
            f"{label:36} {figures[f'{name}_obj_per_s']:8,.0f} objects/s"
            f"  {figures[f'{name}_cpu_us']:6.0f} µs CPU per object"
        )
    print(f"{'floor through aiobotocore':36} {figures['botocore_floor_obj_per_s']:8,.0f} objects/s")
    print(f"reader / floor: {figures['reader_vs_floor']:.0%}")
    print(
        f"{'omscan scan s3://… (a process)':36} {figures['omscan_scan_obj_per_s']:8,.0f} objects/s"
        f"  {figures['omscan_scan_bytes_per_model']:6,.0f} B read per model"
        f"  ({figures['omscan_scan_vs_floor']:.0%} of the floor)"
    )
    for label in ("body_bytes_per_model", "body_bytes_per_model_no_inventory"):
        sizes = "  ".join(f"{k} {v:8,.0f} B" for k, v in figures[label].items())
        print(f"{label.replace('_', ' '):36} {sizes}")
    sizes = "  ".join(f"{k} {v:8,.0f} B" for k, v in figures["wire_bytes_per_model"].items())
    print(f"{'wire bytes per model (with headers)':36} {sizes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=3)
    parser.add_argument("--big-mib", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    server, directory = start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            figures = asyncio.run(bench(server, args, Path(tmp)))
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
    report(figures)
    print(json.dumps(figures, default=str, allow_nan=False))


if __name__ == "__main__":
    main()
