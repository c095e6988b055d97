"""The files a scan found unchanged, stored as runs of consecutive file ids rather than
one row each: an unchanged night adds a handful of rows, not one per model. Each
covered file's answer in that scan is its latest settled answer of an earlier scan;
the view ``results`` spells them out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .dialect import Dialect, chunks
from .schema import carries, model_files


def merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """``ranges`` (first, last; inclusive) as the fewest ranges covering the same ids."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


async def record(
    dialect: Dialect, conn: AsyncConnection, scan_id: int, file_ids: Sequence[int]
) -> None:
    """Record ``file_ids`` carried by the scan, and the scan as the last that looked at
    each of them (a condition per run of ids, not a parameter per file); a batch written
    twice adds nothing. One statement per chunk: never a pipeline of them (see
    ``PostgreSQLDialect.bulk_sql``)."""
    runs = merge((i, i) for i in file_ids)
    rows = [{"scan_id": scan_id, "first_file_id": a, "last_file_id": b} for a, b in runs]
    for chunk in chunks(rows):
        await conn.execute(dialect.insert(carries).on_conflict_do_nothing(), list(chunk))
    for chunk in chunks(runs):
        await conn.execute(
            update(model_files)
            .where(
                or_(*(model_files.c.id.between(first, last) for first, last in chunk)),
                model_files.c.last_scan_id < scan_id,  # never backwards
            )
            .values(last_scan_id=scan_id)
        )


async def compact(conn: AsyncConnection, scan_id: int) -> None:
    """Merge the scan's runs written batch by batch into the fewest: done as the scan
    closes, after which nothing more is carried into it."""
    rows = await conn.execute(
        select(carries.c.first_file_id, carries.c.last_file_id).where(carries.c.scan_id == scan_id)
    )
    ranges = [(row[0], row[1]) for row in rows]
    merged = merge(ranges)
    if len(merged) == len(ranges):
        return
    await conn.execute(delete(carries).where(carries.c.scan_id == scan_id))
    runs = [{"scan_id": scan_id, "first_file_id": a, "last_file_id": b} for a, b in merged]
    for chunk in chunks(runs):
        await conn.execute(insert(carries), list(chunk))
