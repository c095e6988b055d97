"""Database URLs as users type them, turned into the async drivers SQLAlchemy needs."""

from __future__ import annotations

import os

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .errors import StoreError

DEFAULT_URL = "sqlite:///omscan.db"
ENV_VAR = "OMSCAN_DB"

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def resolve(url: str | None) -> str:
    """The URL to use: the one given, else $OMSCAN_DB, else ./omscan.db."""
    return url or os.environ.get(ENV_VAR) or DEFAULT_URL


def async_url(url: str) -> URL:
    """``sqlite:///x.db`` → sqlite+aiosqlite, ``postgresql://`` → postgresql+asyncpg.

    libpq's ``?sslmode=`` is what people paste; asyncpg spells it ``?ssl=``."""
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018 - a bad port only raises when read
    except (ArgumentError, ValueError):
        raise StoreError(f"not a database URL: {mask(url)!r} (try sqlite:///omscan.db)") from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise StoreError(
            f"unsupported database {parsed.drivername!r}: use sqlite:///PATH or postgresql://…"
        )
    parsed = parsed.set(drivername=driver)
    if driver == "postgresql+asyncpg" and "sslmode" in parsed.query:
        mode = parsed.query["sslmode"]
        parsed = parsed.difference_update_query(["sslmode"]).update_query_dict({"ssl": mode})
    return parsed


def mask(url: str | URL) -> str:
    """The URL with any password hidden, for messages and stored options."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparseable URL>"
