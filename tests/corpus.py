"""Where the shared corpus of real `.om` files lives, and what each should answer.

The corpus is not part of the project: it is read in place from ``../shared/om-corpus``.
Outside CI a missing corpus skips the tests that need it; in CI it fails them.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

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
        message = f"shared corpus not found at {CORPUS_DIR}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CORPUS_DIR


def expected_rows() -> list[Expected]:
    """Rows of EXPECTED.tsv; empty when the corpus is absent (tests then skip or fail)."""
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
