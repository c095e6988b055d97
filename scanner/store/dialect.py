"""One object per database: everything omscan does differently on SQLite and PostgreSQL.

The store, the queue and ``omscan sql`` ask ``store.dialect`` (or ``dialect_for(url)``)
and never test a database's name themselves. A ``Dialect`` holds:

- how an engine is opened (connect arguments, per-connection setup) and which file, if
  any, holds the database;
- the dialect's ``INSERT … ON CONFLICT`` and an upsert that hands back the rows' ids;
- the schema lock a migration runs under, and the scan lock (``scanner.store.lock``);
- how the read-only connection of ``omscan sql`` is opened (its vetting stays in
  ``scanner.ask``, which passes a ``ReadOnlyRunner``).

Adding a database is writing one new ``Dialect`` subclass here and listing it in
``DIALECTS``; the one piece outside is its ``omscan sql`` vetting: a method of
``ReadOnlyRunner``, implemented in ``scanner.ask.sql``.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar
from urllib.parse import quote

from sqlalchemy import Column, Table, event, select, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from . import lock
from .errors import StoreError

if TYPE_CHECKING:
    import asyncpg

    from .lock import ScanLock
    from .store import Store

CHUNK = 500  # values per IN (...) list, well under every driver's parameter limit

R_co = TypeVar("R_co", covariant=True)
R = TypeVar("R")


def chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    """``items`` in slices of ``CHUNK``."""
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


class BulkStatement:
    """A statement of many rows sent past SQLAlchemy's per-row parameter handling (about
    20 µs a row, ``construct_params``, more than the database takes to store it):
    compiled once, its rows given as tuples in ``columns`` order, each value already what
    the driver takes. How the rows travel is the dialect's (``run_bulk``)."""

    def __init__(self, statement: Any, columns: Sequence[str], dialect: Dialect) -> None:
        self.statement = statement
        self.columns = tuple(columns)
        self.dialect = dialect
        self._sql: str | None = None
        self._returning: dict[tuple[Column[Any], ...], BulkStatement] = {}

    def returning(self, *columns: Column[Any]) -> BulkStatement:
        """The same statement, giving back ``columns`` of each row it writes."""
        if columns not in self._returning:
            statement = self.statement.returning(*columns)
            self._returning[columns] = BulkStatement(statement, self.columns, self.dialect)
        return self._returning[columns]

    def sql(self, conn: AsyncConnection) -> str:
        if self._sql is None:
            compiled = self.statement.compile(dialect=conn.dialect, column_keys=self.columns)
            order = tuple(compiled.positiontup or ())
            if order != self.columns:
                raise AssertionError(f"columns {self.columns} compile in the order {order}")
            self._sql = self.dialect.bulk_sql(str(compiled))
        return self._sql

    async def run(self, conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            await self.dialect.run_bulk(conn, self.sql(conn), rows)


class ReadOnlyRunner(Protocol[R_co]):
    """What ``omscan sql`` does on each database, given a way to open its read-only
    connection: the vetting lives in ``scanner.ask``, which the store never imports."""

    def sqlite(
        self, session: AbstractContextManager[sqlite3.Connection], path: str
    ) -> Awaitable[R_co]: ...

    def postgresql(
        self, session: AbstractAsyncContextManager[asyncpg.Connection], display: str
    ) -> Awaitable[R_co]: ...


# The kinds of value a URL parameter takes (or a tuple of the choices).
TEXT, SECONDS, COUNT = "one value", "a number of seconds above 0", "a whole number"
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


class Dialect(ABC):
    """One database omscan can keep its results in."""

    name: ClassVar[str]  # SQLAlchemy's backend name
    schemes: ClassVar[tuple[str, ...]]  # the URL schemes that name it
    driver: ClassVar[str]  # the SQLAlchemy async driver omscan opens it with
    example: ClassVar[str]  # its URL, as error messages suggest it
    # The URL parameters the driver takes, with the values it accepts: any other would
    # reach the driver as an argument it rejects with a traceback.
    parameters: ClassVar[dict[str, str | tuple[str, ...]]]
    # The database can hold a distributed scan's work queue (SKIP LOCKED, a shared clock).
    holds_queue: ClassVar[bool] = False
    # The SQL function giving where a text occurs in another (1-based, 0 if absent).
    position_function: ClassVar[str]
    # ALTER TABLE cannot change columns and constraints: migrations copy the table instead
    # (Alembic's batch mode).
    alters_by_copy: ClassVar[bool] = False

    def driver_url(self, url: URL) -> URL:
        """``url`` (its parameters checked) as ``driver`` takes it."""
        return url.set(drivername=self.driver)

    def in_memory(self, url: URL) -> bool:
        """The database lives in this process only, gone when it exits."""
        return False

    def database_file(self, url: URL, display: str) -> str | None:
        """The file holding the database, checked usable; None for a server."""
        return None

    def connect_args(
        self,
        url: URL,
        statement_timeout: float | None,
        idle_transaction_timeout: float | None,
    ) -> dict[str, Any]:
        """The driver's connect arguments (see ``open_store`` for the two timeouts)."""
        return {}

    def engine(
        self,
        url: URL,
        statement_timeout: float | None = None,
        idle_transaction_timeout: float | None = None,
    ) -> AsyncEngine:
        args = self.connect_args(url, statement_timeout, idle_transaction_timeout)
        return create_async_engine(url, pool_pre_ping=True, connect_args=args)

    @abstractmethod
    def insert(self, table: Table) -> Any:
        """The dialect's INSERT, which takes ``on_conflict_do_update/nothing``."""

    def bulk_sql(self, sql: str) -> str:
        """A compiled one-row statement, as ``run_bulk`` sends it for many rows."""
        return sql

    async def run_bulk(
        self, conn: AsyncConnection, sql: str, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """``sql`` for each of ``rows``: the driver's own ``executemany``."""
        await conn.exec_driver_sql(sql, list(rows))

    @abstractmethod
    async def upsert_ids(
        self,
        conn: AsyncConnection,
        upsert: BulkStatement,
        rows: Sequence[tuple[Any, ...]],
        key: tuple[Column[Any], Column[Any]],
        id_column: Column[Any],
    ) -> dict[tuple[Any, Any], int]:
        """Run ``upsert`` for ``rows``; the rows' ids by their ``key``."""

    @abstractmethod
    async def lock_schema(self, conn: AsyncConnection) -> None:
        """Called first in a migration's transaction: processes meeting a new database at
        once wait for each other, then find it at head."""

    @abstractmethod
    def scan_lock(self, store: Store) -> AbstractAsyncContextManager[ScanLock]:
        """One scan at a time per database (see ``scanner.store.lock``)."""

    @abstractmethod
    async def run_read_only(
        self, url: URL, display: str, time_limit: float, runner: ReadOnlyRunner[R]
    ) -> R:
        """Hand ``runner`` this database's way to its read-only ``omscan sql``
        connection, for a statement of at most ``time_limit`` seconds."""


class SQLiteDialect(Dialect):
    name = "sqlite"
    schemes = ("sqlite", "sqlite+aiosqlite")
    driver = "sqlite+aiosqlite"
    example = "sqlite:///PATH"
    parameters: ClassVar[dict[str, str | tuple[str, ...]]] = {"timeout": SECONDS}
    position_function = "instr"
    alters_by_copy = True

    def in_memory(self, url: URL) -> bool:
        return url.database in (None, "", ":memory:")

    def database_file(self, url: URL, display: str) -> str | None:
        if self.in_memory(url):
            return None
        assert url.database is not None
        folder = os.path.dirname(os.path.abspath(url.database))
        if not os.path.isdir(folder):
            raise StoreError(f"database {display}: directory {folder} does not exist")
        file = os.path.abspath(url.database)
        _refuse_hard_links(file, display)
        return file

    def engine(
        self,
        url: URL,
        statement_timeout: float | None = None,
        idle_transaction_timeout: float | None = None,
    ) -> AsyncEngine:
        engine = super().engine(url, statement_timeout, idle_transaction_timeout)
        event.listen(
            engine.sync_engine, "connect", _sqlite_pragmas(busy="timeout" not in url.query)
        )
        return engine

    def insert(self, table: Table) -> Any:
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)

    async def upsert_ids(
        self,
        conn: AsyncConnection,
        upsert: BulkStatement,
        rows: Sequence[tuple[Any, ...]],
        key: tuple[Column[Any], Column[Any]],
        id_column: Column[Any],
    ) -> dict[tuple[Any, Any], int]:
        # aiosqlite would run a RETURNING upsert row by row: upsert in bulk, read ids back.
        await upsert.run(conn, rows)
        outer, inner = key
        at_outer, at_inner = upsert.columns.index(outer.name), upsert.columns.index(inner.name)
        groups: dict[Any, list[Any]] = {}
        for row in rows:
            groups.setdefault(row[at_outer], []).append(row[at_inner])
        ids: dict[tuple[Any, Any], int] = {}
        for group, values in groups.items():
            for chunk in chunks(values):
                found = await conn.execute(
                    select(outer, inner, id_column).where(outer == group, inner.in_(chunk))
                )
                ids.update({(row[0], row[1]): row[2] for row in found})
        return ids

    async def lock_schema(self, conn: AsyncConnection) -> None:
        # Python's sqlite3 runs DDL in autocommit unless a transaction is open:
        # open it ourselves (IMMEDIATE: the write lock, up front).
        await conn.exec_driver_sql("BEGIN IMMEDIATE")

    def scan_lock(self, store: Store) -> AbstractAsyncContextManager[ScanLock]:
        return lock.file_lock(store)

    async def run_read_only(
        self, url: URL, display: str, time_limit: float, runner: ReadOnlyRunner[R]
    ) -> R:
        if self.in_memory(url):
            raise StoreError("omscan sql needs a database file")
        assert url.database is not None
        return await runner.sqlite(sqlite_read_only(url.database), url.database)


@contextmanager
def sqlite_read_only(path: str) -> Iterator[sqlite3.Connection]:
    """The SQLite database file, opened so that SQLite refuses to write it."""
    try:
        conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise StoreError(f"database sqlite:///{path}: {exc}") from None
    try:
        yield conn
    finally:
        conn.close()


def _sqlite_pragmas(busy: bool) -> Any:
    """Connection setup; ``busy``: wait up to 30 s for another writer's lock (a URL's
    own ``?timeout=SECONDS`` is applied by the driver instead)."""

    def setup(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        if busy:
            cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return setup


def _refuse_hard_links(file: str, display: str) -> None:
    """SQLite keeps a database's write-ahead log and its index beside the *name* it was
    opened by (it resolves symlinks, but a hard link is a second name of its own): two
    processes writing through two names each miss the other's log, and check-pointing
    both corrupts the file. No lock can make that safe, so such a file is refused."""
    try:
        links = os.stat(file).st_nlink
    except FileNotFoundError:
        return
    if links > 1:
        raise StoreError(
            f"database {display}: the file has {links} names (hard links); SQLite keeps its "
            "write-ahead log beside the name it is opened by, so two names corrupt it: "
            "remove the other links"
        )


class PostgreSQLDialect(Dialect):
    name = "postgresql"
    schemes = ("postgresql", "postgres", "postgresql+asyncpg")
    driver = "postgresql+asyncpg"
    example = "postgresql://…"
    parameters: ClassVar[dict[str, str | tuple[str, ...]]] = {
        "host": TEXT,
        "port": COUNT,
        "user": TEXT,
        "password": TEXT,
        "passfile": TEXT,
        "ssl": SSL_MODES,
        "sslmode": SSL_MODES,  # libpq's spelling, turned into ssl
        "command_timeout": SECONDS,
        "target_session_attrs": (
            "any",
            "primary",
            "standby",
            "prefer-standby",
            "read-write",
            "read-only",
        ),
        "krbsrvname": TEXT,
        "gsslib": ("gssapi", "sspi"),
        "prepared_statement_cache_size": COUNT,
    }
    holds_queue = True
    position_function = "strpos"
    CONNECT_TIMEOUT = 10.0
    # A statement with no answer for this long means a dead connection (a server gone
    # without a reset, a dropped NAT entry): fail instead of waiting for TCP to give up.
    # A URL's own ``?command_timeout=SECONDS`` wins.
    COMMAND_TIMEOUT = 300.0
    # Beyond ``omscan sql``'s time limit, how long the server may stay silent before the
    # connection is taken for dead (the server itself stops the statement at the limit).
    SILENCE_MARGIN = 10.0
    MIGRATE_KEY = lock.ADVISORY_KEY + 1  # the advisory lock held while migrating

    def driver_url(self, url: URL) -> URL:
        """libpq's ``?sslmode=`` is what people paste; asyncpg spells it ``?ssl=``."""
        url = super().driver_url(url)
        if "sslmode" in url.query:
            mode = url.query["sslmode"]
            url = url.difference_update_query(["sslmode"]).update_query_dict({"ssl": mode})
        return url

    def connect_args(
        self,
        url: URL,
        statement_timeout: float | None,
        idle_transaction_timeout: float | None,
    ) -> dict[str, Any]:
        # asyncpg waits 60 s for an unreachable server by default; a nightly job should not.
        args: dict[str, Any] = {"timeout": min(self.CONNECT_TIMEOUT, statement_timeout or math.inf)}
        if "command_timeout" not in url.query:
            args["command_timeout"] = self.COMMAND_TIMEOUT
        if statement_timeout is not None:
            asked = float(str(url.query.get("command_timeout", self.COMMAND_TIMEOUT)))
            args["command_timeout"] = min(asked, statement_timeout)
        if idle_transaction_timeout is not None:
            limit_ms = str(max(1, round(idle_transaction_timeout * 1000)))
            args["server_settings"] = {"idle_in_transaction_session_timeout": limit_ms}
        return args

    def insert(self, table: Table) -> Any:
        # Imported with the first PostgreSQL store: 0.03 s a SQLite scan does not pay.
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)

    def bulk_sql(self, sql: str) -> str:
        """``VALUES ($1::T, …)`` becomes ``SELECT * FROM unnest($1::T[], …)``: every row
        in one statement, a column an array. asyncpg's ``executemany`` would pipeline a
        statement per row, and a client paused halfway through (a frozen worker) keeps
        its session active, its row locks held, past ``idle_in_transaction``."""
        values = re.search(r" VALUES \((\$1::[^)]*)\)", sql)
        if values is None or sql.count(" VALUES (") != 1:
            raise AssertionError(f"not a one-row INSERT: {sql}")
        arrays = re.sub(r"(\$\d+::\w+(?: \w+)?)", r"\1[]", values.group(1))
        return f"{sql[: values.start()]} SELECT * FROM unnest({arrays}){sql[values.end() :]}"

    async def run_bulk(
        self, conn: AsyncConnection, sql: str, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        await conn.exec_driver_sql(sql, _columns(rows))

    async def upsert_ids(
        self,
        conn: AsyncConnection,
        upsert: BulkStatement,
        rows: Sequence[tuple[Any, ...]],
        key: tuple[Column[Any], Column[Any]],
        id_column: Column[Any],
    ) -> dict[tuple[Any, Any], int]:
        # One statement for every row, as run_bulk sends it, giving back each row's id.
        returning = upsert.returning(*key, id_column)
        returned: Any = await conn.exec_driver_sql(returning.sql(conn), _columns(rows))
        return {(row[0], row[1]): row[2] for row in returned}

    async def lock_schema(self, conn: AsyncConnection) -> None:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": self.MIGRATE_KEY})

    def scan_lock(self, store: Store) -> AbstractAsyncContextManager[ScanLock]:
        return lock.advisory_lock(store)

    async def run_read_only(
        self, url: URL, display: str, time_limit: float, runner: ReadOnlyRunner[R]
    ) -> R:
        # The URL's parameters, as SQLAlchemy hands them to asyncpg for the other commands.
        options: dict[str, Any] = dict(url.query)
        silence = float(options.pop("command_timeout", time_limit + self.SILENCE_MARGIN))
        options.pop("prepared_statement_cache_size", None)  # SQLAlchemy's, not asyncpg's
        if "port" in options:
            options["port"] = int(options["port"])
        options |= {"timeout": self.CONNECT_TIMEOUT, "command_timeout": silence}
        dsn = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
        return await runner.postgresql(_server_session(dsn, options, display), display)


def _columns(rows: Sequence[tuple[Any, ...]]) -> tuple[list[Any], ...]:
    """Rows as the arrays an ``unnest`` statement takes: one per column."""
    return tuple(list(column) for column in zip(*rows, strict=True))


@asynccontextmanager
async def _server_session(
    dsn: str, options: dict[str, Any], display: str
) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own (not the pool's): ``omscan sql`` sets it up itself."""
    import asyncpg

    try:
        conn = await asyncpg.connect(dsn, **options)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        raise StoreError(f"database {display}: {str(exc).splitlines()[0]}") from None
    try:
        yield conn
    finally:
        await conn.close()


DIALECTS: tuple[Dialect, ...] = (SQLiteDialect(), PostgreSQLDialect())


def dialect_for(url_or_name: URL | str) -> Dialect:
    """The dialect of a database URL, or of a backend name or URL scheme (``sqlite``,
    ``postgres`` …); StoreError for a database omscan does not know."""
    name = url_or_name.drivername if isinstance(url_or_name, URL) else url_or_name
    for dialect in DIALECTS:
        if name == dialect.name or name in dialect.schemes:
            return dialect
    known = " or ".join(d.example for d in DIALECTS)
    raise StoreError(f"unsupported database {name!r}: use {known}")
