"""omscan against the physical floor, in one run, on one tree, with warm caches.

    python scripts/bench.py [--models 10000] [--quick] [--seed 1] [--rounds 3] [--pg postgresql://postgres@127.0.0.1/test]
    python scripts/bench.py --scale [--scale-models 10000,100000,300000]

1. floor A: a bare Python walk that stats every file;
2. floor B: a bare loop that opens every model, reads its first 4 KiB and closes it;
3. `omscan scan --full --backend om --jobs 1` into SQLite and into PostgreSQL (whole
   commands, interpreter start included), and into SQLite on all cores (default --jobs),
   with the CPU time of the full scans (all their processes, and the scan's own: what
   bounds the all-cores figure); then each part of such a scan alone (start and
   imports, a new store, the walk, our reader, the writes): what bounds it;
4. `omscan scan` again on the unchanged tree; and the least any of these can take: an
   interpreter that only imports what opening the store takes;
5. the acl path (test double) on large models against a plain sequential read;
6. peak resident memory of an acl scan with a small byte budget on multi-GiB models;
and `omscan --help` and an empty scan. Floors and commands are each the best of
--rounds runs (the machine is shared: one run can be 20 % slow), a full scan into a new
database every time; the package's bytecode is compiled first, as a wheel install does.
Targets: (3) <= 5x floor B on SQLite, <= 6x on PostgreSQL, all cores >= 1.7x faster
than --jobs 1, (4) <= 2x floor A, bytes read by the om backend flat in the
weight size, (5) >= 80 %, (6) <= budget + 200 MB, --help <= 0.15 s, an empty scan
<= 0.3 s. Every target is printed met or not
met; the last line is JSON with every figure.

--scale instead makes trees of each size in turn and prints, for a full scan (all cores)
and an unchanged re-scan, the time per model and the peak RSS of the omscan process:
time per model flat within 25 % across sizes, peak RSS <= 300 MB at the largest.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import anyio
from bench_acl import acl_path, fake_acl, plain_read
from bench_store import items
from make_corpus import make_corpus
from scratch_db import scratch_database

import scanner
from scanner.backends.answer import answer_entry
from scanner.om.deadline import NO_DEADLINE
from scanner.om.writer import ModelParams, spec_for, write_om
from scanner.sources.local import LocalFiles
from scanner.sources.walk import WalkOptions, walk
from scanner.store import open_store

OMSCAN = [sys.executable, "-m", "scanner"]


def compile_package() -> None:
    """Write the package's bytecode, as installing it from a wheel does. A checkout
    installed in place, run with PYTHONDONTWRITEBYTECODE (as here), would otherwise
    compile its ninety modules again in every command it times (about 0.1 s each)."""
    package = Path(scanner.__file__).parent
    migrations = package.parent / "migrations"
    for folder in (package, migrations):
        compileall.compile_dir(folder, quiet=1)


def floor_a(root: str) -> int:
    count = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            os.stat(os.path.join(folder, name))
            count += 1
    return count


def floor_b(root: str) -> int:
    count = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                handle.read(4096)
            count += 1
    return count


def timed(fn: object, *args: object) -> float:
    start = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - start


class Run(NamedTuple):
    seconds: float
    cpu_seconds: float  # of the omscan process and every process it waited for
    own_cpu_seconds: float  # of the omscan process alone
    peak_rss: int  # bytes: the omscan process, or its largest reaped child
    summary: dict[str, object]


def own_cpu_seconds(pid: int) -> float:
    """The CPU time of process ``pid`` alone, once it has ended and before it is reaped
    (its /proc entry still says; its children's time is in other fields)."""
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def measured_scan(*args: str, env: dict[str, str] | None = None) -> Run:
    """One ``omscan scan``: its own CPU time once it ends, then reaped with wait4, which
    gives its own peak and the CPU time of it and of the processes it waited for (its
    reader processes)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(
            [*OMSCAN, "scan", *args, "--json"], stdout=out, stderr=err, text=True, env=env
        )
        own_cpu = own_cpu_seconds(process.pid)
        seconds = time.perf_counter() - start
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode not in (0, 1):
            raise SystemExit(f"scan failed ({process.returncode}): {err.read().strip()}")
        cpu = usage.ru_utime + usage.ru_stime
        return Run(seconds, cpu, own_cpu, usage.ru_maxrss * 1024, json.loads(out.read()))


def fastest(runs: Iterable[Run]) -> Run:
    """The quickest of ``runs`` (the machine is shared: a slow run is its noise)."""
    return min(runs, key=lambda run: run.seconds)


def quickest(command: list[str], runs: int = 5) -> float:
    """The best of ``runs`` whole commands, in seconds (their output thrown away)."""

    def run() -> None:
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

    return min(timed(run) for _ in range(runs))


def empty_scans(tmp: str) -> dict[str, float]:
    """``omscan --help``, and a scan of an empty directory: into a store it has used
    before, and into a new one each time (its schema made too)."""
    empty = os.path.join(tmp, "empty")
    os.mkdir(empty)
    used = [*OMSCAN, "scan", empty, "--db", f"sqlite:///{tmp}/empty.db"]
    subprocess.run(used, stdout=subprocess.DEVNULL, check=True)
    new = [*OMSCAN, "scan", empty, "--db", f"sqlite:///{tmp}/new.db"]

    new_store = []
    for _ in range(5):
        for leftover in Path(tmp).glob("new.db*"):
            leftover.unlink()
        new_store.append(quickest(new, runs=1))
    return {
        "help_s": quickest([*OMSCAN, "--help"]),
        "empty_scan_s": quickest(used),
        "empty_scan_new_store_s": min(new_store),
    }


def store_import_floor(rounds: int) -> dict[str, float]:
    """Seconds for a bare interpreter, and for one that imports only what opening our
    store takes (SQLAlchemy's async engine and aiosqlite, core dependencies): no command
    that records a scan can be quicker than the second."""
    return {
        "python_start_s": quickest([sys.executable, "-c", "pass"], runs=rounds),
        "store_import_s": quickest(
            [sys.executable, "-c", "import sqlalchemy.ext.asyncio, aiosqlite"], runs=rounds
        ),
    }


def command_start(rounds: int) -> float:
    """Seconds for a process to start and import what ``omscan scan`` imports."""
    code = (
        "import scanner.cli.scan, scanner.backends.om, scanner.scan.local, scanner.backends.select"
    )
    return quickest([sys.executable, "-c", code], runs=rounds)


async def store_work(tmp: str, count: int) -> tuple[float, float]:
    """Seconds to create a new SQLite store (its schema made), and to write ``count``
    answers into it as a scan does (batches of 500)."""
    start = time.perf_counter()
    async with open_store(f"sqlite:///{tmp}/parts.db") as store:
        created = time.perf_counter() - start
        scan_id = await store.start_scan(["/bench/repo"], "bench", "om", [], {})
        rows = items(count)
        start = time.perf_counter()
        for at in range(0, count, 500):
            await store.write_results(scan_id, rows[at : at + 500])
        return created, time.perf_counter() - start


def parts_of_a_scan(root: str, tmp: str, models: int, rounds: int) -> dict[str, float]:
    """Each part of a one-core full scan, alone: what bounds target (3)."""
    records = [r for r in walk([root], WalkOptions()) if r.status is None]
    reader = LocalFiles()
    start = time.perf_counter()
    for record in records:
        answer_entry(record, reader, NO_DEADLINE)
    read = time.perf_counter() - start
    created, written = anyio.run(store_work, tmp, models)
    return {
        "part_start_s": command_start(rounds),
        "part_new_store_s": created,
        "part_walk_s": timed(lambda: sum(1 for _ in walk([root], WalkOptions()))),
        "part_reader_s": read,
        "part_write_s": written,
    }


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def bytes_read_by_weight(db: str) -> tuple[int, int]:
    """Largest bytes read among models with < 1 MiB of weights, and with > 1 GiB."""
    with sqlite3.connect(db) as conn:
        small = conn.execute(
            "SELECT MAX(bytes_read) FROM results WHERE status='ok' AND weight_size < 1048576"
        ).fetchone()[0]
        large = conn.execute(
            "SELECT MAX(bytes_read) FROM results WHERE status='ok' AND weight_size > 1073741824"
        ).fetchone()[0]
    return int(small or 0), int(large or 0)


def pg_scan(admin: str, *args: str) -> float:
    """Seconds of a scan into a new PostgreSQL database, dropped afterwards."""
    with scratch_database(admin) as url:
        return measured_scan(*args, "--db", url).seconds


def scale_curve(sizes: list[int], seed: int, rounds: int) -> None:
    """Full scan and unchanged re-scan at each size, one tree at a time (sparse weights,
    removed before the next): time per model (the best of ``rounds``, a full scan into
    a new database each time) and peak RSS (the highest of them)."""
    rows = []
    for models in sizes:
        with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
            root = os.path.join(tmp, "repo")
            make_corpus(Path(root), models, seed)
            os.sync()
            floor_b(root)
            fulls, agains = [], []
            for i in range(rounds):
                db = f"sqlite:///{tmp}/scale-{i}.db"
                fulls.append(measured_scan(root, "--full", "--backend", "om", "--db", db))
                agains.append(measured_scan(root, "--backend", "om", "--db", db))
            full_s, full_rss = fastest(fulls).seconds, max(r.peak_rss for r in fulls)
            again_s, again_rss = fastest(agains).seconds, max(r.peak_rss for r in agains)
        rows.append((models, full_s / models, full_rss, again_s / models, again_rss))
        print(
            f"{models:>9,} models: full scan {full_s / models * 1e6:7.1f} µs/model,"
            f" peak RSS {full_rss >> 20} MiB; re-scan {again_s / models * 1e6:7.1f} µs/model,"
            f" peak RSS {again_rss >> 20} MiB",
            flush=True,
        )
    for column, name in ((1, "full scan"), (3, "re-scan")):
        per_model = [row[column] for row in rows]
        spread = max(per_model) / min(per_model) - 1
        print(
            f"time per model, {name}: within {spread:.0%} across sizes"
            f" (target <= 25 %: {verdict(spread <= 0.25)})"
        )
    largest = rows[-1]
    peak = max(largest[2], largest[4])
    print(
        f"peak RSS at {largest[0]:,} models: {peak >> 20} MiB"
        f" (target <= 300 MB: {verdict(peak <= 300_000_000)})"
    )
    print(
        json.dumps(
            [
                dict(
                    zip(
                        (
                            "models",
                            "full_s_per_model",
                            "full_rss",
                            "rescan_s_per_model",
                            "rescan_rss",
                        ),
                        row,
                        strict=True,
                    )
                )
                for row in rows
            ]
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 models, small acl figures")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs each")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--scale", action="store_true", help="the scale curve instead")
    parser.add_argument("--scale-models", default="10000,100000,300000")
    args = parser.parse_args()
    compile_package()
    if args.scale:
        scale_curve([int(n) for n in args.scale_models.split(",")], args.seed, args.rounds)
        return
    models = 1000 if args.quick else args.models
    figures: dict[str, float] = {"models": models}
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        root = os.path.join(tmp, "repo")
        make_corpus(Path(root), models, args.seed)
        os.sync()  # the new tree written out before anything is timed
        floor_b(root)  # warm the page cache and the dentry cache
        rounds = args.rounds
        figures["floor_a_s"] = min(timed(floor_a, root) for _ in range(rounds))
        figures["floor_b_s"] = min(timed(floor_b, root) for _ in range(rounds))
        print(f"1. floor A (walk + stat):          {figures['floor_a_s']:.3f} s")
        print(f"2. floor B (open + read 4 KiB):    {figures['floor_b_s']:.3f} s")
        starts = empty_scans(tmp)
        figures.update(starts)
        print(
            f"   omscan --help: {starts['help_s']:.3f} s"
            f" (target <= 0.15 s: {verdict(starts['help_s'] <= 0.15)});"
            f" omscan scan EMPTY_DIR: {starts['empty_scan_s']:.3f} s"
            f" (target <= 0.3 s: {verdict(starts['empty_scan_s'] <= 0.3)}),"
            f" {starts['empty_scan_new_store_s']:.3f} s into a new store"
        )

        full = ("--full", "--backend", "om")
        db = os.path.join(tmp, "bench-0.db")  # kept for the re-scan
        one_core = fastest(
            measured_scan(root, *full, "--jobs", "1", "--db", f"sqlite:///{tmp}/bench-{i}.db")
            for i in range(rounds)
        )
        all_cores = fastest(
            measured_scan(root, *full, "--db", f"sqlite:///{tmp}/all-cores-{i}.db")
            for i in range(rounds)
        )
        figures.update(
            scan_sqlite_s=one_core.seconds,
            scan_sqlite_cpu_s=one_core.cpu_seconds,
            scan_sqlite_all_cores_s=all_cores.seconds,
            scan_sqlite_all_cores_cpu_s=all_cores.cpu_seconds,
            scan_sqlite_all_cores_own_cpu_s=all_cores.own_cpu_seconds,
        )
        figures["scan_postgresql_s"] = min(
            pg_scan(args.pg, root, *full, "--jobs", "1") for _ in range(rounds)
        )
        rescan = fastest(
            measured_scan(root, "--backend", "om", "--db", f"sqlite:///{db}") for _ in range(rounds)
        )
        figures["rescan_sqlite_s"], again = rescan.seconds, rescan.summary
        assert again["files_queried"] == 0 and again["bytes_read"] == 0, again
        small, large = bytes_read_by_weight(db)
        figures.update(bytes_read_small_weights=small, bytes_read_large_weights=large)
        for key in ("scan_sqlite_s", "scan_postgresql_s"):
            figures[key.removesuffix("_s") + "_vs_floor_b"] = figures[key] / figures["floor_b_s"]
        figures["rescan_vs_floor_a"] = figures["rescan_sqlite_s"] / figures["floor_a_s"]
        figures["all_cores_speedup"] = figures["scan_sqlite_s"] / figures["scan_sqlite_all_cores_s"]
        speedup = figures["all_cores_speedup"]
        sqlite_x, pg_x = figures["scan_sqlite_vs_floor_b"], figures["scan_postgresql_vs_floor_b"]
        print(
            f"3. scan --full --jobs 1, SQLite:   {figures['scan_sqlite_s']:.3f} s"
            f" = {sqlite_x:.1f}x floor B (target <= 5x: {verdict(sqlite_x <= 5)})"
        )
        print(
            f"   scan --full --jobs 1, PostgreSQL: {figures['scan_postgresql_s']:.3f} s"
            f" = {pg_x:.1f}x floor B (target <= 6x: {verdict(pg_x <= 6)})"
        )
        print(
            f"   scan --full, all {len(os.sched_getaffinity(0))} cores, SQLite: "
            f"{figures['scan_sqlite_all_cores_s']:.3f} s = {figures['all_cores_speedup']:.2f}x"
            f" faster than --jobs 1 (target >= 1.7x: {verdict(speedup >= 1.7)});"
            f" CPU {figures['scan_sqlite_all_cores_cpu_s']:.3f} s in all its processes,"
            f" {figures['scan_sqlite_all_cores_own_cpu_s']:.3f} s in the scan's own;"
            f" {figures['scan_sqlite_cpu_s']:.3f} s with --jobs 1"
        )
        print(
            f"4. rescan, unchanged tree:         {figures['rescan_sqlite_s']:.3f} s"
            f" = {figures['rescan_vs_floor_a']:.1f}x floor A"
            f" (target <= 2x: {verdict(figures['rescan_vs_floor_a'] <= 2)})"
        )
        parts = parts_of_a_scan(root, tmp, models, rounds)
        figures.update(parts)
        print(
            "   the parts of a --jobs 1 scan, each alone: interpreter and imports"
            f" {parts['part_start_s']:.3f} s, a new store {parts['part_new_store_s']:.3f} s,"
            f" the walk {parts['part_walk_s']:.3f} s, our reader {parts['part_reader_s']:.3f} s,"
            f" writing {models:,} answers {parts['part_write_s']:.3f} s"
            f" (sum {sum(parts.values()):.3f} s)"
        )
        floor = store_import_floor(rounds)
        figures.update(floor)
        imports = floor["store_import_s"]
        walk_and_read = imports + parts["part_walk_s"] + parts["part_reader_s"]
        print(
            f"   bounds: a bare interpreter {floor['python_start_s']:.3f} s; one that imports"
            f" only what opening the store takes {imports:.3f} s, against 0.3 s for an empty"
            f" scan and 2x floor A = {2 * figures['floor_a_s']:.3f} s for the re-scan; with"
            f" the walk and our reader, {walk_and_read:.3f} s against 5x floor B ="
            f" {5 * figures['floor_b_s']:.3f} s for a --jobs 1 full scan"
        )
        print(
            f"   bytes read per model (om): <= {small} B with < 1 MiB of weights,"
            f" <= {large} B with > 1 GiB ({again['files_seen']} files; flat:"
            f" {verdict(large <= small * 1.5)})"
        )

        big = os.path.join(tmp, "big")
        os.mkdir(big)
        count, size = (2, 1 << 29) if args.quick else (6, 1 << 30)
        for index in range(count):
            write_om(os.path.join(big, f"m{index}.om"), spec_for(ModelParams(weight_size=size)))
        entries = list(walk([big], WalkOptions()))
        plain_read([e.path for e in entries])
        figures["plain_read_s"] = timed(plain_read, [e.path for e in entries])
        start = time.perf_counter()
        moved = anyio.run(acl_path, entries)
        figures["acl_path_s"] = time.perf_counter() - start
        figures["acl_vs_plain"] = figures["plain_read_s"] / figures["acl_path_s"]
        print(
            f"5. acl path: {moved / 1e9:.2f} GB in {figures['acl_path_s']:.2f} s, plain read"
            f" {figures['plain_read_s']:.2f} s: {figures['acl_vs_plain']:.0%} of its throughput"
            f" (target >= 80 %: {verdict(figures['acl_vs_plain'] >= 0.8)})"
        )

        budget = size * 2
        with fake_acl():
            measured_scan(
                big,
                "--backend",
                "acl",
                "--max-inflight-bytes",
                str(budget),
                "--db",
                f"sqlite:///{tmp}/acl.db",
                env={**os.environ, "FAKE_ACL_DEVICE_COUNT": "2"},
            )
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        figures.update(budget_bytes=budget, peak_rss_bytes=peak)
        print(
            f"6. peak RSS of an acl scan of {count} x {size >> 20} MiB models with a"
            f" {budget >> 20} MiB budget: {peak >> 20} MiB (target <= {(budget >> 20) + 200} MiB:"
            f" {verdict(peak <= budget + (200 << 20))})"
        )
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
