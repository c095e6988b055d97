"""What a scan looked at, and nothing else, is what it may call removed.

A narrower --include/--exclude, a sub-directory of a repository, roots given in another
order, nested roots scanned one after the other (locally or distributed), a directory
that cannot be read: none of these removes, adds, moves or re-reads a file that is still
there, and `diff` always tells the difference between the reports after its two scans.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from scanner.cli import cli
from scanner.demo import make_demo
from scanner.scan.distributed import enqueue_scan
from scanner.scan.local import ScanOptions, plan_walk
from scanner.sources.walk import Subtree
from scanner.store import open_store

from .fleet import drain
from .helpers import denying, many_models

Report = dict[tuple[str, str], dict[str, Any]]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


class Scans:
    """Scans of one database, each checked the same way: its `diff` from the scan before
    equals the difference between the reports before and after it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.before: Report = {}
        self.last: int | None = None

    def report(self) -> Report:
        code, out = invoke("report", "--db", self.url, "--format", "json")
        assert code == 0, out
        return {(row["repository"], row["relpath"]): row for row in json.loads(out)}

    def scan(self, *roots: Path, extra: tuple[str, ...] = (), env: Any = None) -> dict[str, Any]:
        command = ["scan", *map(str, roots), "--db", self.url, "--backend", "om", "--json"]
        if env is None:
            code, out = invoke(*command, *extra)
        else:  # a fault injected into a process of its own
            done = subprocess.run(
                [sys.executable, "-m", "scanner", *command, *extra],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            code, out = done.returncode, done.stdout + done.stderr
        assert code in (0, 1), out
        summary = dict(json.loads(out))
        after = self.report()
        if self.last is not None:
            self.check_diff(self.last, summary["scan_id"], self.before, after)
        self.before, self.last = after, summary["scan_id"]
        return summary

    def check_diff(self, a: int, b: int, before: Report, after: Report) -> None:
        code, out = invoke("diff", str(a), str(b), "--db", self.url, "--format", "json")
        assert code == 0, out
        told = {(c["repository"], c["relpath"]): c["change"] for c in json.loads(out)["changes"]}

        def answer(row: dict[str, Any]) -> tuple[Any, ...]:
            return row["status"], row["ret"], row["work_size"], row["weight_size"]

        expected = {key: "removed" for key in before.keys() - after.keys()}
        expected |= {key: "added" for key in after.keys() - before.keys()}
        expected |= {
            key: "changed"
            for key in before.keys() & after.keys()
            if answer(before[key]) != answer(after[key])
        }
        assert told == expected

    def repositories(self) -> list[str]:
        code, out = invoke("sql", "SELECT path FROM repositories", "--db", self.url)
        assert code == 0, out
        return [line.strip() for line in out.splitlines()[2:]]


def relpaths(report: Report) -> list[tuple[str, str]]:
    return sorted(report)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    make_demo(tmp_path / "demo")
    return tmp_path / "demo"


def test_the_walk_plan_follows_the_innermost_repository() -> None:
    assert plan_walk(["/r/a", "/r"], []) == [Subtree("/r")]
    assert plan_walk(["/r/a"], ["/r"]) == [Subtree("/r", "a")]
    assert plan_walk(["/r/a/b"], ["/r", "/r/a"]) == [Subtree("/r/a", "b")]
    assert plan_walk(["/r"], ["/r/a", "/r/a/b", "/x"]) == [
        Subtree("/r/a/b"),
        Subtree("/r/a", prune=frozenset({"b"})),
        Subtree("/r", prune=frozenset({"a", "a/b"})),
    ]
    assert plan_walk(["/r2"], ["/r"]) == [Subtree("/r2")]  # a sibling, not a child


def test_reordered_nested_roots_move_nothing(demo: Path, db_url: str) -> None:
    scans = Scans(db_url)
    first = scans.scan(demo)
    again = scans.scan(demo / "vision", demo)
    assert (again["files_removed"], again["files_queried"]) == (0, 0)
    assert again["files_unchanged"] == first["files_seen"]
    assert scans.repositories() == [str(demo)]


def test_a_subdirectory_is_scanned_as_part_of_its_repository(tmp_path: Path, db_url: str) -> None:
    t3 = tmp_path / "t3"
    many_models(t3, 40)  # d0 … d19, two each
    scans = Scans(db_url)
    scans.scan(t3)
    part = scans.scan(t3 / "d0")
    assert (part["files_unchanged"], part["files_queried"], part["files_removed"]) == (2, 0, 0)
    assert scans.repositories() == [str(t3)]
    assert len(scans.before) == 40  # each file once
    (t3 / "d1/m1.om").unlink()  # outside the part scanned next: unknown to it
    (t3 / "d0/m0.om").unlink()
    assert scans.scan(t3 / "d0")["files_removed"] == 1
    assert (str(t3), "d1/m1.om") in scans.report()
    assert scans.scan(t3)["files_removed"] == 1
    assert len(scans.before) == 38


def test_a_known_repository_inside_a_new_root_keeps_its_files(tmp_path: Path, db_url: str) -> None:
    t3 = tmp_path / "t3"
    many_models(t3, 40)
    scans = Scans(db_url)
    scans.scan(t3 / "d0")
    whole = scans.scan(t3)
    assert (whole["files_unchanged"], whole["files_queried"], whole["files_removed"]) == (2, 38, 0)
    report = scans.before
    assert len(report) == 40  # each file once
    assert {key for key in report if key[0] == str(t3 / "d0")} == {
        (str(t3 / "d0"), "m0.om"),
        (str(t3 / "d0"), "m20.om"),
    }
    assert sorted(scans.repositories()) == [str(t3), str(t3 / "d0")]
    for root in (t3 / "d0", t3):
        summary = scans.scan(root)
        assert (summary["files_queried"], summary["files_removed"]) == (0, 0)


def test_a_narrower_glob_removes_nothing_that_is_still_there(demo: Path, db_url: str) -> None:
    scans = Scans(db_url)
    first = scans.scan(demo)
    narrow = scans.scan(demo, extra=("--include", "vision/*.om", "--exclude", "*lfs*"))
    assert (narrow["files_removed"], narrow["files_queried"]) == (0, 0)
    assert len(scans.before) == first["files_seen"]  # the others keep their answers
    (demo / "nlp/bert_multi.om").unlink()  # out of scope, but gone: removed all the same
    (demo / "vision/resnet50.om").unlink()
    assert scans.scan(demo, extra=("--include", "vision/*.om"))["files_removed"] == 2
    wide = scans.scan(demo)
    assert (wide["files_removed"], wide["files_queried"]) == (0, 0)
    assert len(scans.before) == first["files_seen"] - 2


def test_diff_and_report_agree_below_a_directory_that_became_unreadable(
    tmp_path: Path, db_url: str
) -> None:
    root = tmp_path / "repo"
    many_models(root, 40)
    scans = Scans(db_url)
    scans.scan(root)
    denied = scans.scan(root, env=denying(root / "d7"))
    assert denied["files_removed"] == 0
    report = scans.before
    assert report[(str(root), "d7")]["status"] == "unreadable"
    assert {(str(root), "d7/m7.om"), (str(root), "d7/m27.om")} <= report.keys()
    _, out = invoke("diff", "--db", db_url, "--format", "json")
    changes = json.loads(out)["changes"]
    assert [(c["relpath"], c["change"]) for c in changes] == [("d7", "added")]
    healed = scans.scan(root)
    assert (healed["files_removed"], healed["files_unchanged"]) == (1, 40)  # 1: "d7"


@pytest.mark.asyncio
async def test_distributed_scans_follow_the_same_rule(tmp_path: Path, pg_url: str) -> None:
    t3 = tmp_path / "t3"
    many_models(t3, 40)
    async with open_store(pg_url) as store:
        await enqueue_scan(store, ScanOptions(roots=[str(t3 / "d0")]))
        await drain(store)
        whole = await enqueue_scan(store, ScanOptions(roots=[str(t3)]))
        assert (whole.progress.carried, whole.extra["queued"], whole.removed) == (2, 38, 0)
        await drain(store)
        part = await enqueue_scan(store, ScanOptions(roots=[str(t3 / "d1")]))
        assert (part.progress.carried, part.extra.get("queued", 0), part.removed) == (2, 0, 0)
        rows = await store.fetch("SELECT repository, relpath FROM latest_results")
        repos = await store.fetch("SELECT path FROM repositories ORDER BY path")
    assert len(rows) == len({(r["repository"], r["relpath"]) for r in rows}) == 40
    assert [r["path"] for r in repos] == [str(t3), str(t3 / "d0")]
    assert os.path.isdir(t3 / "d1")


@pytest.mark.parametrize("glob", ["[", "a[b.om", "*.om[!", "[]", ""])
def test_a_glob_that_cannot_mean_what_was_typed_is_a_usage_error(
    demo: Path, sqlite_url: str, glob: str
) -> None:
    for option in ("--include", "--exclude"):
        code, out = invoke("scan", str(demo), "--db", sqlite_url, option, glob)
        assert code == 2
        (error,) = out.splitlines()  # one line, no usage block
        assert error.startswith("omscan: Invalid value")
        assert option in error and (glob == "" or repr(glob) in error)
    assert not os.path.exists(sqlite_url.removeprefix("sqlite:///"))  # nothing ran


@pytest.mark.parametrize("glob", ["[[]*.om", "[]]*.om", "[!a]*.om", "*.om"])
def test_globs_with_closed_brackets_are_accepted(demo: Path, sqlite_url: str, glob: str) -> None:
    assert invoke("scan", str(demo), "--db", sqlite_url, "--include", glob)[0] in (0, 1)
