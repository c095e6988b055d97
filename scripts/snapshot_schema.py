"""Write scanner/store/head_schema.json: the statements the migrations send to take an
empty database to head, recorded on SQLite and on PostgreSQL. A new store replays them
instead of running Alembic. Run it after adding a migration (a test says when it is due):

    python scripts/snapshot_schema.py [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import anyio
from scratch_db import scratch_database

from scanner.store import open_store
from scanner.store.migrate import HEAD, SNAPSHOT_FILE, record_upgrade

TARGET = Path(__file__).resolve().parent.parent / "scanner" / "store" / SNAPSHOT_FILE


async def recorded(url: str) -> list[list[Any]]:
    async with open_store(url, migrate_schema=False) as store, store.transaction() as conn:
        return await conn.run_sync(record_upgrade)


async def main(admin: str) -> None:
    snapshot: dict[str, Any] = {"revision": HEAD}
    with tempfile.TemporaryDirectory() as tmp:
        snapshot["sqlite"] = await recorded(f"sqlite:///{tmp}/snapshot.db")
    with scratch_database(admin, "omscan_snapshot") as url:
        snapshot["postgresql"] = await recorded(url)
    TARGET.write_text(json.dumps(snapshot, indent=1) + "\n")
    print(
        f"{TARGET}: {len(snapshot['sqlite'])} statements for SQLite,"
        f" {len(snapshot['postgresql'])} for PostgreSQL, at {HEAD}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    anyio.run(main, parser.parse_args().pg)
