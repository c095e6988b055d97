"""A store that grows with change, not with nights: an unchanged re-scan writes no answer
and a handful of ``carries`` rows, while the view ``results`` and every question asked of
it answer as when each scan copied every unchanged result (migration 0006_carries)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scanner.ask.diff import diff_scans
from scanner.ask.history import model_history
from scanner.ask.report import ReportFilter, report
from scanner.ask.totals import repository_totals, scan_totals
from scanner.backends.om import OmBackend
from scanner.core import Status
from scanner.om import QueryResult
from scanner.scan.local import ScanOptions, run_scan
from scanner.sources.local import LocalFiles
from scanner.store import Store, open_store
from scanner.store.carries import merge
from scanner.store.schema import answers

from .helpers import ROOT, item, ok, write_model

# How ``diff`` read each side before 0006 (from the table ``results``, carried rows and
# all): asked of the database taken down to 0005, it is the answer of the time.
AS_AFTER_SCAN_AT_0005 = """
SELECT repo.path AS repository, f.relpath AS relpath, r.status AS status, r.ret AS ret,
       r.work_size AS work_size, r.weight_size AS weight_size
FROM results r
JOIN model_files f ON f.id = r.file_id
JOIN repositories repo ON repo.id = f.repository_id
WHERE r.scan_id = :scan
UNION ALL
SELECT repo.path, f.relpath, r.status, r.ret, r.work_size, r.weight_size
FROM model_files f
JOIN repositories repo ON repo.id = f.repository_id
JOIN results r ON r.id = (
    SELECT r2.id FROM results r2 WHERE r2.file_id = f.id AND r2.scan_id < :scan
    ORDER BY r2.scan_id DESC LIMIT 1)
WHERE NOT EXISTS (SELECT 1 FROM results r3 WHERE r3.scan_id = :scan AND r3.file_id = f.id)
  AND NOT EXISTS (
    SELECT 1 FROM removals d
    WHERE d.file_id = f.id AND d.scan_id > r.scan_id AND d.scan_id <= :scan)
"""

COUNTS = (
    "SELECT (SELECT COUNT(*) FROM answers) AS answers, (SELECT COUNT(*) FROM carries) AS carries"
)


def test_merge_takes_runs_of_consecutive_ids() -> None:
    assert merge([(5, 5), (1, 1), (2, 2), (3, 4), (9, 9), (8, 8), (2, 3)]) == [(1, 5), (8, 9)]
    assert merge([(1, 10), (3, 4), (11, 11)]) == [(1, 11)]
    assert merge([]) == []


@pytest.mark.asyncio
async def test_an_unchanged_rescan_adds_one_row_and_a_change_adds_its_own(
    tmp_path: Path, db_url: str
) -> None:
    root = tmp_path / "repo"
    for n in range(40):
        write_model(root / f"m{n:02}.om", 1000 + n, 10)
    options = ScanOptions(roots=[str(root)])

    async def scan() -> dict[str, int]:
        async with open_store(db_url) as store:
            summary = await run_scan(store, OmBackend(LocalFiles()), options)
            assert summary.status == "completed"
            return (await store.fetch(COUNTS))[0]

    assert await scan() == {"answers": 40, "carries": 0}
    assert await scan() == {"answers": 40, "carries": 1}
    assert await scan() == {"answers": 40, "carries": 2}
    # A change or a removal splits the run (one more range); a new file is an answer.
    write_model(root / "m07.om", 5000, 10)
    (root / "m20.om").unlink()
    write_model(root / "new.om", 3000, 10)
    assert await scan() == {"answers": 42, "carries": 5}
    async with open_store(db_url) as store:
        last = await store.fetch(
            "SELECT f.relpath, r.carried, r.work_size FROM results r"
            " JOIN model_files f ON f.id = r.file_id WHERE r.scan_id = 4 ORDER BY f.relpath"
        )
    assert len(last) == 40
    carried = {row["relpath"]: bool(row["carried"]) for row in last}
    assert [name for name, was in carried.items() if not was] == ["m07.om", "new.om"]
    assert {row["relpath"]: row["work_size"] for row in last}["m07.om"] == 5000


async def _questions(store: Store) -> dict[str, Any]:
    """Everything a user can ask of the results, ids aside (a carried row's id was its
    own, it is now that of the answer it repeats)."""
    scans = [row["id"] for row in await store.fetch("SELECT id FROM scans ORDER BY id")]
    diffs = {}
    for a in scans:
        for b in scans:
            if a < b:
                diffs[(a, b)] = [c.to_dict() for c in (await diff_scans(store, a, b))[2]]
    rows = await store.fetch("SELECT * FROM results ORDER BY scan_id, file_id")
    for row in rows:
        del row["id"]
        row["carried"] = bool(row["carried"])
        row["dynamic"] = bool(row["dynamic"])
    latest = await store.fetch("SELECT * FROM latest_results ORDER BY file_id")
    for row in latest:
        row["carried"] = bool(row["carried"])
        row["dynamic"] = bool(row["dynamic"])
    return {
        "results": rows,
        "latest_results": latest,
        "report": await report(store, ReportFilter(sort="path")),
        "diffs": diffs,
        "history": {
            name: await model_history(store, name) for name in ("a.om", "b.om", "c.om", "d.om")
        },
        "repository_totals": await repository_totals(store),
        "scan_totals": await scan_totals(store),
    }


@pytest.mark.asyncio
async def test_every_question_answers_the_same_across_0006(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scans with carries of every kind — a file carried past an unsettled answer (the
    answer repeated is the settled one before it), a change, a removal, a new file, a
    scan that saw only part of the repository — taken down to 0005 (each carry a copied
    row, as omscan wrote them then) and up again: every question answers the same."""
    async with open_store(db_url) as store:

        async def scan(read: dict[str, QueryResult], carry: list[str], gone: list[str]) -> int:
            scan_id = await store.start_scan([ROOT], "host", "om", [], {})
            previous = await store.previous_files(ROOT)
            if read:
                await store.write_results(scan_id, [item(n, r) for n, r in read.items()])
            await store.carry_forward(scan_id, [previous[name] for name in carry])
            await store.mark_removed(scan_id, [previous[name].file_id for name in gone])
            await store.finish_scan(scan_id, "completed", {})
            return scan_id

        timeout = QueryResult(ret=None, error="timed out", fault=Status.TIMEOUT)
        await scan({"a.om": ok(100, 1), "b.om": ok(200, 2), "c.om": ok(300, 3)}, [], [])
        await scan({"a.om": timeout}, ["b.om", "c.om"], [])
        await scan({"b.om": ok(250, 2)}, ["a.om", "c.om"], [])
        await scan({}, ["a.om"], [])  # a sub-directory: b and c not looked at
        await scan({"d.om": ok(400, 4)}, ["a.om", "b.om"], ["c.om"])
        await scan({}, ["a.om", "b.om", "d.om"], [])
        at_head = await _questions(store)
        assert (await store.fetch(COUNTS))[0] == {"answers": 6, "carries": 7}
        carried_a = [h["scan_id"] for h in at_head["history"]["a.om"] if h["carried"]]
        assert carried_a == [3, 4, 5, 6]
        assert [r["status"] for r in at_head["latest_results"]] == ["ok", "ok", "ok"]

        await store.downgrade("0005_identity")
        carried_rows = await store.fetch("SELECT COUNT(*) AS n FROM results WHERE carried")
        assert carried_rows[0]["n"] == 10
        with monkeypatch.context() as then:
            then.setattr("scanner.ask.diff._AS_AFTER_SCAN", AS_AFTER_SCAN_AT_0005)
            then.setattr("scanner.ask.totals._LOOKED_AT", "SELECT * FROM results")
            assert await _questions(store) == at_head
        await store.upgrade()
        assert await _questions(store) == at_head
        assert (await store.fetch(COUNTS))[0] == {"answers": 6, "carries": 7}
        columns = {c.name for c in answers.columns}
        assert "carried" not in columns
