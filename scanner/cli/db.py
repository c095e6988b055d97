"""`omscan db upgrade|current`: the store's schema."""

from __future__ import annotations

import click

from ..store import mask, open_store
from ..store.migrate import head_revision
from ..store.urls import resolve
from .options import db_option, run_store_job


@click.group()
def db() -> None:
    """Manage the results database schema."""


@db.command()
@db_option
def upgrade(db: str | None) -> None:
    """Bring the database schema to this omscan's revision (scans do it themselves too)."""

    async def job() -> str | None:
        async with open_store(db) as store:
            return await store.current_revision()

    revision = run_store_job(job)
    click.echo(f"{mask(resolve(db))}: schema at revision {revision} (head)")


@db.command()
@db_option
def current(db: str | None) -> None:
    """Show the database's schema revision, without changing anything."""

    async def job() -> str | None:
        async with open_store(db, migrate_schema=False) as store:
            return await store.current_revision()

    revision = run_store_job(job)
    head = head_revision()
    state = "up to date" if revision == head else f"head is {head}"
    click.echo(f"{mask(resolve(db))}: revision {revision or 'none (empty database)'} ({state})")
