"""Alembic, driven from code: the migrations ship inside the package
(``scanner.migrations``) and run on a connection the store already holds.

Alembic is imported only when the schema has to be looked at or changed: a database
already at ``HEAD`` (the usual case, every night) costs one SELECT.
"""

from __future__ import annotations

from importlib.resources import files
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
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
    if revision == "head" and recorded_revision(connection) == HEAD:
        return
    from alembic import command

    check_known(connection)
    command.upgrade(alembic_config(connection), revision)


def downgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    check_known(connection)
    command.downgrade(alembic_config(connection), revision)
