"""A PostgreSQL database that lives for one block, for the scripts that write into a new
one (the benchmarks, the schema recorder), made and dropped through an admin URL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url


@asynccontextmanager
async def scratch_database(admin: str, prefix: str = "omscan_bench") -> AsyncIterator[str]:
    """A new, empty database on ``admin``'s server, as a plain URL; dropped afterwards,
    with any session still in it."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    server = make_url(admin)
    conn = await asyncpg.connect(server.set(drivername="postgresql").render_as_string(False))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(False)
        finally:
            await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await conn.close()
