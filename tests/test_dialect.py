"""The Dialect seam: each database URL finds its dialect, and the store opens with it."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from scanner.store import StoreError, open_store
from scanner.store.dialect import PostgreSQLDialect, SQLiteDialect, dialect_for
from scanner.store.urls import async_url


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("sqlite:///x.db", SQLiteDialect),
        ("sqlite+aiosqlite:///x.db", SQLiteDialect),
        ("sqlite://", SQLiteDialect),
        ("postgresql://u@db.example/x", PostgreSQLDialect),
        ("postgres://u@db.example/x", PostgreSQLDialect),
        ("postgresql+asyncpg://u@db.example/x", PostgreSQLDialect),
    ],
)
def test_each_dialect_is_found_for_its_url(url: str, kind: type) -> None:
    assert isinstance(dialect_for(make_url(url)), kind)  # as typed
    assert isinstance(dialect_for(async_url(url)), kind)  # as the driver takes it
    assert isinstance(dialect_for(kind.name), kind)  # by backend name


@pytest.mark.parametrize("name", ["mysql", "sqlite+pysqlite", "oracle+cx_oracle", ""])
def test_an_unknown_backend_is_a_clear_store_error(name: str) -> None:
    expected = f"unsupported database '{name}': use sqlite:///PATH or postgresql://…"
    with pytest.raises(StoreError) as caught:
        dialect_for(name)
    assert str(caught.value) == expected


def test_an_unknown_url_scheme_is_refused_before_any_driver() -> None:
    with pytest.raises(StoreError, match="unsupported database 'mysql': use sqlite:///PATH"):
        async_url("mysql://root:s3cret@localhost/x")


@pytest.mark.asyncio
async def test_the_store_opens_with_its_urls_dialect(db_url: str) -> None:
    async with open_store(db_url) as store:
        assert store.dialect is dialect_for(async_url(db_url))
        assert store.dialect.name == store.engine.dialect.name
