"""Alembic environment: omscan always hands over an open connection (see
scanner/store/migrate.py), so migrations run inside the caller's transaction."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=None,
    render_as_batch=context.config.attributes["render_as_batch"],
)
with context.begin_transaction():
    context.run_migrations()
