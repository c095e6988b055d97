"""One scan at a time per database: a second one is told who holds it, instead of
double-counting or interleaving. The lock dies with its holder (a closed connection,
an exited process), so a killed scan never leaves it stuck."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from .errors import StoreError
from .store import Store

ADVISORY_KEY = 0x6F6D7363616E  # "omscan"
WATCH_SECONDS = 1.0


class ScanLock:
    """The held lock. ``watch`` raises StoreError once it is lost: a PostgreSQL session
    lock dies with its connection (backend terminated, idle timeout, network), and a
    scan that went on without it could run alongside another one."""

    def __init__(self, conn: AsyncConnection | None = None, display: str = "") -> None:
        self._conn = conn
        self._display = display

    async def watch(self) -> None:
        if self._conn is None:  # a file lock cannot be taken away
            await anyio.sleep_forever()
            return
        while True:
            await anyio.sleep(WATCH_SECONDS)
            try:
                await self._conn.scalar(text("SELECT 1"))
                await self._conn.commit()
            except (SQLAlchemyError, OSError):
                raise StoreError(
                    f"lost the scan lock on {self._display}: its database connection "
                    "was closed; stopping"
                ) from None


def _holder() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


@asynccontextmanager
async def scan_lock(store: Store) -> AsyncIterator[ScanLock]:
    database = store.engine.url.database
    if store.engine.url.get_backend_name() == "sqlite" and database:
        with _file_lock(f"{database}.scan-lock", store.display_url):
            yield ScanLock()
        return
    async with store.transaction() as _:
        pass  # reachable, with a clear error if not
    async with store.engine.connect() as conn:
        got = await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY})
        await conn.commit()
        if not got:
            raise StoreError(f"another scan is running on {store.display_url}; try again later")
        try:
            yield ScanLock(conn, store.display_url)
        finally:
            # A connection lost meanwhile (server restarted, backend terminated) took
            # its session lock with it: nothing is left to release.
            with contextlib.suppress(SQLAlchemyError, OSError):
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
                await conn.commit()


@contextmanager
def _file_lock(path: str, display: str) -> Iterator[None]:
    """flock on a file beside the SQLite database, naming its holder inside."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise StoreError(
                f"another scan is running on {display} ({holder}); try again later"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder().encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)
