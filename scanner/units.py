"""Byte counts for people: ``human_bytes`` to show, ``parse_bytes`` to read options."""

from __future__ import annotations

import re
from decimal import Decimal

# The largest count a database column (BIGINT, SQLite INTEGER) holds.
MAX_BYTES = 2**63 - 1
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_FACTORS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1 << 10,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1 << 20,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1 << 30,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1 << 40,
}


def human_bytes(count: int) -> str:
    """``1536`` → ``1.5 KiB``; exact below 1 KiB."""
    value = float(count)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def parse_bytes(text: str) -> int:
    """``8GiB``, ``512 MB``, ``1024`` → bytes, exactly (no float rounding), at most
    ``MAX_BYTES``. Raises ValueError with a clear message."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _FACTORS:
        raise ValueError(f"not a size: {text!r} (try 512MiB, 8GiB, 1000000)")
    count = int(Decimal(match.group(1)) * _FACTORS[match.group(2).lower()])
    if count > MAX_BYTES:
        raise ValueError(f"{text.strip()} is more than the largest size stored, {MAX_BYTES:,} B")
    return count
