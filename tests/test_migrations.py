"""Migrations on both databases: from empty, down to nothing, and up again."""

from __future__ import annotations

import copy
import os
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, inspect, text

from scanner.backends.om import OmBackend
from scanner.cli import cli
from scanner.scan.lifecycle import ScanSummary
from scanner.scan.local import ScanOptions, run_scan
from scanner.sources.local import LocalFiles
from scanner.store import ResultItem, Store, StoreError, migrate, open_store
from scanner.store.migrate import HEAD, head_revision
from scanner.store.schema import answers, model_files

from .helpers import write_model

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


async def _structure(store: Store) -> dict[str, Any]:
    async with store.transaction() as conn:
        return await conn.run_sync(_inspect)


def _inspect(connection: Connection) -> dict[str, Any]:
    """What a migration decides about each table: columns and whether they take NULL,
    indexes, unique constraints, foreign keys; and the views."""
    inspector = inspect(connection)
    tables: dict[str, Any] = {}
    for table in inspector.get_table_names():
        tables[table] = (
            {c["name"]: c["nullable"] for c in inspector.get_columns(table)},
            sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)),
            sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
            sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in inspector.get_foreign_keys(table)
            ),
        )
    return {"tables": tables, "views": sorted(inspector.get_view_names())}


async def _tables(store: Store) -> dict[str, list[dict[str, Any]]]:
    queries = {
        "model_files": "SELECT * FROM model_files ORDER BY id",
        "results": "SELECT * FROM results ORDER BY id",
        "removals": "SELECT * FROM removals ORDER BY file_id, scan_id",
    }
    return {table: await store.fetch(sql) for table, sql in queries.items()}


@pytest.mark.asyncio
async def test_scans_at_0004_upgrade_and_the_next_scan_carries_every_unchanged_file(
    tmp_path: Path, db_url: str
) -> None:
    """0005_identity: a database at 0004 holding real scans (a carried scan, a failed
    file, a removal) gets version tokens built from its stat columns, the very tokens a
    scan computes, so the next scan reads again only the file touched meanwhile. The
    tables are those of 0004 with the tokens added and the stat columns nullable (as
    ``schema.py`` has them); down and up again, every row and table is as it was."""
    root = tmp_path / "repo"
    for name in ("a.om", "b.om", "sub/c.om", "gone.om"):
        write_model(root / name, 1000, 10)
    (root / "broken.om").write_bytes(b"not a model at all")

    async def scan() -> ScanSummary:
        async with open_store(db_url) as store:
            return await run_scan(store, OmBackend(LocalFiles()), ScanOptions(roots=[str(root)]))

    async with open_store(db_url, migrate_schema=False) as store:
        await store.upgrade("0004_fencing")
        at_0004 = await _structure(store)
    await scan()
    (root / "gone.om").unlink()
    assert (await scan()).progress.carried == 4
    async with open_store(db_url) as store:
        tables = await _tables(store)
        at_head = await _structure(store)
        await store.downgrade("0004_fencing")
        assert await _structure(store) == at_0004
        await store.upgrade()
        assert await _tables(store) == tables
        assert await _structure(store) == at_head
        await store.downgrade("0005_identity")
        at_0005 = await _structure(store)
        await store.upgrade()
    # The tokens come, the stat columns take NULL; nothing else changes (keys, indexes).
    # (``results`` then had the columns of today's ``answers``, and ``carried``.)
    expected = copy.deepcopy(at_0004)
    for name, token, stat, now in (
        ("model_files", "version", ("mtime_ns", "inode", "fs_device"), model_files.columns),
        ("results", "file_version", ("file_mtime_ns", "file_inode"), answers.columns),
    ):
        columns = expected["tables"][name][0]
        columns |= {token: False} | dict.fromkeys(stat, True)
        then = {column.name: column.nullable for column in now}
        assert columns == then | ({"carried": False} if name == "results" else {})
    assert at_0005 == expected
    tokens = {f["relpath"]: f["version"] for f in tables["model_files"]}
    info = (root / "b.om").stat()
    assert tokens["b.om"] == f"{info.st_dev}:{info.st_ino}:{info.st_mtime_ns}"
    assert len(tables["removals"]) == 1

    touched = root / "a.om"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 1))
    summary = await scan()
    assert (summary.progress.queried, summary.progress.carried) == (1, 3)
    async with open_store(db_url) as store:
        carried = await store.fetch(
            "SELECT f.relpath, r.carried FROM results r JOIN model_files f ON f.id = r.file_id"
            " WHERE r.scan_id = :scan ORDER BY f.relpath",
            scan=summary.scan_id,
        )
    assert [(row["relpath"], bool(row["carried"])) for row in carried] == [
        ("a.om", False),
        ("b.om", True),
        ("broken.om", True),
        ("sub/c.om", True),
    ]


def _sqlite_catalog(path: str) -> str:
    """As SQLite reads its schema back: the text of a table's CREATE is left out, since
    Alembic's copy of a table on SQLite writes its foreign keys in no fixed order."""
    with closing(sqlite3.connect(path)) as conn:
        objects = conn.execute(
            "SELECT type, name, tbl_name, CASE type WHEN 'table' THEN NULL ELSE sql END"
            " FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        described: list[object] = [objects]
        for _, table, _, _ in (row for row in objects if row[0] == "table"):
            described.append(conn.execute(f"PRAGMA table_xinfo('{table}')").fetchall())
            keys = conn.execute(f"PRAGMA foreign_key_list('{table}')").fetchall()
            described.append(sorted(key[2:] for key in keys))  # not its position
            indexes = conn.execute(f"PRAGMA index_list('{table}')").fetchall()
            for index in sorted(row[1:] for row in indexes):  # by name, not position
                described.append(index)
                described.append(conn.execute(f"PRAGMA index_xinfo('{index[0]}')").fetchall())
        described.append(conn.execute("SELECT version_num FROM alembic_version").fetchall())
    return "\n".join(map(repr, described))


def _output(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def _catalog(url: str) -> str:
    """Every table, column, index, constraint, view and sequence of the database as its own
    tool prints them (PostgreSQL: pg_dump) or SQLite's PRAGMAs read them, and the stamp."""
    if url.startswith("sqlite"):
        return _sqlite_catalog(url.removeprefix("sqlite:///"))
    dump = _output("pg_dump", "--schema-only", "--no-owner", "--dbname", url)
    stamp = _output("psql", "-At", "-c", "SELECT version_num FROM alembic_version", url)
    # \restrict carries a random key per dump (pg_dump 15.14 and later)
    lines = [
        line for line in dump.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))
    ]
    return "\n".join([*lines, stamp])


def test_the_recorded_schema_is_at_head() -> None:
    """Else a new database silently takes Alembic's slow way again: after a new
    migration, run ``scripts/snapshot_schema.py``."""
    recorded = migrate.head_snapshot()
    assert recorded["revision"] == HEAD, "run scripts/snapshot_schema.py"
    assert recorded["sqlite"] and recorded["postgresql"]


@pytest.mark.asyncio
async def test_a_new_store_gets_the_schema_the_migrations_make(
    db_url: str, other_db_url: str
) -> None:
    """A new database is given the recorded statements instead of Alembic's steps: the
    result is the same catalog, to the column order and the constraint names."""
    async with open_store(db_url):
        pass
    async with (
        open_store(other_db_url, migrate_schema=False) as store,
        store.transaction() as conn,
    ):
        await conn.run_sync(migrate.run_migrations, "head")
    created, migrated = _catalog(db_url), _catalog(other_db_url)
    assert "model_files" in created and "latest_results" in created and HEAD in created
    assert created == migrated


@pytest.mark.asyncio
async def test_a_database_with_the_version_table_but_no_stamp_goes_through_alembic(
    db_url: str,
) -> None:
    """Down to base, Alembic leaves its table behind, empty: the way up is its own."""
    async with open_store(db_url) as store:
        await store.downgrade("base")
        await store.upgrade()
        assert await store.current_revision() == HEAD
        assert (await store.fetch(TABLES))[0]["n"] == 0


@pytest.mark.asyncio
async def test_a_new_schema_that_fails_halfway_leaves_nothing_behind(db_url: str) -> None:
    """The recorded statements run in one transaction, as the migrations do: a table in
    the way (the last one they make) leaves neither the tables made before it nor a stamp."""
    async with open_store(db_url, migrate_schema=False) as store:
        async with store.transaction() as conn:
            await conn.execute(text("CREATE TABLE carries (x INTEGER)"))
        with pytest.raises(StoreError):
            await store.upgrade()
        names = await store.fetch(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            if db_url.startswith("sqlite")
            else "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
        )
        assert [row["name"] for row in names] == ["carries"]
        async with store.transaction() as conn:
            await conn.execute(text("DROP TABLE carries"))
        await store.upgrade()
        assert await store.current_revision() == HEAD
