"""Mutation testing with cosmic-ray: plant small bugs in the code the scan's promises rest
on, run the tests that should notice, and print the bugs no test noticed (survivors).

Slow (tens of minutes to hours on two cores): run it by hand, not in CI, e.g.

    nice -n 19 .venv/bin/python scripts/mutation.py                  # every group
    nice -n 19 .venv/bin/python scripts/mutation.py queue sql         # some groups
    .venv/bin/python scripts/mutation.py --report                     # survivors again

Needs the `mutation` extra (`pip install -e '.[mutation]'`). The code and tests are
copied to ``--workdir`` first (default ``.mutation/``) and mutated there, never in the
work tree; PYTHONPATH points there, so `python -m scanner` processes started by the tests
run the mutant too. Each group is its own cosmic-ray session (``<group>.sqlite``), so a
stopped run resumes where it was (``--fresh`` starts over), and each group runs only the
tests that exercise its modules. Survivors judged equivalent (no test could tell) are
listed in ``ACCEPTED`` below with the reason; the rest need a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COSMIC_RAY = Path(sys.executable).with_name("cosmic-ray")
FILTER = Path(sys.executable).with_name("cr-filter-operators")
PYTEST = f"{sys.executable} -m pytest -x -q -p no:randomly -p no:cacheprovider --timeout=120"


@dataclass(frozen=True)
class Group:
    modules: tuple[str, ...]
    tests: tuple[str, ...]  # pytest arguments: the fast tests that exercise the modules
    timeout: float  # seconds per mutant; a mutant that hangs the tests counts as killed
    numbers: bool = False  # mutate constants too: offsets and limits in the format reader,
    # while elsewhere they are tunables (batch sizes, timeouts) no test should pin


OM = ("errors", "header", "inventory", "layout", "om2", "query", "reader", "result", "source")
GROUPS = {
    # The reader: every error code and size is checked against known answers.
    "om": Group(
        tuple(f"scanner/om/{name}.py" for name in OM),
        (
            "tests/test_reader_paths.py",
            "tests/test_om2.py",
            "tests/test_writer.py",
            "tests/test_reader_corpus.py",
        ),
        120,
        numbers=True,
    ),
    "budget": Group(
        ("scanner/scan/budget.py", "scanner/scan/pipeline.py"),
        (
            "tests/test_budget.py",
            "tests/test_budget_held.py",
            "tests/test_pipeline_batches.py",
            "tests/test_verify.py",
            "tests/test_scan.py",
            "-k",
            "not acl and not corpus and not postgresql",
        ),
        180,
    ),
    "walk": Group(
        ("scanner/sources/walk.py", "scanner/sources/local.py", "scanner/scan/local.py"),
        (
            "tests/test_walk_scope.py",
            "tests/test_unchanged_rule.py",
            "tests/test_verify.py",
            "tests/test_scan.py",
            "-k",
            "not acl and not corpus and not postgresql",
        ),
        240,
    ),
    "queue": Group(
        ("scanner/store/queue.py",),
        (
            "tests/test_leases.py",
            "tests/test_queue_states.py",
            "tests/test_distributed.py",
            "-k",
            "leases or states or host or given_up or same_answers or draining",
        ),
        240,
    ),
    "distributed": Group(
        ("scanner/scan/distributed.py",),
        (
            "tests/test_leases.py",
            "tests/test_distributed.py",
            "-k",
            "leases or host or given_up or same_answers or draining or need_postgresql",
        ),
        240,
    ),
    "sql": Group(
        ("scanner/ask/sql.py",),
        ("tests/test_sql_layers.py", "tests/test_ask.py", "-k", "sql or authorizer or layer"),
        180,
    ),
}

# Of cosmic-ray's operators, the usual small bugs: + and -, a comparison's boundary or
# its negation, `and`/`or`, a constant, a loop that never runs, an exception no longer
# caught. Excluded: swapping every binary operator for every other (~1,400 mutants of
# shifts into powers, mostly noise), removing a decorator (@dataclass: nothing loads).
EXCLUDE = (
    r"core/ReplaceBinaryOperator_(?!(Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Div|Mod_FloorDiv"
    r"|LShift_RShift|RShift_LShift|BitAnd_BitOr|BitOr_BitAnd|BitXor_BitOr)$)",
    r"core/ReplaceComparisonOperator_(?!(Eq_NotEq|NotEq_Eq|Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt"
    r"|Is_IsNot|IsNot_Is|In_NotIn|NotIn_In)$)",
    r"core/RemoveDecorator",  # @dataclass, @property: the program no longer loads
    r"core/ReplaceUnaryOperator_.*_(UAdd|Invert)$",
)

# Survivors no test can kill, by "module:line operator": why each is equivalent or left.
ACCEPTED: dict[str, str] = {
    "scanner/scan/pipeline.py:46 core/ReplaceAndWithOr": "weakens an assert of an invariant",
    "scanner/scan/pipeline.py:153 core/ExceptionReplacer": (
        "load raised: the pipeline ends with that error, and its budget with it"
    ),
    "scanner/scan/pipeline.py:161 core/AddNot": (
        "only acl reads fail at load: killed by test_faults.py's changed-while-read acl"
        " cases, outside this group's fast tests"
    ),
    "scanner/scan/pipeline.py:238 core/ReplaceTrueWithFalse": (
        "shields a loop without awaits and flush(), which shields its own write"
    ),
    "scanner/scan/local.py:147 core/ReplaceTrueWithFalse": (
        "closing a cancelled scan: only the SIGINT process test cancels a local scan"
    ),
    "scanner/scan/local.py:224 core/ExceptionReplacer": (
        "the store failing while a failed scan is closed: only the disk-full process test"
    ),
    "scanner/scan/local.py:225 core/AddNot": "idem",
    "scanner/scan/local.py:225 core/ReplaceComparisonOperator_NotEq_Eq": "idem",
    # `omscan status` (scan_progress): only the slow process test reads it, and not every
    # field; left untested: the rate, the 60 s "lost" threshold, an unknown scan id.
    "scanner/store/queue.py:341 core/ReplaceTrueWithFalse": "omscan status: slow test only",
    "scanner/store/queue.py:358 core/ReplaceTrueWithFalse": "omscan status: slow test only",
    "scanner/store/queue.py:368 core/ReplaceComparisonOperator_Is_IsNot": "idem",
    "scanner/store/queue.py:372 core/ReplaceBinaryOperator_Sub_Add": "status elapsed: untested",
    "scanner/store/queue.py:372 core/ReplaceOrWithAnd": "status elapsed: untested",
    "scanner/store/queue.py:375 core/AddNot": "status rate: untested",
    "scanner/store/queue.py:392 core/AddNot": "status rate: untested",
    "scanner/store/queue.py:392 core/ReplaceBinaryOperator_Div_Mul": "status rate: untested",
    "scanner/store/queue.py:392 core/ReplaceComparisonOperator_Gt_GtE": "status rate: untested",
    "scanner/store/queue.py:368 core/AddNot": "omscan status of no scan: untested",
    "scanner/store/queue.py:373 core/ZeroIterationForLoop": "omscan status: slow test only",
    "scanner/store/queue.py:375 core/ReplaceBinaryOperator_Div_Mul": "status rate: untested",
    "scanner/store/queue.py:378 core/AddNot": "status alive/lost: untested",
    "scanner/store/queue.py:378 core/ReplaceComparisonOperator_Lt_LtE": "idem",
    "scanner/ask/sql.py:52 core/ReplaceTrueWithFalse": (
        "this SQLite build reads file: URIs whatever the flag (SQLITE_USE_URI)"
    ),
    "scanner/ask/sql.py:69 core/ExceptionReplacer": (
        "dead on Python >= 3.11, where a second statement raises ProgrammingError"
    ),
    "scanner/ask/sql.py:94 core/AddNot": "closing the connection ends the transaction anyway",
    "scanner/ask/sql.py:94 core/ReplaceUnaryOperator_Delete_Not": "idem",
    "scanner/ask/sql.py:122 core/ReplaceBinaryOperator_Add_Sub": (
        "the default client-side bound for a server that stops answering: a tunable"
    ),
    "scanner/ask/sql.py:122 core/ReplaceBinaryOperator_Div_Mul": "idem",
    "scanner/ask/sql.py:123 core/ReplaceFalseWithTrue": (
        "the test server trusts every login: a masked password still connects"
    ),
    "scanner/sources/walk.py:190 core/ExceptionReplacer": (
        "a file that stats but cannot be opened: root opens every file"
    ),
}
# Survivors equivalent wherever they occur: (operator, the line mutated, why).
EQUIVALENT = (
    (r"ReplaceTrueWithFalse", r"@dataclass\(frozen=True\)", "frozen only forbids assignment"),
    (r"ReplaceBinaryOperator_BitOr_BitAnd", r"[\w\]] \| None", "an annotation, never evaluated"),
    (r"ReplaceBinaryOperator_Mul_Div", r"^\s*\*,$", "callers pass these by keyword anyway"),
)


def accepted(where: str, diff: str) -> str | None:
    """Why a survivor is accepted, or None."""
    if where in ACCEPTED:
        return ACCEPTED[where]
    removed = [line[1:] for line in diff.splitlines() if line.startswith("-")][-1:]
    for operator, line, reason in EQUIVALENT:
        if re.search(operator, where) and removed and re.search(line, removed[0]):
            return reason
    return None


def config(group: Group, workdir: Path) -> str:
    """The cosmic-ray configuration (TOML) of one group."""
    modules = ", ".join(json.dumps(m) for m in group.modules)
    missing = [t for t in group.tests if t.startswith("tests/") and not (workdir / t).exists()]
    if missing:  # said aloud: the survivors then only speak for the tests that ran
        print(f"not present, left out: {' '.join(missing)}")
    tests = shlex.join(t for t in group.tests if t not in missing)
    exclude = EXCLUDE if group.numbers else (*EXCLUDE, "core/NumberReplacer")
    excluded = ", ".join(json.dumps(e) for e in exclude)
    return (
        "[cosmic-ray]\n"
        f"module-path = [{modules}]\n"
        "excluded-modules = []\n"
        f"timeout = {group.timeout}\n"
        f"test-command = {json.dumps(f'{PYTEST} {tests}')}\n\n"
        '[cosmic-ray.distributor]\nname = "local"\n\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = [{excluded}]\n"
    )


def copy_project(workdir: Path) -> None:
    """The code and tests, as they are in the work tree now, for mutating."""
    for name in ("scanner", "migrations", "tests"):
        shutil.rmtree(workdir / name, ignore_errors=True)
        shutil.copytree(REPO / name, workdir / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "pyproject.toml", workdir / "pyproject.toml")


def run(command: list[str], workdir: Path) -> None:
    # The copy has no ../shared beside it: point at the corpus, and make a missing
    # corpus or database fail the baseline rather than skip tests (every mutant would
    # then "survive").
    corpus = os.environ.get("OMSCAN_CORPUS", str(REPO.parent / "shared" / "om-corpus"))
    env = {
        **os.environ,
        "PYTHONPATH": str(workdir),
        "OMSCAN_CORPUS": corpus,
        "OMSCAN_TEST_COMPLETE": "1",
    }
    subprocess.run(command, cwd=workdir, check=True, env=env)


def survivors(session: Path) -> list[tuple[str, str]]:
    """(where, diff) of every mutant that survived."""
    dump = subprocess.run(
        [str(COSMIC_RAY), "dump", str(session)], capture_output=True, text=True, check=True
    )
    found = []
    for line in dump.stdout.splitlines():
        item, result = json.loads(line)
        if result is None or result.get("test_outcome") != "survived":
            continue
        (mutation,) = item["mutations"]
        where = f"{mutation['module_path']}:{mutation['start_pos'][0]}"
        found.append((f"{where} {mutation['operator_name']}", result.get("diff") or ""))
    return sorted(found)


def forget_survivors(session: Path) -> None:
    """Drop the survivors' results: the next exec runs them again."""
    from cosmic_ray.work_db import WorkResultStorage

    table = WorkResultStorage.__tablename__
    with closing(sqlite3.connect(session)) as conn, conn:
        conn.execute(f"DELETE FROM {table} WHERE test_outcome = 'SURVIVED'")


def tally(session: Path) -> dict[str, int]:
    dump = subprocess.run(
        [str(COSMIC_RAY), "dump", str(session)], capture_output=True, text=True, check=True
    )
    counts: dict[str, int] = {}
    for line in dump.stdout.splitlines():
        _, result = json.loads(line)
        outcome = "pending" if result is None else result.get("test_outcome") or "skipped"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="*", help=f"some of {', '.join(GROUPS)} (default: all)")
    parser.add_argument("--workdir", type=Path, default=REPO / ".mutation")
    parser.add_argument("--fresh", action="store_true", help="start every session over")
    parser.add_argument("--report", action="store_true", help="print survivors, run nothing")
    parser.add_argument(
        "--retest-survivors",
        action="store_true",
        help="run the survivors of an earlier run again, against the tests as they are now",
    )
    args = parser.parse_args()
    if unknown := set(args.groups) - set(GROUPS):
        parser.error(f"no such group: {', '.join(sorted(unknown))}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    if not args.report:
        copy_project(args.workdir)
    unexplained = 0
    for name in args.groups or GROUPS:
        group, session = GROUPS[name], args.workdir / f"{name}.sqlite"
        if not args.report:
            (args.workdir / f"{name}.toml").write_text(config(group, args.workdir))
            if args.fresh or not session.exists():
                session.unlink(missing_ok=True)
                # Unmutated, the tests must pass: else every mutant would count as killed.
                run([str(COSMIC_RAY), "baseline", f"{name}.toml"], args.workdir)
                run([str(COSMIC_RAY), "init", f"{name}.toml", session.name], args.workdir)
                run([str(FILTER), session.name, f"{name}.toml"], args.workdir)
            elif args.retest_survivors:
                forget_survivors(session)
            run([str(COSMIC_RAY), "exec", f"{name}.toml", session.name], args.workdir)
        print(f"== {name}: {tally(session)}")
        for where, diff in survivors(session):
            reason = accepted(where, diff)
            unexplained += reason is None
            print(f"survived {where}" + (f"  (accepted: {reason})" if reason else ""))
            if reason is None:
                print("".join(f"    {line}\n" for line in diff.splitlines() if line[:1] in "+-"))
    print(f"{unexplained} survivor(s) without a test or a reason")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
