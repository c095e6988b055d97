"""`omscan sql` on PostgreSQL: whatever role the URL names — a superuser included — the
statement cannot change anything nor reach outside omscan's tables.

A READ ONLY transaction alone is not enough: as a superuser, functions such as
``pg_create_physical_replication_slot``, ``pg_read_file``, ``pg_reload_conf`` or
``set_config('role', …)`` act outside the transaction. A role of our own would not be
either: ``set_config('role', 'postgres', true)`` inside the SELECT takes it back. So the
statement is vetted before it runs, by what the database resolves its names to:

- it is one SELECT (``pg_names``), whose relations are omscan's tables and views only
  (unqualified, and the search path is set to the schema that holds them);
- every function it may call is PostgreSQL's own (schema ``pg_catalog``), not type
  plumbing (``internal``/``cstring`` arguments), and either IMMUTABLE or STABLE but not one
  that reads the server rather than the statement's data (``pg_*``, ``txid_*``,
  ``current_setting``, ``*_to_xml`` which run SQL given as text, privilege and catalogue
  lookups), or one of a reviewed few VOLATILE ones (``random``, ``clock_timestamp``,
  ``pg_sleep``…). A name is allowed only when every function of that name is;
- every operator and type it names is PostgreSQL's own.

Then it runs in a READ ONLY transaction that is rolled back, under a statement timeout.
"""

from __future__ import annotations

import json
import re
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from functools import partial

import asyncpg

from ..store import StoreError
from ..store.schema import metadata
from .pg_names import KEYWORD_CALL_NAMES, Name, Names, statement_names
from .sql import ReadOnlyViolation, Rows, SqlError, TimeLimitExceeded

# omscan's tables and views: everything a statement may read.
OUR_RELATIONS = frozenset(metadata.tables) | {"results", "latest_results", "alembic_version"}
# Functions of pg_catalog that are STABLE or IMMUTABLE yet read the server, the
# catalogue or other sessions rather than the statement's data, or run SQL given as text.
SERVER_FUNCTIONS = re.compile(
    r"pg_.*|txid_.*|.*_to_xml.*|.*_privilege|to_reg.*|regclass|ts_stat|ts_rewrite"
    r"|current_setting|current_schemas|version|inet_(client|server)_(addr|port)"
    r"|(obj|col|shobj)_description|getpgusername|aclexplode|row_security_active"
    r"|format_type|mxid_age"
)
# …of which these only compute.
COMPUTING_PG_FUNCTIONS = {"pg_typeof", "pg_column_size", "pg_size_pretty", "pg_size_bytes"}
# VOLATILE functions that change nothing but the time spent (bounded by the time limit).
HARMLESS_VOLATILE = {
    "random",
    "random_normal",
    "gen_random_uuid",
    "clock_timestamp",
    "timeofday",
    "pg_sleep",
    "pg_sleep_for",
    "pg_sleep_until",
}
# Pseudo-types that mark internal plumbing: type I/O, planner support, handlers.
PLUMBING_TYPES = [
    "internal",
    "cstring",
    "trigger",
    "event_trigger",
    "language_handler",
    "fdw_handler",
    "index_am_handler",
    "tsm_handler",
    "table_am_handler",
]

_FUNCTIONS = """
SELECT p.proname AS name, n.nspname AS schema, p.provolatile::text AS volatility,
       p.prokind::text AS kind, p.pronargs - p.pronargdefaults <= 1 AS one_argument,
       EXISTS (SELECT FROM pg_type t
               WHERE t.oid = ANY (p.proargtypes::oid[] || p.prorettype)
                 AND t.typname = ANY ($2::text[])) AS plumbing
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname = ANY ($1::text[])
"""
_OPERATORS = """
SELECT o.oprname AS name, n.nspname AS schema
FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
WHERE o.oprname = ANY ($1::text[])
"""
_TYPES = """
SELECT t.typname AS name, n.nspname AS schema
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typname = ANY ($1::text[])
"""


async def run_postgres(
    session: AbstractAsyncContextManager[asyncpg.Connection],
    display: str,
    statement: str,
    time_limit: float,
) -> Rows:
    """Vet and run ``statement`` on the connection ``session`` opens (the dialect's, which
    takes a server silent for too long for dead)."""
    names = statement_names(statement)
    async with session as conn:
        return await _run(conn, names, display, statement, time_limit)


async def _run(
    conn: asyncpg.Connection, names: Names, display: str, statement: str, time_limit: float
) -> Rows:
    try:
        transaction = conn.transaction(readonly=True)
        await transaction.start()
        try:
            await conn.execute(f"SET LOCAL statement_timeout = {max(1, round(time_limit * 1000))}")
            schema = await conn.fetchval("SELECT current_schema()") or "public"
            await conn.execute("SELECT set_config('search_path', quote_ident($1), true)", schema)
            await _vet(conn, names, schema)
            await _decode_plainly(conn)
            prepared = await conn.prepare(statement)
            records = await prepared.fetch()
            columns = [attr.name for attr in prepared.get_attributes()]
            return Rows(columns, [tuple(record) for record in records])
        finally:
            if not conn.is_closed():
                await transaction.rollback()
    except asyncpg.ReadOnlySQLTransactionError as exc:
        raise ReadOnlyViolation(f"refused: omscan sql is read-only ({exc})") from None
    except asyncpg.QueryCanceledError:  # the statement timeout
        raise TimeLimitExceeded(time_limit) from None
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


_json_value = partial(json.loads, parse_float=Decimal)  # exact numbers
# Types asyncpg would give as its own objects, or lossily (an interval as a timedelta, a
# month counted as 30 days): PostgreSQL's own text instead.
TEXT_TYPES = (
    "interval",
    "bit",
    "varbit",
    "point",
    "line",
    "lseg",
    "box",
    "path",
    "polygon",
    "circle",
)


async def _decode_plainly(conn: asyncpg.Connection) -> None:
    """JSON as Python values (numbers exact), intervals in ISO 8601 as PostgreSQL writes
    them (``P1M2DT3H4.5S``), bit strings and geometry as PostgreSQL's text."""
    await conn.execute("SET LOCAL intervalstyle = 'iso_8601'")
    for json_type in ("json", "jsonb"):
        await conn.set_type_codec(
            json_type, schema="pg_catalog", encoder=json.dumps, decoder=_json_value
        )
    for text_type in TEXT_TYPES:
        await conn.set_type_codec(text_type, schema="pg_catalog", encoder=str, decoder=str)


async def _vet(conn: asyncpg.Connection, names: Names, schema: str) -> None:
    """Refuse the statement unless every name in it resolves to something allowed."""
    for relation_schema, relation in sorted(names.relations, key=str):
        if relation not in OUR_RELATIONS or relation_schema not in (None, schema):
            shown = f"{relation_schema}.{relation}" if relation_schema else relation
            raise ReadOnlyViolation(f"refused: omscan sql reads omscan's tables only, not {shown}")
    casts = await _vet_functions(conn, names)
    for query, wanted, what in (
        (_OPERATORS, names.operators, "operator"),
        (_TYPES, names.types | casts, "type"),
    ):
        found = await conn.fetch(query, sorted({name for _, name in wanted}))
        for wanted_schema, name in sorted(wanted, key=str):
            rows = [r for r in found if r["name"] == name]
            if any(
                r["schema"] != "pg_catalog" for r in rows if wanted_schema in (None, r["schema"])
            ):
                raise ReadOnlyViolation(f"refused: {what} {name} is not PostgreSQL's own")


async def _vet_functions(conn: asyncpg.Connection, names: Names) -> set[Name]:
    """Refuse any call of a function not allowed; returns the called names that are no
    function at all — ``int4(x)`` style casts, checked as types."""
    called = sorted({name for _, name in names.functions})
    found = await conn.fetch(_FUNCTIONS, called + sorted(names.maybe_functions), PLUMBING_TYPES)
    casts = set()
    for schema, name in sorted(names.functions, key=str):
        rows = [r for r in found if r["name"] == name and schema in (None, r["schema"])]
        if schema not in (None, "pg_catalog") or not all(_allowed(r) for r in rows):
            raise _function_refused(name)
        if not rows:
            casts.add((schema, name))
    for name in sorted(names.maybe_functions):
        # x.f calls f(x) if f takes one argument (defaults aside); SQL/JSON syntax, any
        rows = [r for r in found if r["name"] == name]
        if not all(_allowed(r) for r in rows if r["one_argument"] or name in KEYWORD_CALL_NAMES):
            raise _function_refused(name)
    return casts


def _allowed(row: asyncpg.Record) -> bool:
    name = row["name"]
    if row["schema"] != "pg_catalog" or row["plumbing"] or row["kind"] not in ("f", "a", "w"):
        return False
    if name in HARMLESS_VOLATILE:
        return True
    if SERVER_FUNCTIONS.fullmatch(name) and name not in COMPUTING_PG_FUNCTIONS:
        return False
    return bool(row["volatility"] in ("i", "s"))


def _function_refused(name: str) -> ReadOnlyViolation:
    return ReadOnlyViolation(
        f"refused: omscan sql does not run {name}() — only PostgreSQL's own functions "
        "that compute from the statement's data"
    )
