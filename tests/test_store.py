"""The store on SQLite and PostgreSQL: batched writes, retries, history, carry, removal."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from scanner.om import QueryResult, query_bytes
from scanner.om.result import Inventory, TensorInfo
from scanner.om.writer import ModelParams, build_om, many_submodels, spec_for
from scanner.store import StoreError, open_store
from scanner.store.migrate import HEAD
from scanner.store.urls import async_url

from .helpers import ROOT, item, ok

FAILED = QueryResult(ret=145000, error="bad magic")
TIMEOUT = QueryResult(ret=None, fault="timeout", error="no answer in 5 s")


async def latest(store: object) -> dict[str, dict[str, object]]:
    rows = await store.fetch("SELECT * FROM latest_results")  # type: ignore[attr-defined]
    return {row["relpath"]: row for row in rows}


@pytest.mark.asyncio
async def test_results_round_trip_with_64_bit_sizes(db_url: str) -> None:
    inventory = Inventory(
        format="om",
        name="net",
        soc_version="Ascend310",
        inputs=(TensorInfo("x", "float16", (1, -1)),),
    )
    async with open_store(db_url) as store:
        scan = await store.start_scan([ROOT], "host", "om", [], {"full": False})
        await store.write_results(
            scan,
            [
                item("a.om", ok(5 << 32, 3 << 33, inventory=inventory)),
                item("b.om", FAILED),
                item("c.om", TIMEOUT),
            ],
        )
        await store.finish_scan(scan, "completed", {"files_seen": 3})
        rows = await latest(store)
    assert rows["a.om"]["work_size"] == 5 << 32 and rows["a.om"]["weight_size"] == 3 << 33
    assert rows["a.om"]["total_size"] == (5 << 32) + (3 << 33)
    assert rows["a.om"]["soc_version"] == "Ascend310"
    assert json.loads(str(rows["a.om"]["inputs"])) == [
        {"name": "x", "dtype": "float16", "shape": [1, -1]}
    ]
    assert (rows["b.om"]["ret"], rows["b.om"]["ret_name"], rows["b.om"]["status"]) == (
        145000,
        "ACL_ERROR_GE_PARAM_INVALID",
        "failed",
    )
    assert rows["c.om"]["ret"] is None and rows["c.om"]["status"] == "timeout"


@pytest.mark.asyncio
async def test_retried_batch_writes_nothing_twice(db_url: str) -> None:
    async with open_store(db_url) as store:
        scan = await store.start_scan([ROOT], "host", "om", [], {})
        batch = [item(f"m{i}.om", ok(i, i)) for i in range(700)]
        await store.write_results(scan, batch)
        await store.write_results(scan, batch)
        (count,) = (await store.fetch("SELECT COUNT(*) AS n FROM results"))[0].values()
        (files,) = (await store.fetch("SELECT COUNT(*) AS n FROM model_files"))[0].values()
    assert (count, files) == (700, 700)


@pytest.mark.asyncio
async def test_later_scans_keep_earlier_history(db_url: str) -> None:
    async with open_store(db_url) as store:
        first = await store.start_scan([ROOT], "host", "om", [], {})
        await store.write_results(first, [item("a.om", ok(1, 1))])
        second = await store.start_scan([ROOT], "host", "om", [], {})
        await store.write_results(second, [item("a.om", ok(2, 2), size=200)])
        history = await store.fetch("SELECT scan_id, work_size FROM results ORDER BY scan_id")
        rows = await latest(store)
    assert [(h["scan_id"], h["work_size"]) for h in history] == [(first, 1), (second, 2)]
    assert rows["a.om"]["work_size"] == 2 and rows["a.om"]["size"] == 200


@pytest.mark.asyncio
async def test_previous_files_remember_the_latest_settled_answer(db_url: str) -> None:
    async with open_store(db_url) as store:
        first = await store.start_scan([ROOT], "host", "om", [], {})
        await store.write_results(first, [item("a.om", ok(1, 1)), item("t.om", TIMEOUT)])
        second = await store.start_scan([ROOT], "host", "om", [], {})
        # a.om changed and then timed out: its settled answer is still the first one
        await store.write_results(second, [item("a.om", TIMEOUT, size=999, inode=2)])
        previous = await store.previous_files(ROOT)
    assert previous["a.om"].settled and previous["a.om"].status == "ok"
    assert (previous["a.om"].size, previous["a.om"].version) == (100, "7:1:1000")
    assert not previous["t.om"].settled


@pytest.mark.asyncio
async def test_carry_forward_copies_the_settled_result(db_url: str) -> None:
    async with open_store(db_url) as store:
        first = await store.start_scan([ROOT], "host", "om", [], {})
        await store.write_results(first, [item("a.om", ok(10, 20)), item("b.om", FAILED)])
        second = await store.start_scan([ROOT], "host", "om", [], {})
        unchanged = list((await store.previous_files(ROOT)).values())
        await store.carry_forward(second, unchanged)
        await store.carry_forward(second, unchanged)  # retried: no duplicate
        rows = await store.fetch(
            "SELECT f.relpath, r.work_size, r.status, r.carried, r.file_size FROM results r"
            " JOIN model_files f ON f.id = r.file_id WHERE r.scan_id = :scan ORDER BY f.relpath",
            scan=second,
        )
        last_seen = await store.fetch("SELECT last_scan_id FROM model_files")
    assert [
        (r["relpath"], r["work_size"], r["status"], bool(r["carried"]), r["file_size"])
        for r in rows
    ] == [
        ("a.om", 10, "ok", True, 100),
        ("b.om", 0, "failed", True, 100),
    ]
    assert {r["last_scan_id"] for r in last_seen} == {second}


@pytest.mark.asyncio
async def test_removed_files_leave_the_view_and_come_back(db_url: str) -> None:
    async with open_store(db_url) as store:
        first = await store.start_scan([ROOT], "host", "om", [], {})
        await store.write_results(first, [item("a.om", ok(1, 1)), item("b.om", ok(2, 2))])
        second = await store.start_scan([ROOT], "host", "om", [], {})
        gone = (await store.previous_files(ROOT))["b.om"].file_id
        assert await store.mark_removed(second, [gone]) == 1
        assert set(await latest(store)) == {"a.om"}
        assert set(await store.previous_files(ROOT)) == {"a.om"}
        third = await store.start_scan([ROOT], "host", "om", [], {})
        await store.write_results(third, [item("b.om", ok(3, 3))])
        rows = await latest(store)
        kept = await store.fetch("SELECT COUNT(*) AS n FROM results")
        removals = await store.fetch("SELECT file_id, scan_id FROM removals")
    assert rows["b.om"]["work_size"] == 3
    assert kept[0]["n"] == 3
    assert removals == [{"file_id": gone, "scan_id": second}]  # kept after its return


@pytest.mark.asyncio
async def test_unreachable_postgres_is_one_clear_line_without_password() -> None:
    with pytest.raises(StoreError) as caught:
        async with open_store("postgresql://omscan:s3cret@127.0.0.1:1/nope"):
            pass
    message = str(caught.value)
    assert "s3cret" not in message and "\n" not in message
    assert "127.0.0.1:1" in message


@pytest.mark.asyncio
async def test_sqlite_in_a_missing_directory_is_a_clear_error(tmp_path: object) -> None:
    with pytest.raises(StoreError, match=r"directory .*/no/such/dir does not exist"):
        async with open_store(f"sqlite:///{tmp_path}/no/such/dir/x.db"):
            pass


@pytest.mark.parametrize(
    "url",
    ["mysql://root@localhost/x", "not a url", "sqlite+pysqlite:///x", "postgresql://u:pw@h:port/x"],
)
@pytest.mark.asyncio
async def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(StoreError):
        async with open_store(url):
            pass


def test_libpq_sslmode_is_passed_to_asyncpg_as_ssl() -> None:
    url = async_url("postgresql://u@db.example/x?sslmode=require")
    assert url.drivername == "postgresql+asyncpg"
    assert dict(url.query) == {"ssl": "require"}


@pytest.mark.asyncio
async def test_uint64_sizes_past_bigint_are_clamped_not_fatal(db_url: str) -> None:
    huge = QueryResult(ret=0, work_size=(1 << 64) - 1, weight_size=(1 << 64) - 1)
    async with open_store(db_url) as store:
        scan = await store.start_scan([ROOT], "host", "om", [], {})
        await store.write_results(scan, [item("huge.om", huge), item("fine.om", ok(1, 2))])
        rows = await latest(store)
    assert rows["huge.om"]["work_size"] == (1 << 62) - 1
    assert rows["huge.om"]["total_size"] == 2 * ((1 << 62) - 1)
    assert str((1 << 64) - 1) in str(rows["huge.om"]["warnings"])
    assert rows["fine.om"]["total_size"] == 3


@pytest.mark.asyncio
async def test_a_migration_that_fails_halfway_leaves_nothing_behind(db_url: str) -> None:
    """Schema changes are all or nothing: a migration stopped halfway must leave neither
    half its tables nor a wrong revision, so the next attempt simply runs again (Python's
    sqlite3 runs DDL outside any transaction unless told otherwise)."""
    async with open_store(db_url, migrate_schema=False) as store:
        await store.upgrade("0001")
        async with store.transaction() as conn:  # makes 0002's last CREATE TABLE fail
            await conn.execute(text("CREATE TABLE work_misses (x INTEGER)"))
        with pytest.raises(StoreError):
            await store.upgrade()
        assert await store.current_revision() == "0001"
        rows = await store.fetch(
            "SELECT name FROM sqlite_master WHERE name = 'work_scans'"
            if db_url.startswith("sqlite")
            else "SELECT tablename AS name FROM pg_tables WHERE tablename = 'work_scans'"
        )
        assert rows == []  # created before the failure, and rolled back with it
        async with store.transaction() as conn:
            await conn.execute(text("DROP TABLE work_misses"))
        await store.upgrade()
        assert await store.current_revision() == HEAD


@pytest.mark.asyncio
async def test_partitions_past_the_listing_limit_are_stored_as_totals(db_url: str) -> None:
    """A million sub-models once stored 57 MB per row; the totals are a few dozen bytes."""
    small = query_bytes(build_om(spec_for(ModelParams())), inventory=True)
    many = query_bytes(build_om(many_submodels(100_000)), inventory=True)
    async with open_store(db_url) as store:
        scan = await store.start_scan([ROOT], "host", "om", [], {"full": False})
        await store.write_results(scan, [item("small.om", small), item("many.om", many)])
        await store.finish_scan(scan, "completed", {"files_seen": 2})
        rows = {
            row["relpath"]: row
            for row in await store.fetch(
                "SELECT relpath, partitions FROM results JOIN model_files f ON f.id = file_id"
            )
        }
    listed = json.loads(str(rows["small.om"]["partitions"]))
    assert [p["type"] for p in listed] == ["MODEL_DEF", "WEIGHTS_DATA", "TASK_INFO", "TBE_KERNELS"]
    assert listed[1] == {"submodel": 0, "type": "WEIGHTS_DATA", "size": 1024}
    stored = str(rows["many.om"]["partitions"])
    assert json.loads(stored) == {
        "count": 100_000,
        "by_type": {"WEIGHTS_DATA": {"count": 100_000, "size": 100_000}},
    }
    assert len(stored) < 100
