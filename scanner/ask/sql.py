"""`omscan sql`: any one SQL statement, on a connection that cannot write.

Read-only is enforced by the database connection, not by looking at the text:
SQLite is opened read-only and an authorizer refuses every action but reading
(no writes, ATTACH, PRAGMA); PostgreSQL runs the statement alone (extended protocol:
one statement) in a READ ONLY transaction that is rolled back.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import asyncpg

from ..store import StoreError, mask
from ..store.urls import async_url, resolve

STATEMENT_TIMEOUT_MS = 60_000


class ReadOnlyViolation(Exception):
    """The statement tried to change something (or to escape the read-only connection)."""


class SqlError(Exception):
    """The statement is not valid SQL for this database."""


@dataclass(frozen=True)
class Rows:
    columns: list[str]
    rows: list[tuple[Any, ...]]


# sqlite3 authorizer action codes that only read
_SQLITE_READ_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    getattr(sqlite3, "SQLITE_RECURSIVE", 33),
}


def _authorize(action: int, *_args: Any) -> int:
    return sqlite3.SQLITE_OK if action in _SQLITE_READ_ACTIONS else sqlite3.SQLITE_DENY


def _run_sqlite(path: str, statement: str) -> Rows:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise StoreError(f"database sqlite:///{path}: {exc}") from None
    try:
        conn.set_authorizer(_authorize)
        cursor = conn.execute(statement)
        rows = cursor.fetchall()
        columns = [d[0] for d in cursor.description or ()]
        return Rows(columns, [tuple(r) for r in rows])
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        refused = ("not authorized", "authorization denied", "readonly", "read-only")
        if any(reason in text for reason in refused):
            raise ReadOnlyViolation(f"refused: omscan sql is read-only ({text})") from None
        if "unable to open" in text:
            raise StoreError(f"database sqlite:///{path}: {text}") from None
        raise SqlError(text) from None
    except sqlite3.Warning as exc:  # e.g. "You can only execute one statement at a time."
        raise SqlError(str(exc)) from None
    finally:
        conn.close()


async def _run_postgres(dsn: str, display: str, statement: str, command_timeout: float) -> Rows:
    try:
        conn = await asyncpg.connect(dsn, timeout=10, command_timeout=command_timeout)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise StoreError(f"database {display}: {exc}") from None
    try:
        transaction = conn.transaction(readonly=True)
        await transaction.start()
        try:
            await conn.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
            prepared = await conn.prepare(statement)
            if not prepared.get_attributes():
                # COPY, DO, LOCK, NOTIFY …: statements that describe no rows are not
                # queries. COPY … TO PROGRAM/FILE runs even in a READ ONLY transaction.
                raise ReadOnlyViolation("refused: omscan sql only runs queries that return rows")
            records = await prepared.fetch()
            columns = [attr.name for attr in prepared.get_attributes()]
            return Rows(columns, [tuple(record) for record in records])
        finally:
            if not conn.is_closed():
                await transaction.rollback()
    except asyncpg.ReadOnlySQLTransactionError as exc:
        raise ReadOnlyViolation(f"refused: omscan sql is read-only ({exc})") from None
    except TimeoutError:  # the server stopped answering: a dead connection
        raise StoreError(f"database {display}: no answer from the server in time") from None
    except (
        asyncpg.PostgresConnectionError,
        asyncpg.OperatorInterventionError,
        asyncpg.InterfaceError,
        OSError,
    ) as exc:  # the connection was lost meanwhile (backend terminated, server gone)
        raise StoreError(f"database {display}: {str(exc).splitlines()[0]}") from None
    except asyncpg.PostgresError as exc:
        raise SqlError(str(exc).splitlines()[0]) from None
    finally:
        await conn.close()


async def run_sql(url: str | None, statement: str) -> Rows:
    """Run one read-only statement against the store at ``url``."""
    given = resolve(url)
    parsed = async_url(given)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database:
            raise StoreError("omscan sql needs a database file")
        return _run_sqlite(parsed.database, statement)
    query = dict(parsed.query)  # command_timeout is ours (asyncpg's), not a server setting
    timeout = float(str(query.pop("command_timeout", STATEMENT_TIMEOUT_MS / 1000 + 10)))
    dsn = parsed.set(drivername="postgresql", query=query).render_as_string(hide_password=False)
    return await _run_postgres(dsn, mask(given), statement, timeout)
