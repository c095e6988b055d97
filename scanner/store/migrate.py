"""Alembic, driven from code: the migrations ship inside the package
(``scanner.migrations``) and run on a connection the store already holds.

Alembic is imported only when the schema has to be looked at or changed: a database
already at ``HEAD`` (the usual case, every night) costs one SELECT, and a new one is
given the statements the migrations send, recorded (``head_schema.json``), without
Alembic's import and its six steps: 0.03 s instead of 0.3 s on a first scan.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.exc import DBAPIError

from .dialect import dialect_for
from .errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

HEAD = "0006_carries"  # the newest migration; a test checks it against the scripts


def recorded_revision(connection: Connection) -> str | None:
    """The revision stamped in the database, read without Alembic (None: no schema yet)."""
    try:
        with connection.begin_nested():
            value = connection.scalar(text("SELECT version_num FROM alembic_version"))
    except DBAPIError:
        return None
    return None if value is None else str(value)


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(files("scanner.migrations")))
    config.attributes["connection"] = connection
    if connection is not None:
        batch = dialect_for(connection.engine.url).alters_by_copy
        config.attributes["render_as_batch"] = batch
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def check_known(connection: Connection) -> None:
    """Refuse a database whose schema comes from a newer omscan."""
    current = current_revision(connection)
    if current is None:
        return
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    known = {script.revision for script in scripts.walk_revisions()}
    if current not in known:
        raise StoreError(
            f"the database schema is at revision {current}, newer than this omscan knows "
            f"(head {head_revision()}): upgrade omscan"
        )


def upgrade(connection: Connection, revision: str = "head") -> None:
    if revision == "head":
        stamped = recorded_revision(connection)
        if stamped == HEAD:
            return
        if stamped is None and not inspect(connection).has_table("alembic_version"):
            snapshot = head_snapshot()
            if snapshot["revision"] == HEAD:
                for statement, parameters in snapshot[connection.dialect.name]:
                    connection.exec_driver_sql(statement, tuple(parameters))
                return
    run_migrations(connection, revision)


def run_migrations(connection: Connection, revision: str) -> None:
    """Through Alembic, step by step (a database with a schema already, or any target
    but head)."""
    from alembic import command

    check_known(connection)
    command.upgrade(alembic_config(connection), revision)


SNAPSHOT_FILE = "head_schema.json"
_READS = ("SELECT", "PRAGMA", "SAVEPOINT", "RELEASE", "ROLLBACK")


def head_snapshot() -> dict[str, Any]:
    """``head_schema.json``: the revision it was recorded at, and per database the
    statements that make that schema."""
    snapshot: dict[str, Any] = json.loads(files(__package__).joinpath(SNAPSHOT_FILE).read_text())
    return snapshot


def record_upgrade(connection: Connection) -> list[list[Any]]:
    """The statements the migrations send to take an empty database to head, reads left
    out: ``[statement, parameters]`` in order, what ``head_schema.json`` holds for this
    connection's database (``scripts/snapshot_schema.py`` writes it; a test checks that
    replaying it gives the migrated catalog)."""
    sent: list[list[Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(_READS):
            sent.append([statement, list(parameters or ())])

    event.listen(connection, "before_cursor_execute", keep)
    try:
        run_migrations(connection, "head")
    finally:
        event.remove(connection, "before_cursor_execute", keep)
    return sent


def downgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    check_known(connection)
    command.downgrade(alembic_config(connection), revision)
