"""Each read-only layer of `omscan sql`, on its own: any one of them must hold even if
another were lost. SQLite: the read-only open, and the authorizer (each tested with the
other out of the way); PostgreSQL: the READ ONLY transaction, with statements that
return rows (so the "queries only" check lets them through)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from scanner.ask import sql_postgres, sql_sqlite
from scanner.ask.sql import ReadOnlyViolation, SqlError, run_sql

from .helpers import query, run, write_model

# (``results`` is a view since 0006: the table of what scans read is ``answers``.)
SQLITE_WRITES = [
    "DELETE FROM answers",
    "UPDATE scans SET status = 'x'",
    "INSERT INTO repositories (path) VALUES ('/x')",
    "DROP TABLE answers",
    "CREATE TABLE evil (x int)",
]
# Statements that return rows and change something: only READ ONLY stops them.
POSTGRES_WRITES_WITH_ROWS = [
    "WITH gone AS (DELETE FROM answers RETURNING id) SELECT COUNT(*) FROM gone",
    "WITH x AS (UPDATE scans SET status = 'x' RETURNING id) SELECT * FROM x",
    "INSERT INTO repositories (path) VALUES ('/x') RETURNING id",
    "SELECT nextval('answers_id_seq')",
]


def scanned(tmp_path: Path, url: str) -> str:
    write_model(tmp_path / "repo" / "a.om", 1000, 10)
    assert run("scan", str(tmp_path / "repo"), "--db", url)[0] == 0
    return url


@pytest.fixture
def sqlite_store(tmp_path: Path, sqlite_url: str) -> str:
    """A SQLite store holding one scan."""
    return scanned(tmp_path, sqlite_url)


@pytest.fixture
def pg_store(tmp_path: Path, pg_url: str) -> str:
    """A PostgreSQL store holding one scan."""
    return scanned(tmp_path, pg_url)


def everything(url: str) -> list[Any]:
    tables = ("scans", "repositories", "model_files", "answers", "carries", "results")
    return [query(url, f"SELECT * FROM {table} ORDER BY 1") for table in tables]


def allow_everything(action: int, *_args: Any) -> int:
    return sqlite3.SQLITE_OK


@pytest.mark.asyncio
@pytest.mark.parametrize("statement", SQLITE_WRITES)
async def test_sqlite_read_only_open_holds_without_the_authorizer(
    sqlite_store: str, monkeypatch: pytest.MonkeyPatch, statement: str
) -> None:
    url = sqlite_store
    before = everything(url)
    monkeypatch.setattr(sql_sqlite, "authorize", allow_everything)
    with pytest.raises(ReadOnlyViolation, match="readonly"):
        await run_sql(url, statement)
    assert everything(url) == before


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "statement", ["ATTACH DATABASE ':memory:' AS evil", "PRAGMA query_only = 0", "VACUUM"]
)
async def test_sqlite_statements_only_the_authorizer_stops_are_refused(
    sqlite_store: str, statement: str
) -> None:
    """Allowed on a read-only file, refused by the authorizer: a refusal, not bad SQL."""
    with pytest.raises(ReadOnlyViolation, match="refused: omscan sql is read-only"):
        await run_sql(sqlite_store, statement)


@pytest.mark.asyncio
async def test_invalid_sql_is_an_sql_error_not_a_refusal(sqlite_store: str) -> None:
    with pytest.raises(SqlError, match="syntax error"):
        await run_sql(sqlite_store, "SELEC 1")
    with pytest.raises(SqlError, match="no such column"):
        await run_sql(sqlite_store, "SELECT no_such_column FROM results")


@pytest.mark.parametrize(
    "statement",
    [
        *SQLITE_WRITES,
        "ATTACH DATABASE ':memory:' AS evil",
        "PRAGMA query_only = 0",
        "PRAGMA journal_mode = DELETE",
        "VACUUM",
    ],
)
def test_sqlite_authorizer_holds_on_a_read_write_connection(
    sqlite_store: str, statement: str
) -> None:
    url = sqlite_store
    before = everything(url)
    path = sqlite_store.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.set_authorizer(sql_sqlite.authorize)
        assert conn.execute("SELECT COUNT(*) FROM results").fetchone() == (1,)  # reads do
        with pytest.raises(sqlite3.DatabaseError, match=r"not authorized|authorization denied"):
            conn.execute(statement)
    assert everything(url) == before


@pytest.mark.asyncio
@pytest.mark.parametrize("statement", POSTGRES_WRITES_WITH_ROWS)
async def test_postgres_read_only_transaction_refuses_writes_that_return_rows(
    pg_store: str, statement: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the statement's vetting (one SELECT, allowed names only) out of the way."""

    async def vet_nothing(*_args: Any) -> None:
        return None

    monkeypatch.setattr(sql_postgres, "statement_names", lambda _statement: None)
    monkeypatch.setattr(sql_postgres, "_vet", vet_nothing)
    url = pg_store
    before = everything(url)
    sequence = query(url, "SELECT last_value FROM answers_id_seq")
    with pytest.raises(ReadOnlyViolation, match="read-only transaction"):
        await run_sql(url, statement)
    assert everything(url) == before
    assert query(url, "SELECT last_value FROM answers_id_seq") == sequence
