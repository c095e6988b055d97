"""`omscan sql` on SQLite: two read-only layers, each enough alone, and a time limit.

1. The file is opened with ``mode=ro`` (by the store's dialect): SQLite itself refuses
   every write.
2. An authorizer allows only reading and a reviewed list of functions that compute
   (no ``fts3_tokenizer``, ``load_extension``, ``sqlite_log``; no ATTACH, PRAGMA, writes).

A progress handler stops the statement at the time limit or on Ctrl-C (a recursive CTE
that never ends included): SQLite runs the statement in C, where Python's own Ctrl-C
handling would wait for it to finish.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from ..store import StoreError
from .sql import ReadOnlyViolation, Rows, SqlError, TimeLimitExceeded

# Virtual machine instructions between two looks at the clock and at Ctrl-C.
PROGRESS_STEPS = 100_000  # about a millisecond of work: overhead within noise

# Authorizer actions that only read.
READ_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE}

# Functions that compute from their arguments (SQLite 3.40 core, dates, maths, JSON;
# a few newer ones for newer libraries). Absent on purpose: fts3_tokenizer (hands out
# and accepts code pointers), load_extension, sqlite_log (writes the error log), the
# FTS/R*Tree internals (fts5, bm25, highlight, snippet, offsets, matchinfo, optimize,
# match, rtreecheck, rtreedepth, rtreenode).
ALLOWED_FUNCTIONS = frozenset(
    """
    abs changes char coalesce concat concat_ws format glob hex ifnull iif instr
    last_insert_rowid length like likelihood likely lower ltrim max min nullif
    octet_length printf quote random randomblob replace round rtrim sign soundex
    sqlite_compileoption_get sqlite_compileoption_used sqlite_source_id sqlite_version
    substr substring total_changes trim typeof unhex unicode unlikely upper zeroblob
    avg count group_concat string_agg sum total
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value
    last_value nth_value
    date time datetime julianday unixepoch strftime timediff current_date current_time
    current_timestamp
    acos acosh asin asinh atan atan2 atanh ceil ceiling cos cosh degrees exp floor ln
    log log10 log2 mod pi pow power radians sin sinh sqrt tan tanh trunc
    json json_array json_array_length json_error_position json_extract json_insert
    json_object json_patch json_pretty json_quote json_remove json_replace json_set
    json_type json_valid json_group_array json_group_object -> ->>
    jsonb jsonb_array jsonb_extract jsonb_insert jsonb_object jsonb_patch jsonb_remove
    jsonb_replace jsonb_set jsonb_group_array jsonb_group_object
    """.split()  # noqa: SIM905 - a word list reads better than a list literal
)


def authorize(action: int, first: str | None, second: str | None, *_: Any) -> int:
    """The authorizer: reading, and calling an allowed function (SQLite passes its name)."""
    if action == sqlite3.SQLITE_FUNCTION:
        allowed = (second or "").lower() in ALLOWED_FUNCTIONS
        return sqlite3.SQLITE_OK if allowed else sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK if action in READ_ACTIONS else sqlite3.SQLITE_DENY


def run_sqlite(
    session: AbstractContextManager[sqlite3.Connection],
    path: str,
    statement: str,
    time_limit: float,
) -> Rows:
    """Run ``statement`` on the connection ``session`` opens (read-only, see the dialect)."""
    with session as conn:
        return _run(conn, path, statement, time_limit)


def _run(conn: sqlite3.Connection, path: str, statement: str, time_limit: float) -> Rows:
    interrupted = threading.Event()
    deadline = time.monotonic() + time_limit
    try:
        conn.set_authorizer(authorize)
        conn.set_progress_handler(
            lambda: interrupted.is_set() or time.monotonic() > deadline, PROGRESS_STEPS
        )
        with _ctrl_c_sets(interrupted):
            cursor = conn.execute(statement)
            rows = cursor.fetchall()
        columns = [d[0] for d in cursor.description or ()]
        return Rows(columns, [tuple(r) for r in rows])
    except sqlite3.OperationalError as exc:
        if interrupted.is_set():
            raise KeyboardInterrupt from None
        if str(exc) == "interrupted":
            raise TimeLimitExceeded(time_limit) from None
        raise _refusal_or_error(path, exc) from None
    except sqlite3.DatabaseError as exc:
        raise _refusal_or_error(path, exc) from None
    except sqlite3.Warning as exc:  # e.g. "You can only execute one statement at a time."
        raise SqlError(str(exc)) from None


def _refusal_or_error(path: str, exc: sqlite3.Error) -> Exception:
    text = str(exc)
    refused = ("not authorized", "authorization denied", "readonly", "read-only")
    if any(reason in text for reason in refused):
        return ReadOnlyViolation(f"refused: omscan sql is read-only ({text})")
    if "unable to open" in text:
        return StoreError(f"database sqlite:///{path}: {text}")
    return SqlError(text)


@contextmanager
def _ctrl_c_sets(event: threading.Event) -> Iterator[None]:
    """While SQLite runs, Ctrl-C sets ``event`` (seen by the progress handler) instead of
    waiting for the statement to return. Signal handlers belong to the main thread:
    elsewhere only the time limit applies."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler: Callable[[int, Any], None] = lambda _signum, _frame: event.set()  # noqa: E731
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
