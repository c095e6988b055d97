"""A PostgreSQL database that lives for one block, for the scripts that write into a new
one (the benchmarks, the schema recorder), made and dropped through an admin URL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url


@contextmanager
def scratch_database(admin: str, prefix: str = "omscan_bench") -> Iterator[str]:
    """A new, empty database on ``admin``'s server, as a plain URL; dropped afterwards,
    with any session still in it. (Blocking, and brief: an async script may use it too.)"""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    server = make_url(admin).set(drivername="postgresql")
    plain = server.render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
