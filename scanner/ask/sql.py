"""`omscan sql`: any one SQL statement, on a connection that cannot write, within a time limit.

Read-only is enforced by the database connection and by allow-lists the database itself
resolves, never by looking for words in the text: SQLite is opened read-only with an
authorizer that allows reading and a list of computing functions only
(`scanner.ask.sql_sqlite`); on PostgreSQL the statement is parsed by PostgreSQL's own
parser (libpg_query), must be one SELECT naming only omscan's tables and PostgreSQL's own
functions that compute or read it, and runs alone in a READ ONLY transaction that is
rolled back (`scanner.ask.sql_postgres`). Both stop at the time limit, and on Ctrl-C.
The store's dialect opens the read-only connection, and calls back the vetting for its
database (`_Statement`): nothing here tests which database the URL names.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..store import mask
from ..store.dialect import dialect_for
from ..store.urls import async_url, resolve

if TYPE_CHECKING:
    import sqlite3

    import asyncpg

DEFAULT_TIME_LIMIT = 60.0  # seconds


class ReadOnlyViolation(Exception):
    """The statement tried to change something, or to reach outside omscan's tables."""


class SqlError(Exception):
    """The statement is not valid SQL for this database."""


class TimeLimitExceeded(Exception):
    """The statement ran past its time limit and was stopped."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the statement ran past the time limit of {seconds:g} s and was stopped")


@dataclass(frozen=True)
class Rows:
    columns: list[str]
    rows: list[tuple[Any, ...]]


async def run_sql(url: str | None, statement: str, time_limit: float = DEFAULT_TIME_LIMIT) -> Rows:
    """Run one read-only statement against the store at ``url``, for at most
    ``time_limit`` seconds. A Ctrl-C stops it and raises KeyboardInterrupt."""
    given = resolve(url)
    parsed = async_url(given)
    return await dialect_for(parsed).run_read_only(
        parsed, mask(given), time_limit, _Statement(statement, time_limit)
    )


@dataclass(frozen=True)
class _Statement:
    """The statement, vetted and run the way of the database the dialect opens (a
    ``ReadOnlyRunner``)."""

    text: str
    time_limit: float

    async def sqlite(self, session: AbstractContextManager[sqlite3.Connection], path: str) -> Rows:
        from .sql_sqlite import run_sqlite

        return run_sqlite(session, path, self.text, self.time_limit)

    async def postgresql(
        self, session: AbstractAsyncContextManager[asyncpg.Connection], display: str
    ) -> Rows:
        from .sql_postgres import run_postgres

        return await run_postgres(session, display, self.text, self.time_limit)
