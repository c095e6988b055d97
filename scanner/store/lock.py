"""One scan at a time per database: a second one is told who holds it, instead of
double-counting or interleaving. The lock is the database's own (a PostgreSQL advisory
lock; an ``flock`` on the SQLite file itself, whatever name reached it) and dies with its
holder (a closed connection, an exited process), so a killed scan never leaves it stuck."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

import anyio
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from .errors import StoreError

if TYPE_CHECKING:
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


def scan_lock(store: Store) -> AbstractAsyncContextManager[ScanLock]:
    """The scan lock of ``store``'s database, as its dialect takes it: ``advisory_lock``
    or ``file_lock``. StoreError naming the holder if another scan has it."""
    return store.dialect.scan_lock(store)


@asynccontextmanager
async def advisory_lock(store: Store) -> AsyncIterator[ScanLock]:
    """A PostgreSQL session advisory lock, on a connection of its own."""
    async with store.failures_told():
        conn = await store.engine.connect()
    try:
        async with store.failures_told():
            # The holder names itself where a refused scan reads it (pg_stat_activity).
            await conn.execute(_NAME_SESSION, {"me": _holder()})
            got = await conn.scalar(_TRY_LOCK, {"key": ADVISORY_KEY})
            await conn.commit()
            holder = None if got else await conn.scalar(_PG_HOLDER, {"key": ADVISORY_KEY})
        if not got:
            raise StoreError(
                f"another scan is running on {store.display_url} "
                f"({holder or 'another process'}); try again later"
            )
        yield ScanLock(conn, store.display_url)
    finally:
        # The lock and the session's name end with this connection, which is closed
        # rather than pooled (one lost meanwhile took its lock with it already).
        with contextlib.suppress(SQLAlchemyError, OSError):
            await conn.invalidate()
            await conn.close()


_NAME_SESSION = text("SELECT set_config('application_name', :me, false)")
_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
# The session holding our advisory lock (a bigint key is split into classid and objid).
_PG_HOLDER = text(
    """
    SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid::bigint = (CAST(:key AS bigint) >> 32)
      AND l.objid::bigint = (CAST(:key AS bigint) & 4294967295)
    """
)


@asynccontextmanager
async def file_lock(store: Store) -> AsyncIterator[ScanLock]:
    """flock on the SQLite database file itself: every name of the file meets it."""
    display = store.display_url
    if store.file is None:
        raise StoreError(f"{display}: a scan needs a database file, not memory")
    handle = store.database_file()
    if handle.scanning:
        raise StoreError(f"another scan is running on {display} ({_holder()}); try again later")
    try:
        fcntl.flock(handle.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _flock_holder(handle.device, handle.inode)
        raise StoreError(
            f"another scan is running on {display} ({holder}); try again later"
        ) from None
    handle.scanning = True
    try:
        yield ScanLock()
    finally:
        handle.scanning = False
        fcntl.flock(handle.fd, fcntl.LOCK_UN)


def _flock_holder(device: int, inode: int) -> str:
    """Who holds the flock on the file, from the kernel's lock table (a holder on this
    host; a lock taken over a network file system is not listed there)."""
    exact = f"{os.major(device):02x}:{os.minor(device):02x}:{inode}"
    pids = {}
    with contextlib.suppress(OSError), open("/proc/locks") as table:
        for line in table:
            # "12: FLOCK  ADVISORY  WRITE 4711 fe:00:2301968 0 EOF"
            fields = line.split()
            if fields[1:4] == ["FLOCK", "ADVISORY", "WRITE"] and len(fields) > 5:
                pids[fields[5]] = fields[4]
    # Some file systems (overlayfs, btrfs) report another device there than stat does.
    by_inode = [pid for where, pid in pids.items() if where.endswith(f":{inode}")]
    pid = pids.get(exact) or (by_inode[0] if len(by_inode) == 1 else None)
    return f"pid {pid} on {socket.gethostname()}" if pid else "another process"
