"""Two checkouts of omscan, whole commands, interleaved on one tree: A, B, A, B …

The machine drifts by a third from one minute to the next, so a figure from one run
and a figure from another hour compare nothing. This runs `omscan scan --full` from
each checkout in turn, on one tree, and prints each side's runs sorted: wall time, the
CPU time of the scan's own process, and that of all its processes (reader processes
included). ``--scan rescan`` times unchanged re-scans instead, and ``--scan empty`` scans
of an empty directory, each side into a database its own first scan made. To compare
with an earlier commit:

    git worktree add /tmp/before COMMIT
    python scripts/bench_ab.py /tmp/before . --jobs 2 --rounds 4
"""

from __future__ import annotations

import argparse
import compileall
import os
import tempfile
from pathlib import Path

from bench import measured_scan
from make_corpus import make_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs=2, help="two directories that hold scanner/")
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--jobs", default="1")
    parser.add_argument(
        "--scan",
        choices=("full", "rescan", "empty"),
        default="full",
        help="a full scan into a new database, an unchanged re-scan, an empty directory",
    )
    args = parser.parse_args()
    checkouts = [os.path.realpath(path) for path in args.checkouts]
    for path in checkouts:
        compileall.compile_dir(os.path.join(path, "scanner"), quiet=1)
    runs: dict[str, list[tuple[float, float, float]]] = {path: [] for path in checkouts}
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        root = os.path.join(tmp, "repo")
        if args.scan == "empty":
            os.mkdir(root)
        else:
            make_corpus(Path(root), args.models, args.seed)
            os.sync()
        os.chdir(tmp)  # `python -m scanner` puts the working directory first on the path
        envs = [{**os.environ, "PYTHONPATH": path} for path in checkouts]
        again = args.scan != "full"  # into the database of a first scan
        if again:
            for side, env in enumerate(envs):
                measured_scan(
                    root, "--backend", "om", "--db", f"sqlite:///{tmp}/{side}.db", env=env
                )
        for index in range(args.rounds):
            for side, (path, env) in enumerate(zip(checkouts, envs, strict=True)):
                db = f"sqlite:///{tmp}/{side}.db" if again else f"sqlite:///{tmp}/{side}-{index}.db"
                how = () if again else ("--full",)
                run = measured_scan(
                    root, *how, "--backend", "om", "--jobs", args.jobs, "--db", db, env=env
                )
                runs[path].append((run.seconds, run.own_cpu_seconds, run.cpu_seconds))
    for path, done in runs.items():
        print(path)
        for label, index in (("wall", 0), ("own CPU", 1), ("all CPU", 2)):
            figures = sorted(run[index] for run in done)
            print(f"  {label:8} " + "  ".join(f"{seconds:.2f}" for seconds in figures))


if __name__ == "__main__":
    main()
