"""How the store grows with unchanged nights: a fleet of models scanned once, then
re-scanned N times with nothing changed, through the store's own calls, as a scan makes
them (the answers of the first night in batches; each later night the previous files,
then every file carried, batch by batch). Prints the SQLite database size and row counts
after each night; the last line is JSON.

    python scripts/bench_growth.py [--nights 30] [--models 100000] [--batch 512] [--ask]

``--ask`` also times the questions asked of such a store (report, diff of the last two
scans and of the first and last, one model's history, the totals per repository and per
scan).

Runs against whatever ``scanner`` is importable: run it from an older checkout to
measure that one. The database goes to a temporary directory, removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from bench_store import ROOT, items

from scanner.store import ResultItem, Store, open_store


async def size(store: Store) -> int:
    """The database's pages (those still in the WAL too), in bytes."""
    pages = await store.fetch("PRAGMA page_count")
    page = await store.fetch("PRAGMA page_size")
    return int(next(iter(pages[0].values()))) * int(next(iter(page[0].values())))


async def night(store: Store, first: list[ResultItem] | None, batch: int) -> None:
    scan = await store.start_scan([ROOT], "bench", "om", [], {})
    if first is not None:
        for offset in range(0, len(first), batch):
            await store.write_results(scan, first[offset : offset + batch])
    else:
        previous = list((await store.previous_files(ROOT)).values())
        for offset in range(0, len(previous), batch):
            await store.carry_forward(scan, previous[offset : offset + batch])
    await store.finish_scan(scan, "completed", {})


async def ask(store: Store, nights: int) -> dict[str, float]:
    """Seconds each question takes."""
    from scanner.ask.diff import diff_scans
    from scanner.ask.history import model_history
    from scanner.ask.report import ReportFilter, report
    from scanner.ask.totals import repository_totals, scan_totals

    questions: dict[str, Callable[[], Awaitable[object]]] = {
        "report": lambda: report(store, ReportFilter()),
        "diff": lambda: diff_scans(store, None, None),
        "diff 1 N": lambda: diff_scans(store, 1, nights),
        "history": lambda: model_history(store, "d5/m5.om"),
        "repository_totals": lambda: repository_totals(store),
        "scan_totals": lambda: scan_totals(store),
    }
    seconds = {}
    for name, question in questions.items():
        started = time.perf_counter()
        await question()
        seconds[name] = round(time.perf_counter() - started, 2)
        print(f"{name:18} {seconds[name]:6.2f} s", flush=True)
    return seconds


async def count(store: Store, table: str) -> int | None:
    try:
        return int((await store.fetch(f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"])
    except Exception:  # a table this version does not have
        return None


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="omscan-growth-") as folder:
        path = os.path.join(folder, "omscan.db")
        url = f"sqlite:///{path}"
        first: list[ResultItem] | None = items(args.models)
        sizes = []
        started = time.perf_counter()
        async with open_store(url) as store:
            for n in range(1, args.nights + 1):
                await night(store, first, args.batch)
                first = None
                sizes.append(await size(store))
                print(f"night {n:3}: {sizes[-1] / 1e6:9.1f} MB", flush=True)
            rows = {t: await count(store, t) for t in ("results", "answers", "carries")}
            asked = await ask(store, args.nights) if args.ask else {}
        final = sizes[-1]
        on_disk = os.path.getsize(path)  # closed: the WAL is folded back into the file
        seconds = time.perf_counter() - started
    print(
        f"{args.models:,} models, {args.nights} nights: {final / 1e6:,.1f} MB"
        f" ({final / 1e6 / args.nights:,.2f} MB a night on average); rows {rows}; {seconds:.0f} s"
    )
    return {
        "models": args.models,
        "nights": args.nights,
        "bytes": final,
        "bytes_on_disk": on_disk,
        "bytes_after_first_night": sizes[0],
        "rows": rows,
        "seconds": round(seconds, 1),
        "questions_s": asked,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=30)
    parser.add_argument("--models", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--ask", action="store_true")
    print(json.dumps(anyio.run(main, parser.parse_args())))
