"""Migrations on both databases: from empty, down to nothing, and up again."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from scanner.cli import cli
from scanner.store import ResultItem, StoreError, open_store
from scanner.store.migrate import head_revision

TABLES = "SELECT COUNT(*) AS n FROM latest_results"


@pytest.mark.asyncio
async def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    async with open_store(db_url, migrate_schema=False) as store:
        assert await store.current_revision() is None
        await store.upgrade()
        assert await store.current_revision() == head_revision()
        assert (await store.fetch(TABLES))[0]["n"] == 0
        await store.downgrade("base")
        assert await store.current_revision() is None
        with pytest.raises(StoreError):
            await store.fetch(TABLES)
        await store.upgrade()
        assert await store.current_revision() == head_revision()
        assert (await store.fetch(TABLES))[0]["n"] == 0


@pytest.mark.asyncio
async def test_database_from_a_newer_omscan_is_refused(db_url: str) -> None:
    async with open_store(db_url) as store, store.transaction() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'ffff_future'"))
    with pytest.raises(StoreError, match="newer than this omscan"):
        async with open_store(db_url):
            pass


def test_cli_db_current_and_upgrade(db_url: str) -> None:
    runner = CliRunner()
    before = runner.invoke(cli, ["db", "current", "--db", db_url])
    assert before.exit_code == 0, before.output
    assert "none (empty database)" in before.output
    up = runner.invoke(cli, ["db", "upgrade", "--db", db_url])
    assert up.exit_code == 0 and f"revision {head_revision()}" in up.output
    after = runner.invoke(cli, ["db", "current"], env={"OMSCAN_DB": db_url})
    assert after.exit_code == 0 and "up to date" in after.output


def test_cli_unreachable_database_exits_3_with_one_line() -> None:
    result = CliRunner().invoke(cli, ["db", "current", "--db", "postgresql://u:pw@127.0.0.1:1/x"])
    assert result.exit_code == 3
    assert result.output.count("\n") == 1 and "pw" not in result.output.replace("postgresql", "")


def test_head_constant_matches_the_migration_scripts() -> None:
    from scanner.store.migrate import HEAD

    assert head_revision() == HEAD


@pytest.mark.asyncio
async def test_removals_written_at_0002_are_carried_up_and_down(db_url: str) -> None:
    """0003_removals: a removal recorded before the table existed is in it after the
    upgrade (so `diff` sees it), and a downgrade takes only the table away."""
    from scanner.ask.diff import diff_scans
    from scanner.om import QueryResult

    def item(relpath: str) -> ResultItem:
        return ResultItem("/models", relpath, 1, 1, 1, 1, "1:1:1", QueryResult(ret=0), "om")

    async with open_store(db_url) as store:  # today's writes, taken down to 0002
        first = await store.start_scan(["/models"], "host", "om", [], {})
        await store.write_results(first, [item("a.om"), item("b.om")])
        second = await store.start_scan(["/models"], "host", "om", [], {})
        await store.downgrade("0002")
        async with store.transaction() as conn:  # as the scan of 0002 recorded a removal
            await conn.execute(
                text("UPDATE model_files SET removed_scan_id = :s WHERE relpath = 'b.om'"),
                {"s": second},
            )
        files = await store.fetch("SELECT * FROM model_files ORDER BY id")
        await store.upgrade()
        removals = (
            "SELECT f.relpath, d.scan_id FROM removals d JOIN model_files f ON f.id = d.file_id"
        )
        assert await store.fetch(removals) == [{"relpath": "b.om", "scan_id": second}]
        _, _, changes = await diff_scans(store, first, second)
        assert [(c.relpath, c.kind) for c in changes] == [("b.om", "removed")]
        await store.downgrade("0002")
        assert await store.current_revision() == "0002"
        assert await store.fetch("SELECT * FROM model_files ORDER BY id") == files
        with pytest.raises(StoreError):
            await store.fetch(removals)
        await store.upgrade()
        assert await store.fetch(removals) == [{"relpath": "b.om", "scan_id": second}]
