"""Hostile models: what each costs `omscan query` (time, peak memory), what a scan of a
million sub-models stores, and how soon a scan stuck in an endless model stops.

    python scripts/bench_hostile.py [--dir /var/tmp]

1. `omscan query --json FILE` in a fresh process per file: an ordinary model (for
   scale), every shape of ``om2_writer.HOSTILE_SHAPES`` (a few MB each, made with the
   project's writer) and a classic file of a million one-partition sub-models (17 MB);
2. three `omscan scan --backend om` of that file into SQLite: the database size;
3. a flow model of 4 billion empty tables (a 32 GiB hole, about an hour of walking):
   `omscan scan --timeout 2` (the model is recorded as ``timeout``), then a scan
   interrupted by SIGINT 3 s in, while it is inside that model (time to exit).

Peak memory is the child's own (``wait4``). The last line is JSON with every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scanner.om.om2_writer import HOSTILE_SHAPES, hostile_om2
from scanner.om.writer import ModelParams, endless_flow_model, many_submodels, spec_for, write_om

OMSCAN = [sys.executable, "-m", "scanner"]


def measured(command: list[str], interrupt_after: float | None = None) -> tuple[float, int, str]:
    """Seconds, peak RSS in bytes and stdout of ``command``; SIGINT after a delay if
    asked (then the seconds count from the signal)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if interrupt_after is not None:
        time.sleep(interrupt_after)
        process.send_signal(signal.SIGINT)
        started = time.perf_counter()
    assert process.stdout is not None
    out = process.stdout.read().decode()
    _, _, usage = os.wait4(process.pid, 0)
    return time.perf_counter() - started, usage.ru_maxrss * 1024, out


CASES = ["plain_model", *HOSTILE_SHAPES, "million_submodels"]


def write_cases(folder: Path) -> None:
    write_om(folder / "plain_model.om", spec_for(ModelParams()))
    for shape in HOSTILE_SHAPES:
        (folder / f"{shape}.om").write_bytes(hostile_om2(shape))
    write_om(folder / "million_submodels.om", many_submodels(1_000_000))
    write_om(folder / "endless.om", endless_flow_model())


def made_elsewhere(folder: Path) -> None:
    """The files, written by a fresh interpreter: a child inherits its parent's peak
    memory at fork, so this process must stay small for the children's figures."""
    process = multiprocessing.get_context("spawn").Process(target=write_cases, args=(folder,))
    process.start()
    process.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help="where the files are written")
    args = parser.parse_args()
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        (folder / "q").mkdir()
        made_elsewhere(folder / "q")
        print(f"{'1. omscan query':<22} {'file':>12} {'answer':<16} {'time':>8} {'peak RSS':>10}")
        for label in CASES:
            path = folder / "q" / f"{label}.om"
            seconds, rss, out = measured([*OMSCAN, "query", "--json", str(path)])
            (item,) = json.loads(out)
            answer = f"{item['status']} {item['ret']}"
            size = path.stat().st_size
            print(f"   {label:<19} {size:>12,} {answer:<16} {seconds:>6.2f} s {rss >> 20:>6} MiB")
            figures[label] = {"seconds": round(seconds, 2), "peak_rss_mib": rss >> 20}

        tree, db = folder / "tree", folder / "omscan.db"
        tree.mkdir()
        os.link(folder / "q" / "million_submodels.om", tree / "million_submodels.om")
        scan = [*OMSCAN, "scan", str(tree), "--db", f"sqlite:///{db}", "--backend", "om"]
        for _ in range(3):
            seconds, rss, _ = measured([*scan, "--full"])
        size = db.stat().st_size
        print(f"2. three scans of a million sub-models: database {size:,} B, {seconds:.2f} s each")
        figures["million_submodels_db_bytes_after_3_scans"] = size

        endless = folder / "endless"
        endless.mkdir()
        os.link(folder / "q" / "endless.om", endless / "endless.om")
        scan = [*OMSCAN, "scan", str(endless), "--db", f"sqlite:///{folder / 'e.db'}"]
        seconds, rss, out = measured([*scan, "--backend", "om", "--timeout", "2", "--json"])
        statuses = json.loads(out)["statuses"]
        print(f"3. endless model, --timeout 2: {statuses} in {seconds:.2f} s, {rss >> 20} MiB")
        figures["endless_timeout_2_s"] = round(seconds, 2)
        seconds, _, out = measured([*scan, "--backend", "om", "--json"], interrupt_after=3.0)
        status = json.loads(out)["status"]
        print(f"   endless model, SIGINT after 3 s: {status}, exited {seconds:.2f} s after it")
        figures["endless_sigint_exit_s"] = round(seconds, 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
