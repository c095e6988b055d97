"""Where the shared corpus of real `.om` files lives, and what each should answer.

The corpus is not part of the project: it is read in place from ``../shared/om-corpus``.
A missing corpus skips the tests that need it, saying so; a complete run (CI,
``--complete``) fails them. A corpus whose table lists no model is an error.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .helpers import unavailable

CORPUS_DIR = Path(
    os.environ.get("OMSCAN_CORPUS", Path(__file__).resolve().parents[1].parent / "shared/om-corpus")
)


@dataclass(frozen=True)
class Expected:
    file: str
    size: int
    sha256: str
    ret: int
    work_size: int
    weight_size: int

    @property
    def path(self) -> Path:
        return CORPUS_DIR / self.file


def require_corpus() -> Path:
    if not (CORPUS_DIR / "EXPECTED.tsv").is_file():
        unavailable(f"shared corpus not found at {CORPUS_DIR}")
    return CORPUS_DIR


# Stands for the rows when the corpus is absent: the test calls require_corpus() first.
MISSING = Expected("corpus-missing", 0, "", 0, 0, 0)


def corpus_params() -> list[Any]:
    """EXPECTED.tsv's rows to parametrize a test with, never an empty list (pytest would
    skip it quietly): without a corpus, one parameter whose test skips or fails saying
    so; a table without rows is an error at collection."""
    if not (CORPUS_DIR / "EXPECTED.tsv").is_file():
        return [pytest.param(MISSING, id=MISSING.file)]
    rows = expected_rows()
    if not rows:
        raise ValueError(f"{CORPUS_DIR / 'EXPECTED.tsv'} lists no models")
    return [pytest.param(row, id=row.file) for row in rows]


def expected_rows() -> list[Expected]:
    """Rows of EXPECTED.tsv; empty when the corpus is absent."""
    table = CORPUS_DIR / "EXPECTED.tsv"
    if not table.is_file():
        return []
    with table.open(newline="") as handle:
        return [
            Expected(
                row["file"],
                int(row["size_bytes"]),
                row["sha256"],
                int(row["ret"]),
                int(row["work_size"]),
                int(row["weight_size"]),
            )
            for row in csv.DictReader(handle, delimiter="\t")
        ]
