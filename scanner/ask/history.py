"""Scans and one model over time: `omscan scans`, `omscan history`."""

from __future__ import annotations

import os
from typing import Any

from ..store import Store


async def list_scans(store: Store) -> list[dict[str, Any]]:
    return await store.fetch(
        "SELECT id, started_at, finished_at, status, host, backend, roots, counts"
        " FROM scans ORDER BY id"
    )


async def model_history(store: Store, path: str) -> list[dict[str, Any]]:
    """Every result of the model at ``path``: a file path, or a path relative to a
    repository root (matching in every repository)."""
    real = os.path.realpath(path)
    return await store.fetch(
        """
        SELECT r.scan_id, s.started_at, repo.path AS repository, f.relpath, r.status, r.ret,
               r.work_size, r.weight_size, r.carried
        FROM results r
        JOIN model_files f ON f.id = r.file_id
        JOIN repositories repo ON repo.id = f.repository_id
        JOIN scans s ON s.id = r.scan_id
        WHERE f.relpath = :relpath
           OR repo.path || '/' || f.relpath = :real
        ORDER BY r.scan_id, repo.path
        """,
        relpath=path.strip("/"),
        real=real,
    )
