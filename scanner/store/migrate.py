"""Alembic, driven from code: the migrations ship inside the package
(``scanner.migrations``) and run on a connection the store already holds."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from .errors import StoreError


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("scanner.migrations")))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def check_known(connection: Connection) -> None:
    """Refuse a database whose schema comes from a newer omscan."""
    current = current_revision(connection)
    if current is None:
        return
    scripts = ScriptDirectory.from_config(alembic_config())
    known = {script.revision for script in scripts.walk_revisions()}
    if current not in known:
        raise StoreError(
            f"the database schema is at revision {current}, newer than this omscan knows "
            f"(head {head_revision()}): upgrade omscan"
        )


def upgrade(connection: Connection, revision: str = "head") -> None:
    check_known(connection)
    command.upgrade(alembic_config(connection), revision)


def downgrade(connection: Connection, revision: str) -> None:
    check_known(connection)
    command.downgrade(alembic_config(connection), revision)
