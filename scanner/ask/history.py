"""Scans and one model over time: `omscan scans`, `omscan history`."""

from __future__ import annotations

import os
from typing import Any

from ..objstore import is_object_url
from ..store import Store
from ..store.names import disk_name, stored_name


async def list_scans(store: Store) -> list[dict[str, Any]]:
    return await store.fetch(
        "SELECT id, started_at, finished_at, status, host, backend, roots, counts"
        " FROM scans ORDER BY id"
    )


async def model_history(store: Store, path: str) -> list[dict[str, Any]]:
    """Every result of the model at ``path``: a file path, an object's URL
    (``s3://BUCKET/KEY``), or a path relative to a repository root (matching in every
    repository). Paths are matched as stored (see ``store.names``), so a file whose name
    is not UTF-8 is found by its real path too."""
    url = is_object_url(path)  # a key is taken as it is: ``..`` is a name there
    real = path if url else os.path.realpath(path)
    clauses = ["f.relpath = :relpath"]
    params: dict[str, Any] = {"relpath": stored_name(path.strip("/"))}
    for repo in await store.fetch("SELECT id, path FROM repositories"):
        root = disk_name(repo["path"])
        if real.startswith(root.rstrip("/") + "/"):
            clauses.append(f"(f.repository_id = {int(repo['id'])} AND f.relpath = :in{repo['id']})")
            inside = real[len(root.rstrip("/")) + 1 :] if url else os.path.relpath(real, root)
            params[f"in{repo['id']}"] = stored_name(inside)
    return await store.fetch(
        f"""
        SELECT r.scan_id, s.started_at, repo.path AS repository, f.relpath, r.status, r.ret,
               r.work_size, r.weight_size, r.carried
        FROM results r
        JOIN model_files f ON f.id = r.file_id
        JOIN repositories repo ON repo.id = f.repository_id
        JOIN scans s ON s.id = r.scan_id
        WHERE {" OR ".join(clauses)}
        ORDER BY r.scan_id, repo.path
        """,
        **params,
    )
