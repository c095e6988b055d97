"""`omscan sql`: any one SQL statement, on a connection that cannot write, within a time limit.

Read-only is enforced by the database connection and by allow-lists the database itself
resolves, never by looking for words in the text: SQLite is opened read-only with an
authorizer that allows reading and a list of computing functions only
(`scanner.ask.sql_sqlite`); on PostgreSQL the statement is parsed by PostgreSQL's own
parser (libpg_query), must be one SELECT naming only omscan's tables and PostgreSQL's own
functions that compute or read it, and runs alone in a READ ONLY transaction that is
rolled back (`scanner.ask.sql_postgres`). Both stop at the time limit, and on Ctrl-C.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..store import StoreError, mask
from ..store.urls import async_url, resolve

DEFAULT_TIME_LIMIT = 60.0  # seconds
# Beyond the time limit, how long a PostgreSQL server may stay silent before the
# connection is taken for dead (the server itself stops the statement at the limit).
SILENCE_MARGIN = 10.0


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
    if parsed.get_backend_name() == "sqlite":
        from .sql_sqlite import run_sqlite

        if parsed.database in (None, "", ":memory:"):
            raise StoreError("omscan sql needs a database file")
        return run_sqlite(parsed.database, statement, time_limit)
    from .sql_postgres import run_postgres

    # The URL's parameters, as SQLAlchemy hands them to asyncpg for the other commands.
    options: dict[str, Any] = dict(parsed.query)
    silence = float(options.pop("command_timeout", time_limit + SILENCE_MARGIN))
    options.pop("prepared_statement_cache_size", None)  # SQLAlchemy's, not asyncpg's
    if "port" in options:
        options["port"] = int(options["port"])
    dsn = parsed.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    return await run_postgres(dsn, options, mask(given), statement, time_limit, silence)
